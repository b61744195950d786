/**
 * The randomized fault schedule (docs/nemesis.md): a few seeds, in plain and in
 * Redis-atomic mode, each checked for lost, unexpected and duplicate executions, effects
 * applied more than once, fencing tokens, leftover messages and pools that stopped consuming.
 * `npm run test:nemesis`; NEMESIS_SEED=n replays one seed in both modes.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNemesis, type RunResult } from './harness.js';
import { details, outcomeTable, timeline } from './report.js';

/** NEMESIS_SEED=a,b replays those seeds; otherwise two new ones, printed in the test names. */
const SEEDS = process.env.NEMESIS_SEED ? process.env.NEMESIS_SEED.split(',').map(Number) : [Date.now() % 1_000_000, (Date.now() * 7919) % 1_000_000];
/** A 2 s lease: pauses of 2.5-3.5 s break it on purpose, and a loaded 2-core machine does not by accident. */
const SHAPE = { pools: 2, replicas: 2, faults: 7, ids: 500, lockTtlMs: 2000, sleepMs: 100 };
const results: RunResult[] = [];

describe('nemesis', () => {
  for (const mode of ['plain', 'redis-atomic'] as const) {
    for (const seed of SEEDS) {
      it(`${mode}, seed ${seed}`, async () => {
        const r = await runNemesis({ ...SHAPE, seed, mode, keep: join(tmpdir(), 'dedup-nemesis-failed') });
        results.push(r);
        console.info(`${timeline(r)}\n${outcomeTable([r])}\n${details(r)}`);
        const o = r.outcome;
        expect(o.lost).toEqual([]);
        expect(o.unexpected).toEqual([]);
        expect(o.duplicates.filter((d) => !d.explained)).toEqual([]);
        expect(o.effectsNotOnce).toEqual([]);
        expect(o.fenceViolations).toEqual([]);
        expect(o.leftover).toEqual({ queue: 0, retry: 0, dlq: 0 });
        expect([...o.probe].filter(([, ms]) => ms === undefined)).toEqual([]);
        expect(o.problems).toEqual([]);
        // The schedule really ran, and the workload really ran through it.
        expect(o.faults).toBeGreaterThanOrEqual(SHAPE.faults - 1);
        expect(o.ids).toBeGreaterThanOrEqual(SHAPE.ids);
      });
    }
  }
  it('prints the outcome table', () => {
    console.info(`nemesis outcome (replay one with NEMESIS_SEED=<seed> npm run test:nemesis):\n${outcomeTable(results)}`);
    expect(results.length).toBe(SEEDS.length * 2);
  });
});
