/**
 * The checker, in the manner of Jepsen's queue checker: from what was published
 * (confirmed), what the handler's ledger says ran, the effect sink (Redis-atomic mode),
 * the fault windows and the replicas' log lines, it computes the outcome and the list of
 * problems. A pure function: everything it needs is passed in.
 */
import type { FaultRecord, Scope } from './faults.js';

export interface LedgerEntry {
  ev: 'start' | 'done';
  id: string;
  fence: number;
  pool: string;
  pid: number;
  thread: number;
  t: number;
}

export interface LeaseLoss {
  pool: string;
  pid: number;
  t: number;
  msg: string;
}

export interface CheckInput {
  mode: 'plain' | 'redis-atomic';
  /** Confirmed ids, with how many messages of each were confirmed. */
  published: Map<string, number>;
  ledger: LedgerEntry[];
  /** Redis-atomic: per id, the sink counter and the fencing tokens its effect was applied with. */
  sink?: Map<string, { n: number; fences: number[] }>;
  faults: FaultRecord[];
  leaseLosses: LeaseLoss[];
  /** dedup_lease_lost_total summed over the pools at the end (a cross-check of the log lines). */
  leaseLostMetric: number;
  /** Messages left at the end (pools stopped): the queue, .retry and .dlq. */
  leftover: { queue: number; retry: number; dlq: number };
  /** Per pool: ms from the first probe's publish to the pool's first finished probe, undefined if it consumed none. */
  probe: Map<string, number | undefined>;
  /** Pools whose supervisor had exited before the end, with why. */
  poolsDown: string[];
  lockTtlMs: number;
}

export interface Duplicate {
  id: string;
  runs: number;
  explainedBy: string[];
  explained: boolean;
}

export interface Outcome {
  mode: CheckInput['mode'];
  ids: number;
  messages: number;
  faults: number;
  /** Handler runs begun and finished (ledger). */
  started: number;
  finished: number;
  lost: string[];
  unexpected: string[];
  duplicates: Duplicate[];
  /** Redis-atomic: ids whose effect is not applied exactly once (id -> times). */
  effectsNotOnce: [string, number][];
  /** Per id, starts whose fencing token did not grow; Redis-atomic: effects applied with another token than the newest grant. */
  fenceViolations: string[];
  leaseLost: { logged: number; planned: number; unplanned: LeaseLoss[]; metric: number };
  leftover: CheckInput['leftover'];
  probe: CheckInput['probe'];
  problems: string[];
}

function hits(scope: Scope, pool: string, pid: number): boolean {
  if ('all' in scope) return true;
  if ('pid' in scope) return scope.pid === pid;
  return scope.pool === pool;
}

