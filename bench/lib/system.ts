/** CPU time of processes (from /proc), and Redis counters (INFO) with the clients that read them. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Channel } from 'amqplib';
import { Redis } from 'ioredis';
import { isSettled, machineTicks, statTicks, type SettleSample } from './steady.js';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** User + system CPU seconds a process has used so far; 0 when it is gone. */
export function cpuSeconds(pid: number, file = `/proc/${pid}/stat`): number {
  try {
    return statTicks(readFileSync(file, 'utf8')) / TICKS;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of a process's main thread alone (the event loop); 0 when it is gone. */
export function mainThreadCpuSeconds(pid: number): number {
  return cpuSeconds(pid, `/proc/${pid}/task/${pid}/stat`);
}

/** Busy CPU seconds of the whole machine so far, and all of its CPU seconds (busy + idle, all cores). */
export function machineSeconds(): { busy: number; total: number } {
  const { busy, total } = machineTicks(readFileSync('/proc/stat', 'utf8'));
  return { busy: busy / TICKS, total: total / TICKS };
}

/** Each pid's CPU seconds now. */
export function cpuOf(pids: number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, cpuSeconds(pid)]));
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
  /** Calls per command (INFO excluded), those made from scripts included. */
  commands: Record<string, number>;
  /** used_memory less the replication backlog and replica buffers (on a master they grow with writes to a fixed cap). */
  usedMemory: number;
  pid: number;
}

export async function redisCounters(redis: Redis): Promise<RedisCounters> {
  const info = [await redis.info('commandstats'), await redis.info('memory'), await redis.info('server')].join('\n');
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  let calls = 0;
  const commands: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] === 'info') continue;
    calls += Number(m[2]);
    commands[m[1]!] = Number(m[2]);
  }
  return {
    calls,
    commands,
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

/** Calls per command between two snapshots, summed over the instances up at both ends. */
export function commandsDelta(before: (RedisCounters | null)[], after: (RedisCounters | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  after.forEach((a, i) => {
    const b = before[i];
    if (!a || !b) return;
    for (const [cmd, n] of Object.entries(a.commands)) {
      const d = n - (b.commands[cmd] ?? 0);
      if (d > 0) out[cmd] = (out[cmd] ?? 0) + d;
    }
  });
  return out;
}

/**
 * Wait for the broker to settle after a publish: the queue's count still and the broker's
 * CPU back under SETTLED_PCT (it goes on writing persistent messages for seconds), at most
 * `maxMs`. Returns the seconds waited and whether it settled.
 */
export async function waitSettled(ch: Channel, queue: string, rabbit: number | undefined, maxMs = 30_000, everyMs = 500): Promise<{ seconds: number; settled: boolean }> {
  const started = Date.now();
  const samples: SettleSample[] = [];
  let cpu = rabbit ? cpuSeconds(rabbit) : 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, everyMs));
    const now = rabbit ? cpuSeconds(rabbit) : 0;
    samples.push({ count: (await ch.checkQueue(queue)).messageCount, brokerPct: (100 * (now - cpu) * 1000) / everyMs });
    cpu = now;
    const seconds = (Date.now() - started) / 1000;
    if (isSettled(samples)) return { seconds, settled: true };
    if (Date.now() - started > maxMs) return { seconds, settled: false };
  }
}
