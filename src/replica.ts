/**
 * A replica: one AMQP connection and channel, a prefetch window, one piscina
 * pool. `handle()` below is the per-message protocol, top to bottom.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { assertTopology, connectAmqp, publishConfirmed, queueNames, type QueueNames } from './amqp.js';
import { DedupStore, connectRedis, encodeRecord, type Lease } from './dedup-store.js';
import { DedupPoolError, LeaseLostError, StoreUnavailableError, errorMessage } from './errors.js';
import { HandlerPool } from './handler-pool.js';
import { keysFor } from './keys.js';
import { keepLease } from './lease.js';
import { createLogger, redactUrl, type Logger } from './logger.js';
import { parseDelivery, type HandlerMessage } from './message.js';
import { resolveOptions, type OptionsInput, type PoolOptions } from './options.js';
import { newStats, recordHandlerTime, type ReplicaStats } from './stats.js';

/** Headers dedup-pool sets on dead-lettered and retried messages. */
export const HEADERS = {
  error: 'x-dedup-error',
  reason: 'x-dedup-reason',
  attempts: 'x-dedup-attempts',
  id: 'x-dedup-id',
  queue: 'x-dedup-queue',
  attempt: 'x-dedup-attempt',
} as const;

/** How long a parked duplicate waits before it looks again (doubling up to the max). */
const PARK_FIRST_MS = 25;
const PARK_MAX_MS = 1000;
/** Pause before a message is requeued because Redis could not be reached. */
const STORE_RETRY_MS = 1000;

export interface ReplicaEvents {
  completed: [id: string];
  duplicate: [id: string, reason: 'done' | 'in-flight'];
  'dead-lettered': [id: string | undefined, reason: string];
  retried: [id: string, attempt: number];
  fatal: [err: Error];
}

export class Replica extends EventEmitter<ReplicaEvents> {
  readonly stats: ReplicaStats = newStats();
  readonly opts: PoolOptions;
  readonly log: Logger;
  private readonly names: QueueNames;
  private readonly store: DedupStore;
  private pool: HandlerPool;
  private conn?: ChannelModel;
  private ch?: ConfirmChannel;
  private consumerTag?: string;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly draining = new AbortController();
  private stopping?: Promise<void>;

  constructor(input: OptionsInput, log?: Logger) {
    super();
    this.opts = resolveOptions(input);
    this.opts.handler = resolve(this.opts.handler);
    this.log = log ?? createLogger(this.opts.logLevel, { queue: this.opts.queue });
    this.names = queueNames(this.opts.queue);
    this.store = new DedupStore(this.opts.redisUrls.map((u) => connectRedis(u)), {
      keys: keysFor(this.opts.prefix),
      lockTtlMs: this.opts.lockTtlMs,
      dedupTtlMs: this.opts.dedupTtlMs,
    });
    this.pool = this.newPool(this.opts.threads);
  }

  private newPool(threads: number): HandlerPool {
    return new HandlerPool({
      handlerPath: this.opts.handler,
      threads,
      logLevel: this.opts.logLevel,
      graceMs: Math.max(100, Math.floor(this.opts.lockTtlMs / 3)),
    });
  }

  /**
   * Piscina cannot resize a pool in place: start a new one, send new tasks to it,
   * and let the old one finish the tasks it has before it closes.
   */
  async setThreads(threads: number): Promise<void> {
    if (threads === this.opts.threads) return;
    const next = this.newPool(threads);
    await next.probe();
    const old = this.pool;
    this.pool = next;
    this.opts.threads = threads;
    this.log.info({ threads }, 'thread pool replaced');
    await old.close({ force: false });
  }

