import type { Scenario } from './types.js';

export const scenario: Scenario = {
  name: 'chaos-kill-replica',
  about: '5 ms I/O-like handler, 20% duplicates; chaos: SIGKILL a replica every 2 s (the supervisor restarts it); plain mode against both atomic modes',
  unique: 3_000,
  duplicates: 0.2,
  handler: { kind: 'io', ms: 5 },
  chaos: { kind: 'kill-replica', everyMs: 2000 },
  variants: [
    { name: 'plain 2x2 p20', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 1, lockTtl: '1s' },
    { name: 'redis-atomic 2x2 p20', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 1, lockTtl: '1s', mode: 'redis-atomic' },
    { name: 'pg-inbox 2x2 p20', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 1, lockTtl: '1s', mode: 'pg-inbox' },
  ],
};
