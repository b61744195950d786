import type { Scenario } from './types.js';

/** A Redis Cluster master SIGKILLed mid-run: its replica is promoted; lost messages and duplicate executions, with and without WAIT. */
export const scenario: Scenario = {
  name: 'chaos-kill-redis-master',
  about: '5 ms I/O-like handler, 20% duplicates, Redis Cluster; chaos: kill one master 1 s in',
  unique: 6_000,
  duplicates: 0.2,
  handler: { kind: 'io', ms: 5 },
  chaos: { kind: 'kill-redis-master', atMs: 1000 },
  variants: [
    { name: 'dedup-pool 2x2 cluster', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 'cluster' },
    { name: 'dedup-pool 2x2 cluster WAIT 1', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 'cluster', waitReplicas: 1 },
  ],
};
