/**
 * Redis memory per completion record: `used_memory` growth over many UUID ids,
 * each begun and completed through the store as a replica would, divided by the
 * number of ids. Run against a fresh server of its own so nothing else moves the
 * figure.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { DedupStore, encodeRecord, fingerprint } from '../../src/store/dedup-store.js';
import { keysFor } from '../../src/store/keys.js';
import { connectCluster, connectRedis } from '../../src/store/redis-clients.js';
import { startRedisCluster } from './redis-cluster.js';
import { startRedisServer } from './services.js';
import { redisCounters } from './system.js';

export interface RecordSize {
  ids: number;
  resultBytes: number;
  /** used_memory growth (net of replication buffers) divided by the ids: the measure. */
  bytesPerRecord: number;
  /** `MEMORY USAGE` of every key written, divided by the ids: what the records themselves hold. */
  keyBytesPerRecord: number;
  /** used_memory growth still there once every key is deleted, per instance: costs of the write stream, not of records. */
  leftPerInstance: number;
  keys: number;
}

const usedMemory = async (r: Redis): Promise<number> => (await redisCounters(r)).usedMemory;

/**
 * Complete `ids` UUIDs through `store` (in batches of 256), with a result of `resultBytes` bytes or none,
 * then delete every key of the probed instances (servers of the measurement's own) to see what stays.
 */
export async function measureRecordSize(store: DedupStore, probes: Redis[], ids: number, resultBytes: number): Promise<RecordSize> {
  const before = await Promise.all(probes.map(usedMemory));
  const result = resultBytes > 0 ? JSON.stringify('r'.repeat(resultBytes - 2)) : undefined;
  for (let done = 0; done < ids; done += 256) {
    const batch = Array.from({ length: Math.min(256, ids - done) }, () => randomUUID());
    const begun = await store.beginMany(batch);
    const items = begun.map((b, i) => {
      if (b instanceof Error || b.state !== 'acquired') throw new Error(`record-size: ${batch[i]} was not leased`);
      return { lease: b.lease, record: encodeRecord(fingerprint(Buffer.from(batch[i]!)), result, 1024) };
    });
    const written = await store.completeMany(items);
    if (!written.every((w) => w === true)) throw new Error('record-size: a completion was not written');
  }
  const after = await Promise.all(probes.map(usedMemory));
  const keys = (await Promise.all(probes.map((p) => p.dbsize()))).reduce((a, b) => a + b, 0);
  const keyBytes = (await Promise.all(probes.map((p) => eachKey(p, (k) => p.call('MEMORY', 'USAGE', k, 'SAMPLES', '0') as Promise<number>)))).flat();
  await Promise.all(probes.map((p) => eachKey(p, (k) => p.del(k))));
  const emptied = await Promise.all(probes.map(usedMemory));
  const grown = sum(after) - sum(before);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    ids,
    resultBytes,
    bytesPerRecord: round(grown / ids),
    keyBytesPerRecord: round(sum(keyBytes) / ids),
    leftPerInstance: Math.round((sum(emptied) - sum(before)) / probes.length),
    keys,
  };
}

const sum = (ns: number[]): number => ns.reduce((a, b) => a + b, 0);

/** `fn` on every key of one instance (one key per call: in a cluster, keys of one call must share a slot). */
async function eachKey<T>(r: Redis, fn: (key: string) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 1000);
    cursor = next;
    out.push(...(await Promise.all(keys.map(fn))));
  } while (cursor !== '0');
  return out;
}

/**
 * The `record-size` measurement: bytes per record for each store mode (one Redis,
 * three independent masters: summed over the three, a Redis Cluster: summed over
 * its masters), with no result and with a 32-byte one, each on fresh servers, over
 * 20,000 and 100,000 ids: each master has costs that grow with the write stream up
 * to a bound (its Lua heap, client buffers), which the larger count spreads thinner.
 */
export async function recordSizes(resultsDir: string): Promise<string> {
  const COUNTS = [20_000, 100_000];
  const rows: ({ mode: string } & Omit<RecordSize, 'keys'>)[] = [];
  for (const ids of COUNTS) {
    for (const resultBytes of [0, 32]) {
      for (const mode of ['1 Redis', '3 independent masters', 'Redis Cluster (3 masters)']) {
        const measure = mode === 'Redis Cluster (3 masters)' ? onCluster : (n: number, r: number) => onServers(mode === '1 Redis' ? 1 : 3, n, r);
        const { keys: _keys, ...size } = await measure(ids, resultBytes);
        rows.push({ mode, ...size });
      }
    }
  }
  mkdirSync(resultsDir, { recursive: true });
  const file = `${resultsDir}/${new Date().toISOString().slice(0, 10)}-record-size.json`;
  writeFileSync(file, `${JSON.stringify({ scenario: 'record-size', date: new Date().toISOString(), rows }, null, 2)}\n`);
  const table = rows.map(
    (r) =>
      `${r.mode.padEnd(28)} ${String(r.ids).padStart(7)} ${String(r.resultBytes).padStart(6)} ${r.bytesPerRecord.toFixed(1).padStart(10)} ${r.keyBytesPerRecord.toFixed(1).padStart(10)} ${String(r.leftPerInstance).padStart(12)}`,
  );
  return [
    `record-size: Redis used_memory growth per completion record (UUID ids); MEMORY USAGE of the keys per record; growth left per instance once every key is deleted`,
    `${'store'.padEnd(28)} ${'ids'.padStart(7)} ${'result'.padStart(6)} ${'bytes/rec'.padStart(10)} ${'keys B/rec'.padStart(10)} ${'left B/inst'.padStart(12)}`,
    ...table,
    `wrote ${file}`,
  ].join('\n');
}

const STORE_OPTS = { lockTtlMs: 30_000, dedupTtlMs: 24 * 3600_000 };

/** One measurement on a fresh Redis Cluster of 3 masters + 3 replicas. */
async function onCluster(ids: number, resultBytes: number): Promise<RecordSize> {
  const cluster = await startRedisCluster();
  const store = new DedupStore(connectCluster(cluster.urls), { keys: keysFor('rs', 'q', { legacy: false }), ...STORE_OPTS });
  const probes = (await cluster.masters()).map((m) => new Redis(m.url));
  try {
    await new Promise((r) => setTimeout(r, 500));
    return await measureRecordSize(store, probes, ids, resultBytes);
  } finally {
    await store.close();
    probes.forEach((p) => p.disconnect());
    await cluster.stop();
  }
}

/** One measurement on `n` fresh independent redis-servers (a quorum when n > 1). */
async function onServers(n: number, ids: number, resultBytes: number): Promise<RecordSize> {
  const servers = await Promise.all(Array.from({ length: n }, () => startRedisServer()));
  const store = new DedupStore(servers.map((s) => connectRedis(s.url)), { keys: keysFor('rs', 'q'), ...STORE_OPTS });
  const probes = servers.map((s) => new Redis(s.url));
  try {
    await new Promise((r) => setTimeout(r, 300));
    return await measureRecordSize(store, probes, ids, resultBytes);
  } finally {
    await store.close();
    probes.forEach((p) => p.disconnect());
    await Promise.all(servers.map((s) => s.kill()));
  }
}
