/**
 * The store a replica's options describe, connected: one Redis, independent masters
 * (--redis), or a Redis Cluster (--redis-cluster).
 */
import type { PoolOptions } from '../common/options.js';
import type { TlsFiles } from '../common/tls.js';
import { DedupStore } from './dedup-store.js';
import { keysFor, scopeOf } from './keys.js';
import { connectCluster, connectRedis } from './redis-clients.js';

/** The store mode the options describe: what openStore builds, known before connecting. */
export function storeModeOf(opts: Pick<PoolOptions, 'redisUrls' | 'redisCluster'>): DedupStore['mode'] {
  return opts.redisCluster !== undefined ? 'cluster' : opts.redisUrls.length === 1 ? 'single' : 'quorum';
}

/**
 * The store a replica's options describe: one Redis, independent masters (--redis), or a
 * cluster (--redis-cluster). `connectionName`: what its connections are called in CLIENT LIST.
 */
export function openStore(opts: PoolOptions, tls: TlsFiles = {}, connectionName?: string): DedupStore {
  const cluster = storeModeOf(opts) === 'cluster';
  return new DedupStore(cluster ? connectCluster(opts.redisCluster!, tls, undefined, connectionName) : opts.redisUrls.map((u) => connectRedis(u, tls, undefined, connectionName)), {
    keys: keysFor(opts.prefix, scopeOf(opts), { buckets: opts.dedupBuckets, legacy: !cluster }),
    lockTtlMs: opts.lockTtlMs,
    dedupTtlMs: opts.dedupTtlMs,
    waitReplicas: opts.redisWaitReplicas,
  });
}
