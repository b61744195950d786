/**
 * Runs handler tasks where the handler lives: on a worker thread (workers/
 * handler-worker.ts) or, with `--threads 0`, on the replica's main thread.
 *
 * Up to `concurrency` handler calls run at once; the rest wait here, not in
 * Redis (their leases are held and renewed by the main thread meanwhile). Right
 * before a call the task's LeaseBoard slot is checked and marked started.
 * Results are gathered and handed over once per turn of the event loop.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { RedisEffect } from '../store/effects.js';
import { importHandlerModule, type HandlerInfo } from './handler-module.js';
import { inTransaction } from '../store/inbox.js';
import type { BoardView } from './lease-board.js';
import { ChurnMap } from '../common/churn-map.js';
import { withTraceparent } from '../common/tracing.js';
import type { HandlerMessage } from '../amqp/message.js';
import type { ErrorInfo, Task, TaskResult } from './worker-protocol.js';
import { FollowupCalls, type FollowupConfig, type PublishFn } from './followup-calls.js';
import { insertOutbox } from '../store/outbox.js';

export interface HandlerContext {
  /** Grows with every lease granted for this id: pass it to sinks that reject stale writers. */
  readonly fencingToken: number;
  /** Aborted when the lease is lost, the handler times out, or the replica drains. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /**
   * Redis-atomic mode: describe a Redis write instead of doing it; it is applied with
   * the completion record, in one script, only while this lease is current.
   */
  redis(command: string, key: string, ...args: (string | number)[]): void;
  /** Postgres inbox mode (--inbox): a client inside the transaction that also records the message id. */
  readonly db?: pg.PoolClient;
  /**
   * Publish a follow-up message once this handler succeeds (docs/chains.md): `(queue, body)`
   * on the default exchange, or `(exchange, routingKey, body, options?)`. Its id is derived
   * from the scope, this message's id and the call's position, so a rerun sends the same ids.
   */
  readonly publish: PublishFn;
}

const INBOX_NO_REDIS =
  'ctx.redis cannot be used with --inbox: the Redis effects would commit apart from the inbox row, and a crash between the two loses them; write through ctx.db in the inbox transaction, or drop --inbox and use Redis-atomic mode (one --redis instance)';

export type Handler = (message: HandlerMessage, ctx: HandlerContext) => unknown;

export interface TaskRunnerOptions {
  handlerPath: string;
  concurrency: number;
  board: BoardView;
  log: Logger;
  /** Postgres inbox mode: the pool and what goes into each inbox row. */
  inbox?: { pool: pg.Pool; queue: string; dedupTtlMs: number };
  /** What ctx.publish needs to build follow-ups (absent: ctx.publish refuses). */
  followups?: FollowupConfig;
  /**
   * The work this thread has done so far, ms (thread-cpu.ts: its CPU time). Without it
   * (the main thread, whose work is mostly the pipeline's) each call's synchronous stretch
   * is counted instead.
   */
  workMs?: () => number;
  /**
   * Receives the results of one turn, how long their handler calls took in all, and how
   * much work the thread did since the last results (ms): the calls' own work, their
   * awaiting not counted, whatever the concurrency.
   */
  post(results: TaskResult[], handlerMs: number, workMs: number): void;
}

/** A running call's abort state; its AbortController is made only if the handler reads `ctx.signal`. */
interface Running {
  controller?: AbortController;
  reason?: Error;
}

export class TaskRunner {
  private handler?: Promise<{ handler: Handler } & HandlerInfo>;
  /** The handler once loaded: called without a turn between marking a task started and the call. */
  private fn?: Handler;
  private readonly waiting: { task: Task; done: () => void }[] = [];
  private readonly running = new ChurnMap<number, Running>();
  private results: TaskResult[] = [];
  /** Called once `results` are posted: a batch counts as done only after its results left the thread. */
  private posted: (() => void)[] = [];
  private resultsMs = 0;
  /** The thread's work done at the last results (workMs given), else the synchronous stretches since. */
  private workAt?: number;
  private readonly stretches = new Stretches();
  private posting = false;

  constructor(private readonly opts: TaskRunnerOptions) {}

  /** Import the handler (once); rejects with a message naming the file when it cannot be used. */
  async load(): Promise<HandlerInfo> {
    this.handler ??= importHandlerModule<Handler>(this.opts.handlerPath);
    const { atomic, handler } = await this.handler;
    this.fn = handler;
    return atomic ? { atomic } : {};
  }

