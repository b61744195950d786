import type { Scenario } from './types.js';

/** Sharding over a Redis Cluster: 3 masters (each with a replica) against 1 Redis. */
export const scenario: Scenario = {
  name: 'redis-cluster',
  about: 'no-op handler, 20% duplicates: 1 Redis against a Redis Cluster of 3 masters + 3 replicas',
  unique: 30_000, // 1 Redis runs it in 4-6 s: shorter runs measure mostly start-up
  duplicates: 0.2,
  handler: { kind: 'noop' },
  variants: [
    { name: 'dedup-pool 2x2 redis x1', kind: 'dedup', prefetch: 100, replicas: 2, threads: 2, redis: 1 },
    { name: 'dedup-pool 2x2 cluster', kind: 'dedup', prefetch: 100, replicas: 2, threads: 2, redis: 'cluster' },
    { name: 'dedup-pool 2x2 cluster WAIT 1', kind: 'dedup', prefetch: 100, replicas: 2, threads: 2, redis: 'cluster', waitReplicas: 1 },
  ],
};
