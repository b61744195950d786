/**
 * Dead-letter tools: list, replay and purge `<queue>.dlq`.
 *
 * Each operation reads the whole dead-letter queue as one consumer that holds
 * every message unacked (nothing is taken away while it looks), decides per
 * message, acks what it moved or deleted and gives the rest back. A classic
 * queue puts requeued messages back at their original positions, so nothing is
 * reordered. Any other queue (a quorum queue counts every return against its
 * delivery limit, which RabbitMQ 4 sets by default, and drops a message past it)
 * gets the rest back as confirmed copies at the tail, in their order, each
 * original acked once its copy is confirmed. A replay publishes to the work queue and waits for the broker's
 * confirm before it acks the dead-lettered copy: a crash in between leaves the
 * message in both queues, and the dedup protocol runs it once.
 */
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { publishConfirmed, queueNames, type QueueNames } from './broker.js';
import { connectAnyNode } from './connect-any.js';
import { ConfigError, DedupPoolError, PublishError, errorMessage } from '../common/errors.js';
import { HEADERS, keptProps } from './republish.js';
import type { TlsFiles } from '../common/tls.js';

export interface DeadLetterOptions {
  /** The work queue; its dead letters are in `<queue>.dlq`. */
  queue: string;
  /** Default `amqp://guest:guest@127.0.0.1:5672`; the nodes of a cluster comma-separated (any one is used). */
  amqpUrl?: string;
  tls?: TlsFiles;
}

/** Which dead letters an operation applies to. */
export interface DeadLetterFilter {
  /** `x-dedup-reason`, e.g. `HANDLER_FAILED`, `NOT_JSON`. */
  reason?: string;
  /** Message id. */
  id?: string;
  /** At most this many matching messages, from the head of the queue. */
  limit?: number;
}

/** One dead-lettered message, as `dlq list` shows it. */
export interface DeadLetter {
  /** The message id (null for messages dead-lettered for having none). */
  id: string | null;
  reason: string;
  detail: string;
  /** When it was dead-lettered (ISO 8601), or null when unknown. */
  when: string | null;
  /** Handler runs before it was dead-lettered (null when the handler never ran). */
  attempts: number | null;
}

export interface DeadLetterListing {
  /** Messages in the dead-letter queue. */
  total: number;
  /** Every message of the queue, counted by reason. */
  byReason: Record<string, number>;
  /** Messages that match the filter (before the limit). */
  matched: number;
  /** The matching messages, in queue order, up to the limit. */
  messages: DeadLetter[];
}

/** How long to wait for more deliveries once the queue's count at the start has been reached or nothing comes. */
const QUIET_MS = 300;

/** Read the dead-letter queue without taking anything away. */
export async function listDeadLetters(opts: DeadLetterOptions, filter: DeadLetterFilter = {}): Promise<DeadLetterListing> {
  return withHeld(opts, filter, async (held) => held.listing);
}

/**
 * Move matching dead letters back to the work queue, ids kept and attempt headers
 * removed (their attempt counters in Redis were reset when they were dead-lettered),
 * so a fixed handler gets full retries. Each is confirmed on the work queue before
 * its dead-lettered copy is acked.
 */
export async function replayDeadLetters(opts: DeadLetterOptions, filter: DeadLetterFilter = {}): Promise<{ replayed: number; left: number }> {
  return withHeld(opts, filter, async ({ ch, names, selected, listing, settle }) => {
    const moves = selected.map((m) => publishConfirmed(ch, names.queue, m.content, replayProps(m)).then(() => settle(m)));
    const results = await Promise.allSettled(moves);
    const failed = results.filter((r) => r.status === 'rejected');
    const replayed = results.length - failed.length;
    if (failed.length > 0) {
      throw new PublishError(`${replayed} message(s) replayed; ${failed.length} not confirmed by the broker and left in ${names.dlq}: ${errorMessage((failed[0] as PromiseRejectedResult).reason)}`);
    }
    return { replayed, left: listing.total - replayed };
  });
}

/**
 * Delete the dead letters with `reason` (and the other filters). `confirm` is
 * asked with the count first; when it answers false nothing is deleted.
 */
export async function purgeDeadLetters(
  opts: DeadLetterOptions,
  filter: DeadLetterFilter & { reason: string },
  confirm: (count: number) => Promise<boolean> = async () => true,
): Promise<{ purged: number; left: number }> {
  return withHeld(opts, filter, async ({ selected, listing, settle }) => {
    if (!(await confirm(selected.length))) return { purged: 0, left: listing.total };
    for (const m of selected) settle(m);
    return { purged: selected.length, left: listing.total - selected.length };
  });
}

