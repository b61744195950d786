/** The thread default under a CPU quota, read from stub cgroup files (v2 and v1). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuQuota, defaultThreads } from '../src/common/cpu-quota.js';
import { OPTION_SPECS } from '../src/common/options.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A filesystem root holding `files` (path -> content). */
function fsRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cpu-quota-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

describe('cpuQuota', () => {
  it('cgroup v2 in a container (namespaced path /): cpu.max "100000 100000" is 1 CPU', () => {
    const root = fsRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': '100000 100000\n' });
    expect(cpuQuota(root)).toBe(1);
  });

  it('cgroup v2 "max" is no quota', () => {
    const root = fsRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': 'max 100000\n' });
    expect(cpuQuota(root)).toBeUndefined();
  });

  it('cgroup v2 on a host: the tightest of the own cgroup and its parents (a systemd slice, say)', () => {
    const root = fsRoot({
      'proc/self/cgroup': '0::/system.slice/dedup-pool@orders.service\n',
      'sys/fs/cgroup/cpu.max': 'max 100000',
      'sys/fs/cgroup/system.slice/cpu.max': '250000 100000',
      'sys/fs/cgroup/system.slice/dedup-pool@orders.service/cpu.max': 'max 100000',
    });
    expect(cpuQuota(root)).toBe(2.5);
  });

  it('cgroup v1: cfs quota over period under the cpu,cpuacct mount; -1 is no quota', () => {
    const limited = fsRoot({
      'proc/self/cgroup': '12:memory:/kubepods/pod1/c1\n3:cpu,cpuacct:/kubepods/pod1/c1\n',
      'sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/c1/cpu.cfs_quota_us': '150000',
      'sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/c1/cpu.cfs_period_us': '100000',
    });
    expect(cpuQuota(limited)).toBe(1.5);
    // Inside a container the path names the host's cgroup but the mount is the container's own.
    const mountedAtRoot = fsRoot({
      'proc/self/cgroup': '3:cpu,cpuacct:/kubepods/pod1/c1\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '50000',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000',
    });
    expect(cpuQuota(mountedAtRoot)).toBe(0.5);
    const unlimited = fsRoot({
      'proc/self/cgroup': '2:cpu:/\n',
      'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1',
      'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
    });
    expect(cpuQuota(unlimited)).toBeUndefined();
  });

  it('nothing readable, or nonsense, is no quota (never a throw)', () => {
    expect(cpuQuota(fsRoot({}))).toBeUndefined();
    expect(cpuQuota(fsRoot({ 'proc/self/cgroup': 'garbage\n' }))).toBeUndefined();
    expect(cpuQuota(fsRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': 'abc def' }))).toBeUndefined();
    expect(cpuQuota(fsRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': '0 100000' }))).toBeUndefined();
  });
});

describe('defaultThreads', () => {
  it('a 1-CPU quota on a 64-core machine gives 1 thread, not 64', () => {
    expect(defaultThreads(64, 1)).toBe(1);
  });

  it('rounds a fractional quota down, keeps at least 1, never above the cores, and uses the cores without a quota', () => {
    expect(defaultThreads(64, 2.5)).toBe(2);
    expect(defaultThreads(64, 0.5)).toBe(1);
    expect(defaultThreads(4, 16)).toBe(4);
    expect(defaultThreads(8, undefined)).toBe(8);
  });

  it('is the --threads default', () => {
    const threads = OPTION_SPECS.find((s) => s.key === 'threads')!;
    expect(threads.default).toBe(defaultThreads(availableParallelism(), cpuQuota()));
  });
});
