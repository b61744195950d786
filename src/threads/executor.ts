/**
 * Where handler tasks run: a piscina pool of worker threads, or (`--threads 0`)
 * the replica's main thread. The pipeline sees one interface either way: submit
 * a batch, get results back in batches, abort a task, terminate a stuck thread.
 *
 * Handlers whose calls keep a thread working (on a core) less than --inline-below-us
 * each run on the main thread even with threads (the fast lane, placement.ts): for them
 * the hop to a thread (a structured clone, a wake-up, the results back) costs more than
 * the call. What a thread promised still holds there: a handler that ignores its abort
 * ends the process instead of its thread, and the replica's watchdog thread ends it when
 * a handler blocks the main thread until its lease is about to run out (workers/watchdog.ts).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { BroadcastChannel } from 'node:worker_threads';
import pg from 'pg';
import { Piscina } from 'piscina';
import { ChurnMap } from '../common/churn-map.js';
import { ConfigError, errorMessage } from '../common/errors.js';
import { BoardView, LeaseBoard, MAIN_THREAD } from './lease-board.js';
import { lastWordsLogger, type Logger } from '../common/logger.js';
import { builtFile } from '../common/paths.js';
import type { HandlerInfo } from './handler-module.js';
import type { FollowupConfig } from './followup-calls.js';
import { FAST_LANE_AFTER_CALLS, MIN_SHARE_MS, fastLane, pickWorker, sampleOnThread, sharesFor } from './placement.js';
import { TaskRunner } from './task-runner.js';
import { packTasks, resultsOf, type ControlMessage, type ProbeResult, type ResultsMessage, type Task, type TaskResult, type WorkerData, type WorkerTask } from './worker-protocol.js';

export interface ExecutorOptions {
  handlerPath: string;
  /** Worker threads; 0 runs handlers on the main thread. */
  threads: number;
  /** Handler calls at once per thread. */
  concurrency: number;
  logLevel: string;
  logFormat?: 'json' | 'pretty';
  /** Heap limit per thread in MB; 0 for Node's default. */
  heapMb?: number;
  board: LeaseBoard;
  /** Handlers whose calls keep a thread working less than this each (ms) run on the main thread; 0: never (threads > 0 only). */
  inlineBelowMs?: number;
  /** Postgres inbox mode. */
  inbox?: { url: string; queue: string; dedupTtlMs: number };
  /** What ctx.publish needs to build follow-ups. */
  followups?: FollowupConfig;
  /** Receives results in batches, including those of tasks whose thread died, with their handlers' time and their threads' work (ms; worker-protocol.ts). */
  onResults(results: TaskResult[], handlerMs?: number, workMs?: number): void;
}

export interface Executor {
  readonly threads: number;
  /** Load the handler once, so a broken handler stops start-up instead of failing every message; what it declares. */
  probe(): Promise<HandlerInfo>;
  /** Run a batch; `mayInline`: it may take the fast lane (not for crash suspects). */
  submit(tasks: Task[], mayInline?: boolean): void;
  /** Fire the task's `ctx.signal`. */
  abort(taskId: number, reason: string): void;
  /** A drain began: tasks waiting for a place come back unrun, now (set the board's flag first). */
  stopStarting(): void;
  /** Terminate the thread running the task in `slot` (its handler ignored its abort); false if it cannot be done. */
  terminate(slot: number): boolean;
  close(opts?: { force?: boolean }): Promise<void>;
}

export function createExecutor(opts: ExecutorOptions, log: Logger): Executor {
  return opts.threads === 0 ? new InlineExecutor(opts, log) : new ThreadExecutor(opts, log);
}

/**
 * A handler on the main thread ignored its abort: it cannot be stopped there, and its
 * lease is lost or going. Nothing more of this process may run (SIGKILL); its messages
 * are redelivered.
 */
function endProcess(log: Logger, slot: number): never {
  lastWordsLogger(log.level, log.bindings()).fatal({ slot }, 'a handler on the main thread ignored its abort signal: ending the replica, as a thread would be terminated (its messages are redelivered)');
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: the process was killed');
}

/**
 * Load the handler once on a throwaway thread, so a missing or broken handler
 * stops start-up with its reason before any replica starts (not a crash loop).
 */
