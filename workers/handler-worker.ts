/**
 * The only file worker threads run: load the user's handler once, then run the
 * batches the main thread sends (src/threads/worker-protocol.ts). A handler's error is
 * returned as data (it becomes a retry); anything that kills the thread surfaces
 * in the main thread as the batch's rejection.
 */
import { BroadcastChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import pg from 'pg';
import { BoardView } from '../src/threads/lease-board.js';
import { createLogger } from '../src/common/logger.js';
import { TaskRunner, describeError } from '../src/threads/task-runner.js';
import { threadWorkClock } from '../src/threads/thread-cpu.js';
import { resultsMessage, unpackTasks, type ControlMessage, type ProbeResult, type WorkerData, type WorkerTask } from '../src/threads/worker-protocol.js';

export type { HandlerContext } from '../src/threads/task-runner.js';

const data = workerData as WorkerData;
const inbox = data.inbox ? new pg.Pool({ connectionString: data.inbox.url, max: data.inbox.poolSize }) : undefined;
inbox?.on('error', () => {});

const runner = new TaskRunner({
  handlerPath: data.handlerPath,
  concurrency: data.concurrency,
  board: new BoardView(data.leaseBoard, threadId),
  log: createLogger(data.logLevel, { thread: threadId }, data.logFormat),
  ...(inbox && data.inbox && { inbox: { pool: inbox, queue: data.inbox.queue, dedupTtlMs: data.inbox.dedupTtlMs } }),
  ...(data.followups && { followups: data.followups }),
  // The work this thread did, its waiting not counted (the fast lane's measure).
  workMs: threadWorkClock(),
  post: (results, handlerMs, workMs) => parentPort!.postMessage(resultsMessage(results, handlerMs, workMs)),
});

const control = new BroadcastChannel(data.controlChannel);
control.onmessage = (event) => {
  const req = (event as { data: ControlMessage }).data;
  if ('stopStarting' in req) runner.stopStarting();
  else runner.abort(req.taskId, req.reason);
};
control.unref();

export default async function runTask(task: WorkerTask): Promise<ProbeResult | void> {
  if (task.kind === 'probe') {
    try {
      return { ok: true, ...(await runner.load()) };
    } catch (err) {
      return { ok: false, error: describeError(err) };
    }
  }
  await runner.run(unpackTasks(task.tasks));
}
