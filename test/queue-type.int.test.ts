/**
 * `--queue-type`: the side queues follow it, and an existing queue of another type
 * is used as it is, with a warning (its type cannot change).
 */
import { randomBytes } from 'node:crypto';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { publishConfirmed } from '../src/amqp/broker.js';
import { Replica } from '../src/index.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, waitFor } from './helpers/services.js';
import { forEachKeys } from '../bench/lib/services.js';

/** The queue's type, found the way the broker allows: a declare naming another type fails on that argument. */
async function isQuorum(conn: ChannelModel, queue: string): Promise<boolean> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    return true;
  } catch (err) {
    return !/inequivalent arg 'x-queue-type'/.test((err as Error).message);
  } finally {
    await ch.close().catch(() => {});
  }
}

function capturingLogger(lines: Record<string, unknown>[]) {
  return pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
}

describe('--queue-type', () => {
  let conn: ChannelModel;
  let ch: Channel;
  let queue: string;
  let replica: Replica | undefined;
  afterEach(async () => {
    await replica?.stop();
    replica = undefined;
    for (const q of [queue, `${queue}.dlq`, `${queue}.retry`]) await ch.deleteQueue(q).catch(() => {});
    await conn.close().catch(() => {});
    // The replica stored its record layout under the test's prefix.
    const redis = new Redis(REDIS_URL);
    await forEachKeys(redis, `${prefix()}:*`, (keys) => redis.del(...keys));
    redis.disconnect();
  });

  async function setup(tag: string): Promise<void> {
    queue = `test.qtype-${tag}.${randomBytes(4).toString('hex')}`;
    conn = await amqp.connect(AMQP_URL);
    ch = await conn.createChannel();
  }

  const prefix = (): string => `test:qtype:${queue}`;
  const opts = () => ({ queue, handler: LEDGER_HANDLER, prefix: prefix(), threads: 0, queueType: 'quorum' as const, logLevel: 'silent' as const });

  it('quorum: the work queue and its .dlq and .retry are all quorum queues, dead-lettering to .dlq', async () => {
    await setup('new');
    const lines: Record<string, unknown>[] = [];
    replica = await new Replica(opts(), capturingLogger(lines)).start();
    for (const q of [queue, `${queue}.dlq`, `${queue}.retry`]) expect(await isQuorum(conn, q), q).toBe(true);
    expect(lines.filter((l) => /dead-letter/.test(String(l.msg)))).toEqual([]);
  });

  it('an existing quorum queue without a dead-letter exchange: a warning says the broker drops past its delivery limit, and what to do', async () => {
    await setup('nodlx');
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const lines: Record<string, unknown>[] = [];
    // The default --queue-type (classic) too: the queue's own type is what counts.
    replica = await new Replica({ ...opts(), queueType: 'classic' }, capturingLogger(lines)).start();
    await waitFor(() => replica!.ready, 10_000, 'consuming');
    const warning = lines.find((l) => l.queue === queue && /has no dead-letter exchange/.test(String(l.msg)));
    expect(warning?.msg).toMatch(/drops a message instead of dead-lettering it, unless a policy sets one; add a policy .* dead-letter-routing-key .*\.dlq/);
  });

  it('an existing classic queue is used as it is, with a warning naming both types', async () => {
    await setup('mismatch');
    await ch.assertQueue(queue, { durable: true });
    const lines: Record<string, unknown>[] = [];
    replica = await new Replica(opts(), capturingLogger(lines)).start();
    await waitFor(() => replica!.ready, 10_000, 'consuming');
    const warning = lines.find((l) => l.queue === queue && l.type === 'classic');
    expect(warning?.msg).toMatch(/exists as a classic queue: --queue-type quorum applies only to queues the pool creates/);
    expect(await isQuorum(conn, queue)).toBe(false);
    // Its side queues, created now, follow --queue-type.
    expect(await isQuorum(conn, `${queue}.dlq`)).toBe(true);
  });

  it('a message past --delivery-limit lands in .dlq with the reason, never dropped', async () => {
    await setup('limit');
    replica = await new Replica({ ...opts(), deliveryLimit: 1 }).start();
    await replica.stop(); // only its topology is needed: a consumer that fails on every delivery plays the rest
    replica = undefined;
    const pub = await conn.createConfirmChannel();
    pub.sendToQueue(queue, Buffer.from('{"message_id":"lim-1"}'), { messageId: 'lim-1', persistent: true });
    await pub.waitForConfirms();
    await pub.close();
    for (let delivery = 1; delivery <= 2; delivery++) {
      const m = await ch.get(queue);
      expect(m, `delivery ${delivery}`).not.toBe(false);
      ch.nack(m as amqp.GetMessage, false, true);
    }
    let dead: amqp.GetMessage | false = false;
    await waitFor(async () => (dead = await ch.get(`${queue}.dlq`, { noAck: true })) !== false, 10_000, 'the message in .dlq');
    const d = dead as unknown as amqp.GetMessage;
    expect(d.properties.messageId).toBe('lim-1');
    expect(d.properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
    expect(await ch.get(queue)).toBe(false);
  });

  it('a publish nothing can take fails instead of being confirmed and dropped', async () => {
    await setup('unroutable');
    const pub = await conn.createConfirmChannel();
    // The broker confirms an unroutable message after dropping it: only mandatory + return tell.
    await expect(publishConfirmed(pub, `${queue}.missing`, Buffer.from('x'), { messageId: 'u-1' })).rejects.toThrow(/no queue took the message/);
    await ch.assertQueue(queue, { durable: true });
    await expect(publishConfirmed(pub, queue, Buffer.from('x'), { messageId: 'u-1' })).resolves.toBeUndefined();
    await pub.close();
  });
});