export async function checkHandler(handlerPath: string, logLevel: string): Promise<HandlerInfo> {
  const executor = new ThreadExecutor({ handlerPath, threads: 1, concurrency: 1, logLevel, board: new LeaseBoard(1), onResults: () => {} }, undefined);
  try {
    return await executor.probe();
  } finally {
    await executor.close();
  }
}

/** Results for tasks whose thread died: started ones were charged an attempt. */
function died(tasks: Task[], board: LeaseBoard, why: string): TaskResult[] {
  return tasks.map((t) => ({ taskId: t.taskId, ok: false, died: why, started: board.startedAt(t.slot) > 0 }));
}

function probeFailed(path: string, message: string): ConfigError {
  return new ConfigError('handler', `--handler ${path} cannot be loaded: ${message}`);
}

/** Batches at once on one thread; they queue inside it, which runs `concurrency` handlers at once across them. */
const BATCHES_PER_THREAD = 64;

class ThreadExecutor implements Executor {
  private readonly piscina: Piscina<WorkerTask, ProbeResult | void>;
  private readonly control: BroadcastChannel;
  /** Tasks submitted and not yet answered: each gets exactly one result, whatever becomes of its thread. */
  private readonly out = new ChurnMap<number, Task>();
  /** Resolves once nothing is out (a graceful close waits for it). */
  private idle: { promise: Promise<void>; resolve(): void } | undefined;
  /** Each live thread's exit, which Node reports only after delivering every message the thread posted. */
  private readonly exits = new Map<number, Promise<void>>();
  /** Recent handler time per task (ms), from the workers' reports; high at first, so early batches split. */
  private msPerTask = MIN_SHARE_MS;
  /** Recent thread work per task (ms; worker-protocol.ts workMs): the fast lane's measure. */
  private workPerTask = MIN_SHARE_MS;
  /** Fast-lane batches since one last went to a thread, and when that was (performance.now()): sampleOnThread. */
  private laneBatches = 0;
  private sampledAt = 0;
  /** Handler calls measured so far (up to the fast lane's warm-up). */
  private measuredCalls = 0;
  /** The batch being handed to piscina is one share of fast handlers (pickWorker). */
  private concentrate = false;
  /** The fast lane: made when a handler is first measured fast enough, used once the handler has loaded there. */
  private inline?: InlineExecutor;
  private lane: 'closed' | 'loading' | 'open' | 'unavailable' = 'closed';

  constructor(
    private readonly opts: ExecutorOptions,
    private readonly log: Logger | undefined,
  ) {
    const file = builtFile('workers/handler-worker.js');
    if (!existsSync(file)) throw new Error(`worker file ${file} is missing: run "npm run build"`);
    const controlChannel = `dedup-pool:control:${randomUUID()}`;
    const workerData: WorkerData = {
      handlerPath: opts.handlerPath,
      concurrency: opts.concurrency,
      controlChannel,
      logLevel: opts.logLevel,
      logFormat: opts.logFormat ?? 'json',
      leaseBoard: opts.board.buffer,
      ...(opts.inbox && { inbox: { ...opts.inbox, poolSize: opts.concurrency } }),
      ...(opts.followups && { followups: opts.followups }),
    };
    this.control = new BroadcastChannel(controlChannel);
    this.control.unref();
    this.piscina = new Piscina({
      filename: file,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      concurrentTasksPerWorker: BATCHES_PER_THREAD,
      loadBalancer: (_task, workers) => pickWorker(workers, this.concentrate, BATCHES_PER_THREAD),
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // Let the worker's event loop run between tasks (result posts, abort messages).
      atomics: 'async',
      workerData,
      ...(opts.heapMb ? { resourceLimits: { maxOldGenerationSizeMb: opts.heapMb } } : {}),
    });
    this.piscina.on('message', (msg: ResultsMessage) => {
      if (msg?.dedupResults) this.measured(resultsOf(msg), msg.handlerMs, msg.workMs);
    });
    this.piscina.on('workerCreate', (w: { id: number }) => this.watchExit(w.id));
    // A thread that dies with no batch on it: piscina replaces it; nothing is lost.
    this.piscina.on('error', () => {});
  }