interface Held {
  /** The channel holding the messages (publish on it with confirms). */
  ch: ConfirmChannel;
  names: QueueNames;
  /** Ack a message: it leaves the dead-letter queue. */
  settle(m: ConsumeMessage): void;
  /** The matching messages, up to the limit. */
  selected: ConsumeMessage[];
  listing: DeadLetterListing;
}

/**
 * Hold every message of the dead-letter queue, run `act` on the matching ones,
 * then give back whatever `act` did not ack (in its original position).
 */
async function withHeld<T>(opts: DeadLetterOptions, filter: DeadLetterFilter, act: (held: Held) => Promise<T>): Promise<T> {
  const names = queueNames(opts.queue);
  const conn = await connectAnyNode(opts.amqpUrl ?? 'amqp://guest:guest@127.0.0.1:5672', `dedup-pool dlq ${process.pid}`, opts.tls);
  conn.on('error', () => {});
  try {
    await checkQueues(conn, names);
    const inPlace = await isPlainClassicQueue(conn, names.dlq);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    const all = await holdAll(ch, names.dlq);
    const settled = new Set<ConsumeMessage>();
    const settle = (m: ConsumeMessage): void => {
      ch.ack(m);
      settled.add(m);
    };
    try {
      const foreign = all.filter((m) => reasonOf(m) === undefined);
      if (foreign.length > 0) {
        throw new DedupPoolError(
          'DLQ_FOREIGN',
          `${names.dlq} holds ${foreign.length} message(s) dedup-pool did not write (no ${HEADERS.reason} header); nothing was changed. Move them elsewhere (e.g. a shovel) before using dlq tools on this queue.`,
        );
      }
      const listing = summarize(all, filter);
      if (filter.reason !== undefined && listing.byReason[filter.reason] === undefined) {
        const present = Object.entries(listing.byReason).sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} (${n})`).join(', ') || 'none: the queue is empty';
        throw new ConfigError('reason', `0 messages matched --reason ${filter.reason} in ${names.dlq}; reasons present: ${present}`);
      }
      if (filter.id !== undefined && listing.matched === 0) {
        throw new ConfigError('id', `no message with id ${filter.id}${filter.reason !== undefined ? ` and reason ${filter.reason}` : ''} in ${names.dlq} (${listing.total} message(s) there)`);
      }
      const selected = all.filter((m) => matches(m, filter)).slice(0, filter.limit ?? Infinity);
      return await act({ ch, names, selected, listing, settle });
    } finally {
      if (!inPlace) await giveBackAsCopies(ch, names.dlq, all.filter((m) => !settled.has(m)), settle);
      // Everything not acked goes back where it was (elsewhere: only what could not be copied).
      // A dead channel throws here; the broker has requeued its messages, and the result (or
      // the error) of `act` is what the caller must see.
      try {
        ch.nackAll(true);
      } catch {
        // nothing held any more
      }
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

async function checkQueues(conn: ChannelModel, names: QueueNames): Promise<void> {
  for (const [queue, missing] of [
    [names.queue, `queue "${names.queue}" does not exist on the broker`],
    [names.dlq, `queue "${names.queue}" has no dead-letter queue "${names.dlq}": is it a queue dedup-pool consumes?`],
  ] as const) {
    const probe = await conn.createChannel();
    probe.on('error', () => {});
    const found = await probe.checkQueue(queue).then(() => true, () => false);
    if (!found) throw new ConfigError('queue', missing);
    await probe.close().catch(() => {});
  }
}

/**
 * A classic queue without arguments (as dedup-pool makes it): a declaration with only
 * the classic type is accepted as equivalent. Anything else (quorum, or arguments such
 * as a delivery limit) answers 406, which closes the probe. Not a declaration without
 * a type: where the vhost's default queue type is quorum, a quorum queue accepts that.
 */
async function isPlainClassicQueue(conn: ChannelModel, queue: string): Promise<boolean> {
  const probe = await conn.createChannel();
  probe.on('error', () => {});
  const classic = await probe.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } }).then(
    () => true,
    () => false,
  );
  if (classic) await probe.close().catch(() => {});
  return classic;
}

/** Put messages back at the tail as confirmed copies, in order; each original is acked once its copy is confirmed. */
async function giveBackAsCopies(ch: ConfirmChannel, queue: string, messages: ConsumeMessage[], settle: (m: ConsumeMessage) => void): Promise<void> {
  await Promise.allSettled(messages.map((m) => publishConfirmed(ch, queue, m.content, copyProps(m)).then(() => settle(m))));
}

/** Consume every message of `queue` without acking: they stay in the queue, held by this channel. */
async function holdAll(ch: ConfirmChannel, queue: string): Promise<ConsumeMessage[]> {
  const { messageCount } = await ch.checkQueue(queue);
  const held: ConsumeMessage[] = [];
  if (messageCount === 0) return held;
  let quiet: NodeJS.Timeout | undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const settle = (): void => {
    if (quiet) clearTimeout(quiet);
    // The count at the start reached: stop at once; else wait a little for stragglers.
    quiet = setTimeout(done, held.length >= messageCount ? 0 : QUIET_MS);
  };
  await ch.prefetch(0);
  const { consumerTag } = await ch.consume(queue, (m) => {
    if (m) held.push(m);
    settle();
  }, { noAck: false });
  settle();
  await finished;
  await ch.cancel(consumerTag);
  return held;
}

function matches(m: ConsumeMessage, f: DeadLetterFilter): boolean {
  if (f.reason !== undefined && reasonOf(m) !== f.reason) return false;
  if (f.id !== undefined && describeDeadLetter(m).id !== f.id) return false;
  return true;
}

function summarize(all: ConsumeMessage[], filter: DeadLetterFilter): DeadLetterListing {
  const byReason: Record<string, number> = {};
  for (const m of all) {
    const reason = reasonOf(m)!;
    byReason[reason] = (byReason[reason] ?? 0) + 1;
  }
  const matching = all.filter((m) => matches(m, filter));
  return { total: all.length, byReason, matched: matching.length, messages: matching.slice(0, filter.limit ?? Infinity).map(describeDeadLetter) };
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : null);

/**
 * Why a message is in the dead-letter queue: the reason the pool wrote, or the one
 * RabbitMQ wrote when it dead-lettered the message itself (a quorum queue the pool
 * created, past its delivery limit: `delivery_limit`). Undefined: neither wrote it.
 */
function reasonOf(m: Pick<ConsumeMessage, 'properties'>): string | undefined {
  const h = m.properties.headers ?? {};
  return text(h[HEADERS.reason]) ?? text(h['x-first-death-reason']) ?? undefined;
}

/** What the pool (or the broker, for its own dead-lettering) wrote on a dead-lettered message. */
export function describeDeadLetter(m: Pick<ConsumeMessage, 'properties'>): DeadLetter {
  const h = m.properties.headers ?? {};
  const at = typeof h[HEADERS.at] === 'number' ? (h[HEADERS.at] as number) : undefined;
  const attempts = Number(h[HEADERS.attempts]);
  return {
    id: text(h[HEADERS.id]) ?? text(m.properties.messageId),
    reason: reasonOf(m) ?? '',
    detail: text(h[HEADERS.error]) ?? (h[HEADERS.reason] === undefined ? `dead-lettered by RabbitMQ from ${text(h['x-first-death-queue']) ?? 'its queue'}` : ''),
    when: at !== undefined ? new Date(at).toISOString() : null,
    attempts: h[HEADERS.attempts] !== undefined && Number.isFinite(attempts) ? attempts : null,
  };
}

/** Headers that belong to a message's last trip through the pool (or through RabbitMQ's dead-lettering). */
function isTripHeader(name: string): boolean {
  return (Object.values(HEADERS) as string[]).includes(name) || /^x-(death|first-death-|last-death-|delivery-count$)/.test(name);
}

/** The same message again, without the broker's own delivery count. */
function copyProps(m: Pick<ConsumeMessage, 'properties'>): Options.Publish {
  const p = m.properties;
  const headers = Object.fromEntries(Object.entries(p.headers ?? {}).filter(([name]) => name !== 'x-delivery-count'));
  return { ...keptProps(p), priority: p.priority, headers };
}

/** The original message again: same id, body and properties, without the trip's headers. */
export function replayProps(m: Pick<ConsumeMessage, 'properties'>): Options.Publish {
  const p = m.properties;
  const headers = Object.fromEntries(Object.entries(p.headers ?? {}).filter(([name]) => !isTripHeader(name)));
  return { ...keptProps(p), priority: p.priority, headers };
}
