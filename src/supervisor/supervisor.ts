/**
 * The supervisor: one per host. Starts `replicas` replica processes, restarts one
 * that dies (exponential backoff), stops on a crash loop, changes replica and
 * thread counts at runtime, and drains everything on stop().
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { DedupPoolError, UnsupportedServerError } from '../common/errors.js';
import { checkAtomicMode } from '../replica/atomic-mode.js';
import { checkHandler } from '../threads/executor.js';
import type { FromReplica, ToReplica } from '../replica/ipc.js';
import type { Logger } from '../common/logger.js';
import type { PoolOptions } from '../common/options.js';
import { builtFile } from '../common/paths.js';
import { newStats, sumStats, type ReplicaStats } from '../replica/stats.js';
import { startSummary } from '../replica/summary.js';

/** First restart delay; doubles per consecutive crash up to RESTART_MAX_MS. */
export const RESTART_FIRST_MS = 250;
export const RESTART_MAX_MS = 30_000;
/** A replica that was ready this long before dying starts its backoff from the beginning. */
const STABLE_AFTER_MS = 10_000;
/** Consecutive replicas that died before becoming ready: a crash loop (e.g. a broken handler). */
export const CRASH_LOOP_STARTS = 3;

export type SlotState = 'starting' | 'ready' | 'draining' | 'backoff' | 'stopped';

export interface SlotStatus {
  slot: number;
  pid: number | undefined;
  state: SlotState;
  uptimeMs: number;
  restarts: number;
  threads: number;
  /** Subscribed to the queue now (false while reconnecting or after the broker cancelled it). */
  consuming: boolean;
  inFlight: number;
  /** The RabbitMQ node the replica is connected to (password redacted). */
  amqp?: string;
  lastError?: string;
}

export interface SupervisorStatus {
  /** A supervisor of replica processes, or a lone `dedup-pool replica`. */
  mode: 'supervisor' | 'replica';
  queue: string;
  /** Absolute path of the handler module. */
  handler: string;
  /** Prefix of the Redis keys. */
  prefix: string;
  /** Target number of replicas. */
  replicas: number;
  threads: number;
  /** At least one replica is consuming. */
  ready: boolean;
  restarts: number;
  slots: SlotStatus[];
  /** Counters summed over every replica this supervisor ran, including exited ones. */
  totals: ReplicaStats;
}

interface Slot {
  slot: number;
  child?: ChildProcess;
  state: SlotState;
  readyAt?: number;
  restarts: number;
  consecutiveCrashes: number;
  startFailures: number;
  threads: number;
  consuming: boolean;
  stats: ReplicaStats;
  amqp?: string;
  lastError?: string;
  /** The replica cannot work with a server it was given: restarting it cannot help. */
  unsupported?: UnsupportedServerError;
  timer?: NodeJS.Timeout;
  exited?: Promise<void>;
}

export interface SupervisorEvents {
  ready: [];
  /** The pool cannot run (crash loop); the supervisor has stopped. */
  fatal: [err: Error];
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly slots: Slot[] = [];
  /** Stats of replicas that exited, so counters never go backwards. */
  private retired: ReplicaStats = newStats();
  private restarts = 0;
  private target: number;
  private stopping?: Promise<void>;
  private stopSummary = (): void => {};

  constructor(
    private readonly opts: PoolOptions,
    private readonly log: Logger,
  ) {
    super();
    this.target = opts.replicas;
  }

  /** Resolves when every replica is ready; rejects on a broken handler or a crash loop. */
  async start(): Promise<void> {
    checkAtomicMode(await checkHandler(this.opts.handler, this.opts.logLevel), this.opts);
    for (let i = 0; i < this.target; i++) this.spawn(this.newSlot());
    this.stopSummary = startSummary(() => this.status().totals, this.log, this.opts.summaryIntervalMs);
    return new Promise((resolve, reject) => {
      const onReady = (): void => {
        this.off('fatal', onFatal);
        resolve();
      };
      const onFatal = (err: Error): void => {
        this.off('ready', onReady);
        reject(err);
      };
      this.once('ready', onReady);
      this.once('fatal', onFatal);
    });
  }

