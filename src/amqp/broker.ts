/**
 * RabbitMQ connection and topology: the work queue, `<queue>.retry` (a delay
 * queue whose expired messages flow back to the work queue) and `<queue>.dlq`.
 */
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { PublishError, UnroutableError, errorMessage } from '../common/errors.js';
import type { TlsFiles } from '../common/tls.js';

export type QueueType = 'classic' | 'quorum';

export interface QueueNames {
  queue: string;
  retry: string;
  dlq: string;
}

export function queueNames(queue: string): QueueNames {
  return { queue, retry: `${queue}.retry`, dlq: `${queue}.dlq` };
}

/** The nodes of one cluster, from `--amqp` (one URL, or several separated by commas). */
export function amqpNodes(list: string): string[] {
  return list
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** `tls` applies to amqps:// URLs only. */
export async function connectAmqp(url: string, name: string, tls: TlsFiles = {}): Promise<ChannelModel> {
  const secure = url.startsWith('amqps:') ? tls : {};
  // noDelay: acks and small publishes go out at once instead of waiting on Nagle's algorithm.
  return amqp.connect(url, { clientProperties: { connection_name: name }, noDelay: true, ...secure });
}

export interface TopologyOptions {
  /** Type of the queues the pool creates: the work queue and its side queues alike. */
  queueType: QueueType;
  /** Quorum queues the pool creates: deliveries of a message before the broker dead-letters it (default: the broker's). */
  deliveryLimit?: number;
}

/** Something about the topology worth a warning; nothing that stops the pool. */
export type TopologyNote =
  /** The queue exists with another type than asked for: it is used as it is. */
  | { kind: 'type-mismatch'; queue: string; actual: QueueType; wanted: QueueType }
  /** A side queue cannot be reached (a classic queue whose node is down): publishes to it fail until it is back. */
  | { kind: 'unavailable'; queue: string; error: string }
  /** An existing quorum work queue declared without a dead-letter exchange: past its delivery limit the broker drops messages (unless a policy sets one). */
  | { kind: 'no-dead-letter'; queue: string; dlq: string };

/**
 * Declare what the pool needs. An existing queue is used as it is (its arguments
 * are never changed, so queues made by other producers keep working; a type that
 * differs from `queueType` is reported); a missing one is created durable, of `queueType`.
 *
 * Quorum queues dead-letter to `<queue>.dlq` past their delivery limit (RabbitMQ 4
 * has a default one), at least once, so no message is ever dropped by a limit. The
 * retry queue's expired messages flow back to the work queue, at least once too.
 */
export async function assertTopology(conn: ChannelModel, names: QueueNames, opts: TopologyOptions): Promise<TopologyNote[]> {
  const quorum = opts.queueType === 'quorum';
  // at-least-once dead-lettering needs reject-publish overflow (it only matters with a length limit).
  const safeDeadLetters = quorum ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } : {};
  const notes: TopologyNote[] = [];
  const work = await ensureQueue(conn, names.queue, opts.queueType, {
    ...(quorum && { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': names.dlq, ...safeDeadLetters }),
    ...(quorum && opts.deliveryLimit !== undefined && { 'x-delivery-limit': opts.deliveryLimit }),
  });
  if (work) notes.push(work);
  const workIsQuorum = work?.kind === 'type-mismatch' ? work.actual === 'quorum' : quorum;
  if (workIsQuorum && (await lacksDeadLetterExchange(conn, names.queue))) notes.push({ kind: 'no-dead-letter', queue: names.queue, dlq: names.dlq });
  const side: [string, Record<string, unknown>][] = [
    [names.dlq, {}],
    [names.retry, { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': names.queue, ...safeDeadLetters }],
  ];
  for (const [queue, args] of side) {
    try {
      const note = await ensureQueue(conn, queue, opts.queueType, args);
      if (note) notes.push(note);
    } catch (err) {
      // Consuming goes on: a publish to it fails (unroutable) and its message is requeued, never dropped.
      if (!isHomeNodeDown(err)) throw err;
      notes.push({ kind: 'unavailable', queue, error: errorMessage(err) });
    }
  }
  return notes;
}

/** Create `queue` of `type` with `args` when missing; when it exists, report a type other than `type`. */
async function ensureQueue(conn: ChannelModel, queue: string, type: QueueType, args: Record<string, unknown>): Promise<TopologyNote | undefined> {
  const found = await onChannel(conn, (ch) => ch.checkQueue(queue));
  if (found instanceof Error) {
    if (isHomeNodeDown(found)) throw found;
    const made = await onChannel(conn, (ch) => ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type, ...args } }));
    if (!(made instanceof Error)) return undefined;
    if (!/PRECONDITION/.test(made.message)) throw made; // else: created meanwhile by someone else, with other arguments
  }
  // Declaring with only the type succeeds when it matches, and otherwise names the queue's own type.
  const probe = await onChannel(conn, (ch) => ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type } }));
  const actual = probe instanceof Error ? typeFromMismatch(probe.message) : undefined;
  return actual && actual !== type ? { kind: 'type-mismatch', queue, actual, wanted: type } : undefined;
}

