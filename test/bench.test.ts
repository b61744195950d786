import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BENCH_FLAGS, MIN_SECONDS, onlyRows, tooShort } from '../bench/run.js';
import { combineRuns, type VariantResult } from '../bench/lib/report.js';
import { activeWindow, areaOf, callersOf, summarize } from '../bench/lib/profile-areas.js';
import { SETTLED_PCT, SteadyWindow, groupSeconds, isSettled, machineTicks, median, messagesInWindow, runOrder, spread, statTicks, steadyFigures, usPer, type GroupCpu } from '../bench/lib/steady.js';
import type { Variant } from '../bench/scenarios/types.js';
import { longestStall } from '../bench/lib/cluster-chaos.js';
import { chainTable, parseLedger, tallyChain } from '../bench/lib/chain-tally.js';

const ran = (variant: string, seconds: number) => ({ variant, seconds }) as VariantResult;

describe('bench report', () => {
  it('warns about each variant that ran under MIN_SECONDS, and only those', () => {
    const warnings = tooShort([ran('raw', MIN_SECONDS + 0.5), ran('dedup-pool 1x1', MIN_SECONDS - 0.01), ran('naive', 0.8)]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^dedup-pool 1x1 ran 2\.99 s \(under 3 s\): .*raise --scale$/);
    expect(warnings[1]).toMatch(/^naive ran 0\.80 s/);
  });

  it('writes results outside the tracked tree unless told otherwise', () => {
    expect(BENCH_FLAGS.out.default).toBe('./bench-results');
    expect(readFileSync(new URL('../.gitignore', import.meta.url), 'utf8').split('\n')).toContain('bench-results/');
  });

  it('longestStall: the longest stretch without a new id after the kill, until every id is done', () => {
    // [time ms, ids so far]: progress stops from 1000 to 1600 (after the kill at 900), then runs to the end.
    const series: [number, number][] = [[0, 0], [200, 10], [800, 50], [1000, 60], [1200, 60], [1400, 60], [1600, 70], [1800, 100], [5000, 100]];
    expect(longestStall(series, 900, 100)).toBe(600);
    // Counted from the given moment: the stall before it does not count.
    expect(longestStall(series, 1700, 100)).toBe(100);
  });
});

const v = (name: string, kind: 'raw' | 'naive' | 'dedup', prefetch = 100): Variant =>
  kind === 'dedup' ? { name, kind, prefetch, replicas: 1, threads: 1 } : kind === 'naive' ? { name, kind, prefetch, consumers: 2 } : { name, kind, prefetch };

