import { describe, expect, it } from 'vitest';
import { formatStatus, reasonCounts } from '../src/cli/status-format.js';
import { RateWindow } from '../src/supervisor/rates.js';
import { newStats } from '../src/replica/stats.js';
import type { StatusReply } from '../src/supervisor/admin.js';

function reply(over: Partial<StatusReply> = {}): StatusReply {
  const totals = newStats();
  totals.deliveries = 12;
  totals.completed = 9;
  totals.deadLettered = { NO_ID: 2, NOT_JSON: 1 };
  return {
    mode: 'supervisor', queue: 'orders', handler: '/srv/handler.mjs', prefix: 'shop', replicas: 2, threads: 4, ready: true, restarts: 0,
    slots: [{ slot: 0, pid: 11, state: 'ready', uptimeMs: 5000, restarts: 0, threads: 4, consuming: true, inFlight: 1 }],
    totals,
    rates: { overS: 60, deliveries: 12.5, completed: 10, duplicates: 2.5, retried: 0, deadLettered: 0.05 },
    queues: { queue: 40, consumers: 2, dlq: 3, retry: 1 },
    ...over,
  };
}

describe('status text', () => {
  it('names reasons in words, largest first', () => {
    expect(reasonCounts({ NOT_JSON: 1, NO_ID: 2, SOMETHING_NEW: 1 })).toBe('4: no message id (NO_ID) 2, body is not JSON (NOT_JSON) 1, SOMETHING_NEW 1');
    expect(reasonCounts({})).toBe('0');
  });

  it('shows queue, handler, prefix, rates, dead-letter depth and reasons', () => {
    const text = formatStatus(reply());
    expect(text).toMatch(/^READY: supervisor on queue orders, 1\/2 replica\(s\) consuming/);
    expect(text).toContain('handler   /srv/handler.mjs');
    expect(text).toContain('prefix    shop');
    expect(text).toMatch(/rates \(last 60s, per second\) +delivered 12\.5 +completed 10\.0 +duplicates 2\.50/);
    expect(text).toContain('orders: 40 waiting, 2 consumer(s); orders.dlq: 3 dead-lettered; orders.retry: 1');
    expect(text).toContain('dead-lettered 3: no message id (NO_ID) 2, body is not JSON (NOT_JSON) 1');
  });

  it('says NOT READY, and why a queue depth is unknown', () => {
    const text = formatStatus(reply({ ready: false, queues: { error: 'connect ECONNREFUSED 127.0.0.1:5672' }, slots: [] }));
    expect(text).toMatch(/^NOT READY: supervisor on queue orders, no replica is consuming/);
    expect(text).toContain('depth unknown: connect ECONNREFUSED 127.0.0.1:5672');
  });
});

describe('RateWindow', () => {
  it('averages counter growth per second over the window', () => {
    const w = new RateWindow(10_000);
    const t = newStats();
    w.sample(t, 0);
    expect(w.rates()).toBeUndefined();
    t.completed = 50;
    t.deliveries = 60;
    t.duplicates.done = 10;
    t.deadLettered = { NO_ID: 5 };
    w.sample(t, 5000);
    expect(w.rates()).toEqual({ overS: 5, deliveries: 12, completed: 10, duplicates: 2, retried: 0, deadLettered: 1 });
    // Samples older than the newest one at or before the window's start fall out.
    t.completed = 70;
    w.sample(t, 20_000);
    w.sample(t, 25_000);
    expect(w.rates()).toMatchObject({ overS: 20, completed: 1 });
    w.sample(t, 31_000);
    expect(w.rates()).toMatchObject({ overS: 11, completed: 0 });
  });
});
