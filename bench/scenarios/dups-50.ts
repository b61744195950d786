import type { Scenario } from './types.js';

export const scenario: Scenario = {
  name: 'dups-50',
  about: '1 ms I/O-like handler, 50% duplicates (adjacent and far apart) plus 5% producer retries',
  unique: 15_000,
  duplicates: 0.5,
  producerRetries: 0.05,
  handler: { kind: 'io', ms: 1 },
  quick: true,
  variants: [
    { name: 'naive p1 x2', kind: 'naive', prefetch: 1, consumers: 2 },
    { name: 'naive p100 x2', kind: 'naive', prefetch: 100, consumers: 2 },
    { name: 'dedup-pool 1x2 p100 (the default on 2 cores)', kind: 'dedup', prefetch: 100, replicas: 1, threads: 2 },
    { name: 'dedup-pool 2x2 p100', kind: 'dedup', prefetch: 100, replicas: 2, threads: 2 },
  ],
};