  /** Queue a batch; resolves when every task in it has a result. */
  async run(tasks: Task[]): Promise<void> {
    await this.load();
    // Measured from the first batch on: loading the handler is not a call's work.
    this.workAt ??= this.opts.workMs?.();
    await new Promise<void>((resolve) => {
      let left = tasks.length;
      const done = (): void => {
        if (--left === 0) resolve();
      };
      for (const task of tasks) this.waiting.push({ task, done });
      if (left === 0) resolve();
      // A batch that arrives after the drain's message (another channel, or queued in piscina) goes back too.
      if (this.opts.board.draining) this.stopStarting();
      this.pump();
    });
  }

  /** Fire the task's `ctx.signal` (now, or when it is first read). */
  abort(taskId: number, reason: string): void {
    const r = this.running.get(taskId);
    if (!r || r.reason) return;
    r.reason = new Error(reason);
    r.controller?.abort(r.reason);
  }

  /** A drain began: tasks still waiting for a place come back now, unrun (the board's flag stops the rest). */
  stopStarting(): void {
    for (const { task, done } of this.waiting.splice(0)) this.post({ taskId: task.taskId, ok: false, notStarted: 'draining' }, done);
  }

  private pump(): void {
    while (this.running.size < this.opts.concurrency && this.waiting.length > 0) {
      const { task, done } = this.waiting.shift()!;
      const t0 = performance.now();
      // Marked running before the call, so the loop counts it at once.
      this.running.set(task.taskId, {});
      const call = this.call(task);
      if (!this.opts.workMs) this.stretches.add(performance.now() - t0);
      void call.then((result) => {
        this.opts.board.finish(task.slot);
        this.running.delete(task.taskId);
        this.resultsMs += performance.now() - t0;
        this.post(result, done);
        this.pump();
      });
    }
  }

  private call(task: Task): Promise<TaskResult> {
    // Traced: the handler runs inside its span's context, so its own spans join the message's trace.
    return task.traceparent === undefined ? this.invoke(task) : withTraceparent(task.traceparent, () => this.invoke(task));
  }

  private async invoke(task: Task): Promise<TaskResult> {
    const { taskId } = task;
    const notStarted = this.opts.board.start(task.slot);
    if (notStarted) return { taskId, ok: false, notStarted };
    const running = this.running.get(taskId)!;
    // Called at once: a handler that kills its thread in its first synchronous stretch does
    // so before the next task is marked started, so only it counts as in flight there.
    const fn = this.fn!;
    let ctx: TaskContext | undefined;
    try {
      let result: unknown;
      if (this.opts.inbox) {
        const { pool, queue, dedupTtlMs } = this.opts.inbox;
        const entry = { queue, id: task.message.id, fence: task.fencingToken, dedupTtlMs };
        // Redis effects would commit after the inbox row, in another store: a crash between the
        // two would leave the redelivery an inbox duplicate, acked without them. Refused whole.
        const outcome = await inTransaction(pool, entry, async (db) => {
          ctx = new TaskContext(task, running, this.opts.log, this.opts.followups, INBOX_NO_REDIS, db);
          const value = await fn(task.message, ctx);
          const misuse = ctx.misused ?? ctx.calls?.misuse;
          if (misuse) throw misuse; // the handler caught it: its transaction still rolls back
          // Follow-ups commit with the inbox row, or not at all.
          if (ctx.calls) await insertOutbox(db, entry, ctx.calls.list);
          return value;
        });
        if (outcome.duplicate) return { taskId, ok: true, inboxDuplicate: true };
        result = outcome.value;
      } else {
        result = await fn(task.message, (ctx = new TaskContext(task, running, this.opts.log, this.opts.followups)));
      }
      const calls = ctx?.calls;
      calls?.close();
      if (calls?.misuse) throw calls.misuse;
      const resultJson = result === undefined ? undefined : safeJson(result);
      const effects = ctx?.effects;
      return {
        taskId,
        ok: true,
        ...(resultJson !== undefined && { resultJson }),
        ...(effects !== undefined && effects.length > 0 && { effects }),
        ...(calls !== undefined && calls.list.length > 0 && { followups: calls.list }),
      };
    } catch (err) {
      const misused = ctx?.misused;
      const calls = ctx?.calls;
      calls?.close();
      if (calls?.misuse && !misused) return { taskId, ok: false, error: { ...describeError(calls.misuse), code: 'BAD_FOLLOWUP' } };
      return { taskId, ok: false, error: misused ? { ...describeError(misused), code: 'BAD_EFFECT' } : describeError(err) };
    }
  }

