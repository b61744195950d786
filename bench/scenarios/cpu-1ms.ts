import type { Scenario } from './types.js';

/** Worker threads earn their keep: a 1 ms CPU-bound handler on 1 and 2 threads. */
export const scenario: Scenario = {
  name: 'cpu-1ms',
  about: '1 ms CPU-bound handler, 0% duplicates: threads scale the handler',
  unique: 4_000,
  duplicates: 0,
  handler: { kind: 'cpu', ms: 1 },
  quick: true,
  variants: [
    { name: 'raw amqplib p100', kind: 'raw', prefetch: 100 },
    { name: 'dedup-pool 1x1 p100', kind: 'dedup', prefetch: 100, replicas: 1, threads: 1 },
    { name: 'dedup-pool 1x2 p100', kind: 'dedup', prefetch: 100, replicas: 1, threads: 2 },
  ],
};
