/**
 * The only file worker threads run: load the user's handler once, then run tasks.
 * A handler's error is returned as data (it becomes a retry); anything that kills
 * the thread surfaces in the main thread as a piscina rejection.
 */
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { leaseValid } from '../src/lease-board.js';
import type { HandlerMessage } from '../src/message.js';
import type { AbortRequest, WorkerData, WorkerResult, WorkerTask } from '../src/worker-protocol.js';

export interface HandlerContext {
  /** Grows with every lease granted for this id: pass it to sinks that reject stale writers. */
  fencingToken: number;
  /** Aborted when the lease is lost or the replica drains. */
  signal: AbortSignal;
  log: pino.Logger;
}
type Handler = (message: HandlerMessage, ctx: HandlerContext) => unknown;

const data = workerData as WorkerData;
const log = pino({ level: data.logLevel, base: { thread: threadId } });
const running = new Map<number, AbortController>();

const aborts = new BroadcastChannel(data.abortChannel);
aborts.onmessage = (event) => {
  const req = (event as { data: AbortRequest }).data;
  running.get(req.taskId)?.abort(new Error(req.reason));
};
aborts.unref();

let handler: Promise<Handler> | undefined;
function loadHandler(): Promise<Handler> {
  handler ??= import(pathToFileURL(data.handlerPath).href).then((mod: { default?: unknown }) => {
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
  try {
    const result = await fn(task.message, {
      fencingToken: task.fencingToken,
      signal: controller.signal,
      log: log.child({ msgId: task.message.id, attempt: task.message.attempt }),
    });
    return result === undefined ? { ok: true } : { ok: true, resultJson: safeJson(result) };
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
