/** CPU time of processes (from /proc) and Redis counters (INFO). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

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
