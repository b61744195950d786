/**
 * The watchdog thread of a replica. A handler on the main thread (`--threads 0`, or the
 * fast lane: src/threads/executor.ts) can block it, and a blocked main thread cannot
 * renew leases, abort handlers or terminate threads, so nothing there stops a handler
 * (that one, or one on a worker thread) before its lease runs out in Redis and another
 * replica takes the id. This thread reads the lease board every tick. While a handler
 * runs on the main thread, a running handler past its slot's hard stop, seen on two looks
 * in a row with no heartbeat of the main thread between them, ends the process (SIGKILL:
 * nothing more of it runs, before the lease can pass to anyone). The second look gives a
 * process just resumed from a freeze a tick for its main thread to act first. The
 * messages are redelivered; the one that did it comes back as a crash suspect and runs
 * alone, on a thread. It is not a handler thread: handlers run only in handler-worker.ts.
 */
import { workerData } from 'node:worker_threads';
import { monotonicMs } from '../src/common/clock.js';
import { lastWordsLogger } from '../src/common/logger.js';
import { BoardWatch } from '../src/threads/lease-board.js';

export interface WatchdogData {
  /** The LeaseBoard's memory. */
  board: SharedArrayBuffer;
  /** How often to look: the lease clock's tick (the hard stop leaves two, and a margin). */
  tickMs: number;
  logLevel: string;
}

const data = workerData as WatchdogData;
const watch = new BoardWatch(data.board);
// A full log pipe must not hold the kill back: this line is dropped rather than waited for.
const log = lastWordsLogger(data.logLevel, { thread: 'watchdog' });

/** The first look that found a handler past its hard stop, and the main thread's beat then. */
let seen: { slot: number; beat: number } | undefined;

setInterval(() => {
  const slot = watch.overdue(monotonicMs());
  const beat = watch.heartbeat;
  if (slot === undefined || !seen || seen.slot !== slot || seen.beat !== beat) {
    seen = slot === undefined ? undefined : { slot, beat };
    return;
  }
  log.fatal({ slot }, 'a handler is still running at its lease\'s hard stop and the main thread, blocked, cannot stop it: ending the replica before the lease can pass to another (its messages are redelivered)');
  process.kill(process.pid, 'SIGKILL');
}, data.tickMs);
