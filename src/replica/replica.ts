/**
 * A replica: one AMQP connection and channel (consumer.ts), a prefetch window,
 * one executor for the handler (a piscina pool, or the main thread), and the
 * batch pipeline between them (pipeline.ts: the per-message protocol). This
 * file is the replica's lifecycle: start, resize, drain, close.
 */
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { amqpNodes, queueNames, type QueueNames } from '../amqp/broker.js';
import { Consumer } from '../amqp/consumer.js';
import type { DedupStore } from '../store/dedup-store.js';
import { openStore } from '../store/open-store.js';
import { migrate, startInboxCleanup } from '../store/inbox.js';
import { ConfigError, DedupPoolError, errorMessage } from '../common/errors.js';
import { createExecutor, type Executor } from '../threads/executor.js';
import { outboxKey, replicaClientName, scopeOf } from '../store/keys.js';
import { guardLayout } from '../store/layout.js';
import { checkRedisVersions } from '../store/redis-version.js';
import { routeRedisWarnings } from '../store/redis-warnings.js';
import { LeaseBoard } from '../threads/lease-board.js';
import { startWatchdog, type Watchdog } from '../threads/watchdog-thread.js';
import { createLogger, redactUrl, resolveLogFormat, type Logger } from '../common/logger.js';
import { resolveOptions, type OptionsInput, type PoolOptions } from '../common/options.js';
import type { ReplicaEvents } from './item.js';
import { Pipeline } from './pipeline.js';
import { leaseTiming } from './lease-clock.js';
import { OutgoingChannel } from '../amqp/outgoing.js';
import { Followups } from './followups.js';
import { startOutboxDispatcher, startRedisOutboxDispatcher, type Dispatcher } from './outbox-dispatcher.js';
import type { Redis } from 'ioredis';
import { StoreGate } from './store-gate.js';
import { checkAtomicMode } from './atomic-mode.js';
import { loadTls } from '../common/tls.js';
import { newStats, type ReplicaStats } from './stats.js';
import { startSummary } from './summary.js';

export type { ReplicaEvents } from './item.js';

/** How often a draining replica says how much is left. */
const DRAIN_PROGRESS_MS = 5000;
/** After stopNow(): how long aborted handlers get to settle before the replica closes anyway. */
const HURRIED_ABORT_WAIT_MS = 5000;

export class Replica extends EventEmitter<ReplicaEvents> {
  readonly opts: PoolOptions;
  readonly log: Logger;
  private readonly counters: ReplicaStats = newStats();
  private readonly names: QueueNames;
  private readonly store: DedupStore;
  private readonly consumer: Consumer;
  private readonly board: LeaseBoard;
  /** Ends the process when a handler runs on past its lease and the main thread cannot stop it. */
  private readonly watchdog: Watchdog;
  private readonly pipeline: Pipeline;
  private executor: Executor;
  /** Aborted when stop() begins: ends start-up retries and waits for Redis. */
  private readonly stopRequested = new AbortController();
  private readonly storeGate: StoreGate;
  private inboxCleanup?: { stop(): Promise<void> };
  /** Follow-ups go out on a channel of their own on the consumer's connection. */
  private readonly outgoing: OutgoingChannel;
  /** Publish follow-ups left in an outbox: the Postgres one (--inbox), the Redis one (a single Redis). */
  private readonly dispatchers: Dispatcher[] = [];
  private stopping?: Promise<void>;
  private hurried = false;
  private stopSummary = (): void => {};

