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
 * On the fast lane a batch still goes to a thread now and then: a thread's work is the
 * handler's own, where the main thread sees only each call's synchronous stretch (its
 * work after an await is mixed with the pipeline's), so the measure stays a thread's.
 * At least this many batches apart...
 */
export const FAST_LANE_SAMPLE_EVERY = 32;

/**
 * ...and at least this long apart (ms): at 28k no-op messages a second, batches of 35-100,
 * one in 32 was 10-25 hops a second and kept the thread's isolate busy (0.2-0.3 us of its
 * CPU per message; thread-cost, docs/bench.md); four a second keep the measure as fresh
 * for a handler that turns slow.
 */
export const FAST_LANE_SAMPLE_MS = 250;

/** The next fast-lane batch goes to a thread, `batches` batches and `ms` after the last that did. */
export function sampleOnThread(batches: number, ms: number): boolean {
  return batches >= FAST_LANE_SAMPLE_EVERY && ms >= FAST_LANE_SAMPLE_MS;
}

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