describe('bench steady method', () => {
  it('median and spread: the middle value (mean of the two middle ones for an even count) and the range', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(spread([0.61, 0.48, 0.9])).toEqual({ median: 0.61, min: 0.48, max: 0.9 });
  });

  it('runOrder: every row right after its base, --pairs rounds; a lone base still runs; chaos runs each row once', () => {
    const noop = [v('raw p100', 'raw'), v('naive', 'naive'), v('1x1', 'dedup'), v('raw p500', 'raw', 500), v('1x1 p500', 'dedup', 500)];
    const { order, pairedWith } = runOrder(noop, 2, false);
    expect(order).toEqual([0, 1, 0, 2, 3, 4, 0, 1, 0, 2, 3, 4]);
    expect(pairedWith).toEqual([null, 0, null, 2, null, 4, null, 6, null, 8, null, 10]);
    // No raw consumer: the first row is the base (dups-50: naive p1).
    expect(runOrder([v('naive p1', 'naive', 1), v('2x2', 'dedup')], 3, false).order).toEqual([0, 1, 0, 1, 0, 1]);
    expect(runOrder([v('raw', 'raw'), v('raw p500', 'raw', 500), v('1x1', 'dedup')], 1, false).order).toEqual([1, 0, 2]);
    expect(runOrder(noop, 3, true)).toEqual({ order: [0, 1, 2, 3, 4], pairedWith: [null, null, null, null, null] });
  });

  it('onlyRows keeps the named rows and their bases, and names the rows when none matches', () => {
    const noop = [v('raw p100', 'raw'), v('naive', 'naive'), v('dedup-pool 1x1 p100', 'dedup'), v('raw p500', 'raw', 500), v('dedup-pool 1x1 p500', 'dedup', 500)];
    expect(onlyRows(noop, ['1x1 p500']).map((x) => x.name)).toEqual(['raw p500', 'dedup-pool 1x1 p500']);
    expect(onlyRows(noop, undefined)).toBe(noop);
    expect(() => onlyRows(noop, ['4x4'])).toThrow(/--rows: no row matches 4x4 \(rows: raw p100; /);
  });

  it('statTicks: utime + stime of /proc/<pid>/stat, with a process name holding spaces and parentheses', () => {
    const stat = '2952 (beam.smp (x) y) S 1 2952 2952 0 -1 4194560 37911 0 0 0 612 97 0 0 20 0 28 0 1620 2292703232 31121';
    expect(statTicks(stat)).toBe(709);
    expect(() => statTicks('garbage')).toThrow(/not a \/proc\/<pid>\/stat line/);
  });

  it('machineTicks: busy is all but idle and iowait, over the "cpu" line', () => {
    const procStat = 'cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n';
    expect(machineTicks(procStat)).toEqual({ busy: 161, total: 1181 });
    expect(() => machineTicks('intr 1 2')).toThrow(/no "cpu " line/);
  });

  it('groupSeconds: the group spent after - before per pid; a pid born in between counts from zero, none goes negative', () => {
    const before = new Map([[10, 1.5], [11, 0.25]]);
    const after = new Map([[10, 3.5], [11, 0.25], [12, 0.75]]);
    expect(groupSeconds(before, after)).toBe(2.75);
    expect(groupSeconds(new Map([[10, 2]]), new Map([[10, 1]]))).toBe(0);
  });

  it('messagesInWindow leaves out the share done before the window opened; usPer is microseconds per message', () => {
    expect(messagesInWindow(31_500, 15_000, 1_500)).toBeCloseTo(28_350);
    expect(messagesInWindow(100_000, 100_000, 0)).toBe(100_000);
    expect(usPer(2.5, 100_000)).toBe(25);
  });

  it('SteadyWindow marks the first polls past 30% and 90% of the ids left at the start; steadyFigures rates and CPU between them', () => {
    // 200 of 1,000 ids had run when the consumers were ready: the edges are at 440 and 920.
    const w = new SteadyWindow<GroupCpu>(200, 1_000);
    const cpu = (consumers: number, redis: number): GroupCpu => ({ consumers: new Map([[1, consumers]]), redis: new Map([[2, redis]]), rabbitmq: new Map() });
    const polls: [number, number, GroupCpu][] = [[1_000, 300, cpu(1, 1)], [2_000, 500, cpu(2, 1.5)], [3_000, 700, cpu(3, 2)], [4_000, 950, cpu(4.5, 2.6)], [5_000, 1_000, cpu(9, 3)]];
    for (const [at, executed, c] of polls) w.observe(at, executed, () => c);
    const [from, to] = w.window!;
    expect([from.at, from.executed, to.at, to.executed]).toEqual([2_000, 500, 4_000, 950]);
    // 450 ids in 2 s; 2,000 published for 1,000 ids: 900 messages, 2.5 s of consumer CPU and 1.1 s of Redis.
    const f = steadyFigures(w.window, 2_000, 1_000, { redis: true, rabbitmq: false })!;
    expect(f.idsPerSecond).toBe(225);
    expect(f.cpuUsPerMessage.consumers).toBeCloseTo(2.5e6 / 900);
    expect(f.cpuUsPerMessage.redis).toBeCloseTo(1.1e6 / 900);
    expect(f.cpuUsPerMessage.rabbitmq).toBeNull();
    // A run that never reached the second edge has no window.
    const short = new SteadyWindow<GroupCpu>(0, 1_000);
    short.observe(1, 500, () => cpu(0, 0));
    short.observe(2, 800, () => cpu(0, 0));
    expect(short.window).toBeNull();
    expect(steadyFigures(short.window, 1_000, 1_000, { redis: true, rabbitmq: true })).toBeNull();
  });

  it('isSettled: the count unchanged and the broker under SETTLED_PCT over the last two intervals', () => {
    const s = (count: number, brokerPct: number) => ({ count, brokerPct });
    expect(isSettled([s(100, 80), s(100, 3)])).toBe(false);
    expect(isSettled([s(100, 80), s(100, 3), s(100, SETTLED_PCT - 1)])).toBe(true);
    expect(isSettled([s(100, 80), s(100, 3), s(100, SETTLED_PCT)])).toBe(false);
    expect(isSettled([s(90, 0), s(100, 0), s(100, 0)])).toBe(false);
  });

  it('combineRuns: rates and CPU are medians, the ratio is the median of the pairs with its range, failures are summed', () => {
    const run = (ids: number, ratio: number | null, consumers: number, extra: Partial<VariantResult> = {}) =>
      ({
        variant: '1x1', unique: 100, idsPerSecond: ids, seconds: 100 / ids, duplicateExecutions: 0, duplicateEffects: null, lost: 0, deadLettered: {}, replicaRestarts: 0, timedOut: false,
        handlerToAckMs: { p50: 1, p99: 2 }, redisCommandsPerMessage: 10, redisCommandsPerId: 10, redisCommandsById: { hget: 5, get: 2 }, redisRoundTripsPerMessage: 0.05,
        mainThreadCpuUsPerMessage: 30, redisBytesPerRecord: 37, cpuUsPerMessage: { consumers, redis: 40, rabbitmq: 30 }, ratio: null, series: [[0, ids]],
        runs: [
          {
            idsPerSecond: ids, seconds: 100 / ids, ratio, cpuUsPerMessage: { consumers, redis: 40, rabbitmq: 30 }, otherPct: 5, settleSeconds: 2, settled: true,
            steady: { idsPerSecond: ids * 1.5, cpuUsPerMessage: { consumers: consumers / 2, redis: 20, rabbitmq: null }, ratio: ratio && ratio * 2 },
          },
        ],
        ...extra,
      }) as unknown as VariantResult;
    const c = combineRuns([run(10_000, 0.5, 80), run(14_000, 0.9, 60, { duplicateExecutions: 1, deadLettered: { X: 2 }, redisCommandsById: { hget: 8 } }), run(12_000, 0.6, 70)]);
    expect(c.idsPerSecond).toBe(12_000);
    expect(c.series).toEqual([[0, 12_000]]);
    expect(c.ratio).toEqual({ median: 0.6, min: 0.5, max: 0.9 });
    expect(c.cpuUsPerMessage).toEqual({ consumers: 70, redis: 40, rabbitmq: 30 });
    expect(c.duplicateExecutions).toBe(1);
    expect(c.deadLettered).toEqual({ X: 2 });
    expect(c.redisCommandsById).toEqual({ hget: 6, get: 4 / 3 });
    expect(c.runs).toHaveLength(3);
    // The steady figures: medians of the runs', the ratio with its range.
    expect(c.steady).toEqual({ idsPerSecond: 18_000, cpuUsPerMessage: { consumers: 35, redis: 20, rabbitmq: null }, ratio: { median: 1.2, min: 1, max: 1.8 } });
    // A base row: no ratio of its own.
    expect(combineRuns([run(20_000, null, 20)]).ratio).toBeNull();
  });
});

