/** A replica's counters: what the demo prints, what /status and the metrics will show. */
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
  inFlight: number;
  handler: { count: number; totalMs: number; maxMs: number };
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
    inFlight: 0,
    handler: { count: 0, totalMs: 0, maxMs: 0 },
  };
}

export function recordHandlerTime(stats: ReplicaStats, ms: number): void {
  stats.handler.count += 1;
  stats.handler.totalMs += ms;
  if (ms > stats.handler.maxMs) stats.handler.maxMs = ms;
}
