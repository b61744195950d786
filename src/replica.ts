/**
 * A replica: one AMQP connection and channel (consumer.ts), a prefetch window,
 * one piscina pool. `handle()` below is the per-message protocol, top to bottom.
 */
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { queueNames, type QueueNames } from './amqp.js';
import { Consumer, type Delivery } from './consumer.js';
import { DedupStore, connectRedis, decodeRecord, encodeRecord, fingerprint, type Lease } from './dedup-store.js';
import { checkEffects } from './effects.js';
import { migrate, startInboxCleanup } from './inbox.js';
import { ConfigError, DedupPoolError, LeaseLostError, StoreUnavailableError, errorMessage } from './errors.js';
import { HandlerPool } from './handler-pool.js';
import { keysFor } from './keys.js';
import { keepLease } from './lease.js';
import { LeaseBoard } from './lease-board.js';
import { createLogger, redactUrl, type Logger } from './logger.js';
import { parseDelivery, type HandlerMessage, type Parsed } from './message.js';
import { resolveOptions, type OptionsInput, type PoolOptions } from './options.js';
import { StoreGate } from './store-gate.js';
import { loadTls } from './tls.js';
import { retryDelay } from './backoff.js';
import { HEADERS, republishProps, truncate } from './republish.js';
import { settleWithin, withoutListenerLimit } from './settle.js';
import { newStats, observe, type ReplicaStats } from './stats.js';

/** How long a parked duplicate waits before it looks again (doubling up to the max). */
const PARK_FIRST_MS = 25;
const PARK_MAX_MS = 1000;
/** Pause before a message is requeued because Redis could not be reached. */
const STORE_RETRY_MS = 1000;

export interface ReplicaEvents {
  completed: [id: string];
  duplicate: [id: string, reason: keyof ReplicaStats['duplicates']];
  'dead-lettered': [id: string | undefined, reason: string];
  retried: [id: string, attempt: number];
}

export class Replica extends EventEmitter<ReplicaEvents> {
  readonly stats: ReplicaStats = newStats();
  readonly opts: PoolOptions;
  readonly log: Logger;
  private readonly names: QueueNames;
  private readonly store: DedupStore;
  private readonly consumer: Consumer;
  private pool: HandlerPool;
  /** One slot per unacked delivery: at most `prefetch` leases are held at once. */
  private readonly leaseBoard: LeaseBoard;
  private readonly inFlight = new Set<Promise<void>>();
  /** Ids this replica is processing now, to the promise that settles when it is done with them. */
  private readonly working = new Map<string, Promise<void>>();
  /** Aborted when stop() begins: ends start-up retries, parking and waits for Redis. */
  private readonly stopRequested = new AbortController();
  /** Aborted when the drain timeout passes: in-flight handlers' signals fire. */
  private readonly draining = withoutListenerLimit(new AbortController());
  private readonly storeGate: StoreGate;
  private inboxCleanup?: { stop(): Promise<void> };
  private stopping?: Promise<void>;

  constructor(input: OptionsInput, log?: Logger) {
    super();
    this.opts = resolveOptions(input);
    this.opts.handler = resolve(this.opts.handler);
    this.log = log ?? createLogger(this.opts.logLevel, { queue: this.opts.queue });
    this.names = queueNames(this.opts.queue);
    const tls = loadTls(this.opts);
    this.store = new DedupStore(this.opts.redisUrls.map((u) => connectRedis(u, tls)), {
      keys: keysFor(this.opts.prefix),
      lockTtlMs: this.opts.lockTtlMs,
      dedupTtlMs: this.opts.dedupTtlMs,
    });
    this.consumer = new Consumer(
      { amqpUrl: this.opts.amqpUrl, tls, names: this.names, queueType: this.opts.queueType, prefetch: this.opts.prefetch },
      this.log,
      (d) => this.onDelivery(d),
    );
    this.storeGate = new StoreGate(this.store, this.consumer, this.log, this.stopRequested.signal, () => this.opts.redisUrls.map(redactUrl));
    this.consumer.on('lost', () => (this.stats.reconnects += 1));
    this.consumer.on('cancelled', () => (this.stats.cancellations += 1));
    this.leaseBoard = new LeaseBoard(this.opts.prefetch);
    this.pool = this.newPool(this.opts.threads);
  }

