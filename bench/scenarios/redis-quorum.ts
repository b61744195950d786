import type { Scenario } from './types.js';

/** The cost of a Redlock quorum: 3 independent masters against 1. */
export const scenario: Scenario = {
  name: 'redis-quorum',
  about: 'no-op handler, 20% duplicates: 1 Redis against 3 independent masters',
  unique: 10_000,
  duplicates: 0.2,
  handler: { kind: 'noop' },
  quick: true,
  variants: [
    { name: 'dedup-pool 1x2 redis x1', kind: 'dedup', prefetch: 100, replicas: 1, threads: 2, redis: 1 },
    { name: 'dedup-pool 1x2 redis x3', kind: 'dedup', prefetch: 100, replicas: 1, threads: 2, redis: 3 },
  ],
};
