/**
 * Step 3 of the protocol (see pipeline.ts): leased items handed to the executor as
 * tasks, their leases held by the lease clock while they run, and their results
 * turned back into what the pipeline acts on. A lease lost or a handler timed out
 * fires the task's abort; a handler that ignores it past a grace period has its
 * thread terminated.
 */
import { ChurnMap } from '../common/churn-map.js';
import { monotonicMs } from '../common/clock.js';
import { formatDuration } from '../common/duration.js';
import { DedupPoolError, HandlerError, HandlerTimeoutError, LeaseLostError, WorkerDiedError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { PoolOptions } from '../common/options.js';
import type { DedupStore } from '../store/dedup-store.js';
import type { Executor } from '../threads/executor.js';
import type { LeaseBoard } from '../threads/lease-board.js';
import type { Task, TaskResult } from '../threads/worker-protocol.js';
import type { Item } from './item.js';
import { LeaseClock } from './lease-clock.js';
import { observe, type ReplicaStats } from './stats.js';

/** What became of runs: the pipeline's next steps. */
export interface RunOutcomes {
  /** The handler returned: complete it. */
  finished(item: Item): void;
  /** The handler threw, timed out, or its thread died while it ran (`threadDied`): one attempt spent. */
  failed(item: Item, err: DedupPoolError, threadDied: boolean): void;
  /** The handler never started (draining, or its lease expired first): no attempt spent. */
  notStarted(item: Item, leaseExpired: boolean): void;
  /** A batch of results has been handled. */
  settled(): void;
}

export class HandlerRuns {
  /** Task id -> leased item whose handler is out on an executor. */
  private readonly running = new ChurnMap<number, Item>();
  private nextTaskId = 1;
  private readonly clock: LeaseClock;

  constructor(
    private readonly deps: {
      opts: PoolOptions;
      log: Logger;
      stats: ReplicaStats;
      store: DedupStore;
      board: LeaseBoard;
      executor(): Executor;
      stopping(): boolean;
      outcomes: RunOutcomes;
    },
  ) {
    const o = deps.opts;
    this.clock = new LeaseClock(deps.store, deps.board, { lockTtlMs: o.lockTtlMs, handlerTimeoutMs: o.handlerTimeoutMs, overdueAfterMs: o.overdueAfterMs }, {
      extended: () => (deps.stats.leaseExtensions += 1),
      lost: (h) => this.abort(h as Item, new LeaseLostError((h as Item).id)),
      timedOut: (h) => this.abort(h as Item, new HandlerTimeoutError(o.handlerTimeoutMs, 'its signal was aborted')),
      overdue: (h) => this.overdue(h as Item),
      stuck: (h) => this.terminate(h as Item),
    });
  }

  get size(): number {
    return this.running.size;
  }

  /** Submit leased items to the executor, one task each; returns those that found no lease board slot. */
  start(items: Item[]): Item[] {
    const executor = this.deps.executor();
    const tasks: Task[] = [];
    const noSlot: Item[] = [];
    for (const item of items) {
      const slot = this.deps.board.acquire(this.clock.deadline(item.lease), this.clock.hardStop(item.lease));
      if (slot === undefined) {
        noSlot.push(item);
        continue;
      }
      const { lease } = item;
      item.slot = slot;
      item.task = {
        taskId: this.nextTaskId++,
        slot,
        message: { id: item.id, body: item.body, headers: item.headers, attempt: lease.fence, redelivered: item.d.msg.fields.redelivered },
        fencingToken: lease.fence,
      };
      if (item.trace) item.task.traceparent = item.trace.handler({ 'dedup.fencing_token': lease.fence });
      item.executor = executor;
      item.running = true;
      item.handlerStarted = performance.now();
      this.running.set(item.task.taskId, item);
      this.clock.hold(item);
      tasks.push(item.task);
    }
    // A crash suspect runs on a thread: if it takes that down, the process stays.
    if (tasks.length > 0) executor.submit(tasks, !items.some((i) => i.suspect));
    return noSlot;
  }

  /** Results from an executor, in batches. */
  readonly onResults = (results: TaskResult[]): void => {
    const { outcomes } = this.deps;
    const again: Item[] = [];
    for (const r of results) {
      const item = this.running.get(r.taskId);
      if (!item) continue;
      if (!r.ok && 'died' in r && !r.started && !this.deps.stopping() && !item.lost) {
        // Its thread died before the handler started: it runs again, still leased, uncharged.
        again.push(item);
        continue;
      }
      this.running.delete(r.taskId);
      item.running = false;
      if (item.overdue) this.deps.stats.overdue -= 1;
      item.handlerEnded = performance.now();
      observe(this.deps.stats.handler, item.handlerEnded - item.handlerStarted);
      item.trace?.handlerDone(r);
      this.deps.board.release(item.slot);
      if (r.ok) {
        item.result = r;
        outcomes.finished(item);
      } else if ('notStarted' in r || ('died' in r && !r.started)) {
        outcomes.notStarted(item, item.lost || ('notStarted' in r && r.notStarted === 'lease-expired'));
      } else if ('died' in r) outcomes.failed(item, this.deathOf(item, r.died), true);
      else outcomes.failed(item, r.error.code ? new DedupPoolError(r.error.code, r.error.message) : new HandlerError(r.error.message, r.error.stack), false);
    }
    if (again.length > 0) {
      const executor = this.deps.executor();
      for (const item of again) item.executor = executor;
      executor.submit(again.map((i) => i.task!), false);
    }
    outcomes.settled();
  };

  /** The item is settled: its lease is no longer renewed. */
  drop(item: Item): void {
    this.clock.drop(item);
  }

  /**
   * A drain began: every executor with tasks out (the current one, and an older pool
   * still finishing after a --threads change) gives back the tasks not started.
   */
  stopStarting(): void {
    const executors = new Set([this.deps.executor(), ...[...this.running.values()].map((i) => i.executor!)]);
    for (const executor of executors) executor.stopStarting();
  }

  /** Handlers still running after the drain timeout: their signals fire. */
  abortAll(reason: Error): void {
    for (const item of this.running.values()) this.abort(item, reason);
  }

  close(): void {
    this.clock.stop();
  }

  private abort(item: Item, reason: Error): void {
    if (!item.running || item.abortedAt > 0) return;
    item.abortedAt = monotonicMs();
    item.executor!.abort(item.task!.taskId, reason.message);
  }

  /** Running far past its expected time: it holds a slot (and keeps its lease); say so once. */
  private overdue(item: Item): void {
    const { stats, opts, log } = this.deps;
    stats.overdue += 1;
    stats.overdueTotal += 1;
    log.warn(
      { msgId: item.id, attempt: item.lease.fence, runningMs: Math.round(performance.now() - item.handlerStarted), overdueNow: stats.overdue },
      `handler overdue: running longer than --overdue-after ${formatDuration(opts.overdueAfterMs)}; it holds its slot and its lease (set --handler-timeout to stop such runs)`,
    );
  }

  /** Its handler ignored the abort for the grace period: end its thread. */
  private terminate(item: Item): void {
    if (!item.running) return;
    if (item.executor!.terminate(item.slot)) this.deps.log.warn({ msgId: item.id, attempt: item.lease.fence }, 'handler ignored its abort signal: terminating its thread');
    else this.deps.log.error({ msgId: item.id }, 'handler ignored its abort signal and cannot be terminated on the main thread (--threads 0)');
  }

  private deathOf(item: Item, died: string): DedupPoolError {
    if (item.timedOut) return new HandlerTimeoutError(this.deps.opts.handlerTimeoutMs, `it ignored its abort signal for ${this.clock.timing.graceMs}ms; its thread was terminated`);
    return new WorkerDiedError(died);
  }
}
