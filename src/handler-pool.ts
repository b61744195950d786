/**
 * Runs handler tasks on a piscina pool of worker threads.
 *
 * A caller first reserves a thread, then runs on it: a task starts the moment it
 * is dispatched, so its timeout counts run time, and the replica takes the lease
 * (which counts an attempt) only once a thread is ready for the handler.
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
  logLevel: string;
  /** How long an aborted handler may run on before its thread is terminated. */
  graceMs: number;
  /** Heap limit per thread in MB; 0 for Node's default. */
  heapMb?: number;
  leaseBoard: LeaseBoard;
}

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
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly opts: HandlerPoolOptions) {
    const file = builtFile('workers/handler-worker.js');
    if (!existsSync(file)) throw new Error(`worker file ${file} is missing: run "npm run build"`);
    const abortChannel = `dedup-pool:abort:${randomUUID()}`;
    const workerData: WorkerData = { handlerPath: opts.handlerPath, abortChannel, logLevel: opts.logLevel, leaseBoard: opts.leaseBoard.buffer };
    this.aborts = new BroadcastChannel(abortChannel);
    this.aborts.unref();
    this.piscina = new Piscina({
      filename: file,
      minThreads: opts.threads,
      maxThreads: opts.threads,
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
  async run(thread: Thread, message: HandlerMessage, fencingToken: number, leaseSlot: number, outer: AbortSignal, timeoutMs = 0): Promise<string | undefined> {
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
      if (res.ok) return res.resultJson;
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

  /** Wait for a free thread. Give it back with `release()` if it ends up unused. */
  async reserve(): Promise<Thread> {
    if (this.running < this.opts.threads) this.running += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    const thread: Thread = {
      pool: this,
      used: false,
      release: () => {
        if (released) return;
        released = true;
        // Hand the thread to the next waiter, or free it.
        const next = this.waiting.shift();
        if (next) next();
        else this.running -= 1;
      },
    };
    return thread;
  }

  /** `force: false` lets running and queued tasks finish first (used when the pool is replaced). */
  async close({ force = true } = {}): Promise<void> {
    await this.piscina.close({ force });
    this.aborts.close();
  }
}
