import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/supervisor/metrics.js';
import { newStats } from '../src/replica/stats.js';
import type { Depths } from '../src/amqp/queue-depth.js';
import type { SupervisorStatus } from '../src/supervisor/supervisor.js';

const status = (): SupervisorStatus => ({
  mode: 'supervisor',
  queue: 'orders',
  handler: '/app/handler.mjs',
  prefix: 'dedup',
  replicas: 1,
  threads: 1,
  ready: true,
  restarts: 0,
  slots: [],
  totals: { ...newStats(), deadLettered: { NOT_JSON: 2 } },
});

/** Metrics of that status, with the queues' depths known (or an error reading them). */
const metricsWith = (depths: Depths) => createMetrics(status, 'dedup_supervisor_', async () => depths);

interface Dashboard {
  templating: { list: { name: string; query?: { query: string } }[] };
  panels: { title: string; targets: { expr: string }[] }[];
}

const exportedNames = async (): Promise<Set<string>> => {
  const registry = metricsWith({ queue: 0, consumers: 1, retry: 0, dlq: 0 });
  return new Set((await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => !n.startsWith('dedup_supervisor_')));
};

describe('docs', () => {
  it('docs/operating.md lists exactly the metrics /metrics exports', async () => {
    const readme = readFileSync(new URL('../docs/operating.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `GET /metrics`'))!;
    const listed = new Set(row.match(/dedup_[a-z_]+[a-z]/g)!.filter((n) => n !== 'dedup_supervisor'));
    expect([...listed].sort()).toEqual([...(await exportedNames())].sort());
  });

  it('docs/internals.md names every Lua script the store ships, and counts them right', () => {
    const readme = readFileSync(new URL('../docs/internals.md', import.meta.url), 'utf8');
    const scripts = readdirSync(new URL('../src/store/lua/', import.meta.url)).filter((f) => f.endsWith('.lua') && !f.endsWith('.lib.lua'));
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];
    expect(readme).toContain(`holds ${words[scripts.length]} scripts`);
    for (const f of scripts) expect(readme).toContain(`\`${f}\``);
  });
});

describe('web dashboard page', () => {
  it('calls the duplicates that waited for another holder "waited" (not "in flight", the gauge beside it)', () => {
    const html = readFileSync(new URL('../src/supervisor/dashboard.html', import.meta.url), 'utf8');
    const card = html.split('\n').find((l) => l.includes('id="dup-in-flight"'))!;
    expect(card).toMatch(/<span id="dup-in-flight">-<\/span> waited,/);
    expect(card).not.toMatch(/in flight/);
  });
});

describe('Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(new URL('../dashboards/dedup-pool.json', import.meta.url), 'utf8')) as Dashboard;

  it('only queries metrics the supervisor exports', async () => {
    const registry = metricsWith({ queue: 1, consumers: 1, retry: 0, dlq: 2 });
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const used = dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/dedup_[a-z_]+/g) ?? []));
    const base = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((n) => !exported.has(base(n)))).toEqual([]);
    expect(used).toEqual(expect.arrayContaining(['dedup_queue_depth', 'dedup_dead_letter_depth']));
  });

  it('has $queue and $instance variables, and every query filters on both', () => {
    expect(dash.templating.list.map((v) => v.name)).toEqual(['datasource', 'queue', 'instance']);
    expect(dash.templating.list[1]!.query!.query).toBe('label_values(dedup_deliveries_total, queue)');
    for (const p of dash.panels) {
      for (const t of p.targets) {
        const selectors = t.expr.match(/dedup_[a-z_]+\{[^}]*\}/g) ?? [];
        expect(selectors.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const s of selectors) expect(s, p.title).toContain('{queue=~"$queue", instance=~"$instance"}');
      }
    }
  });
});

describe('/metrics', () => {
  it('puts a queue label on every sample, and the depth gauges only when the depths are known', async () => {
    const known = await metricsWith({ queue: 7, consumers: 1, retry: 1, dlq: 2 }).metrics();
    const samples = known.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(samples.length).toBeGreaterThan(30);
    expect(samples.filter((l) => !/\{(.*,)?queue="orders"/.test(l))).toEqual([]);
    expect(known).toContain('dedup_queue_depth{queue="orders"} 7');
    expect(known).toContain('dedup_retry_depth{queue="orders"} 1');
    expect(known).toContain('dedup_dead_letter_depth{queue="orders"} 2');
    expect(known).toContain('dedup_dead_lettered_total{reason="NOT_JSON",queue="orders"} 2');

    expect(known).not.toMatch(/^dedup_outbox_pending\{/m); // no outbox counted: no sample

    const withOutbox = (): SupervisorStatus => ({ ...status(), totals: { ...newStats(), outboxPending: { postgres: { count: 3, at: 1 }, redis: { count: 0, at: 2 } } } });
    const counted = await createMetrics(withOutbox).metrics();
    expect(counted).toContain('dedup_outbox_pending{outbox="postgres",queue="orders"} 3');
    expect(counted).toContain('dedup_outbox_pending{outbox="redis",queue="orders"} 0');

    const unknown = await metricsWith({ error: 'connect ECONNREFUSED' }).metrics();
    expect(unknown).not.toMatch(/^dedup_queue_depth\{/m);
    expect(unknown).not.toMatch(/^dedup_dead_letter_depth\{/m);
  });
});
