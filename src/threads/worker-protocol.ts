/**
 * The typed protocol between a replica's main thread and its worker threads.
 *
 * main -> worker: a batch of tasks, one piscina task per batch per thread (it
 *                 settles when every handler in it has finished);
 *                 ControlMessages on a BroadcastChannel: abort one task, or (a
 *                 drain) give back every task still waiting for a place (a running
 *                 task cannot be messaged through piscina, and piscina's own abort
 *                 signal would run each task alone on its thread).
 * worker -> main: TaskResults, gathered per turn of the worker's event loop and
 *                 posted on the worker's parentPort (the pool's 'message' event),
 *                 so a fast handler's result does not wait for its batch.
 * Both:           the LeaseBoard in shared memory (lease expiry, start times).
 */
import type { RedisEffect } from '../store/effects.js';
import type { HandlerInfo } from './handler-module.js';
import type { NotStarted } from './lease-board.js';
import type { HandlerMessage } from '../amqp/message.js';

/** Given to each worker once, at start. */
export interface WorkerData {
  /** Absolute path of the handler module; fixed for the life of the pool. */
  handlerPath: string;
  /** Handler calls at once on this thread. */
  concurrency: number;
  /** Name of the BroadcastChannel on which ControlMessages arrive. */
  controlChannel: string;
  logLevel: string;
  /** Resolved in the main thread: a worker's stdout is never a terminal. */
  logFormat: 'json' | 'pretty';
  /** LeaseBoard memory. */
  leaseBoard: SharedArrayBuffer;
  /** Postgres inbox mode: each handler call runs in a transaction with the inbox row. */
  inbox?: { url: string; queue: string; dedupTtlMs: number; poolSize: number };
}

/** One handler call. */
export interface Task {
  /** Unique in the replica for its lifetime: results and aborts name it. */
  taskId: number;
  /** The lease's slot on the LeaseBoard. */
  slot: number;
  message: HandlerMessage;
  fencingToken: number;
  /** The handler span's W3C trace context, when tracing: the handler runs inside it. */
  traceparent?: string;
}

export type WorkerTask =
  /** Load the handler and report whether it exports a function. */
  | { kind: 'probe' }
  | { kind: 'batch'; tasks: Task[] };

export type ProbeResult = ({ ok: true } & HandlerInfo) | { ok: false; error: ErrorInfo };

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  /** Set by the runner (never by a handler's own error): BAD_EFFECT is dead-lettered at once, since no retry can succeed. */
  code?: 'BAD_EFFECT';
}

export type TaskResult = { taskId: number } & (
  | {
      ok: true;
      /** JSON of the handler's return value; absent for undefined. */
      resultJson?: string;
      /** Redis writes the handler described with ctx.redis (Redis-atomic mode). */
      effects?: RedisEffect[];
      /** Inbox mode: the inbox row existed, so the handler did not run. */
      inboxDuplicate?: true;
    }
  /** The handler threw or rejected. */
  | { ok: false; error: ErrorInfo }
  /** The handler was not called: its lease had expired, or the replica is draining. */
  | { ok: false; notStarted: NotStarted }
  /** The thread died (exit, out of memory, terminated) with the task on it. */
  | { ok: false; died: string; started: boolean }
);

/** What a worker posts on its parentPort. */
export interface ResultsMessage {
  dedupResults: TaskResult[];
  /** Time their handler calls took in all, ms: the executor sizes its batch shares by it. */
  handlerMs: number;
}

/** Posted on the control channel: the task's `ctx.signal` must fire. */
export interface AbortRequest {
  taskId: number;
  reason: string;
}

/** Posted on the control channel: a drain began; tasks not started come back now, unrun. */
export interface StopStartingRequest {
  stopStarting: true;
}

export type ControlMessage = AbortRequest | StopStartingRequest;
