/**
 * The supervisor's counters sampled once a second for the last ten minutes: the
 * dashboard's throughput chart is drawn from the differences between samples,
 * so a page opened now shows the minutes before it too.
 */
import type { SupervisorStatus } from './supervisor.js';

export interface HistoryPoint {
  /** ms since the epoch. */
  t: number;
  completed: number;
  duplicates: number;
  retried: number;
  deadLettered: number;
}

export const HISTORY_INTERVAL_MS = 1000;
export const HISTORY_CAPACITY = 600;

export class CounterHistory {
  private readonly points: HistoryPoint[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly status: () => SupervisorStatus, intervalMs = HISTORY_INTERVAL_MS) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs).unref();
  }

  /** Points after `since` (ms), oldest first. */
  since(since: number): HistoryPoint[] {
    return this.points.filter((p) => p.t > since);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const t = this.status().totals;
    const total = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);
    this.points.push({ t: Date.now(), completed: t.completed, duplicates: total(t.duplicates), retried: t.retried, deadLettered: total(t.deadLettered) });
    if (this.points.length > HISTORY_CAPACITY) this.points.shift();
  }
}