  async start(): Promise<this> {
    const { opts } = this;
    try {
      await this.pool.probe();
      await Promise.all(this.store.clients.map((c) => c.connect()));
      this.conn = await connectAmqp(opts.amqpUrl, `dedup-pool ${hostname()}:${process.pid}`);
      this.conn.on('error', (err: Error) => this.log.error({ err }, 'AMQP connection error'));
      this.conn.on('close', () => this.onLost(new DedupPoolError('STORE_UNAVAILABLE', 'AMQP connection closed')));
      await assertTopology(this.conn, this.names, opts.queueType);
      this.ch = await this.conn.createConfirmChannel();
      this.ch.on('error', (err: Error) => this.log.error({ err }, 'AMQP channel error'));
      await this.ch.prefetch(opts.prefetch);
      const { consumerTag } = await this.ch.consume(opts.queue, (msg) => this.onDelivery(msg));
      this.consumerTag = consumerTag;
    } catch (err) {
      await this.close();
      throw err;
    }
    this.log.info(
      {
        handler: opts.handler,
        threads: opts.threads,
        prefetch: opts.prefetch,
        amqp: redactUrl(opts.amqpUrl),
        redis: opts.redisUrls.map(redactUrl),
        prefix: opts.prefix,
        dedupTtlMs: opts.dedupTtlMs,
        lockTtlMs: opts.lockTtlMs,
      },
      'replica started',
    );
    return this;
  }

  private onDelivery(msg: ConsumeMessage | null): void {
    if (msg === null) {
      this.log.error('consumer cancelled by the broker (queue deleted?)');
      return;
    }
    this.stats.deliveries += 1;
    this.stats.inFlight += 1;
    const task = this.handle(msg)
      .catch((err: unknown) => {
        // handle() settles every outcome itself; reaching here is a bug, and the
        // message stays unacked so the broker redelivers it.
        this.log.error({ err }, 'unexpected error while handling a message');
      })
      .finally(() => {
        this.stats.inFlight -= 1;
        this.inFlight.delete(task);
      });
    this.inFlight.add(task);
  }

  // ---- the per-message protocol --------------------------------------------------

  private async handle(msg: ConsumeMessage): Promise<void> {
    // 1. Identify. No id, bad body: dead-letter with the reason; never drop.
    const parsed = parseDelivery(msg, this.opts);
    if (!parsed.ok) {
      return this.deadLetter(msg, undefined, parsed.reason, parsed.detail);
    }
    const { id } = parsed;

    // 2 + 3. Fast duplicate check, lock and authoritative check: one atomic step.
    let begun;
    try {
      begun = await this.store.begin(id);
      // Held elsewhere: park (look again with backoff) until the holder completes or its lease runs out.
      for (let wait = PARK_FIRST_MS; begun.state === 'locked'; wait = Math.min(wait * 2, PARK_MAX_MS)) {
        if (wait === PARK_FIRST_MS) this.stats.parked += 1;
        if (this.draining.signal.aborted) return this.requeue(msg, 'draining while parked');
        await sleep(Math.min(wait, Math.max(begun.retryInMs, PARK_FIRST_MS)));
        begun = await this.store.begin(id);
        if (begun.state === 'done') return this.ackDuplicate(msg, id, 'in-flight');
      }
    } catch (err) {
      return this.storeUnavailable(msg, err);
    }
    if (begun.state === 'done') return this.ackDuplicate(msg, id, 'done');
    const { lease } = begun;

    // Attempts are counted by the lease grants in Redis, so a crash loop is bounded too.
    if (lease.fence > this.opts.maxAttempts) {
      return this.deadLetter(msg, lease, 'MAX_ATTEMPTS', `${lease.fence - 1} attempts ended without completing`);
    }

    // 4. Run the handler on a worker thread, extending the lease while it runs.
    const message: HandlerMessage = {
      id,
      body: parsed.body,
      headers: parsed.headers,
      attempt: lease.fence,
      redelivered: msg.fields.redelivered,
    };
    const keeper = keepLease(this.store, lease, this.opts.lockTtlMs, () => (this.stats.leaseExtensions += 1));
    const signal = AbortSignal.any([keeper.signal, this.draining.signal]);
    const started = performance.now();
    let resultJson: string | undefined;
    try {
      resultJson = await this.pool.run(message, lease.fence, signal);
    } catch (err) {
      keeper.stop();
      return this.failed(msg, lease, err, keeper.signal.aborted);
    } finally {
      keeper.stop();
      recordHandlerTime(this.stats, performance.now() - started);
    }

    // 5. Complete: record (with the dedup-window TTL) and release in one step, then ack.
    // Even after a lost lease this is tried: the script writes only if nobody else was granted the id.
    let recorded: boolean;
    try {
      recorded = await this.withStoreRetries(() => this.store.complete(lease, encodeRecord(resultJson, this.opts.resultMaxBytes)));
    } catch (err) {
      // The handler ran but its completion could not be recorded: the redelivery runs it again.
      return this.storeUnavailable(msg, err);
    }
    if (!recorded) {
      this.stats.leaseLost += 1;
      this.log.warn({ msgId: id, fence: lease.fence }, 'lease lost to another replica: completion not recorded, message requeued');
      return this.requeue(msg, 'lease lost');
    }
    this.ack(msg);
    this.stats.completed += 1;
    this.log.debug({ msgId: id, attempt: lease.fence }, 'completed');
    this.emit('completed', id);
  }