  /**
   * Results are gathered for a turn and posted together. The task's batch is done only
   * once its result is posted: a thread that dies later (another handler on it
   * terminated) has then either delivered the result or still holds an unfinished batch,
   * which the main thread fails. A finished result is never lost in between.
   */
  private post(result: TaskResult, done: () => void): void {
    this.results.push(result);
    this.posted.push(done);
    if (this.posting) return;
    this.posting = true;
    setImmediate(() => {
      this.posting = false;
      const { results, posted, resultsMs } = this;
      let workMs = this.stretches.take();
      if (this.opts.workMs) {
        const at = this.opts.workMs();
        workMs = at - (this.workAt ?? at);
        this.workAt = at;
      }
      this.results = [];
      this.posted = [];
      this.resultsMs = 0;
      this.opts.post(results, resultsMs, workMs);
      for (const done of posted) done();
    });
  }
}

/**
 * The synchronous stretches of the calls started on the main thread since the last
 * results, as the work they stand for: their sum with the longest left out (and the rest
 * scaled up to all of them) once there are two or more. One stretch can be stretched by
 * what is no handler's work: a scavenge of the heap (3-10 ms, every few dozen ms under
 * load) or the process preempted on a busy host; measured whole, it sent the next batches
 * back to the threads and their hop (dups-50 at 2x2: a third of the calls). A handler
 * that does turn busy makes more than one stretch long, and leaves as before.
 */
export class Stretches {
  private sum = 0;
  private max = 0;
  private n = 0;

  add(ms: number): void {
    this.sum += ms;
    if (ms > this.max) this.max = ms;
    this.n += 1;
  }

  /** The work of the stretches since the last take, ms; and starts again. */
  take(): number {
    const work = this.n < 2 ? this.sum : ((this.sum - this.max) * this.n) / (this.n - 1);
    this.sum = this.max = this.n = 0;
    return work;
  }
}

/**
 * A handler call's `ctx`: an object of a class, its accessors on the prototype, and what
 * it holds made on first use (most handlers never read their signal or log, or describe
 * Redis writes): a task costs one small object, not closures of its own.
 */
class TaskContext implements HandlerContext {
  /** Redis writes described with ctx.redis (Redis-atomic mode). */
  effects?: RedisEffect[];
  /** Set when ctx.redis was refused (inbox mode): the message fails as BAD_EFFECT even if the handler caught it. */
  misused?: Error;
  /** Its ctx.publish calls, made on the first. */
  calls?: FollowupCalls;
  private childLog?: Logger;
  private redisFn?: HandlerContext['redis'];

  constructor(
    private readonly task: Task,
    private readonly running: Running,
    private readonly baseLog: Logger,
    private readonly followups: FollowupConfig | undefined,
    /** Why ctx.redis is refused here, if it is. */
    private readonly noRedis?: string,
    readonly db?: pg.PoolClient,
  ) {}

  get fencingToken(): number {
    return this.task.fencingToken;
  }

  get signal(): AbortSignal {
    const r = this.running;
    if (!r.controller) {
      r.controller = new AbortController();
      if (r.reason) r.controller.abort(r.reason);
    }
    return r.controller.signal;
  }

  get log(): Logger {
    return (this.childLog ??= this.baseLog.child({ msgId: this.task.message.id, attempt: this.task.message.attempt }));
  }

  /** Bound to the run's follow-ups (made on first use), so `const { publish } = ctx` works too. */
  get publish(): PublishFn {
    return (this.calls ??= new FollowupCalls(this.followups, this.task.message, () => this.baseLog)).publish;
  }

  /** A function of its own (made once), so `const { redis } = ctx` works too. */
  get redis(): HandlerContext['redis'] {
    return (this.redisFn ??= (command, key, ...args) => {
      if (this.noRedis !== undefined) throw (this.misused = new Error(this.noRedis));
      (this.effects ??= []).push({ command, key, args });
    });
  }
}

/** An error as data that crosses to the main thread (a handler's failure is a result, not a crash). */
export function describeError(err: unknown): ErrorInfo {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err.stack !== undefined && { stack: err.stack }) };
  return { name: 'Error', message: String(err) };
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
