/**
 * A replica: one AMQP connection and channel (consumer.ts), a prefetch window,
 * one executor for the handler (a piscina pool, or the main thread), and the
 * batch pipeline between them (pipeline.ts: the per-message protocol). This
 * file is the replica's lifecycle: start, resize, drain, close.
 */
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { queueNames, type QueueNames } from './amqp.js';
import { Consumer } from './consumer.js';
import { DedupStore, connectRedis } from './dedup-store.js';
import { migrate, startInboxCleanup } from './inbox.js';
import { ConfigError, DedupPoolError, errorMessage } from './errors.js';
import { createExecutor, type Executor } from './executor.js';
import { keysFor } from './keys.js';
import { LeaseBoard } from './lease-board.js';
import { createLogger, redactUrl, type Logger } from './logger.js';
import { resolveOptions, type OptionsInput, type PoolOptions } from './options.js';
import { Pipeline, type ReplicaEvents } from './pipeline.js';
import { StoreGate } from './store-gate.js';
import { loadTls } from './tls.js';
import { newStats, type ReplicaStats } from './stats.js';

export type { ReplicaEvents } from './pipeline.js';

/** How often a draining replica says how much is left. */
const DRAIN_PROGRESS_MS = 5000;

export class Replica extends EventEmitter<ReplicaEvents> {
  readonly opts: PoolOptions;
  readonly log: Logger;
  private readonly counters: ReplicaStats = newStats();
  private readonly names: QueueNames;
  private readonly store: DedupStore;
  private readonly consumer: Consumer;
  private readonly board: LeaseBoard;
  private readonly pipeline: Pipeline;
  private executor: Executor;
  /** Aborted when stop() begins: ends start-up retries and waits for Redis. */
  private readonly stopRequested = new AbortController();
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
      (d) => this.pipeline.deliver(d),
    );
    this.storeGate = new StoreGate(this.store, this.consumer, this.log, this.stopRequested.signal, () => this.opts.redisUrls.map(redactUrl));
    this.consumer.on('lost', () => (this.counters.reconnects += 1));
    this.consumer.on('cancelled', () => (this.counters.cancellations += 1));
    // One slot per held lease: at most `prefetch` on a live channel, plus those of a
    // dead channel whose handlers still run (they finish and record their completions).
    this.board = new LeaseBoard(this.opts.prefetch * 4);
    this.pipeline = new Pipeline({
      opts: this.opts,
      log: this.log,
      stats: this.counters,
      store: this.store,
      names: this.names,
      board: this.board,
      storeGate: this.storeGate,
      events: this,
      executor: () => this.executor,
    });
    this.executor = this.newExecutor(this.opts.threads);
  }

  /** The replica's counters (plain numbers: they cross IPC as they are). */
  get stats(): ReplicaStats {
    this.counters.redisCalls = this.store.calls;
    return this.counters;
  }

  /** Consuming now: what /readyz reports. */
  get ready(): boolean {
    return this.consumer.consuming;
  }

  async start(): Promise<this> {
    const { opts } = this;
    try {
      await this.executor.probe();
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
        concurrency: opts.concurrency,
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

  // ---- threads -----------------------------------------------------------------

  private newExecutor(threads: number): Executor {
    return createExecutor(
      {
        handlerPath: this.opts.handler,
        threads,
        concurrency: this.opts.concurrency,
        logLevel: this.opts.logLevel,
        heapMb: this.opts.workerHeapMb,
        board: this.board,
        onResults: this.pipeline.onResults,
        ...(this.opts.inboxUrl && { inbox: { url: this.opts.inboxUrl, queue: this.opts.queue, dedupTtlMs: this.opts.dedupTtlMs } }),
      },
      this.log,
    );
  }

  /**
   * Piscina cannot resize a pool in place: start a new executor, send new tasks
   * to it, and let the old one finish the tasks it has before it closes.
   */
  async setThreads(threads: number): Promise<void> {
    if (threads === this.opts.threads) return;
    const next = this.newExecutor(threads);
    await next.probe();
    const old = this.executor;
    this.executor = next;
    this.opts.threads = threads;
    this.log.info({ threads }, 'thread pool replaced');
    await old.close({ force: false });
  }

  // ---- lifecycle -----------------------------------------------------------------

  /**
   * Drain: stop consuming and requeue what has not started; let running handlers
   * finish (up to drainTimeoutMs), complete and ack them; what still runs then is
   * aborted and requeued.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.log.info({ inFlight: this.counters.inFlight }, 'draining');
    this.stopRequested.abort();
    await this.consumer.pause();
    this.pipeline.stopStarting();
    if (!(await this.settled(this.opts.drainTimeoutMs))) {
      this.log.warn({ inFlight: this.counters.inFlight }, 'drain timeout: aborting in-flight handlers');
      this.pipeline.abortAll(new DedupPoolError('DRAINING', 'replica is draining'));
      await this.settled(this.opts.lockTtlMs);
    }
    await this.close();
    this.log.info({ stats: this.stats }, 'replica stopped');
  }

  /** Wait until every delivery is settled (true), or `ms` passed (false). */
  private async settled(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    let nextReport = Date.now() + DRAIN_PROGRESS_MS;
    while (this.counters.inFlight > 0) {
      if (Date.now() >= until) return false;
      if (Date.now() >= nextReport) {
        this.log.info({ inFlight: this.counters.inFlight, leftMs: until - Date.now() }, 'draining: waiting for running handlers');
        nextReport += DRAIN_PROGRESS_MS;
      }
      await sleep(20);
    }
    return true;
  }

  private async close(): Promise<void> {
    this.pipeline.close();
    await this.consumer.close();
    await this.inboxCleanup?.stop();
    await this.executor.close().catch(() => {});
    await this.store.close().catch(() => {});
  }
}

export async function startReplica(input: OptionsInput, log?: Logger): Promise<Replica> {
  return new Replica(input, log).start();
}
