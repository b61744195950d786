import { describe, expect, it } from 'vitest';
import type { Logger } from '../src/common/logger.js';
import { newStats } from '../src/replica/stats.js';
import { startSummary, summarize, summaryLine } from '../src/replica/summary.js';

describe('summary line', () => {
  it('counts what happened between two readings, with a rate over the real interval', () => {
    const before = { ...newStats(), completed: 100, retried: 1, deadLettered: { NO_ID: 1 }, duplicates: { done: 5, 'in-flight': 2, inbox: 0 } };
    const after = { ...newStats(), completed: 190, retried: 4, inFlight: 7, deadLettered: { NO_ID: 2, HANDLER_FAILED: 3 }, duplicates: { done: 15, 'in-flight': 4, inbox: 1 } };
    const s = summarize(before, after, 60_000);
    expect(s).toEqual({ processed: 90, perSecond: 1.5, duplicates: 13, deadLettered: 4, retried: 3, inFlight: 7 });
    expect(summaryLine(s, 60_000)).toBe('last 1m: 90 processed (1.5/s), 13 duplicates, 4 dead-lettered, 3 retried; 7 in flight');
  });

  it('counts from live counters too (a lone replica hands out its own object)', async () => {
    const counters = newStats();
    const lines: { summary: { processed: number } }[] = [];
    const log = { info: (o: { summary: { processed: number } }) => lines.push(o) } as unknown as Logger;
    const stop = startSummary(() => counters, log, 30);
    counters.completed += 5;
    await new Promise((r) => setTimeout(r, 45));
    stop();
    expect(lines[0]?.summary.processed).toBe(5);
  });
});