describe('bench profile areas', () => {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });

  it('areaOf: libraries, the parts of the pool, the thread hop and the VM by url, natives by name', () => {
    expect(areaOf(frame('sendMessage', 'file:///w/node_modules/amqplib/lib/channel.js'))).toBe('amqplib');
    expect(areaOf(frame('write', 'file:///w/node_modules/ioredis/built/Redis.js'))).toBe('ioredis');
    expect(areaOf(frame('observe', 'file:///w/dist/src/replica/stats.js'))).toBe('metrics');
    expect(areaOf(frame('run', 'file:///w/dist/src/replica/pipeline.js'))).toBe('pipeline (replica/)');
    expect(areaOf(frame('postMessage'))).toBe('structured clone, postMessage');
    expect(areaOf(frame('(garbage collector)'))).toBe('garbage collector');
    expect(areaOf(frame('(idle)'))).toBe('idle');
  });

  it('summarize: self time per function from the delta after each sample, idle left out, largest first', () => {
    const p = {
      nodes: [
        { id: 1, callFrame: frame('(root)') },
        { id: 2, callFrame: frame('(idle)') },
        { id: 3, callFrame: frame('parse', 'file:///w/node_modules/amqplib/lib/frame.js') },
        { id: 4, callFrame: frame('begin', 'file:///w/dist/src/store/dedup-store.js') },
      ],
      samples: [3, 4, 2, 3],
      timeDeltas: [0, 100, 50, 1000, 30],
      startTime: 0,
      endTime: 1180,
    };
    const s = summarize(p);
    expect(s.busyUs).toBe(180);
    expect(s.byArea).toEqual([['amqplib', 130], ['store (store/)', 50]]);
    expect(s.top[0]).toEqual(['parse', 'node_modules/amqplib/lib/frame.js:1', 'amqplib', 130]);
  });

  it('activeWindow spans the samples in code matching the pattern; summarize and callersOf count only inside it', () => {
    const p = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 3] },
        { id: 2, callFrame: frame('load', 'node:internal/modules/cjs/loader') },
        { id: 3, callFrame: frame('run', 'file:///w/dist/src/replica/pipeline.js'), children: [4] },
        { id: 4, callFrame: frame('postMessage') },
      ],
      // at 10 (load), 20 (run), 30 (postMessage), 40 (run), 50 (load)
      samples: [2, 3, 4, 3, 2],
      timeDeltas: [10, 10, 10, 10, 10, 10],
      startTime: 0,
      endTime: 60,
    };
    const w = activeWindow(p, /\/src\/replica\/pipeline\.js$/);
    expect(w).toEqual([20, 40]);
    expect(summarize(p, 5, w).byArea).toEqual([['pipeline (replica/)', 20], ['structured clone, postMessage', 10]]);
    expect(summarize(p).busyUs).toBe(50);
    expect(callersOf(p, 'postMessage', 2, w)).toEqual([['run dist/src/replica/pipeline.js:1', 10]]);
    expect(activeWindow(p, /nothing/)).toBeUndefined();
  });
});

