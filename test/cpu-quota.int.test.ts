/**
 * The thread default in a real cgroup with a 1-CPU quota (cgroup v1 cpu controller,
 * as root): `dedup-pool replica --help` run inside it shows --threads default 1,
 * where availableParallelism() alone says every core.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/dedup-pool.js', import.meta.url));
const CPU = '/sys/fs/cgroup/cpu';
const GROUP = `${CPU}/dedup-pool-test-${process.pid}`;

afterAll(() => {
  if (existsSync(GROUP)) rmdirSync(GROUP);
});

/** `--threads N ... (default D)` from help text run in the cgroup. */
function threadsDefault(quotaUs: number): string {
  mkdirSync(GROUP, { recursive: true });
  writeFileSync(`${GROUP}/cpu.cfs_period_us`, '100000');
  writeFileSync(`${GROUP}/cpu.cfs_quota_us`, String(quotaUs));
  // The shell moves itself into the group, then becomes node: the child starts limited.
  const r = spawnSync('sh', ['-c', `echo $$ > ${GROUP}/cgroup.procs && exec "${process.execPath}" "${BIN}" replica --help`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return /--threads N\s+.*\(env DEDUP_THREADS, default (\d+)\)/.exec(r.stdout)?.[1] ?? `no --threads line in: ${r.stdout}`;
}

describe('thread default in a cgroup with a CPU quota', () => {
  it('this machine has a writable cgroup v1 cpu controller and more than one core (what the test needs to mean anything)', () => {
    expect(existsSync(`${CPU}/cpu.cfs_quota_us`)).toBe(true);
    expect(availableParallelism()).toBeGreaterThan(1);
  });

  it('a 1-CPU quota gives 1 thread; no quota gives every core', () => {
    expect(threadsDefault(100_000)).toBe('1');
    expect(threadsDefault(-1)).toBe(String(availableParallelism()));
  });
});
