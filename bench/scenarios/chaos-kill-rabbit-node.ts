import type { Scenario } from './types.js';

export const scenario: Scenario = {
  name: 'chaos-kill-rabbit-node',
  about: '5 ms I/O-like handler, 10% duplicates, quorum queue on a 3-node RabbitMQ cluster; chaos: SIGKILL the queue leader node 1 s in',
  unique: 8_000,
  duplicates: 0.1,
  handler: { kind: 'io', ms: 5 },
  chaos: { kind: 'kill-rabbit-node', atMs: 1000 },
  variants: [{ name: 'dedup-pool 2x2 p20 quorum', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 1, lockTtl: '5s', queueType: 'quorum' }],
};
