import type { Scenario } from './types.js';

export const scenario: Scenario = {
  name: 'chaos-stall',
  about: '5 ms I/O-like handler, 20% duplicates; chaos: freeze a replica for 1.5 s (past its 1 s lease) every 3 s, like a long GC pause',
  unique: 3_000,
  duplicates: 0.2,
  handler: { kind: 'io', ms: 5 },
  chaos: { kind: 'freeze-replica', everyMs: 3000, pauseMs: 1500 },
  variants: [{ name: 'dedup-pool 2x2 p20', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 1, lockTtl: '1s' }],
};