  /** Results from either lane, with their handlers' time (a running mean per task decides the lane and the split). */
  private measured(results: TaskResult[], handlerMs = 0, workMs = handlerMs, onMainThread = false): void {
    // Only calls that ran are measured: a task refused or lost with its thread took no time.
    let ran = 0;
    for (const r of results) if (r.ok || 'error' in r) ran += 1;
    if (ran > 0) {
      this.msPerTask = 0.8 * this.msPerTask + 0.2 * (handlerMs / ran);
      // Up at once from the main thread: a handler that turns busy there leaves with the next batch
      // (its stretches there are measured without the longest of each turn, a pause's: task-runner.ts Stretches).
      // A thread's figure moves as a mean: one batch stretched by the machine does not close the lane.
      const work = workMs / ran;
      this.workPerTask = onMainThread && work > this.workPerTask ? work : 0.8 * this.workPerTask + 0.2 * work;
      if (this.measuredCalls < FAST_LANE_AFTER_CALLS) this.measuredCalls += ran;
    }
    this.answer(results);
  }

  /** Hand results on, once per task: a late or repeated answer for a task already answered is dropped. */
  private answer(results: TaskResult[]): void {
    const fresh = results.filter((r) => this.out.delete(r.taskId));
    if (fresh.length > 0) this.opts.onResults(fresh);
    if (this.out.size === 0) this.idle?.resolve();
  }

  /**
   * When a thread exits, every task started on it that has no result yet fails: its
   * handler finished or not, the result is not coming (a result posted before the exit
   * has been delivered by then).
   */
  private watchExit(threadId: number): void {
    const worker = this.piscina.threads.find((w) => w.threadId === threadId);
    if (!worker) return;
    // Node reports why a thread died (out of memory, an uncaught error) just before its exit.
    let cause: string | undefined;
    worker.once('error', (err: unknown) => (cause = errorMessage(err)));
    const exit = new Promise<void>((resolve) =>
      worker.once('exit', (code: number) => {
        this.exits.delete(threadId);
        const started = [...this.out.values()].filter((t) => this.opts.board.threadOf(t.slot) === threadId && this.opts.board.startedAt(t.slot) > 0);
        this.answer(died(started, this.opts.board, `worker thread died: ${cause ?? `exit code ${code}`}`));
        resolve();
      }),
    );
    this.exits.set(threadId, exit);
  }

  /** A batch was rejected: once every thread piscina has let go of has exited, its tasks still unanswered fail. */
  private async batchFailed(share: Task[], err: unknown): Promise<void> {
    const live = new Set(this.piscina.threads.map((w) => w.threadId));
    await Promise.all([...this.exits].filter(([id]) => !live.has(id)).map(([, exit]) => exit));
    this.answer(died(share.filter((t) => this.out.has(t.taskId)), this.opts.board, `worker thread died: ${errorMessage(err)}`));
  }

  get threads(): number {
    return this.opts.threads;
  }

  async probe(): Promise<HandlerInfo> {
    const res = (await this.piscina.run({ kind: 'probe' })) as ProbeResult;
    if (!res.ok) throw probeFailed(this.opts.handlerPath, res.error.message);
    return res.atomic ? { atomic: res.atomic } : {};
  }

  /**
   * The fast lane when the handler is measured fast (it starts on threads: early batches
   * measure it); else one piscina task per thread's share of the batch, one share when
   * the batch's work is too small to split.
   */
  submit(tasks: Task[], mayInline = true): void {
    for (const t of tasks) this.out.set(t.taskId, t);
    if (mayInline && this.log && fastLane(this.measuredCalls, this.workPerTask, this.msPerTask, this.opts.inlineBelowMs ?? 0)) {
      if (this.lane === 'open') {
        const now = performance.now();
        if (!sampleOnThread(++this.laneBatches, now - this.sampledAt)) return this.inline!.submit(tasks);
        this.laneBatches = 0;
        this.sampledAt = now;
      }
      if (this.lane === 'closed') this.openLane(this.log);
    }
    const shares = sharesFor(tasks.length, this.opts.threads, this.msPerTask);
    const size = Math.ceil(tasks.length / shares);
    // piscina asks the balancer within run() when a thread has room (later, from its queue, when none has).
    this.concentrate = shares === 1 && this.msPerTask * tasks.length < MIN_SHARE_MS;
    for (let i = 0; i < tasks.length; i += size) {
      const share = tasks.slice(i, i + size);
      this.piscina.run({ kind: 'batch', tasks: packTasks(share) }).catch((err: unknown) => this.batchFailed(share, err));
    }
    this.concentrate = false;
  }

