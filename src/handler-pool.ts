/**
 * Runs handler tasks on a piscina pool of worker threads.
 *
 * A caller first reserves a place on a thread (threads x concurrency places),
 * then runs there: a task starts the moment it is dispatched, so its timeout
 * counts run time, and the replica takes the lease (which counts an attempt)
 * only once a place is free for the handler.
 * Aborting is two-staged: first the task's `ctx.signal` fires (cooperative);
 * a handler still running after `graceMs` has its thread terminated by piscina.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Piscina } from 'piscina';
import { builtFile } from './paths.js';
import { ConfigError, HandlerError, HandlerTimeoutError, LeaseLostError, WorkerDiedError, errorMessage } from './errors.js';
import type { LeaseBoard } from './lease-board.js';
import type { HandlerMessage } from './message.js';
import type { AbortRequest, WorkerData, WorkerResult, WorkerTask } from './worker-protocol.js';


export interface HandlerPoolOptions {
  handlerPath: string;
  threads: number;
  /** Handler calls at once per thread. */
  concurrency: number;
  logLevel: string;
  /** How long an aborted handler may run on before its thread is terminated. */
  graceMs: number;
  /** Heap limit per thread in MB; 0 for Node's default. */
  heapMb?: number;
  leaseBoard: LeaseBoard;
  /** Postgres inbox mode. */
  inbox?: { url: string; queue: string; dedupTtlMs: number };
}

/** What a handler run produced. */
export type RunOutcome = Omit<Extract<WorkerResult, { ok: true }>, 'ok'>;

/** A thread reserved for one task. */
export interface Thread {
  readonly pool: HandlerPool;
  used: boolean;
  release(): void;
}

export class HandlerPool {
  private readonly piscina: Piscina<WorkerTask, WorkerResult>;
  private readonly aborts: BroadcastChannel;
  private nextTaskId = 1;
  /** Places taken now; all of them while an exclusive task runs. */
  private running = 0;
  private exclusive = false;
  private readonly waiting: { exclusive: boolean; grant(): void }[] = [];

  constructor(private readonly opts: HandlerPoolOptions) {
    const file = builtFile('workers/handler-worker.js');
    if (!existsSync(file)) throw new Error(`worker file ${file} is missing: run "npm run build"`);
    const abortChannel = `dedup-pool:abort:${randomUUID()}`;
    const workerData: WorkerData = {
      handlerPath: opts.handlerPath,
      abortChannel,
      logLevel: opts.logLevel,
      leaseBoard: opts.leaseBoard.buffer,
      ...(opts.inbox && { inbox: { ...opts.inbox, poolSize: opts.concurrency } }),
    };
    this.aborts = new BroadcastChannel(abortChannel);
    this.aborts.unref();
    this.piscina = new Piscina({
      filename: file,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      concurrentTasksPerWorker: opts.concurrency,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // Let the worker's event loop run between tasks (log flushes, abort messages).
      atomics: 'async',
      workerData,
      ...(opts.heapMb ? { resourceLimits: { maxOldGenerationSizeMb: opts.heapMb } } : {}),
    });
  }

  get threads(): number {
    return this.opts.threads;
  }

  /** Load the handler in a worker once, so a broken handler stops start-up instead of failing every message. */
  async probe(): Promise<void> {
    const res = await this.piscina.run({ kind: 'probe' });
    if (!res.ok) throw new ConfigError('handler', `--handler ${this.opts.handlerPath} cannot be loaded: ${'error' in res ? res.error.message : 'unknown error'}`);
  }

  /**
   * Run the handler for one message. Resolves with its JSON result; rejects with
   * HandlerError (it threw), WorkerDiedError (the thread died or was terminated),
   * LeaseLostError (the lease in `leaseSlot` expired before a thread took the task),
   * or `signal.reason` when aborted before it started.
   */
  async run(thread: Thread, message: HandlerMessage, fencingToken: number, leaseSlot: number, outer: AbortSignal, timeoutMs = 0): Promise<RunOutcome> {
    if (thread.pool !== this || thread.used) throw new Error('run() needs a fresh thread reserved from this pool');
    thread.used = true;
    const taskId = this.nextTaskId++;
    const hard = new AbortController();
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signal = timeout ? AbortSignal.any([outer, timeout]) : outer;
    let graceTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      const req: AbortRequest = { taskId, reason: String((signal.reason as Error)?.message ?? signal.reason) };
      this.aborts.postMessage(req);
      graceTimer = setTimeout(() => hard.abort(signal.reason), this.opts.graceMs);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (outer.aborted) throw outer.reason;
      const res = await this.piscina.run({ kind: 'run', taskId, message, fencingToken, leaseSlot }, { signal: hard.signal });
      if (res.ok) return res;
      if ('leaseExpired' in res) throw new LeaseLostError(message.id);
      throw new HandlerError(res.error.message, res.error.stack);
    } catch (err) {
      if (timeout?.aborted && !outer.aborted) {
        const what = hard.signal.aborted ? `it ignored its abort signal for ${this.opts.graceMs}ms; its thread was terminated` : errorMessage(err);
        throw new HandlerTimeoutError(timeoutMs, what);
      }
      if (err instanceof HandlerError || err instanceof LeaseLostError || err === outer.reason) throw err;
      if (hard.signal.aborted) throw new WorkerDiedError(`handler ignored its abort signal for ${this.opts.graceMs}ms; its thread was terminated`, { cause: err });
      throw new WorkerDiedError(`worker thread died: ${(err as Error).message}`, { cause: err });
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (graceTimer) clearTimeout(graceTimer);
      thread.release();
    }
  }

  private get capacity(): number {
    return this.opts.threads * this.opts.concurrency;
  }

  /**
   * Wait for a free place on a thread. Give it back with `release()` if it ends up
   * unused. An `exclusive` reservation waits until nothing else runs and keeps the
   * whole pool to itself (waiters behind it wait too, so it is not starved).
   */
  async reserve(exclusive = false): Promise<Thread> {
    await new Promise<void>((grant) => {
      this.waiting.push({ exclusive, grant });
      this.pump();
    });
    let released = false;
    return {
      pool: this,
      used: false,
      release: () => {
        if (released) return;
        released = true;
        if (exclusive) {
          this.exclusive = false;
          this.running = 0;
        } else this.running -= 1;
        this.pump();
      },
    };
  }

  /** Grant waiting reservations in order, as far as capacity allows. */
  private pump(): void {
    while (this.waiting.length > 0 && !this.exclusive) {
      const next = this.waiting[0]!;
      if (next.exclusive) {
        if (this.running > 0) return;
        this.exclusive = true;
        this.running = this.capacity;
      } else {
        if (this.running >= this.capacity) return;
        this.running += 1;
      }
      this.waiting.shift();
      next.grant();
    }
  }

  async close({ force = true } = {}): Promise<void> {
    await this.piscina.close({ force });
    this.aborts.close();
  }
}