  /** Consuming now: what /readyz reports. */
  get ready(): boolean {
    return this.consumer.consuming;
  }

  async start(): Promise<this> {
    const { opts } = this;
    try {
      await this.pool.probe();
      if (opts.inboxUrl) {
        await migrate(opts.inboxUrl).catch((err: unknown) => {
          throw new ConfigError('inbox', `--inbox ${redactUrl(opts.inboxUrl!)}: cannot prepare the inbox table: ${errorMessage(err)}`);
        });
        this.inboxCleanup = startInboxCleanup(opts.inboxUrl, Math.min(60_000, Math.max(1000, opts.dedupTtlMs / 4)), this.log);
      }
      await this.storeGate.open();
      await this.consumer.start(this.stopRequested.signal);
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

  private onDelivery(d: Delivery): void {
    this.stats.deliveries += 1;
    this.stats.inFlight += 1;
    const task = this.handle(d)
      .catch((err: unknown) => {
        // handle() settles every outcome itself; reaching here is a bug. The message
        // is given back so the broker redelivers it.
        this.log.error({ err }, 'unexpected error while handling a message');
        d.requeue();
      })
      .finally(() => {
        this.stats.inFlight -= 1;
        this.inFlight.delete(task);
      });
    this.inFlight.add(task);
  }

  // ---- the per-message protocol --------------------------------------------------

  private async handle(d: Delivery): Promise<void> {
    // 1. Identify. No id, bad body: dead-letter with the reason; never drop.
    const parsed = parseDelivery(d.msg, this.opts);
    if (!parsed.ok) return this.deadLetter(d, undefined, parsed.reason, parsed.detail);
    const { id } = parsed;
    const bodyPrint = fingerprint(d.msg.content);

    // 2. Fast duplicate check, without the lock: most copies of completed ids end here.
    let record: string | null;
    try {
      record = await this.store.record(id);
    } catch (err) {
      return this.storeUnavailable(d, err);
    }
    if (record !== null) return this.duplicate(d, id, 'done', bodyPrint, record);

    // A copy of an id this replica is already working on waits for that run here,
    // instead of taking a thread to poll Redis, then looks again.
    const local = this.working.get(id);
    if (local) {
      this.stats.parked += 1;
      await local;
      try {
        record = await this.store.record(id);
      } catch (err) {
        return this.storeUnavailable(d, err);
      }
      if (record !== null) return this.duplicate(d, id, 'in-flight', bodyPrint, record);
    }
    let finished!: () => void;
    const mine = new Promise<void>((resolve) => (finished = resolve));
    this.working.set(id, mine);
    try {
      return await this.lockAndRun(d, parsed, bodyPrint);
    } finally {
      if (this.working.get(id) === mine) this.working.delete(id);
      finished();
    }
  }

  /** Steps 3 to 5 for a message whose id is not complete yet. */
  private async lockAndRun(d: Delivery, parsed: Extract<Parsed, { ok: true }>, bodyPrint: string): Promise<void> {
    const { id } = parsed;
    // 3. Lock, once a thread is free to run the handler at once: a lease never waits in a
    // queue, and each grant (which counts an attempt) is a real run. The grant and the
    // authoritative completion check are one atomic step. Held elsewhere: park (look again
    // with backoff) until the holder completes or its lease runs out.
    // A message back after a failure or a crash runs alone in this replica, so a poison
    // message that kills its thread or process takes no innocent neighbour down twice.
    const pool = this.pool;
    const suspect = d.msg.fields.redelivered || d.msg.properties.headers?.[HEADERS.attempt] !== undefined;
    let thread = await pool.reserve(suspect);
    let begun;
    let parked = false;
    try {
      begun = await this.store.begin(id);
      for (let wait = PARK_FIRST_MS; begun.state === 'locked'; wait = Math.min(wait * 2, PARK_MAX_MS)) {
        thread.release();
        if (!parked) this.stats.parked += 1;
        parked = true;
        if (this.stopRequested.signal.aborted) return this.requeue(d, 'draining while parked');
        await sleep(Math.min(wait, Math.max(begun.retryInMs, PARK_FIRST_MS)));
        thread = await pool.reserve(suspect);
        begun = await this.store.begin(id);
      }
    } catch (err) {
      thread.release();
      return this.storeUnavailable(d, err);
    }
    if (begun.state === 'done') {
      thread.release();
      return this.duplicate(d, id, parked ? 'in-flight' : 'done', bodyPrint, begun.record);
    }
    const { lease } = begun;

    // Attempts are counted by the lease grants in Redis, so a crash loop is bounded too.
    if (lease.fence > this.opts.maxAttempts) {
      thread.release();
      return this.deadLetter(d, lease, 'MAX_ATTEMPTS', `${lease.fence - 1} attempts ended without completing`);
    }

    // 4. Run the handler on a worker thread, extending the lease while it runs.
    const message: HandlerMessage = {
      id,
      body: parsed.body,
      headers: parsed.headers,
      attempt: lease.fence,
      redelivered: d.msg.fields.redelivered,
    };
    const slot = this.leaseBoard.acquire(lease.validUntil);
    const controller = new AbortController();
    const onDrain = (): void => controller.abort(this.draining.signal.reason);
    this.draining.signal.addEventListener('abort', onDrain, { once: true });
    const keeper = keepLease(this.store, lease, this.opts.lockTtlMs, controller, (validUntil) => {
      this.stats.leaseExtensions += 1;
      this.leaseBoard.set(slot, validUntil);
    });
    const signal = controller.signal;
    const started = performance.now();
    let handlerEnd = started;
    let outcome;
    try {
      outcome = await pool.run(thread, message, lease.fence, slot, signal, this.opts.handlerTimeoutMs);
    } catch (err) {
      const why = keeper.lost || err instanceof LeaseLostError ? 'lease-lost' : this.draining.signal.aborted ? 'draining' : 'failed';
      return this.failed(d, lease, err, why);
    } finally {
      keeper.stop();
      this.draining.signal.removeEventListener('abort', onDrain);
      this.leaseBoard.release(slot);
      handlerEnd = performance.now();
      observe(this.stats.handler, handlerEnd - started);
    }

    // 5. Complete: record (with the dedup-window TTL) and release in one step, then ack.
    // Even after a lost lease this is tried: the script writes only if nobody else was granted the id.
    // Redis-atomic mode: the handler's described writes are applied in that same step.
    const effects = outcome.effects ? checkEffects(outcome.effects) : [];
    if (typeof effects === 'string') {
      return this.deadLetter(d, lease, 'BAD_EFFECT', effects);
    }
    let recorded: boolean;
    try {
      const record = encodeRecord(bodyPrint, outcome.resultJson, this.opts.resultMaxBytes);
      recorded = await this.withStoreRetries(() =>
        effects.length > 0 ? this.store.completeWithEffects(lease, record, effects) : this.store.complete(lease, record),
      );
    } catch (err) {
      if (err instanceof DedupPoolError && err.code === 'BAD_EFFECT') return this.deadLetter(d, lease, 'BAD_EFFECT', err.message);
      // The handler ran but its completion could not be recorded: the redelivery runs it again
      // (in inbox mode it finds the inbox row instead).
      return this.storeUnavailable(d, err);
    }
    // The inbox row existed: this very body was committed before (a record of just the fingerprint says so).
    if (outcome.inboxDuplicate) return this.duplicate(d, id, 'inbox', bodyPrint, bodyPrint);
    if (!recorded) {
      this.stats.leaseLost += 1;
      this.log.warn({ msgId: id, fence: lease.fence }, 'lease lost to another replica: completion not recorded, message requeued');
      return this.requeue(d, 'lease lost');
    }
    this.ack(d);
    observe(this.stats.handlerToAck, performance.now() - handlerEnd);
    this.stats.completed += 1;
    this.log.debug({ msgId: id, attempt: lease.fence }, 'completed');
    this.emit('completed', id);
  }

  /** 6. The handler failed: retry with backoff, or dead-letter after the last attempt. */
  private async failed(d: Delivery, lease: Lease, err: unknown, why: 'failed' | 'lease-lost' | 'draining'): Promise<void> {
    const id = lease.id;
    if (why === 'lease-lost') {
      // Someone else may hold the id now; the lease is not ours to release.
      this.stats.leaseLost += 1;
      this.log.warn({ msgId: id, err: errorMessage(err) }, 'lease lost while the handler ran: message requeued');
      return this.requeue(d, 'lease lost');
    }
    if (why === 'draining') {
      await this.store.release(lease).catch(() => {});
      return this.requeue(d, 'draining');
    }
    const reason = err instanceof DedupPoolError ? err.code : 'HANDLER_FAILED';
    if (lease.fence >= this.opts.maxAttempts) return this.deadLetter(d, lease, reason, errorMessage(err));

    try {
      await this.store.release(lease);
    } catch (releaseErr) {
      // Not fatal: the lease expires by itself; the retry waits at most that long.
      this.log.warn({ msgId: id, err: errorMessage(releaseErr) }, 'could not release lease after a failure');
    }
    const delay = retryDelay(lease.fence, this.opts.retryDelayMs, this.opts.retryMaxDelayMs);
    const headers = { ...d.msg.properties.headers, [HEADERS.attempt]: lease.fence, [HEADERS.error]: truncate(errorMessage(err)) };
    try {
      const props = { ...republishProps(d), headers };
      if (delay > 0) await d.publish(this.names.retry, d.msg.content, { ...props, expiration: String(delay) });
      else await d.publish(this.names.queue, d.msg.content, props);
    } catch (pubErr) {
      this.log.warn({ msgId: id, err: errorMessage(pubErr) }, 'could not schedule a retry: message requeued');
      return this.requeue(d, 'retry publish failed');
    }
    this.ack(d);
    this.stats.retried += 1;
    this.log.debug({ msgId: id, attempt: lease.fence, delay, err: errorMessage(err) }, 'handler failed: retry scheduled');
    this.emit('retried', id, lease.fence);
  }

  // ---- outcomes ------------------------------------------------------------------

  /** The id is complete. Same body: ack as a duplicate. Another body: a conflict, never silently dropped. */
  private async duplicate(d: Delivery, id: string, reason: keyof ReplicaStats['duplicates'], bodyPrint: string, record: string): Promise<void> {
    const recorded = decodeRecord(record).fingerprint;
    if (recorded !== bodyPrint && this.opts.onConflict === 'dead-letter') {
      return this.deadLetter(d, undefined, 'ID_CONFLICT', `id ${id} was already completed with a different body`, id);
    }
    if (recorded !== bodyPrint) this.log.warn({ msgId: id }, 'id completed earlier with a different body: acked as a duplicate');
    this.ack(d);
    this.stats.duplicates[reason] += 1;
    this.log.debug({ msgId: id, reason }, 'duplicate acked');
    this.emit('duplicate', id, reason);
  }

  /** Publish to `<queue>.dlq` with the reason, wait for the confirm, then ack; never drop. */
  private async deadLetter(d: Delivery, lease: Lease | undefined, reason: string, detail: string, knownId?: string): Promise<void> {
    const id = lease?.id ?? knownId;
    const headers = {
      ...d.msg.properties.headers,
      [HEADERS.reason]: reason,
      [HEADERS.error]: truncate(detail),
      [HEADERS.queue]: this.opts.queue,
      ...(id !== undefined && { [HEADERS.id]: id }),
      ...(lease && { [HEADERS.attempts]: Math.min(lease.fence, this.opts.maxAttempts) }),
    };
    try {
      await d.publish(this.names.dlq, d.msg.content, { ...republishProps(d), headers });
    } catch (err) {
      this.log.error({ msgId: id, err: errorMessage(err) }, 'could not dead-letter: message requeued');
      if (lease) await this.store.release(lease).catch(() => {});
      return this.requeue(d, 'dead-letter publish failed', STORE_RETRY_MS);
    }
    this.ack(d);
    // A replay from the dead-letter queue starts again from attempt 1.
    if (lease) await this.store.release(lease, true).catch(() => {});
    this.stats.deadLettered[reason] = (this.stats.deadLettered[reason] ?? 0) + 1;
    this.log.warn({ msgId: id, reason, detail }, 'dead-lettered');
    this.emit('dead-lettered', id, reason);
  }

  /** Redis is unreachable: give the message back after a pause, and stop consuming until it returns. */
  private async storeUnavailable(d: Delivery, err: unknown): Promise<void> {
    this.stats.storeErrors += 1;
    this.log.error({ err: errorMessage(err) }, 'dedup store unavailable: message requeued after a pause');
    this.storeGate.closeUntilBack();
    return this.requeue(d, 'store unavailable', STORE_RETRY_MS);
  }

  /** Give the message back to the broker (after `delayMs`, so nothing spins). */
  private async requeue(d: Delivery, why: string, delayMs = 0): Promise<void> {
    if (delayMs > 0 && !this.stopRequested.signal.aborted) await sleep(delayMs);
    this.stats.requeued += 1;
    this.log.debug({ msgId: d.msg.properties.messageId, why }, 'requeued');
    d.requeue();
  }

  private ack(d: Delivery): void {
    // A delivery whose channel died cannot be acked: the broker redelivers it and the
    // redelivery finds the completion record.
    if (!d.live) this.log.warn({ msgId: d.msg.properties.messageId }, 'channel closed before the ack: the redelivery will be acked as a duplicate');
    d.ack();
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

  // ---- threads -----------------------------------------------------------------

  private newPool(threads: number): HandlerPool {
    return new HandlerPool({
      handlerPath: this.opts.handler,
      threads,
      concurrency: this.opts.concurrency,
      logLevel: this.opts.logLevel,
      // Long enough to clean up after an abort, short enough that a lost lease is not outrun.
      graceMs: Math.min(1000, Math.max(100, Math.floor(this.opts.lockTtlMs / 3))),
      heapMb: this.opts.workerHeapMb,
      leaseBoard: this.leaseBoard,
      ...(this.opts.inboxUrl && { inbox: { url: this.opts.inboxUrl, queue: this.opts.queue, dedupTtlMs: this.opts.dedupTtlMs } }),
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
    this.stopRequested.abort();
    await this.consumer.pause();
    const finished = await settleWithin([...this.inFlight], this.opts.drainTimeoutMs);
    if (!finished) {
      this.log.warn({ inFlight: this.inFlight.size }, 'drain timeout: aborting in-flight handlers');
      this.draining.abort(new DedupPoolError('DRAINING', 'replica is draining'));
      await settleWithin([...this.inFlight], this.opts.lockTtlMs);
    }
    await this.close();
    this.log.info({ stats: this.stats }, 'replica stopped');
  }

  private async close(): Promise<void> {
    await this.consumer.close();
    await this.inboxCleanup?.stop();
    await this.pool.close().catch(() => {});
    await this.store.close().catch(() => {});
  }
}

export async function startReplica(input: OptionsInput, log?: Logger): Promise<Replica> {
  return new Replica(input, log).start();
}
