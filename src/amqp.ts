/**
 * RabbitMQ connection and topology: the work queue, `<queue>.retry` (a delay
 * queue whose expired messages flow back to the work queue) and `<queue>.dlq`.
 */
import amqp, { type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { PublishError } from './errors.js';
import type { TlsFiles } from './tls.js';

export interface QueueNames {
  queue: string;
  retry: string;
  dlq: string;
}

export function queueNames(queue: string): QueueNames {
  return { queue, retry: `${queue}.retry`, dlq: `${queue}.dlq` };
}

/** `tls` applies to amqps:// URLs only. */
export async function connectAmqp(url: string, name: string, tls: TlsFiles = {}): Promise<ChannelModel> {
  const secure = url.startsWith('amqps:') ? tls : {};
  // noDelay: acks and small publishes go out at once instead of waiting on Nagle's algorithm.
  return amqp.connect(url, { clientProperties: { connection_name: name }, noDelay: true, ...secure });
}

/**
 * Declare what the pool needs. An existing work queue is used as it is (its
 * arguments are never changed, so queues made by other producers keep working);
 * a missing one is created durable, of the given type.
 */
export async function assertTopology(conn: ChannelModel, names: QueueNames, queueType: 'classic' | 'quorum'): Promise<void> {
  const probe = await conn.createChannel();
  probe.on('error', () => {});
  const exists = await probe.checkQueue(names.queue).then(
    () => true,
    () => false, // 404 closes the probe channel
  );
  if (exists) await probe.close().catch(() => {});
  const ch = await conn.createChannel();
  try {
    if (!exists) await ch.assertQueue(names.queue, { durable: true, arguments: { 'x-queue-type': queueType } });
    await ch.assertQueue(names.dlq, { durable: true });
    await ch.assertQueue(names.retry, {
      durable: true,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': names.queue },
    });
  } finally {
    await ch.close().catch(() => {});
  }
}

/** Publish and wait for the broker's confirm. */
export function publishConfirmed(ch: ConfirmChannel, queue: string, content: Buffer, props: Options.Publish): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      ch.sendToQueue(queue, content, props, (err) =>
        err ? reject(new PublishError(`broker refused a message for ${queue}`, { cause: err })) : resolve(),
      );
    } catch (err) {
      reject(new PublishError(`cannot publish to ${queue}: ${(err as Error).message}`, { cause: err }));
    }
  });
}
