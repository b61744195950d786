import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BENCH_FLAGS, MIN_SECONDS, tooShort } from '../bench/run.js';
import type { VariantResult } from '../bench/lib/report.js';
import { longestStall } from '../bench/lib/cluster-chaos.js';

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
