/**
 * The watchdog thread of a replica. A main thread that is blocked (a handler on it
 * computing: `--threads 0` or the fast lane, src/threads/executor.ts; a long pause)
 * cannot renew leases, abort handlers or terminate threads, so nothing there stops a
 * handler before its lease runs out in Redis and another replica takes the id. This
 * thread reads the lease board every tick: a running handler past its slot's hard stop
 * that the main thread cannot stop (lease-board.ts BoardWatch) ends the process
 * (SIGKILL: nothing more of it runs, before the lease can pass to anyone). Its messages
 * are redelivered; the one that did it comes back as a crash suspect and runs alone, on
 * a thread. It is not a handler thread: handlers run only in handler-worker.ts.
 */
import { workerData } from 'node:worker_threads';
import { monotonicMs } from '../src/common/clock.js';
import { lastWordsLogger } from '../src/common/logger.js';
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
// A full log pipe must not hold the kill back: this line is dropped rather than waited for.
const log = lastWordsLogger(data.logLevel, { thread: 'watchdog' });

setInterval(() => {
  const slot = watch.overdue(monotonicMs(), 2 * data.tickMs);
  if (slot === undefined) return;
  log.fatal({ slot }, 'a handler is still running at its lease\'s hard stop and the main thread cannot stop it: ending the replica before the lease can pass to another (its messages are redelivered)');
  process.kill(process.pid, 'SIGKILL');
}, data.tickMs);