  /** Change the number of replicas and/or threads per replica. */
  scale(change: { replicas?: number; threads?: number }): SupervisorStatus {
    if (this.stopping) throw new DedupPoolError('DRAINING', 'supervisor is stopping');
    if (change.threads !== undefined && change.threads !== this.opts.threads) {
      this.opts.threads = change.threads;
      for (const s of this.live()) this.send(s, { type: 'threads', threads: change.threads });
      this.log.info({ threads: change.threads }, 'threads per replica changed');
    }
    if (change.replicas !== undefined && change.replicas !== this.target) {
      this.log.info({ from: this.target, to: change.replicas }, 'scaling replicas');
      this.target = change.replicas;
      const live = this.live();
      for (let i = live.length; i < this.target; i++) this.spawn(this.newSlot());
      // Scale in from the newest: drain, let in-flight work finish, exit.
      for (const s of live.slice(this.target).reverse()) this.drainSlot(s);
    }
    return this.status();
  }

  status(): SupervisorStatus {
    const now = Date.now();
    const visible = this.slots.filter((s) => s.state !== 'stopped');
    return {
      mode: 'supervisor',
      queue: this.opts.queue,
      handler: this.opts.handler,
      prefix: this.opts.prefix,
      replicas: this.target,
      threads: this.opts.threads,
      ready: visible.some((s) => s.state === 'ready' && s.consuming),
      restarts: this.restarts,
      slots: visible.map((s) => ({
        slot: s.slot,
        pid: s.child?.pid,
        state: s.state,
        uptimeMs: s.readyAt && s.state !== 'backoff' ? now - s.readyAt : 0,
        restarts: s.restarts,
        threads: s.threads,
        consuming: s.state === 'ready' && s.consuming,
        inFlight: s.stats.inFlight,
        ...(s.child && s.amqp !== undefined && { amqp: s.amqp }),
        ...(s.lastError !== undefined && { lastError: s.lastError }),
      })),
      totals: sumStats([this.retired, ...this.slots.map((s) => s.stats)]),
    };
  }

  /** Drain every replica and wait for them to exit. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ replicas: this.live().length }, 'supervisor draining');
      this.stopSummary();
      for (const s of this.slots) {
        if (s.timer) clearTimeout(s.timer);
        if (s.state === 'backoff') s.state = 'stopped';
      }
      for (const s of this.live()) this.drainSlot(s);
      await Promise.all(this.slots.map((s) => s.exited));
      this.log.info('supervisor stopped');
    })();
    return this.stopping;
  }

  /**
   * A second Ctrl-C: every replica aborts its running handlers now and requeues
   * their messages, instead of waiting for them; resolves when all have exited.
   */
  stopNow(): Promise<void> {
    this.log.warn({ replicas: this.slots.filter((s) => s.child).length }, 'stopping now: in-flight handlers aborted and requeued');
    const stopped = this.stop();
    for (const s of this.slots) this.send(s, { type: 'stop-now' });
    return stopped;
  }

  // ---- replica processes ----------------------------------------------------------

  private newSlot(): Slot {
    const used = new Set(this.slots.filter((s) => s.state !== 'stopped').map((s) => s.slot));
    let n = 0;
    while (used.has(n)) n++;
    const slot: Slot = { slot: n, state: 'starting', restarts: 0, consecutiveCrashes: 0, startFailures: 0, threads: this.opts.threads, consuming: false, stats: newStats() };
    this.slots.push(slot);
    return slot;
  }

  private live(): Slot[] {
    return this.slots.filter((s) => s.state === 'starting' || s.state === 'ready').sort((a, b) => a.slot - b.slot);
  }

