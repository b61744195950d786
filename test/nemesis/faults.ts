/**
 * Applies a planned schedule to a running cluster, one fault at a time: wait the gap,
 * wait for every replica to be ready again (so a fault never lands on a replica still
 * starting), inject, hold, heal. Each fault is recorded with when it started and ended
 * and what it could affect (every pool, one pool, or one process): the checker matches
 * executions against these windows.
 */
import { signal, type Cluster, type Pool } from './cluster.js';
import type { FaultKind, PlannedFault } from './schedule.js';

export type Scope = { all: true } | { pool: string } | { pool: string; pid: number };

export interface FaultRecord {
  kind: FaultKind;
  scope: Scope;
  /** Wall-clock ms (the ledger's clock) when the fault started and when it was healed. */
  from: number;
  to: number;
  note: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Nemesis {
  /** Runs the whole plan; resolves when the last fault is healed. */
  run(plan: PlannedFault[]): Promise<FaultRecord[]>;
  /** Undo whatever is still in force (also after a failure). */
  healAll(): void;
}

export function nemesis(cluster: Cluster, onFault: (r: FaultRecord) => void, warn: (line: string) => void): Nemesis {
  const paused = new Set<number>();
  let redisPaused = false;
  const healAll = (): void => {
    for (const pid of paused) signal(pid, 'SIGCONT');
    paused.clear();
    if (redisPaused) cluster.redis.process.kill('SIGCONT');
    redisPaused = false;
    for (const p of cluster.pools) {
      for (const proxy of [p.redisProxy, p.amqpProxy]) {
        proxy.latencyMs = 0;
        proxy.heal();
      }
    }
  };

  const one = async (f: PlannedFault, pool: Pool): Promise<FaultRecord | undefined> => {
    const from = Date.now();
    const rec = (scope: Scope, note: string): FaultRecord => ({ kind: f.kind, scope, from, to: Date.now(), note });
    const proxy = f.kind.endsWith('redis') ? pool.redisProxy : pool.amqpProxy;
    switch (f.kind) {
      case 'kill-replica':
      case 'pause-replica': {
        const pid = (await cluster.pids(pool))[f.slot];
        if (!pid) return undefined;
        if (f.kind === 'kill-replica') {
          signal(pid, 'SIGKILL');
          return rec({ pool: pool.name, pid }, `SIGKILL replica ${pool.name}/${f.slot} (pid ${pid})`);
        }
        paused.add(pid);
        signal(pid, 'SIGSTOP');
        await sleep(f.holdMs);
        signal(pid, 'SIGCONT');
        paused.delete(pid);
        return rec({ pool: pool.name, pid }, `SIGSTOP replica ${pool.name}/${f.slot} (pid ${pid}) for ${f.holdMs} ms`);
      }
      case 'pause-redis':
        redisPaused = true;
        cluster.redis.process.kill('SIGSTOP');
        await sleep(f.holdMs);
        cluster.redis.process.kill('SIGCONT');
        redisPaused = false;
        return rec({ all: true }, `SIGSTOP redis-server for ${f.holdMs} ms`);
      case 'partition-redis':
      case 'partition-amqp':
        proxy.cut();
        await sleep(f.holdMs);
        proxy.heal();
        return rec({ pool: pool.name }, `${pool.name} cut from ${f.kind.slice(10)} for ${f.holdMs} ms`);
      case 'latency-redis':
      case 'latency-amqp':
        proxy.latencyMs = f.latencyMs;
        await sleep(f.holdMs);
        // Dropping the latency at once would let new chunks overtake the delayed ones (the
        // proxy times each chunk on its own): a reordered byte stream, not a network fault.
        // Hold new chunks until the delayed ones are out, then let them through in order.
        proxy.cut();
        await sleep(f.latencyMs + 50);
        proxy.latencyMs = 0;
        proxy.heal();
        return rec({ pool: pool.name }, `${pool.name} ${f.kind.slice(8)} +${f.latencyMs} ms per chunk for ${f.holdMs} ms`);
      case 'reset-redis':
      case 'reset-amqp':
        proxy.reset();
        return rec({ pool: pool.name }, `${pool.name} ${f.kind.slice(6)} connections reset`);
    }
  };

  return {
    healAll,
    async run(plan) {
      const out: FaultRecord[] = [];
      for (const f of plan) {
        await sleep(f.gapMs);
        if (!(await cluster.settled(20_000))) warn('not every replica was ready and consuming 20 s after the previous fault');
        const r = await one(f, cluster.pools[f.pool]!);
        if (r) {
          out.push(r);
          onFault(r);
        }
      }
      healAll();
      return out;
    },
  };
}
