/**
 * Where a batch of handler calls runs (src/threads/executor.ts): pure rules, from the
 * handler's measured time per call.
 */

/**
 * A batch is split over the threads only when each share carries at least this much
 * handler time: a share costs a message each way and wakes another thread, and the
 * main thread (where the I/O runs) pays for both, so below this a second thread adds
 * CPU per message and no speed (the bench: noop at 1x2 spent about 30% more than 1x1).
 */
export const MIN_SHARE_MS = 4;

/** How many shares to split `tasks` tasks into over `threads` threads, given the handler time per task. */
export function sharesFor(tasks: number, threads: number, msPerTask: number): number {
  return Math.max(1, Math.min(threads, tasks, Math.floor((msPerTask * tasks) / MIN_SHARE_MS)));
}

/** Handler calls measured before the fast lane may open: the lane rests on more than a first impression. */
export const FAST_LANE_AFTER_CALLS = 200;

/**
 * Calls that take longer than this (awaiting included, a running mean) keep to the
 * threads: they pass few messages a second, so the hop costs little, and one that hangs
 * and ignores its abort would end the replica there rather than its thread.
 */
export const FAST_LANE_MAX_CALL_MS = 50;

/**
 * A batch takes the fast lane: enough calls measured, the thread's work per call (its CPU
 * time, a running mean, ms) under the bound (0: never), and calls short. The work, not each
 * call's span: a call awaiting I/O keeps nothing else waiting, and 8 calls side by side
 * would count each stretch 8 times.
 */
export function fastLane(calls: number, workPerTask: number, msPerTask: number, inlineBelowMs: number): boolean {
  return calls >= FAST_LANE_AFTER_CALLS && workPerTask < inlineBelowMs && msPerTask < FAST_LANE_MAX_CALL_MS;
}

/**
 * On the fast lane, one batch in this many still goes to a thread: a thread's work
 * is the handler's own, where the main thread sees only each call's synchronous stretch
 * (its work after an await is mixed with the pipeline's), so the measure stays a thread's.
 */
export const FAST_LANE_SAMPLE_EVERY = 32;

/** What the balancer needs of a piscina worker. */
export interface WorkerLoad {
  currentUsage: number;
  terminating: boolean;
  destroyed: boolean;
}

/**
 * Which thread takes a batch. A batch too small to split (fast handlers) goes to the
 * first thread with room, so the others sleep: every thread that wakes for work pays
 * its own wake-ups, messages and garbage collection, and fast handlers gain nothing from
 * a second one (the main thread's I/O is their limit). Otherwise the least busy thread.
 */
export function pickWorker<W extends WorkerLoad>(workers: readonly W[], concentrate: boolean, maxUsage: number): W | null {
  let best: W | null = null;
  for (const w of workers) {
    if (w.terminating || w.destroyed || w.currentUsage >= maxUsage) continue;
    if (concentrate || w.currentUsage === 0) return w;
    if (!best || w.currentUsage < best.currentUsage) best = w;
  }
  return best;
}