  /** 6. The handler failed: retry with backoff, or dead-letter after the last attempt. */
  private async failed(msg: ConsumeMessage, lease: Lease, err: unknown, leaseLost: boolean): Promise<void> {
    const id = lease.id;
    if (leaseLost) {
      // Someone else may hold the id now; the lease is not ours to release.
      this.stats.leaseLost += 1;
      this.log.warn({ msgId: id, err: errorMessage(err) }, 'lease lost while the handler ran: message requeued');
      return this.requeue(msg, 'lease lost');
    }
    if (this.draining.signal.aborted) {
      await this.store.release(lease).catch(() => {});
      return this.requeue(msg, 'draining');
    }
    const reason = err instanceof DedupPoolError ? err.code : 'HANDLER_FAILED';
    if (lease.fence >= this.opts.maxAttempts) {
      return this.deadLetter(msg, lease, reason, errorMessage(err));
    }
    try {
      await this.store.release(lease);
    } catch (releaseErr) {
      // Not fatal: the lease expires by itself; the retry waits at most that long.
      this.log.warn({ msgId: id, err: releaseErr }, 'could not release lease after a failure');
    }
    const delay = retryDelay(lease.fence, this.opts.retryDelayMs, this.opts.retryMaxDelayMs);
    const headers = { ...msg.properties.headers, [HEADERS.attempt]: lease.fence, [HEADERS.error]: truncate(errorMessage(err)) };
    try {
      const props = { ...republishProps(msg), headers };
      if (delay > 0) await publishConfirmed(this.channel(), this.names.retry, msg.content, { ...props, expiration: String(delay) });
      else await publishConfirmed(this.channel(), this.names.queue, msg.content, props);
    } catch (pubErr) {
      this.log.warn({ msgId: id, err: pubErr }, 'could not schedule a retry: message requeued');
      return this.requeue(msg, 'retry publish failed');
    }
    this.ack(msg);
    this.stats.retried += 1;
    this.log.debug({ msgId: id, attempt: lease.fence, delay, err: errorMessage(err) }, 'handler failed: retry scheduled');
    this.emit('retried', id, lease.fence);
  }

  // ---- outcomes ------------------------------------------------------------------

  private ackDuplicate(msg: ConsumeMessage, id: string, reason: 'done' | 'in-flight'): void {
    this.ack(msg);
    this.stats.duplicates[reason] += 1;
    this.log.debug({ msgId: id, reason }, 'duplicate acked');
    this.emit('duplicate', id, reason);
  }

  /** Publish to `<queue>.dlq` with the reason, wait for the confirm, then ack; never drop. */
  private async deadLetter(msg: ConsumeMessage, lease: Lease | undefined, reason: string, detail: string): Promise<void> {
    const id = lease?.id;
    const headers = {
      ...msg.properties.headers,
      [HEADERS.reason]: reason,
      [HEADERS.error]: truncate(detail),
      [HEADERS.queue]: this.opts.queue,
      ...(id !== undefined && { [HEADERS.id]: id, [HEADERS.attempts]: Math.min(lease!.fence, this.opts.maxAttempts) }),
    };
    try {
      await publishConfirmed(this.channel(), this.names.dlq, msg.content, { ...republishProps(msg), headers });
    } catch (err) {
      this.log.error({ msgId: id, err }, 'could not dead-letter: message requeued');
      if (lease) await this.store.release(lease).catch(() => {});
      return this.requeue(msg, 'dead-letter publish failed', STORE_RETRY_MS);
    }
    this.ack(msg);
    // A replay from the dead-letter queue starts again from attempt 1.
    if (lease) await this.store.release(lease, true).catch(() => {});
    this.stats.deadLettered[reason] = (this.stats.deadLettered[reason] ?? 0) + 1;
    this.log.warn({ msgId: id, reason, detail }, 'dead-lettered');
    this.emit('dead-lettered', id, reason);
  }

