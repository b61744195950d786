import type { Scenario } from './types.js';

export const scenario: Scenario = {
  name: 'chaos-kill-redis',
  about: '5 ms I/O-like handler, 20% duplicates; chaos: kill one of three Redis masters 1.5 s in',
  unique: 3_000,
  duplicates: 0.2,
  handler: { kind: 'io', ms: 5 },
  chaos: { kind: 'kill-redis', atMs: 1500 },
  variants: [{ name: 'dedup-pool 2x2 p20', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 3, lockTtl: '1s' }],
};