describe('bench chain scenario', () => {
  // Two incoming ids, two follow-ups each. Stage A: i-0 ran twice (a kill), i-1 once.
  const ledgerA = 'i-0 1000\ni-1 1010\ni-0 2500\n';

  it('tallies follow-ups run at B by what they stand for: copies are duplicates, missing ones lost', () => {
    // i-0#0 ran twice (the rerun's copy under a fresh id); i-1#1 never ran.
    const ledgerB = 'i-0#0 1100\ni-0#1 1200\ni-1#0 1300\ni-0#0 2600\n';
    const t = tallyChain(['i-0', 'i-1'], 2, ledgerA, ledgerB);
    expect(t).toMatchObject({ expected: 4, executedAtB: 4, duplicatesAtB: 1, lost: 1, rerunsAtA: 1 });
    // Only i-0 is done at B (its last follow-up first ran at 1200): 1 id in 0.2 s from A's first run.
    expect(t.seconds).toBeCloseTo(0.2, 6);
    expect(t.idsPerSecond).toBeCloseTo(5, 6);
  });

  it('times ids/s to the first run of each id\'s last follow-up, not to later copies', () => {
    const ledgerB = 'i-0#0 1100\ni-0#1 1200\ni-1#0 1300\ni-1#1 2000\ni-0#0 9000\n';
    const t = tallyChain(['i-0', 'i-1'], 2, ledgerA, ledgerB);
    expect(t).toMatchObject({ lost: 0, duplicatesAtB: 1 });
    expect(t.seconds).toBeCloseTo(1, 6);
    expect(t.idsPerSecond).toBeCloseTo(2, 6);
  });

  it('nothing done at B: 0 ids/s; a partial last line is ignored', () => {
    expect(tallyChain(['i-0'], 1, 'i-0 1000\n', '')).toMatchObject({ idsPerSecond: 0, lost: 1, executedAtB: 0 });
    expect([...parseLedger('a 1\nb 2\nc').keys()]).toEqual(['a', 'b']);
  });

  it('prints one row per variant under the header, columns aligned', () => {
    const row = { variant: 'ctx', idsPerSecond: 512.4, seconds: 3, expected: 100, executedAtB: 100, duplicatesAtB: 0, copiesAckedAtB: 4, lost: 0, rerunsAtA: 3, kills: 2, timedOut: false };
    const lines = chainTable([row, { ...row, variant: 'own', duplicatesAtB: 7, timedOut: true }]).split('\n');
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[2]).toMatch(/^\| ctx +\| +512 \| +100 \| +100 \| +0 \| +4 \|/);
    expect(lines[3]).toContain('own (timed out)');
  });
});
