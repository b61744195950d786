/**
 * The periodic summary line: what the pool did since the last one, at info, so an
 * operator tailing the logs sees progress without a metrics stack.
 */
import { formatDuration } from '../common/duration.js';
import type { Logger } from '../common/logger.js';
import type { ReplicaStats } from './stats.js';

export interface Summary {
  processed: number;
  perSecond: number;
  duplicates: number;
  deadLettered: number;
  retried: number;
  inFlight: number;
}

const deadLetteredOf = (s: ReplicaStats): number => Object.values(s.deadLettered).reduce((a, b) => a + b, 0);
const duplicatesOf = (s: ReplicaStats): number => Object.values(s.duplicates).reduce((a, b) => a + b, 0);

/** What happened between two readings of the counters, `ms` apart. Pure. */
export function summarize(before: ReplicaStats, after: ReplicaStats, ms: number): Summary {
  const processed = after.completed - before.completed;
  return {
    processed,
    perSecond: ms > 0 ? Math.round((processed * 10_000) / ms) / 10 : 0,
    duplicates: duplicatesOf(after) - duplicatesOf(before),
    deadLettered: deadLetteredOf(after) - deadLetteredOf(before),
    retried: after.retried - before.retried,
    inFlight: after.inFlight,
  };
}

export function summaryLine(s: Summary, ms: number): string {
  return `last ${formatDuration(ms)}: ${s.processed} processed (${s.perSecond}/s), ${s.duplicates} duplicates, ${s.deadLettered} dead-lettered, ${s.retried} retried; ${s.inFlight} in flight`;
}

/** Log a summary every `intervalMs` (0: never); returns the function that stops it. */
export function startSummary(read: () => ReplicaStats, log: Logger, intervalMs: number): () => void {
  if (intervalMs <= 0) return () => {};
  // A copy: `read` may hand out the live counters, which would then be compared with themselves.
  let last = structuredClone(read());
  let lastAt = Date.now();
  const timer = setInterval(() => {
    const now = structuredClone(read());
    const at = Date.now();
    const summary = summarize(last, now, at - lastAt);
    log.info({ summary }, summaryLine(summary, intervalMs));
    last = now;
    lastAt = at;
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
