/**
 * The typed protocol between a replica's main thread and its worker threads.
 * Tasks go in through piscina; cooperative aborts go out on a BroadcastChannel,
 * because a running task cannot be messaged through piscina itself.
 */
import type { RedisEffect } from './effects.js';
import type { HandlerMessage } from './message.js';

/** Given to each worker once, at start. */
export interface WorkerData {
  /** Absolute path of the handler module; fixed for the life of the pool. */
  handlerPath: string;
  /** Name of the BroadcastChannel on which AbortRequests arrive. */
  abortChannel: string;
  logLevel: string;
  /** LeaseBoard memory: lease expiry per slot, checked before each handler call. */
  leaseBoard: SharedArrayBuffer;
  /** Postgres inbox mode: each handler call runs in a transaction with the inbox row. */
  inbox?: { url: string; queue: string; dedupTtlMs: number; poolSize: number };
}

export type WorkerTask =
  /** Load the handler and report whether it exports a function. */
  | { kind: 'probe' }
  | { kind: 'run'; taskId: number; message: HandlerMessage; fencingToken: number; leaseSlot: number };

export type WorkerResult =
  | {
      ok: true;
      /** JSON of the handler's return value; absent for undefined. */
      resultJson?: string;
      /** Redis writes the handler described with ctx.redis (Redis-atomic mode). */
      effects?: RedisEffect[];
      /** Inbox mode: the inbox row existed, so the handler did not run. */
      inboxDuplicate?: true;
    }
  | { ok: false; error: { name: string; message: string; stack?: string } }
  /** The lease had expired when a thread picked the task up: the handler was not called. */
  | { ok: false; leaseExpired: true };

/** Posted on the abort channel: the task's `ctx.signal` must fire. */
export interface AbortRequest {
  taskId: number;
  reason: string;
}
