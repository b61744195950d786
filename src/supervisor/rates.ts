/**
 * Per-second rates over the last minute, from cumulative counters sampled now and
 * then (the admin endpoint samples every second). Pure: no timers here.
 */
import type { ReplicaStats } from '../replica/stats.js';

export interface Rates {
  /** Seconds the rates are averaged over (up to the window). */
  overS: number;
  deliveries: number;
  completed: number;
  duplicates: number;
  retried: number;
  deadLettered: number;
}

interface Sample {
  at: number;
  counts: Omit<Rates, 'overS'>;
}

function counts(t: ReplicaStats): Sample['counts'] {
  return {
    deliveries: t.deliveries,
    completed: t.completed,
    duplicates: Object.values(t.duplicates).reduce((a, b) => a + b, 0),
    retried: t.retried,
    deadLettered: Object.values(t.deadLettered).reduce((a, b) => a + b, 0),
  };
}

export class RateWindow {
  private samples: Sample[] = [];

  constructor(private readonly windowMs = 60_000) {}

  sample(totals: ReplicaStats, now = Date.now()): void {
    this.samples.push({ at: now, counts: counts(totals) });
    // Keep the newest sample at or before the window's start, so the span covers the whole window.
    while (this.samples.length > 2 && this.samples[1]!.at <= now - this.windowMs) this.samples.shift();
  }

  /** Rates between the oldest and newest sample; undefined until two samples are a moment apart. */
  rates(): Rates | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 500) return undefined;
    const s = (last.at - first.at) / 1000;
    const per = (k: keyof Sample['counts']): number => Math.max(0, last.counts[k] - first.counts[k]) / s;
    return { overS: Math.round(s), deliveries: per('deliveries'), completed: per('completed'), duplicates: per('duplicates'), retried: per('retried'), deadLettered: per('deadLettered') };
  }
}