  /** `firstAmqpNode`: which node of an `--amqp` list to connect to first (the supervisor gives each slot its own). */
  constructor(input: OptionsInput, log?: Logger, placement: { firstAmqpNode?: number } = {}) {
    super();
    this.opts = resolveOptions(input);
    this.opts.handler = resolve(this.opts.handler);
    this.log = log ?? createLogger(this.opts.logLevel, { queue: this.opts.queue }, this.opts.logFormat);
    this.names = queueNames(this.opts.queue);
    const tls = loadTls(this.opts);
    routeRedisWarnings(this.log);
    this.store = openStore(this.opts, tls, replicaClientName(this.opts.prefix, scopeOf(this.opts)));
    this.consumer = new Consumer(
      {
        amqpUrls: amqpNodes(this.opts.amqpUrl),
        tls,
        names: this.names,
        topology: { queueType: this.opts.queueType, deliveryLimit: this.opts.deliveryLimit },
        prefetch: this.opts.prefetch,
        ...(placement.firstAmqpNode !== undefined && { firstNode: placement.firstAmqpNode }),
      },
      this.log,
      (d) => this.pipeline.deliver(d),
    );
    this.storeGate = new StoreGate(this.store, this.consumer, this.log, this.stopRequested.signal, () => this.redisNames);
    this.consumer.on('lost', () => (this.counters.reconnects += 1));
    this.consumer.on('cancelled', () => (this.counters.cancellations += 1));
    // One slot per held lease: at most `prefetch` on a live channel, plus those of a
    // dead channel whose handlers still run (they finish and record their completions).
    this.board = new LeaseBoard(this.opts.prefetch * 4);
    this.watchdog = startWatchdog(this.board, leaseTiming(this.opts.lockTtlMs, this.opts.handlerTimeoutMs).tickMs, this.log);
    this.outgoing = new OutgoingChannel(() => this.consumer.connection);
    const scope = scopeOf(this.opts);
    const sending = { channel: this.outgoing, stats: this.counters, log: this.log };
    const outbox = this.opts.inboxUrl ? startOutboxDispatcher(this.opts.inboxUrl, scope, sending) : undefined;
    const redis = (): Redis => this.store.clients[0] as Redis;
    const redisOutbox = this.store.mode === 'single' ? { redis, key: outboxKey(this.opts.prefix, scope) } : undefined;
    if (outbox) this.dispatchers.push(outbox);
    if (redisOutbox) this.dispatchers.push(startRedisOutboxDispatcher(redis, redisOutbox.key, sending));
    const followups = new Followups({ ...sending, ...(outbox && { outbox: { db: outbox.db, scope } }), ...(redisOutbox && { redisOutbox }) });
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
      followups,
    });
    this.executor = this.newExecutor(this.opts.threads);
  }

  /** The replica's counters (plain numbers: they cross IPC as they are). */
  get stats(): ReplicaStats {
    this.counters.redisCalls = this.store.calls;
    this.counters.waitShortfalls = this.store.waitShortfalls;
    return this.counters;
  }

  /** The RabbitMQ node this replica is connected to now (password redacted). */
  get amqpNode(): string | undefined {
    return this.consumer.connectedTo;
  }

  /** The Redis instances (or cluster seeds) as given, passwords hidden. */
  private get redisNames(): string[] {
    return (this.opts.redisCluster ?? this.opts.redisUrls).map(redactUrl);
  }

  /** Consuming now, with a handler slot not held by an overdue handler: what /readyz reports. */
  get ready(): boolean {
    const { threads, concurrency, prefetch } = this.opts;
    const slots = Math.min(prefetch, Math.max(1, threads) * concurrency);
    return this.consumer.consuming && !(this.stats.overdue > 0 && this.stats.overdue >= slots);
  }

  async start(): Promise<this> {
    const { opts } = this;
    try {
      checkAtomicMode(await this.executor.probe(), opts);
      if (opts.inboxUrl) {
        await migrate(opts.inboxUrl).catch((err: unknown) => {
          throw new ConfigError('inbox', `--inbox ${redactUrl(opts.inboxUrl!)}: cannot prepare the inbox table: ${errorMessage(err)}`);
        });
        this.inboxCleanup = startInboxCleanup(opts.inboxUrl, Math.min(60_000, Math.max(1000, opts.dedupTtlMs / 4)), this.log);
      }
      await this.storeGate.open();
      await checkRedisVersions(this.store, this.redisNames);
      await guardLayout(this.store, opts, this.redisNames);
      await this.consumer.start(this.stopRequested.signal);
      for (const d of this.dispatchers) d.start();
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
        amqp: this.consumer.connectedTo,
        amqpNodes: amqpNodes(opts.amqpUrl).map(redactUrl),
        redis: this.redisNames,
        store: this.store.mode,
        prefix: opts.prefix,
        dedupScope: scopeOf(opts),
        dedupTtlMs: opts.dedupTtlMs,
        lockTtlMs: opts.lockTtlMs,
      },
      'replica started',
    );
    this.stopSummary = startSummary(() => this.stats, this.log, opts.summaryIntervalMs);
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
        logFormat: resolveLogFormat(this.opts.logFormat),
        heapMb: this.opts.workerHeapMb,
        board: this.board,
        // A heap limit is a thread's: with one, every call runs on a thread.
        inlineBelowMs: this.opts.workerHeapMb > 0 ? 0 : this.opts.inlineBelowUs / 1000,
        onResults: this.pipeline.onResults,
        ...(this.opts.inboxUrl && { inbox: { url: this.opts.inboxUrl, queue: scopeOf(this.opts), dedupTtlMs: this.opts.dedupTtlMs } }),
        followups: { scope: scopeOf(this.opts), idField: this.opts.idField, maxBytes: this.opts.maxBytes },
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

  /** Stop without waiting for running handlers (a second Ctrl-C): abort them now and requeue their messages. */
  stopNow(): Promise<void> {
    this.hurried = true;
    return this.stop();
  }

  private async drain(): Promise<void> {
    this.log.info({ inFlight: this.counters.inFlight }, 'draining');
    this.stopRequested.abort();
    this.stopSummary();
    await this.consumer.pause();
    this.pipeline.stopStarting();
    if (!(await this.settled(this.opts.drainTimeoutMs, true))) {
      const why = this.hurried ? 'stopping now' : 'drain timeout';
      this.log.warn({ inFlight: this.counters.inFlight }, `${why}: aborting in-flight handlers`);
      this.pipeline.abortAll(new DedupPoolError('DRAINING', 'replica is draining'));
      // Aborted handlers settle quickly; one that ignores its abort has its thread terminated by the lease clock.
      await this.settled(this.hurried ? Math.min(this.opts.lockTtlMs, HURRIED_ABORT_WAIT_MS) : this.opts.lockTtlMs);
    }
    await this.close();
    const { completed, duplicates, deadLettered, retried, requeued, leaseLost } = this.stats;
    this.log.info({ stats: { completed, duplicates, deadLettered, retried, requeued, leaseLost } }, 'replica stopped');
  }

  /** Wait until every delivery is settled (true), or `ms` passed or, if `hurriable`, stopNow() was called (false). */
  private async settled(ms: number, hurriable = false): Promise<boolean> {
    const until = Date.now() + ms;
    let nextReport = Date.now() + DRAIN_PROGRESS_MS;
    while (this.counters.inFlight > 0) {
      if (Date.now() >= until || (hurriable && this.hurried)) return false;
      if (Date.now() >= nextReport) {
        this.log.info({ inFlight: this.counters.inFlight, leftMs: until - Date.now(), ids: this.pipeline.working.keys().slice(0, 10) }, 'draining: waiting for running handlers');
        nextReport += DRAIN_PROGRESS_MS;
      }
      await sleep(20);
    }
    return true;
  }

  private async close(): Promise<void> {
    this.pipeline.close();
    for (const d of this.dispatchers) await d.stop();
    await this.outgoing.close();
    await this.consumer.close();
    await this.inboxCleanup?.stop();
    await this.executor.close().catch(() => {});
    await this.watchdog.stop();
    await this.store.close().catch(() => {});
  }
}

export async function startReplica(input: OptionsInput, log?: Logger): Promise<Replica> {
  return new Replica(input, log).start();
}