  private async storeUnavailable(msg: ConsumeMessage, err: unknown): Promise<void> {
    this.stats.storeErrors += 1;
    this.log.error({ err: errorMessage(err) }, 'dedup store unavailable: message requeued after a pause');
    return this.requeue(msg, 'store unavailable', STORE_RETRY_MS);
  }

  /** Give the message back to the broker (after `delayMs`, so nothing spins). */
  private async requeue(msg: ConsumeMessage, why: string, delayMs = 0): Promise<void> {
    if (delayMs > 0 && !this.draining.signal.aborted) await sleep(delayMs);
    this.stats.requeued += 1;
    this.log.debug({ why }, 'requeued');
    try {
      this.channel().nack(msg, false, true);
    } catch {
      // The channel is gone: the broker requeues every unacked message by itself.
    }
  }

  private ack(msg: ConsumeMessage): void {
    try {
      this.channel().ack(msg);
    } catch (err) {
      // The channel died first: the broker redelivers, and the redelivery is acked as a duplicate.
      this.log.warn({ err: errorMessage(err) }, 'ack failed: channel closed');
    }
  }

  private async withStoreRetries<T>(fn: () => Promise<T>, tries = 3): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || i >= tries) throw err;
        await sleep(100 * i);
      }
    }
  }

  private channel(): ConfirmChannel {
    if (!this.ch) throw new DedupPoolError('DRAINING', 'replica has no channel');
    return this.ch;
  }

  // ---- lifecycle -----------------------------------------------------------------

  /**
   * Drain: stop consuming, let in-flight handlers finish (up to drainTimeoutMs),
   * complete and ack them; what is still running then is aborted and requeued.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.log.info({ inFlight: this.inFlight.size }, 'draining');
    if (this.ch && this.consumerTag) await this.ch.cancel(this.consumerTag).catch(() => {});
    const finished = await settleWithin([...this.inFlight], this.opts.drainTimeoutMs);
    if (!finished) {
      this.log.warn({ inFlight: this.inFlight.size }, 'drain timeout: aborting in-flight handlers');
      this.draining.abort(new DedupPoolError('DRAINING', 'replica is draining'));
      await settleWithin([...this.inFlight], this.opts.lockTtlMs);
    }
    await this.close();
    this.log.info({ stats: this.stats }, 'replica stopped');
  }

  private onLost(err: Error): void {
    if (this.stopping) return;
    this.log.error({ err: err.message }, 'lost the broker: stopping (unacked messages are redelivered)');
    this.draining.abort(err);
    this.stopping = this.close();
    this.emit('fatal', err);
  }

  private async close(): Promise<void> {
    const conn = this.conn;
    const ch = this.ch;
    this.conn = undefined;
    this.ch = undefined;
    conn?.removeAllListeners('close');
    // Close the channel first: its close handshake is ordered after our last acks on
    // that channel, while a bare connection close can overtake them.
    await ch?.close().catch(() => {});
    await conn?.close().catch(() => {});
    await this.pool.close().catch(() => {});
    await this.store.close().catch(() => {});
  }
}

/** Exponential backoff with ±20% jitter, so retries of a failed batch do not return together. */
export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.8 + Math.random() * 0.4));
}

function republishProps(msg: ConsumeMessage): Options.Publish {
  const p = msg.properties;
  return {
    persistent: true,
    messageId: p.messageId,
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    correlationId: p.correlationId,
    replyTo: p.replyTo,
    type: p.type,
    appId: p.appId,
    timestamp: p.timestamp,
  };
}

/** True when every promise settled within `ms`; the timer never outlives the wait. */
async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  const timeout = new AbortController();
  const timer = sleep(ms, false, { signal: timeout.signal }).catch(() => false);
  const done = Promise.allSettled(promises).then(() => true);
  const finished = await Promise.race([done, timer]);
  timeout.abort();
  return finished;
}

function truncate(s: string, max = 1000): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export async function startReplica(input: OptionsInput, log?: Logger): Promise<Replica> {
  return new Replica(input, log).start();
}
