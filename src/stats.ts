/**
 * A replica's counters: what the demo prints, what the supervisor sums for
 * /status and /metrics. Plain numbers, so they cross IPC as they are.
 */

/** Upper bounds (ms) of the handler latency histogram's buckets; the last bucket is +Inf. */
export const HANDLER_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];

export interface ReplicaStats {
  deliveries: number;
  completed: number;
  duplicates: { done: number; 'in-flight': number };
  /** Duplicates that found the id locked elsewhere and waited for the holder. */
  parked: number;
  retried: number;
  deadLettered: Record<string, number>;
  requeued: number;
  leaseExtensions: number;
  leaseLost: number;
  storeErrors: number;
  /** AMQP connections lost (each followed by a reconnect). */
  reconnects: number;
  /** Consumers cancelled by the broker (each followed by a re-subscribe). */
  cancellations: number;
  inFlight: number;
  /** Handler run time: count, sum and cumulative-free bucket counts (one more than HANDLER_BUCKETS_MS, for +Inf). */
  handler: { count: number; totalMs: number; maxMs: number; buckets: number[] };
}

export function newStats(): ReplicaStats {
  return {
    deliveries: 0,
    completed: 0,
    duplicates: { done: 0, 'in-flight': 0 },
    parked: 0,
    retried: 0,
    deadLettered: {},
    requeued: 0,
    leaseExtensions: 0,
    leaseLost: 0,
    storeErrors: 0,
    reconnects: 0,
    cancellations: 0,
    inFlight: 0,
    handler: { count: 0, totalMs: 0, maxMs: 0, buckets: new Array(HANDLER_BUCKETS_MS.length + 1).fill(0) },
  };
}

export function recordHandlerTime(stats: ReplicaStats, ms: number): void {
  const h = stats.handler;
  h.count += 1;
  h.totalMs += ms;
  if (ms > h.maxMs) h.maxMs = ms;
  let i = HANDLER_BUCKETS_MS.findIndex((le) => ms <= le);
  if (i < 0) i = HANDLER_BUCKETS_MS.length;
  h.buckets[i] = (h.buckets[i] ?? 0) + 1;
}

/** Element-wise sum of several replicas' stats (maxMs is the max). */
export function sumStats(list: ReplicaStats[]): ReplicaStats {
  const out = newStats();
  for (const s of list) {
    out.deliveries += s.deliveries;
    out.completed += s.completed;
    out.duplicates.done += s.duplicates.done;
    out.duplicates['in-flight'] += s.duplicates['in-flight'];
    out.parked += s.parked;
    out.retried += s.retried;
    for (const [reason, n] of Object.entries(s.deadLettered)) out.deadLettered[reason] = (out.deadLettered[reason] ?? 0) + n;
    out.requeued += s.requeued;
    out.leaseExtensions += s.leaseExtensions;
    out.leaseLost += s.leaseLost;
    out.storeErrors += s.storeErrors;
    out.reconnects += s.reconnects;
    out.cancellations += s.cancellations;
    out.inFlight += s.inFlight;
    out.handler.count += s.handler.count;
    out.handler.totalMs += s.handler.totalMs;
    out.handler.maxMs = Math.max(out.handler.maxMs, s.handler.maxMs);
    s.handler.buckets.forEach((n, i) => (out.handler.buckets[i] = (out.handler.buckets[i] ?? 0) + n));
  }
  return out;
}
