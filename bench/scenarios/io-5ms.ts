import type { Scenario } from './types.js';

export const scenario: Scenario = {
  name: 'io-5ms',
  about: '5 ms I/O-like handler (await), 20% duplicates',
  unique: 2_000,
  duplicates: 0.2,
  handler: { kind: 'io', ms: 5 },
  variants: [
    { name: 'naive p100 x2', kind: 'naive', prefetch: 100, consumers: 2 },
    { name: 'dedup-pool 1x2 p100', kind: 'dedup', prefetch: 100, replicas: 1, threads: 2 },
    { name: 'dedup-pool 2x2 p100', kind: 'dedup', prefetch: 100, replicas: 2, threads: 2 },
  ],
};
