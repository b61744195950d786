/**
 * A worker thread's own clock of work done, for the fast lane's measure (placement.ts).
 *
 * Its CPU time, from Linux's /proc/thread-self/schedstat (nanoseconds on a core), read
 * through a descriptor opened once: a pread costs a couple of microseconds. The event
 * loop's working time (its utilization's `active`) is the fallback elsewhere; it counts a
 * thread that waits for a core as working, so on a busy machine it reads high.
 */
import { openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Milliseconds of work this thread has done so far; call it on the thread it measures. */
export function threadWorkClock(): () => number {
  try {
    // Opened on the calling thread: the path names that thread for the descriptor's life.
    const fd = openSync('/proc/thread-self/schedstat', 'r');
    const buf = Buffer.alloc(64);
    const cpuMs = (): number => {
      const n = readSync(fd, buf, 0, buf.length, 0);
      return Number(buf.toString('latin1', 0, n).split(' ', 1)[0]) / 1e6;
    };
    if (Number.isFinite(cpuMs())) return cpuMs;
  } catch {
    // No schedstat here (not Linux, or /proc not mounted): the event loop's time.
  }
  return () => performance.eventLoopUtilization().active;
}