/**
 * Whether a quorum queue was declared without `x-dead-letter-exchange` (the broker
 * names the current value when a declare asks for another one). A policy may still
 * give it one: policies do not show here.
 */
async function lacksDeadLetterExchange(conn: ChannelModel, queue: string): Promise<boolean> {
  const probe = await onChannel(conn, (ch) => ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '' } }));
  return probe instanceof Error && /inequivalent arg 'x-dead-letter-exchange'.*current is none/.test(probe.message);
}

/** From "inequivalent arg 'x-queue-type' ... but current is 'classic'" (or "... current is none": classic). */
function typeFromMismatch(message: string): QueueType | undefined {
  const m = /inequivalent arg 'x-queue-type'.*current is (?:the value )?(?:'(\w+)'|none)/.exec(message);
  if (!m) return undefined;
  return m[1] === 'quorum' ? 'quorum' : m[1] === undefined || m[1] === 'classic' ? 'classic' : undefined;
}

function isHomeNodeDown(err: unknown): boolean {
  return /home node .* is down or inaccessible/.test(errorMessage(err));
}

/** Run `fn` on a channel of its own (a 404 or 406 closes the channel); its error is returned, not thrown. */
async function onChannel<T>(conn: ChannelModel, fn: (ch: Channel) => Promise<T>): Promise<T | Error> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    return await fn(ch);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    await ch.close().catch(() => {});
  }
}

// ---- publishing ------------------------------------------------------------------

/**
 * A header naming each publish on its channel: the broker's return of an unroutable
 * message carries it, so the return is matched to that very publish (message ids
 * repeat, and may be absent).
 */
const PUBLISH_TAG = 'x-dedup-publish';

/** Per channel: the next publish tag, and the tags the broker returned, until their confirm. */
const trackers = new WeakMap<Channel, { next: number; returned: Set<string> }>();

function tracker(ch: Channel): { next: number; returned: Set<string> } {
  let t = trackers.get(ch);
  if (!t) {
    const created = { next: 0, returned: new Set<string>() };
    ch.on('return', (msg: { properties: { headers?: Record<string, unknown> } }) => {
      const tag = msg.properties.headers?.[PUBLISH_TAG];
      if (tag !== undefined) created.returned.add(String(tag));
    });
    trackers.set(ch, created);
    t = created;
  }
  return t;
}

/**
 * Publish and wait for the broker's confirm. Mandatory: the broker confirms a
 * message it could not route (no such queue, or a classic queue whose node is
 * down) after dropping it, so a returned message is a failed publish here.
 */
export function publishConfirmed(ch: ConfirmChannel, queue: string, content: Buffer, props: Options.Publish): Promise<void> {
  return publishConfirmedVia(ch, '', queue, content, props);
}

/** publishConfirmed through `exchange` with `routingKey` ('' is the default exchange: the key is a queue). */
export function publishConfirmedVia(ch: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, props: Options.Publish): Promise<void> {
  const t = tracker(ch);
  const tag = String(++t.next);
  const queue = exchange === '' ? routingKey : `exchange ${exchange} routing key ${routingKey}`;
  return new Promise((resolve, reject) => {
    try {
      ch.publish(exchange, routingKey, content, { ...props, headers: { ...props.headers, [PUBLISH_TAG]: tag }, mandatory: true }, (err) => {
        // The broker sends a return before the confirm of the same message.
        const returned = t.returned.delete(tag);
        if (err) reject(new PublishError(`broker refused a message for ${queue}`, { cause: err }));
        else if (returned) reject(new UnroutableError(`no queue took the message for ${queue}: it is missing, or its node is down`));
        else resolve();
      });
    } catch (err) {
      reject(new PublishError(`cannot publish to ${queue}: ${(err as Error).message}`, { cause: err }));
    }
  });
}