export function check(input: CheckInput): Outcome {
  const { ledger, published, faults, lockTtlMs } = input;
  const starts = ledger.filter((l) => l.ev === 'start');
  const dones = ledger.filter((l) => l.ev === 'done');
  const byId = new Map<string, LedgerEntry[]>();
  for (const l of ledger) byId.set(l.id, [...(byId.get(l.id) ?? []), l]);

  const executed = input.mode === 'plain' ? new Set(dones.map((l) => l.id)) : new Set([...(input.sink ?? new Map())].filter(([, s]) => s.n > 0).map(([id]) => id));
  const lost = [...published.keys()].filter((id) => !executed.has(id));
  const seen = new Set([...ledger.map((l) => l.id), ...(input.sink?.keys() ?? [])]);
  const unexpected = [...seen].filter((id) => !published.has(id));

  // A run is the start and done lines of one process, thread and lease.
  const startOf = (d: LedgerEntry) =>
    byId.get(d.id)!.filter((s) => s.ev === 'start' && s.pid === d.pid && s.thread === d.thread && s.fence === d.fence && s.t <= d.t).at(-1);
  // A fault can explain a run's repeat if it hit that run's process between its start and
  // shortly after its end: the completion (or its effect) was never recorded.
  const slack = lockTtlMs;
  const explain = (d: LedgerEntry): string[] => {
    const from = startOf(d)?.t ?? d.t;
    return faults.filter((f) => hits(f.scope, d.pool, d.pid) && f.from <= d.t + slack && f.to >= from).map((f) => f.note);
  };
  const duplicates: Duplicate[] = [];
  if (input.mode === 'plain') {
    for (const [id, lines] of byId) {
      const runs = lines.filter((l) => l.ev === 'done');
      if (runs.length < 2) continue;
      const why = runs.map(explain);
      const explainedBy = [...new Set(why.flat())];
      // Every run but one must have been hit by a fault.
      duplicates.push({ id, runs: runs.length, explainedBy, explained: why.filter((w) => w.length > 0).length >= runs.length - 1 });
    }
  }

  const effectsNotOnce: [string, number][] = [];
  const fenceViolations: string[] = [];
  for (const [id, lines] of byId) {
    const s = lines.filter((l) => l.ev === 'start').sort((a, b) => a.t - b.t || a.fence - b.fence);
    for (let i = 1; i < s.length; i++) {
      if (s[i]!.fence <= s[i - 1]!.fence) fenceViolations.push(`${id}: start with token ${s[i]!.fence} after one with ${s[i - 1]!.fence}`);
    }
  }
  if (input.mode === 'redis-atomic') {
    for (const id of published.keys()) {
      const got = input.sink?.get(id);
      if (got?.n !== 1) effectsNotOnce.push([id, got?.n ?? 0]);
      const newest = Math.max(...(byId.get(id) ?? []).filter((l) => l.ev === 'start').map((l) => l.fence));
      if (got && got.fences.length === 1 && got.fences[0] !== newest) fenceViolations.push(`${id}: effect applied with token ${got.fences[0]}, newest grant ${newest}`);
    }
  }

  const plannedLoss = (l: LeaseLoss) => faults.some((f) => hits(f.scope, l.pool, l.pid) && l.t >= f.from && l.t <= f.to + 2 * lockTtlMs + 1000);
  const unplanned = input.leaseLosses.filter((l) => !plannedLoss(l));

  const problems: string[] = [];
  if (lost.length) problems.push(`lost ${lost.length}: ${lost.slice(0, 10).join(', ')}`);
  if (unexpected.length) problems.push(`unexpected ${unexpected.length}: ${unexpected.slice(0, 10).join(', ')}`);
  const unexplained = duplicates.filter((d) => !d.explained);
  if (unexplained.length) problems.push(`duplicates not explained by a fault window: ${unexplained.map((d) => `${d.id} x${d.runs}`).join(', ')}`);
  if (effectsNotOnce.length) problems.push(`effects not applied exactly once: ${effectsNotOnce.slice(0, 10).map(([id, n]) => `${id}=${n}`).join(', ')}`);
  if (fenceViolations.length) problems.push(`fencing: ${fenceViolations.slice(0, 10).join('; ')}`);
  const { queue, retry, dlq } = input.leftover;
  if (queue + retry + dlq > 0) problems.push(`messages left at the end: queue ${queue}, .retry ${retry}, .dlq ${dlq}`);
  for (const [pool, ms] of input.probe) if (ms === undefined) problems.push(`pool ${pool} consumed no probe after the last heal`);
  for (const down of input.poolsDown) problems.push(`supervisor exited before the end: ${down}`);

  return {
    mode: input.mode,
    ids: published.size,
    messages: [...published.values()].reduce((a, b) => a + b, 0),
    faults: faults.length,
    started: starts.length,
    finished: dones.length,
    lost,
    unexpected,
    duplicates,
    effectsNotOnce,
    fenceViolations,
    leaseLost: { logged: input.leaseLosses.length, planned: input.leaseLosses.length - unplanned.length, unplanned, metric: input.leaseLostMetric },
    leftover: input.leftover,
    probe: input.probe,
    problems,
  };
}
