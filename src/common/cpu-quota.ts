/**
 * The CPUs this process may use under a cgroup CPU quota (a container's CPU limit,
 * systemd's CPUQuota=), for the default thread count. Node 20's
 * availableParallelism() reads the CPU affinity only, so a pod limited to 1 CPU on
 * a 64-core node would start 64 threads that the quota then throttles.
 *
 * cgroup v2: `cpu.max` ("<quota> <period>" or "max <period>") in the process's
 * cgroup and each parent; v1: `cpu.cfs_quota_us` (-1 for none) and
 * `cpu.cfs_period_us` under the cpu controller's mount. The tightest limit wins.
 * Never throws: anything unreadable counts as no quota.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `dir` and each parent up to and including `top`. */
function upTo(top: string, dir: string): string[] {
  const out: string[] = [];
  for (let d = dir.replace(/\/+$/, ''); d.startsWith(top); d = d.slice(0, Math.max(d.lastIndexOf('/'), 0))) {
    out.push(d);
    if (d === top) break;
  }
  return out;
}

/** quota / period when both are positive numbers, else undefined (no limit). */
function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  return quota !== undefined && period !== undefined && q > 0 && p > 0 && Number.isFinite(q / p) ? q / p : undefined;
}

function tightest(limits: (number | undefined)[]): number | undefined {
  const set = limits.filter((l): l is number => l !== undefined);
  return set.length ? Math.min(...set) : undefined;
}

/** cgroup v2: the `0::/path` line of /proc/self/cgroup. */
function v2Quota(root: string, path: string): number | undefined {
  const top = join(root, 'sys/fs/cgroup');
  return tightest(
    upTo(top, join(top, path)).map((dir) => {
      const [quota, period] = (read(join(dir, 'cpu.max')) ?? '').split(/\s+/);
      return quota === 'max' ? undefined : ratio(quota, period);
    }),
  );
}

/** cgroup v1: the line whose controllers include `cpu`; its mount is named after them. */
function v1Quota(root: string, controllers: string, path: string): number | undefined {
  const mounts = [controllers, 'cpu', 'cpu,cpuacct', 'cpuacct,cpu'].map((m) => join(root, 'sys/fs/cgroup', m));
  const dirs = [...new Set(mounts)].flatMap((top) => upTo(top, join(top, path)));
  return tightest(dirs.map((dir) => ratio(read(join(dir, 'cpu.cfs_quota_us')), read(join(dir, 'cpu.cfs_period_us')))));
}

/**
 * CPUs allowed by the cgroup quota (fractional, like 1.5), or undefined when there is
 * none or it cannot be read. `root` is the filesystem root (tests point it at stub files).
 */
export function cpuQuota(root = '/'): number | undefined {
  const lines = (read(join(root, 'proc/self/cgroup')) ?? '').split('\n');
  const limits: (number | undefined)[] = [];
  for (const line of lines) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, id, controllers, path] = m as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') limits.push(v2Quota(root, path));
    else if (controllers.split(',').includes('cpu')) limits.push(v1Quota(root, controllers, path));
  }
  return tightest(limits);
}

/**
 * The default thread count: the CPUs the process may run on, lowered to the quota
 * (rounded down, at least 1; the main thread needs some CPU too).
 */
export function defaultThreads(cpus = availableParallelism(), quota = cpuQuota()): number {
  return quota === undefined ? cpus : Math.max(1, Math.min(cpus, Math.floor(quota)));
}
