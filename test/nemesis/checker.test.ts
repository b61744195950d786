/** The checker on made-up histories: each kind of anomaly is found, and what is fine is not flagged. */
import { describe, expect, it } from 'vitest';
import { check, type CheckInput, type LedgerEntry } from './checker.js';
import type { FaultRecord } from './faults.js';

const run = (id: string, pool: string, pid: number, fence: number, from: number, to: number): LedgerEntry[] => [
  { ev: 'start', id, fence, pool, pid, thread: 1, t: from },
  { ev: 'done', id, fence, pool, pid, thread: 1, t: to },
];
const base = (over: Partial<CheckInput> = {}): CheckInput => ({
  mode: 'plain',
  published: new Map([['a', 1], ['b', 2]]),
  ledger: [...run('a', 'p1', 10, 1, 1000, 1050), ...run('b', 'p2', 20, 1, 1000, 1050)],
  faults: [],
  leaseLosses: [],
  leaseLostMetric: 0,
  leftover: { queue: 0, retry: 0, dlq: 0 },
  probe: new Map([['p1', 100], ['p2', 200]]),
  poolsDown: [],
  lockTtlMs: 2000,
  ...over,
});
const kill = (pid: number, t: number): FaultRecord => ({ kind: 'kill-replica', scope: { pool: 'p1', pid }, from: t, to: t, note: `kill ${pid}` });

describe('nemesis checker', () => {
  it('a clean history has no problems', () => {
    const o = check(base());
    expect(o.problems).toEqual([]);
    expect([o.ids, o.messages, o.finished]).toEqual([2, 3, 2]);
  });

  it('lost: a confirmed id that never finished; unexpected: a run of an id never published', () => {
    const o = check(base({ ledger: [...run('a', 'p1', 10, 1, 1000, 1050), ...run('zz', 'p1', 10, 1, 1000, 1050), { ev: 'start', id: 'b', fence: 1, pool: 'p2', pid: 20, thread: 1, t: 1000 }] }));
    expect(o.lost).toEqual(['b']);
    expect(o.unexpected).toEqual(['zz']);
    expect(o.problems).toHaveLength(2);
  });

  it('a duplicate is explained only by a fault on that run\'s process, between its start and shortly after its end', () => {
    const twice = [...run('a', 'p1', 10, 1, 1000, 1050), ...run('a', 'p2', 20, 2, 4000, 4050), ...run('b', 'p2', 20, 1, 1000, 1050)];
    expect(check(base({ ledger: twice, faults: [kill(10, 1060)] })).duplicates).toEqual([{ id: 'a', runs: 2, explainedBy: ['kill 10'], explained: true }]);
    // Another process killed, or the right one long after: not an explanation.
    for (const f of [kill(11, 1060), kill(10, 9000)]) {
      const o = check(base({ ledger: twice, faults: [f] }));
      expect(o.duplicates[0]!.explained).toBe(false);
      expect(o.problems[0]).toMatch(/not explained by a fault window: a x2/);
    }
    const all: FaultRecord = { kind: 'pause-redis', scope: { all: true }, from: 900, to: 3000, note: 'redis paused' };
    expect(check(base({ ledger: twice, faults: [all] })).duplicates[0]!.explained).toBe(true);
  });

  it('fencing: a later start with a token not above the earlier one', () => {
    const o = check(base({ ledger: [...run('a', 'p1', 10, 2, 1000, 1050), ...run('b', 'p2', 20, 1, 1000, 1050), { ev: 'start', id: 'a', fence: 2, pool: 'p2', pid: 20, thread: 1, t: 5000 }] }));
    expect(o.fenceViolations).toEqual(['a: start with token 2 after one with 2']);
  });

  it('Redis-atomic: effects applied other than once, or with a token that is not the newest grant', () => {
    const ledger = [...run('a', 'p1', 10, 1, 1000, 1050), ...run('a', 'p2', 20, 2, 4000, 4050), ...run('b', 'p2', 20, 1, 1000, 1050)];
    const ok = check(base({ mode: 'redis-atomic', ledger, sink: new Map([['a', { n: 1, fences: [2] }], ['b', { n: 1, fences: [1] }]]) }));
    expect(ok.problems).toEqual([]);
    const bad = check(base({ mode: 'redis-atomic', ledger, sink: new Map([['a', { n: 1, fences: [1] }], ['b', { n: 2, fences: [1, 1] }]]) }));
    expect(bad.effectsNotOnce).toEqual([['b', 2]]);
    expect(bad.fenceViolations).toEqual(['a: effect applied with token 1, newest grant 2']);
    expect(check(base({ mode: 'redis-atomic', ledger, sink: new Map([['a', { n: 1, fences: [2] }]]) })).lost).toEqual(['b']);
  });

  it('leftover messages, a pool that consumed no probe or whose supervisor exited, and lease losses outside every fault window', () => {
    const o = check(
      base({
        leftover: { queue: 1, retry: 0, dlq: 2 },
        probe: new Map([['p1', 100], ['p2', undefined]]),
        poolsDown: ['p2 (exit 1: crash loop)'],
        faults: [kill(10, 1000)],
        leaseLosses: [
          { pool: 'p1', pid: 10, t: 2000, msg: 'lease lost' },
          { pool: 'p2', pid: 20, t: 2000, msg: 'lease lost' },
          { pool: 'p1', pid: 10, t: 60_000, msg: 'lease lost' },
        ],
      }),
    );
    expect(o.problems).toEqual([
      'messages left at the end: queue 1, .retry 0, .dlq 2',
      'pool p2 consumed no probe after the last heal',
      'supervisor exited before the end: p2 (exit 1: crash loop)',
    ]);
    expect(o.leaseLost.planned).toBe(1);
    expect(o.leaseLost.unplanned.map((l) => `${l.pool}@${l.t}`)).toEqual(['p2@2000', 'p1@60000']);
  });
});
