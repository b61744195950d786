/**
 * A worker thread's own clock of work done, for the fast lane's measure (placement.ts).
 *
 * Its CPU time, from Linux's /proc/thread-self/schedstat (nanoseconds on a core). The
 * file is opened for each reading (about 10 us, once per batch of results): a descriptor
 * kept open would outlive a terminated thread, one lost per thread a hung handler costs.
 * The event loop's working time (its utilization's `active`) is the fallback elsewhere;
 * it counts a thread that waits for a core as working, so on a busy machine it reads high.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const SCHEDSTAT = '/proc/thread-self/schedstat';

/** Milliseconds of work the calling thread has done so far. */
export function threadWorkClock(): () => number {
  const buf = Buffer.alloc(64);
  const cpuMs = (): number => {
    const fd = openSync(SCHEDSTAT, 'r');
    try {
      const n = readSync(fd, buf, 0, buf.length, 0);
      return Number(buf.toString('latin1', 0, n).split(' ', 1)[0]) / 1e6;
    } finally {
      closeSync(fd);
    }
  };
  try {
    if (Number.isFinite(cpuMs())) return cpuMs;
  } catch {
    // No schedstat here (not Linux, or /proc not mounted): the event loop's time.
  }
  return () => performance.eventLoopUtilization().active;
}
