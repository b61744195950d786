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
import type { Followup, FollowupConfig } from './followup-calls.js';
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
  /** What ctx.publish needs to build follow-ups (the same for every task). */
  followups?: FollowupConfig;
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
  | { kind: 'batch'; tasks: PackedTasks };

/**
 * Tasks as one flat array, TASK_FIELDS values each: a structured clone copies every
 * property name of every object, so objects per task cost about twice as much to send.
 */
export type PackedTasks = unknown[];
const TASK_FIELDS = 9;

export function packTasks(tasks: readonly Task[]): PackedTasks {
  const out: unknown[] = [];
  for (const { taskId, slot, fencingToken, traceparent, message: m } of tasks) out.push(taskId, slot, fencingToken, traceparent, m.id, m.body, m.headers, m.attempt, m.redelivered);
  return out;
}

export function unpackTasks(p: PackedTasks): Task[] {
  const out: Task[] = [];
  for (let i = 0; i < p.length; i += TASK_FIELDS) {
    const message = { id: p[i + 4], body: p[i + 5], headers: p[i + 6], attempt: p[i + 7], redelivered: p[i + 8] } as HandlerMessage;
    const traceparent = p[i + 3] as string | undefined;
    out.push({ taskId: p[i] as number, slot: p[i + 1] as number, fencingToken: p[i + 2] as number, message, ...(traceparent !== undefined && { traceparent }) });
  }
  return out;
}

export type ProbeResult = ({ ok: true } & HandlerInfo) | { ok: false; error: ErrorInfo };

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  /** Set by the runner (never by a handler's own error): dead-lettered at once, since no retry can succeed. */
  code?: 'BAD_EFFECT' | 'BAD_FOLLOWUP';
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
      /** Messages the handler published with ctx.publish, in call order (in inbox mode already in the outbox). */
      followups?: Followup[];
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
  /** Results other than a plain success. */
  dedupResults: TaskResult[];
  /** Tasks whose result is `{ taskId, ok: true }` and nothing more: ids only, the common case. */
  okIds: number[];
  /** Time their handler calls took in all, ms: the executor sizes its batch shares by it. */
  handlerMs: number;
  /** The work the thread did meanwhile (its CPU time), ms: the calls' own work, their awaiting not counted (the fast lane's measure). */
  workMs: number;
}

/** The worker's side: results as a ResultsMessage. */
export function resultsMessage(results: readonly TaskResult[], handlerMs: number, workMs: number): ResultsMessage {
  const dedupResults: TaskResult[] = [];
  const okIds: number[] = [];
  // Plain: nothing but its id and `ok` (a field added to results later travels whole by itself).
  for (const r of results) {
    if (r.ok && Object.keys(r).length === 2) okIds.push(r.taskId);
    else dedupResults.push(r);
  }
  return { dedupResults, okIds, handlerMs, workMs };
}

/** The main thread's side: every result of a ResultsMessage. */
export function resultsOf(msg: ResultsMessage): TaskResult[] {
  const out = msg.dedupResults;
  for (const taskId of msg.okIds) out.push({ taskId, ok: true });
  return out;
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
