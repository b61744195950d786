/** CPU time of processes (from /proc), and Redis counters (INFO) with the clients that read them. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** User + system CPU seconds a process has used so far; 0 when it is gone. */
export function cpuSeconds(pid: number, file = `/proc/${pid}/stat`): number {
  try {
    const stat = readFileSync(file, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of a process's main thread alone (the event loop); 0 when it is gone. */
export function mainThreadCpuSeconds(pid: number): number {
  return cpuSeconds(pid, `/proc/${pid}/task/${pid}/stat`);
}

export function rabbitPid(): number | undefined {
  try {
    return Number(execFileSync('pgrep', ['-o', 'beam.smp']).toString().trim()) || undefined;
  } catch {
    return undefined;
  }
}

export interface RedisCounters {
  calls: number;
  /** used_memory less the replication backlog and replica buffers (on a master they grow with writes to a fixed cap). */
  usedMemory: number;
  pid: number;
}

export async function redisCounters(redis: Redis): Promise<RedisCounters> {
  const info = [await redis.info('commandstats'), await redis.info('memory'), await redis.info('server')].join('\n');
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') calls += Number(m[2]);
  }
  return {
    calls,
    usedMemory: field('used_memory') - field('mem_replication_backlog') - field('mem_clients_slaves'),
    pid: Number(/^process_id:(\d+)/m.exec(info)?.[1] ?? 0),
  };
}

/** A client for INFO and cleanup that fails fast when its instance is down (chaos). */
export function statsClient(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2000 });
  r.on('error', () => {});
  return r;
}

/** A statsClient once connected (it fails commands sent before that), or after 5 s in any case. */
export async function readyStatsClient(url: string): Promise<Redis> {
  const r = statsClient(url);
  if (r.status !== 'ready') await Promise.race([new Promise((resolve) => r.once('ready', resolve)), new Promise((resolve) => setTimeout(resolve, 5000))]);
  return r;
}

/** Counters of each Redis instance; null for one that is down. */
export function redisSnapshot(clients: Redis[]): Promise<(RedisCounters | null)[]> {
  return Promise.all(clients.map((r) => redisCounters(r).catch(() => null)));
}

/** used_memory growth per record, summed over `before`'s instances; null when one of them was down at either end. */
export function bytesPerRecord(before: (RedisCounters | null)[], after: (RedisCounters | null)[], records: number): number | null {
  if (before.some((b, i) => !b || !after[i])) return null;
  return Math.max(0, before.reduce((n, b, i) => n + after[i]!.usedMemory - b!.usedMemory, 0)) / records;
}

export function callsDelta(before: (RedisCounters | null)[], after: (RedisCounters | null)[]): number {
  return after.reduce((n, a, i) => n + (a && before[i] ? Math.max(0, a.calls - before[i]!.calls) : 0), 0);
}