  private spawn(slot: Slot): void {
    const child = fork(builtFile('src/replica/replica-process.js'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    slot.child = child;
    slot.state = 'starting';
    slot.readyAt = undefined;
    slot.threads = this.opts.threads;
    slot.stats = newStats();
    child.on('message', (msg: FromReplica) => this.onMessage(slot, msg));
    // 'close', not 'exit': it comes after the last IPC message, so final stats are not lost or counted twice.
    slot.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.onExit(slot, code, signal);
        resolve();
      });
    });
    // The supervisor logs the summary of all its replicas; they log none of their own.
    this.send(slot, { type: 'start', options: { ...this.opts, summaryIntervalMs: 0 }, slot: slot.slot });
  }

  private onMessage(slot: Slot, msg: FromReplica): void {
    switch (msg.type) {
      case 'ready':
        slot.state = slot.state === 'starting' ? 'ready' : slot.state;
        slot.readyAt = Date.now();
        slot.consuming = true;
        slot.startFailures = 0;
        this.log.info({ slot: slot.slot, replicaPid: slot.child?.pid }, 'replica ready');
        if (this.live().length >= this.target && this.live().every((s) => s.state === 'ready')) this.emit('ready');
        break;
      case 'stats':
        slot.stats = msg.stats;
        slot.threads = msg.threads;
        slot.consuming = msg.consuming;
        slot.amqp = msg.amqp;
        break;
      case 'fatal':
        slot.lastError = msg.message;
        if (msg.permanent) slot.unsupported = new UnsupportedServerError(msg.permanent.option, msg.message);
        break;
    }
  }

  private onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    // Keep the counters of the exited process; nothing of it is in flight any more.
    this.retired = sumStats([this.retired, { ...slot.stats, inFlight: 0 }]);
    slot.stats = newStats();
    slot.consuming = false;
    const wasReady = slot.readyAt !== undefined;
    slot.child = undefined;

    if (slot.state === 'draining' || this.stopping) {
      slot.state = 'stopped';
      this.log.info({ slot: slot.slot, code }, 'replica exited after draining');
      return;
    }

    // A crash.
    this.restarts += 1;
    slot.restarts += 1;
    if (!wasReady) slot.startFailures += 1;
    const stable = wasReady && Date.now() - slot.readyAt! >= STABLE_AFTER_MS;
    slot.consecutiveCrashes = stable ? 1 : slot.consecutiveCrashes + 1;
    this.log.error({ slot: slot.slot, code, signal, lastError: slot.lastError }, 'replica died');

    if (!wasReady && slot.unsupported) {
      slot.state = 'stopped';
      const err = slot.unsupported;
      this.log.fatal({ err: err.message }, 'not restarting: another start would fail the same way');
      void this.stop().then(() => this.emit('fatal', err));
      return;
    }
    if (slot.startFailures >= CRASH_LOOP_STARTS) {
      slot.state = 'stopped';
      const err = new DedupPoolError(
        'WORKER_DIED',
        `replica failed to start ${slot.startFailures} times in a row; giving up: ${slot.lastError ?? `exit code ${code ?? signal}`}`,
      );
      this.log.fatal({ err: err.message }, 'crash loop');
      void this.stop().then(() => this.emit('fatal', err));
      return;
    }
    const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** (slot.consecutiveCrashes - 1));
    slot.state = 'backoff';
    this.log.warn({ slot: slot.slot, delayMs: delay }, 'restarting replica after backoff');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!this.stopping && slot.state === 'backoff') this.spawn(slot);
    }, delay);
  }

  private drainSlot(slot: Slot): void {
    slot.state = 'draining';
    this.send(slot, { type: 'drain' });
    // A replica that cannot finish within its drain timeout (plus a margin) is killed;
    // its unacked messages are redelivered.
    const hardStop = setTimeout(() => slot.child?.kill('SIGKILL'), this.opts.drainTimeoutMs + this.opts.lockTtlMs + 5000);
    void slot.exited?.then(() => clearTimeout(hardStop));
  }

  private send(slot: Slot, msg: ToReplica): void {
    if (slot.child?.connected) slot.child.send(msg);
  }
}
