/**
 * A replica's counters: what the demo prints, what the supervisor sums for
 * /status and /metrics. Plain numbers, so they cross IPC as they are.
 */

/** Upper bounds (ms) of the latency histograms' buckets; the last bucket is +Inf. */
export const BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];

/** Latency samples kept per histogram: enough for a p99 that means something, small enough for IPC. */
export const SAMPLES = 1000;

/**
 * A latency histogram: count, sum, max, per-bucket counts (one more than BUCKETS_MS,
 * for +Inf: what /metrics exports) and a uniform sample of the observations
 * (reservoir sampling), from which percentiles are read as real values rather
 * than bucket bounds.
 */
export interface Histogram {
  count: number;
  totalMs: number;
  maxMs: number;
  buckets: number[];
  samples: number[];
}

export function newHistogram(): Histogram {
  return { count: 0, totalMs: 0, maxMs: 0, buckets: new Array(BUCKETS_MS.length + 1).fill(0), samples: [] };
}

export function observe(h: Histogram, ms: number, random = Math.random): void {
  h.count += 1;
  h.totalMs += ms;
  if (ms > h.maxMs) h.maxMs = ms;
  let i = BUCKETS_MS.findIndex((le) => ms <= le);
  if (i < 0) i = BUCKETS_MS.length;
  h.buckets[i] = (h.buckets[i] ?? 0) + 1;
  // Algorithm R: every observation so far is in the sample with the same probability.
  if (h.samples.length < SAMPLES) h.samples.push(ms);
  else {
    const j = Math.floor(random() * h.count);
    if (j < SAMPLES) h.samples[j] = ms;
  }
}

/** Add `h` into `into`. The merged sample draws from each side in proportion to its count, so it stays uniform. */
function addHistogram(into: Histogram, h: Histogram): void {
  if (h.count === 0) return;
  const total = into.count + h.count;
  const keep = Math.min(SAMPLES, into.samples.length + h.samples.length);
  const fromH = Math.min(h.samples.length, Math.round((keep * h.count) / total));
  const fromInto = Math.min(into.samples.length, keep - fromH);
  into.samples = [...pick(into.samples, fromInto), ...pick(h.samples, fromH)];
  into.count = total;
  into.totalMs += h.totalMs;
  into.maxMs = Math.max(into.maxMs, h.maxMs);
  h.buckets.forEach((n, i) => (into.buckets[i] = (into.buckets[i] ?? 0) + n));
}

/** `n` elements of `xs` chosen at random (all of them when n >= length). */
function pick(xs: number[], n: number): number[] {
  if (n >= xs.length) return xs.slice();
  const copy = xs.slice();
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}

/** The `q` quantile (0..1) of the observations, read from the sample (nearest rank). */
export function percentile(h: Histogram, q: number): number {
  if (h.samples.length === 0) return 0;
  const sorted = h.samples.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export type OutboxKind = 'postgres' | 'redis';

/** One count of an outbox's unsent follow-ups, and when it was taken (ms since the epoch). */
export interface OutboxSample {
  count: number;
  at: number;
}

export interface ReplicaStats {
  deliveries: number;
  completed: number;
  /** By reason: done (record found), in-flight (waited for another holder), inbox (the Postgres inbox row existed). */
  duplicates: { done: number; 'in-flight': number; inbox: number };
  /** Duplicates that found the id locked elsewhere and waited for the holder. */
  parked: number;
  retried: number;
  deadLettered: Record<string, number>;
  requeued: number;
  leaseExtensions: number;
  leaseLost: number;
  /** Handlers running past --overdue-after now (a gauge), and ever. */
  overdue: number;
  overdueTotal: number;
  storeErrors: number;
  /** AMQP connections lost (each followed by a reconnect). */
  reconnects: number;
  /** Consumers cancelled by the broker (each followed by a re-subscribe). */
  cancellations: number;
  inFlight: number;
  /** Begin calls made: one per batch of deliveries. */
  batches: number;
  /** Redis client calls (round trips, one per instance per call). */
  redisCalls: number;
  /** Complete calls whose records did not reach --redis-wait-replicas replicas before the ack. */
  waitShortfalls: number;
  /** Messages whose id sources (--id-from) held different ids; each ran under the first. */
  idDisagreements: number;
  /** Follow-up messages (ctx.publish) the broker confirmed; a rerun's copies count again. */
  followupsPublished: number;
  /**
   * Follow-ups stored in an outbox and not yet sent, per outbox this replica's
   * dispatchers watch, as last counted by them (a gauge, with when it was read).
   * Every replica of a pool counts the same shared outbox: summing takes the latest.
   */
  outboxPending: Partial<Record<OutboxKind, OutboxSample>>;
  /** From a task handed to its thread to its result back (queueing in the thread included). */
  handler: Histogram;
  /** From the handler's end to the ack (completion record, then ack). */
  handlerToAck: Histogram;
}

export function newStats(): ReplicaStats {
  return {
    deliveries: 0,
    completed: 0,
    duplicates: { done: 0, 'in-flight': 0, inbox: 0 },
    parked: 0,
    retried: 0,
    deadLettered: {},
    requeued: 0,
    leaseExtensions: 0,
    leaseLost: 0,
    overdue: 0,
    overdueTotal: 0,
    storeErrors: 0,
    reconnects: 0,
    cancellations: 0,
    inFlight: 0,
    batches: 0,
    redisCalls: 0,
    waitShortfalls: 0,
    idDisagreements: 0,
    followupsPublished: 0,
    outboxPending: {},
    handler: newHistogram(),
    handlerToAck: newHistogram(),
  };
}

/** Element-wise sum of several replicas' stats (maxMs is the max; outboxPending the latest count). */
export function sumStats(list: ReplicaStats[]): ReplicaStats {
  const out = newStats();
  for (const s of list) {
    out.deliveries += s.deliveries;
    out.completed += s.completed;
    out.duplicates.done += s.duplicates.done;
    out.duplicates['in-flight'] += s.duplicates['in-flight'];
    out.duplicates.inbox += s.duplicates.inbox;
    out.parked += s.parked;
    out.retried += s.retried;
    for (const [reason, n] of Object.entries(s.deadLettered)) out.deadLettered[reason] = (out.deadLettered[reason] ?? 0) + n;
    out.requeued += s.requeued;
    out.leaseExtensions += s.leaseExtensions;
    out.leaseLost += s.leaseLost;
    out.overdue += s.overdue;
    out.overdueTotal += s.overdueTotal;
    out.storeErrors += s.storeErrors;
    out.reconnects += s.reconnects;
    out.cancellations += s.cancellations;
    out.inFlight += s.inFlight;
    out.batches += s.batches;
    out.redisCalls += s.redisCalls;
    out.waitShortfalls += s.waitShortfalls;
    out.idDisagreements += s.idDisagreements;
    out.followupsPublished += s.followupsPublished ?? 0;
    for (const [kind, sample] of Object.entries(s.outboxPending ?? {}) as [OutboxKind, OutboxSample][]) {
      if (sample.at >= (out.outboxPending[kind]?.at ?? -1)) out.outboxPending[kind] = { ...sample };
    }
    addHistogram(out.handler, s.handler);
    addHistogram(out.handlerToAck, s.handlerToAck);
  }
  return out;
}
