/**
 * deploy/systemd/dedup-pool@.service: `systemd-analyze verify` finds nothing to say,
 * the stop timeout exceeds the pool's drain, and the hardening scores OK in
 * `systemd-analyze security --offline`. ExecStart's /usr/local/bin/dedup-pool
 * (npm's global bin) is not installed here, so the verified copy runs this
 * checkout's bin/dedup-pool.js instead; every other line is verified as written.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OPTION_SPECS, optionsFromFlags, resolveOptions } from '../src/common/options.js';
import { parseDuration } from '../src/common/duration.js';
import { ROOT } from './helpers/helm.js';

const UNIT = readFileSync(join(ROOT, 'deploy/systemd/dedup-pool@.service'), 'utf8');
const BIN = join(ROOT, 'bin/dedup-pool.js');
const dir = mkdtempSync(join(tmpdir(), 'dedup-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every value of a directive, in order. */
const directive = (name: string): string[] => [...UNIT.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!);

/** The unit as written, but starting this checkout's bin (a file that exists, which verify checks). */
function writeUnit(text: string): void {
  writeFileSync(join(dir, 'dedup-pool@.service'), text.replace('ExecStart=/usr/local/bin/dedup-pool ', `ExecStart=${BIN} `));
}

function analyze(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('systemd-analyze', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`systemd-analyze cannot run (${r.error.message}); it comes with Debian's systemd package: apt-get install systemd`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('systemd unit', () => {
  it('starts dedup-pool replica from npm global bin, with an env file per instance', () => {
    expect(directive('ExecStart')).toEqual(['/usr/local/bin/dedup-pool replica']);
    expect(directive('EnvironmentFile')).toEqual(['/etc/dedup-pool/%i.env']);
    const known = new Set<string>(OPTION_SPECS.map((s) => s.env));
    for (const e of directive('Environment')) expect(known.has(e.split('=')[0]!), e).toBe(true);
  });

  it('systemd-analyze verify reports nothing, and a broken directive would be reported', () => {
    writeUnit(UNIT);
    const ok = analyze(['verify', './dedup-pool@orders.service']);
    expect(ok).toEqual({ status: 0, out: '' });
    // verify exits 0 on a directive it cannot parse: the output is what tells.
    writeUnit(UNIT.replace('KillMode=mixed', 'KillMode=mixd'));
    expect(analyze(['verify', './dedup-pool@orders.service']).out).toMatch(/Failed to parse kill mode/);
  });

  it('restarts on failure but not on a configuration error; SIGTERM to the main process; the stop timeout exceeds drain + lock TTL', () => {
    expect(directive('Restart')).toEqual(['on-failure']);
    expect(directive('RestartPreventExitStatus')).toEqual(['2']);
    expect(directive('KillMode')).toEqual(['mixed']);
    expect(directive('KillSignal')).toEqual(['SIGTERM']);
    const defaults = resolveOptions(optionsFromFlags({ queue: 'q', handler: 'h.mjs' }, {}));
    expect(parseDuration(directive('TimeoutStopSec')[0]!.replace(/^(\d+)$/, '$1s'))).toBeGreaterThan(defaults.drainTimeoutMs + defaults.lockTtlMs);
  });

  it('hardening: systemd-analyze security --offline rates the exposure OK (at most 2.0 of 10)', () => {
    writeUnit(UNIT);
    const r = analyze(['security', '--offline=yes', '--threshold=20', './dedup-pool@orders.service']);
    const level = /Overall exposure level for dedup-pool@orders\.service: ([\d.]+) (\w+)/.exec(r.out);
    expect(level?.[2], r.out.slice(-500)).toBe('OK');
    expect(Number(level![1])).toBeLessThanOrEqual(2);
    expect(r.status).toBe(0);
  });
});
