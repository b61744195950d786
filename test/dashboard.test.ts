import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';
import { newStats } from '../src/stats.js';

describe('Grafana dashboard', () => {
  it('only queries metrics the supervisor exports', async () => {
    const dash = JSON.parse(readFileSync(new URL('../dashboards/dedup-pool.json', import.meta.url), 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const registry = createMetrics(() => ({ replicas: 1, threads: 1, ready: true, restarts: 0, slots: [], totals: newStats() }));
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const used = dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/dedup_[a-z_]+/g) ?? []));
    const base = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((n) => !exported.has(base(n)))).toEqual([]);
  });
});
