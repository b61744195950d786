/**
 * The only file worker threads run: load the user's handler once, then run tasks.
 * A handler's error is returned as data (it becomes a retry); anything that kills
 * the thread surfaces in the main thread as a piscina rejection.
 */
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import pg from 'pg';
import { effectRecorder } from '../src/effects.js';
import { inTransaction } from '../src/inbox.js';
import { leaseValid } from '../src/lease-board.js';
import type { HandlerMessage } from '../src/message.js';
import type { AbortRequest, WorkerData, WorkerResult, WorkerTask } from '../src/worker-protocol.js';

export interface HandlerContext {
  /** Grows with every lease granted for this id: pass it to sinks that reject stale writers. */
  fencingToken: number;
  /** Aborted when the lease is lost or the replica drains. */
  signal: AbortSignal;
  log: pino.Logger;
  /**
   * Redis-atomic mode: describe a Redis write instead of doing it; it is applied with
   * the completion record, in one script, only while this lease is current.
   */
  redis(command: string, key: string, ...args: (string | number)[]): void;
  /** Postgres inbox mode (--inbox): a client inside the transaction that also records the message id. */
  db?: pg.PoolClient;
}
type Handler = (message: HandlerMessage, ctx: HandlerContext) => unknown;

const data = workerData as WorkerData;
const log = pino({ level: data.logLevel, base: { thread: threadId } });
const running = new Map<number, AbortController>();
const inbox = data.inbox ? new pg.Pool({ connectionString: data.inbox.url, max: data.inbox.poolSize }) : undefined;
inbox?.on('error', () => {});

const aborts = new BroadcastChannel(data.abortChannel);
aborts.onmessage = (event) => {
  const req = (event as { data: AbortRequest }).data;
  running.get(req.taskId)?.abort(new Error(req.reason));
};
aborts.unref();

/** TypeScript handlers are compiled on load by tsx; JavaScript ones are imported as they are. */
async function importHandler(path: string): Promise<{ default?: unknown }> {
  const url = pathToFileURL(path).href;
  if (!/\.[cm]?ts$/.test(path)) return import(url);
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(url, import.meta.url) as Promise<{ default?: unknown }>;
}

let handler: Promise<Handler> | undefined;
function loadHandler(): Promise<Handler> {
  handler ??= importHandler(data.handlerPath).then((mod) => {
    if (typeof mod.default !== 'function') {
      throw new TypeError(`handler ${data.handlerPath} has no default export function`);
    }
    return mod.default as Handler;
  });
  return handler;
}

export default async function runTask(task: WorkerTask): Promise<WorkerResult> {
  if (task.kind === 'probe') {
    try {
      await loadHandler();
      return { ok: true };
    } catch (err) {
      return { ok: false, error: describe(err) };
    }
  }
  const fn = await loadHandler();
  if (!leaseValid(data.leaseBoard, task.leaseSlot)) return { ok: false, leaseExpired: true };
  const controller = new AbortController();
  running.set(task.taskId, controller);
  const recorder = effectRecorder();
  let childLog: pino.Logger | undefined;
  const ctx = (db?: pg.PoolClient): HandlerContext => ({
    fencingToken: task.fencingToken,
    signal: controller.signal,
    // Made on first use: most handlers never log, and a child logger per message is not free.
    get log() {
      return (childLog ??= log.child({ msgId: task.message.id, attempt: task.message.attempt }));
    },
    redis: recorder.redis,
    ...(db && { db }),
  });
  try {
    let result: unknown;
    if (inbox) {
      const entry = { queue: data.inbox!.queue, id: task.message.id, fence: task.fencingToken, dedupTtlMs: data.inbox!.dedupTtlMs };
      const outcome = await inTransaction(inbox, entry, (db) => Promise.resolve(fn(task.message, ctx(db))));
      if (outcome.duplicate) return { ok: true, inboxDuplicate: true };
      result = outcome.value;
    } else {
      result = await fn(task.message, ctx());
    }
    return {
      ok: true,
      ...(result !== undefined && { resultJson: safeJson(result) }),
      ...(recorder.effects.length > 0 && { effects: recorder.effects }),
    };
  } catch (err) {
    return { ok: false, error: describe(err) };
  } finally {
    running.delete(task.taskId);
  }
}

function describe(err: unknown): { name: string; message: string; stack?: string } {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
