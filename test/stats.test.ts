import { describe, expect, it } from 'vitest';
import { SAMPLES, newHistogram, newStats, observe, percentile, sumStats } from '../src/replica/stats.js';

describe('latency histograms', () => {
  it('percentiles are observed values, not bucket bounds', () => {
    const h = newHistogram();
    for (const ms of [3.2, 7.7, 1.1, 12.4, 0.3]) observe(h, ms);
    expect(percentile(h, 0.5)).toBe(3.2);
    expect(percentile(h, 0.99)).toBe(12.4);
    expect(percentile(h, 0)).toBe(0.3);
    expect(percentile(newHistogram(), 0.5)).toBe(0);
  });

  it('keeps a bounded uniform sample of a long run', () => {
    const h = newHistogram();
    for (let i = 1; i <= 100_000; i++) observe(h, i);
    expect(h.samples).toHaveLength(SAMPLES);
    expect(h.count).toBe(100_000);
    // Uniform over 1..100000: the median is near 50000 (well inside 10% for a sample of 1000).
    expect(Math.abs(percentile(h, 0.5) - 50_000)).toBeLessThan(10_000);
    expect(percentile(h, 0.99)).toBeGreaterThan(90_000);
  });

  it('summing replicas weighs each sample by its replica’s count', () => {
    const fast = newStats();
    const slow = newStats();
    for (let i = 0; i < 9000; i++) observe(fast.handlerToAck, 1);
    for (let i = 0; i < 1000; i++) observe(slow.handlerToAck, 100);
    const total = sumStats([fast, slow]).handlerToAck;
    expect(total.count).toBe(10_000);
    expect(total.samples).toHaveLength(SAMPLES);
    expect(total.samples.filter((x) => x === 100)).toHaveLength(100);
    expect(percentile(total, 0.5)).toBe(1);
    expect(percentile(total, 0.95)).toBe(100);
  });
});

describe('outbox gauge', () => {
  it('summing replicas keeps the latest count of each outbox (they all count the same one), not a sum', () => {
    const a = { ...newStats(), outboxPending: { postgres: { count: 5, at: 1000 }, redis: { count: 0, at: 3000 } } };
    const b = { ...newStats(), outboxPending: { postgres: { count: 1, at: 2000 } } };
    expect(sumStats([a, b]).outboxPending).toEqual({ postgres: { count: 1, at: 2000 }, redis: { count: 0, at: 3000 } });
    expect(sumStats([b, a]).outboxPending.postgres).toEqual({ count: 1, at: 2000 });
    expect(sumStats([newStats(), newStats()]).outboxPending).toEqual({});
  });
});
