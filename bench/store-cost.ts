/**
 * The dedup store's cost per new id, without a broker or a handler: begin and complete
 * calls in batches, as a replica makes them, against one Redis. Steadier than the full
 * bench for a change to the scripts or the store client, which is what it is for.
 *
 *   node dist/bench/store-cost.js [--redis URL] [--ids N] [--batch N] [--runs N]
 *
 * Per run: the scripts' time per id by Redis's own count (INFO commandstats usec of
 * EVALSHA), the redis-server's CPU per id (from /proc, when it runs here), Redis commands
 * per id (those inside scripts included) and this process's CPU per id (the store client:
 * keys, packing, ioredis, decisions, and the round trips' system calls). Then the median
 * of the runs, after a run that is not counted (the JIT warms up). Keys go under a
 * random prefix and are deleted afterwards.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DedupStore, connectRedis, encodeRecord, keysFor, layoutOf } from '../src/index.js';
import { cpuSeconds, readyStatsClient, redisCounters, type RedisCounters } from './lib/system.js';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    ids: { type: 'string', default: '40000' },
    batch: { type: 'string', default: '20' },
    runs: { type: 'string', default: '5' },
  },
});
const count = (name: 'ids' | 'batch' | 'runs'): number => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${values[name]})`);
  return n;
};
const [ids, batch, runs] = [count('ids'), count('batch'), count('runs')];

interface Figures {
  scriptUs: number;
  redisCpuUs: number;
  commands: number;
  clientUs: number;
}

const dedupTtlMs = 86_400_000;
const prefix = `store-cost-${randomBytes(4).toString('hex')}`;
const stats = await readyStatsClient(values.redis);
const store = new DedupStore([connectRedis(values.redis)], { keys: keysFor(prefix, 'q'), lockTtlMs: 30_000, dedupTtlMs });
// A fresh scope: no records of earlier versions to read.
store.useLayout({ slotMs: layoutOf({ dedupTtlMs, dedupBuckets: 1024 }).slotMs, compatUntil: 0 });
const record = encodeRecord('abcdefghijkl', undefined, 64);

async function counters(): Promise<RedisCounters & { usec: number }> {
  const c = await redisCounters(stats);
  const info = await stats.info('commandstats');
  return { ...c, usec: Number(/^cmdstat_evalsha:calls=\d+,usec=(\d+)/m.exec(info)?.[1] ?? 0) };
}

let next = 0;
async function run(): Promise<Figures> {
  const before = await counters();
  const redisCpu = cpuSeconds(before.pid);
  const cpu = process.cpuUsage();
  for (let done = 0; done < ids; done += batch) {
    const batchIds = Array.from({ length: Math.min(batch, ids - done) }, () => `id-${next++}`);
    const begun = await store.beginMany(batchIds);
    const leases = begun.map((r) => {
      if (r instanceof Error || r.state !== 'acquired') throw new Error(`begin did not grant a new id: ${r instanceof Error ? r.message : r.state}`);
      return { lease: r.lease, record };
    });
    await store.completeMany(leases);
  }
  const used = process.cpuUsage(cpu);
  const after = await counters();
  return {
    scriptUs: (after.usec - before.usec) / ids,
    redisCpuUs: ((cpuSeconds(after.pid) - redisCpu) * 1e6) / ids,
    commands: (after.calls - before.calls) / ids,
    clientUs: (used.user + used.system) / ids,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  await run();
  const all: Figures[] = [];
  console.log(`${runs} runs of ${ids} new ids in batches of ${batch} (begin, then complete), against ${values.redis}`);
  console.log('script us/id | redis CPU us/id | commands/id | client CPU us/id');
  for (let r = 0; r < runs; r++) {
    const f = await run();
    all.push(f);
    console.log(`${f.scriptUs.toFixed(2)} | ${f.redisCpuUs.toFixed(2)} | ${f.commands.toFixed(2)} | ${f.clientUs.toFixed(2)}`);
  }
  const m = (k: keyof Figures): string => median(all.map((f) => f[k])).toFixed(2);
  console.log(`median: ${m('scriptUs')} | ${m('redisCpuUs')} | ${m('commands')} | ${m('clientUs')}`);
} finally {
  let cursor = '0';
  do {
    const [nextCursor, keys] = await stats.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await stats.unlink(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
  await store.close();
  stats.disconnect();
}
