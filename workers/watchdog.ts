/**
 * The watchdog thread of a replica that runs handlers on its main thread (`--threads 0`,
 * or fast handlers: src/threads/executor.ts). A handler that blocks the main thread
 * blocks its lease clock too, so nothing there can stop it before its lease runs out in
 * Redis and another replica takes the id. This thread reads the lease board every tick:
 * a handler on the main thread still running at its slot's hard stop ends the process
 * (SIGKILL: nothing more of it runs, before the lease can pass to anyone). Its messages
 * are redelivered; the one that blocked comes back as a crash suspect and runs alone,
 * on a worker thread. It is not a handler thread: handlers run only in handler-worker.ts.
 */
import { workerData } from 'node:worker_threads';
import { monotonicMs } from '../src/common/clock.js';
import { createLogger } from '../src/common/logger.js';
import { BoardWatch } from '../src/threads/lease-board.js';

export interface WatchdogData {
  /** The LeaseBoard's memory. */
  board: SharedArrayBuffer;
  /** How often to look: the lease clock's tick, within the hard stop's margin. */
  tickMs: number;
  logLevel: string;
}

const data = workerData as WatchdogData;
const watch = new BoardWatch(data.board);
// JSON, written at once to fd 1 (not through the blocked main thread: logger.ts).
const log = createLogger(data.logLevel, { thread: 'watchdog' });

setInterval(() => {
  const slot = watch.overdueOnMain(monotonicMs());
  if (slot === undefined) return;
  log.fatal({ slot }, 'a handler has blocked the main thread until its lease is about to end: ending the replica before the lease can pass to another (its messages are redelivered)');
  process.kill(process.pid, 'SIGKILL');
}, data.tickMs);