  /** Load the handler on the main thread; until it has, batches stay on the threads, and for good if it cannot be. */
  private openLane(log: Logger): void {
    this.lane = 'loading';
    // As many calls at once as the threads together run: a handler that awaits I/O keeps its throughput.
    const concurrency = this.opts.concurrency * this.opts.threads;
    this.inline = new InlineExecutor({ ...this.opts, concurrency, onResults: (results, ms, work) => this.measured(results, ms, work, true) }, log);
    this.inline.probe().then(
      () => (this.lane = this.lane === 'loading' ? 'open' : this.lane),
      (err: unknown) => {
        this.lane = 'unavailable';
        void this.inline?.close();
        this.inline = undefined;
        log.warn({ err: errorMessage(err) }, 'the handler cannot be loaded on the main thread: every call stays on the threads (no fast lane)');
      },
    );
  }

  abort(taskId: number, reason: string): void {
    this.control.postMessage({ taskId, reason } satisfies ControlMessage);
    this.inline?.abort(taskId, reason);
  }

  stopStarting(): void {
    this.control.postMessage({ stopStarting: true } satisfies ControlMessage);
    this.inline?.stopStarting();
  }

  terminate(slot: number): boolean {
    const id = this.opts.board.threadOf(slot);
    if (id === MAIN_THREAD) return this.inline?.terminate(slot) ?? false;
    const worker = id === 0 ? undefined : this.piscina.threads.find((w) => w.threadId === id);
    if (!worker) return false;
    void worker.terminate();
    return true;
  }

  /**
   * Not forced: every task out finishes first, however long its handler runs (piscina's
   * own graceful close gives up after its closeTimeout and destroys running tasks).
   */
  async close({ force = true } = {}): Promise<void> {
    if (!force && this.out.size > 0) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.idle = { promise, resolve };
      await promise;
    }
    await this.piscina.close({ force: true });
    await this.inline?.close({ force });
    this.control.close();
  }
}

/**
 * Handlers on the main thread, beside the AMQP and Redis I/O: `--threads 0`, and the
 * fast lane of a thread pool. No thread hop, so fast and I/O-bound handlers are cheapest
 * here; a CPU-bound one delays lease renewal and acks. A handler that ignores its abort
 * ends the process (as a thread would be terminated), and the watchdog thread ends it
 * if a handler blocks the main thread until its lease is about to run out.
 */
class InlineExecutor implements Executor {
  private readonly runner: TaskRunner;
  private readonly inbox?: pg.Pool;
  /** Batches not yet finished, by a number of their own. */
  private readonly running = new ChurnMap<number, Promise<void>>();
  private batches = 0;

  constructor(
    private readonly opts: ExecutorOptions,
    private readonly log: Logger,
  ) {
    this.inbox = opts.inbox ? new pg.Pool({ connectionString: opts.inbox.url, max: opts.concurrency }) : undefined;
    this.inbox?.on('error', () => {});
    this.runner = new TaskRunner({
      handlerPath: opts.handlerPath,
      concurrency: opts.concurrency,
      board: new BoardView(opts.board.buffer, MAIN_THREAD),
      log,
      ...(this.inbox && opts.inbox && { inbox: { pool: this.inbox, queue: opts.inbox.queue, dedupTtlMs: opts.inbox.dedupTtlMs } }),
      ...(opts.followups && { followups: opts.followups }),
      post: opts.onResults,
    });
  }

  readonly threads = 0;

  probe(): Promise<HandlerInfo> {
    return this.runner.load().catch((err: unknown) => {
      throw probeFailed(this.opts.handlerPath, errorMessage(err));
    });
  }

  submit(tasks: Task[]): void {
    const run = this.runner.run(tasks).catch((err: unknown) => this.opts.onResults(died(tasks, this.opts.board, `handler run failed: ${errorMessage(err)}`)));
    const n = this.batches++;
    this.running.set(n, run);
    void run.finally(() => this.running.delete(n));
  }

  abort(taskId: number, reason: string): void {
    this.runner.abort(taskId, reason);
  }

  stopStarting(): void {
    this.runner.stopStarting();
  }

  /** Only a handler running here now: a task still waiting for its turn is refused at its start (its lease is gone). */
  terminate(slot: number): boolean {
    const { board } = this.opts;
    return board.threadOf(slot) === MAIN_THREAD && board.runningNow(slot) && endProcess(this.log, slot);
  }

  async close({ force = true } = {}): Promise<void> {
    if (!force) await Promise.allSettled([...this.running.values()]);
    await this.inbox?.end().catch(() => {});
  }
}
