/**
 * The pure parts of the bench's steady method: the order of runs (each row alternated
 * with its base, --pairs times), medians and spreads, and CPU accounting from /proc
 * text. A single ratio moved by 3x between runs on a shared machine; the median of
 * pairs and CPU per message are what a change can be judged by.
 */
import type { Variant } from '../scenarios/types.js';
import type { SteadyFigures } from './report.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spread(xs: number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** The row each variant is compared with: the raw consumer at its prefetch, else the first raw, else the first variant. */
export function baseIndex(variants: Variant[], i: number): number {
  const raws = variants.map((v, j) => [v, j] as const).filter(([v]) => v.kind === 'raw');
  return (raws.find(([v]) => v.prefetch === variants[i]!.prefetch) ?? raws[0])?.[1] ?? 0;
}

/**
 * Variant indices in run order: in each of `pairs` rounds, every row that is not a base
 * runs right after its base (base, row, base, row, ...), so each ratio is of neighbours in
 * time. A scenario with chaos runs each variant once, in order: its figures are losses and
 * duplicates, not ratios. Returns the order and, per run, the run of its base (or null).
 */
export function runOrder(variants: Variant[], pairs: number, chaos: boolean): { order: number[]; pairedWith: (number | null)[] } {
  if (chaos) return { order: variants.map((_, i) => i), pairedWith: variants.map(() => null) };
  const bases = variants.map((_, i) => baseIndex(variants, i));
  const order: number[] = [];
  const pairedWith: (number | null)[] = [];
  for (let p = 0; p < pairs; p++) {
    variants.forEach((_, i) => {
      if (bases[i] !== i) {
        order.push(bases[i]!, i);
        pairedWith.push(null, order.length - 2);
      } else if (!bases.some((b, j) => b === i && j !== i)) {
        // A base no row is compared with (a second raw consumer alone at its prefetch) still runs.
        order.push(i);
        pairedWith.push(null);
      }
    });
  }
  return { order, pairedWith };
}

/** User + system clock ticks of a process (fields 14 and 15 of /proc/<pid>/stat; the name in field 2 may hold spaces and parentheses). */
export function statTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 60)}`);
  return ticks;
}

/** Busy and total ticks of the whole machine (the "cpu" line of /proc/stat): busy is everything but idle and iowait. */
export function machineTicks(procStat: string): { busy: number; total: number } {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no "cpu " line in /proc/stat');
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return { busy, total: busy + idle! + iowait! };
}

/**
 * CPU seconds a process group spent between two snapshots (pid -> seconds). A pid absent
 * from `before` was born in between (a restarted replica) and counts from zero; a pid
 * absent from `after` is gone and its time with it, so snapshots should be taken by
 * sampling (the largest reading of each pid) while the group runs.
 */
export function groupSeconds(before: Map<number, number>, after: Map<number, number>): number {
  let s = 0;
  for (const [pid, t] of after) s += Math.max(0, t - (before.get(pid) ?? 0));
  return s;
}

/**
 * Messages handled in a measured window that opened when `executedAtStart` of `unique`
 * ids had already run: the published messages (copies included) less the share done before.
 */
export function messagesInWindow(published: number, unique: number, executedAtStart: number): number {
  return Math.max(1, published * (1 - Math.min(executedAtStart, unique) / unique));
}

/** Microseconds per message. */
export const usPer = (seconds: number, messages: number): number => (1e6 * seconds) / Math.max(1, messages);

export interface SettleSample {
  /** Messages in the queue. */
  count: number;
  /** The broker's CPU over the last interval, percent of one core. */
  brokerPct: number;
}

/** Below this the broker is idle (it idles at about 1% here); after publishing 100,000 persistent messages it works on for seconds. */
export const SETTLED_PCT = 5;

/** Settled: the queue count has not moved and the broker's CPU has been under SETTLED_PCT, over the last `quiet` samples. */
export function isSettled(samples: SettleSample[], quiet = 2): boolean {
  if (samples.length < quiet + 1) return false;
  const last = samples.slice(-quiet - 1);
  return last.every((s) => s.count === last[0]!.count) && last.slice(1).every((s) => s.brokerPct < SETTLED_PCT);
}

/**
 * The steady part of a run, as shares of the ids left when the consumers were ready: before
 * it the JIT warms up (each process and thread compiles its hot code once, a fixed cost that
 * a short run spreads over few messages), after it the queue drains in ever smaller batches.
 */
export const STEADY_SPAN: readonly [number, number] = [0.3, 0.9];

/** What was read at one poll: when, how many ids had run, and the CPU readings of the moment. */
export interface Mark<T> {
  at: number;
  executed: number;
  cpu: T;
}

/**
 * Takes a mark at the first poll at or past each edge of STEADY_SPAN. `window` is null when
 * the run never reached the second edge or ran the whole span between two polls.
 */
export class SteadyWindow<T> {
  private readonly edges: number[];
  private readonly marks: Mark<T>[] = [];

  constructor(executedAtStart: number, unique: number, span: readonly [number, number] = STEADY_SPAN) {
    this.edges = span.map((f) => executedAtStart + f * (unique - executedAtStart));
  }

  observe(at: number, executed: number, read: () => T): void {
    const edge = this.edges[this.marks.length];
    if (edge !== undefined && executed >= edge) this.marks.push({ at, executed, cpu: read() });
  }

  get window(): [Mark<T>, Mark<T>] | null {
    const [from, to] = this.marks;
    return from && to && to.executed > from.executed && to.at > from.at ? [from, to] : null;
  }
}

/** CPU readings of each process group at one moment (pid -> seconds). */
export type GroupCpu = Record<'consumers' | 'redis' | 'rabbitmq', Map<number, number>>;

/** Ids per second and CPU per message between the window's marks; a group the row does not use is null. */
export function steadyFigures(w: [Mark<GroupCpu>, Mark<GroupCpu>] | null, published: number, unique: number, uses: { redis: boolean; rabbitmq: boolean }): SteadyFigures | null {
  if (!w) return null;
  const [from, to] = w;
  const ids = to.executed - from.executed;
  const per = (g: keyof GroupCpu): number => usPer(groupSeconds(from.cpu[g], to.cpu[g]), (published * ids) / unique);
  return {
    idsPerSecond: (ids * 1000) / (to.at - from.at),
    cpuUsPerMessage: { consumers: per('consumers'), redis: uses.redis ? per('redis') : null, rabbitmq: uses.rabbitmq ? per('rabbitmq') : null },
    ratio: null,
  };
}
