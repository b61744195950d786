import type { Scenario } from './types.js';

/**
 * The speed limit: no-op handler, no duplicates; each row against the raw consumer at its
 * prefetch. 100,000 messages so every row runs for seconds (naive at prefetch 1 is in dups-50).
 */
export const scenario: Scenario = {
  name: 'noop-baseline',
  about: 'no-op handler, 0% duplicates: dedup-pool against the raw queue and the naive design',
  unique: 100_000,
  duplicates: 0,
  handler: { kind: 'noop' },
  quick: true,
  variants: [
    { name: 'raw amqplib p100', kind: 'raw', prefetch: 100 },
    { name: 'naive p100 x2', kind: 'naive', prefetch: 100, consumers: 2 },
    { name: 'dedup-pool 1x1 p100', kind: 'dedup', prefetch: 100, replicas: 1, threads: 1 },
    { name: 'dedup-pool 1x0 p100 (main thread)', kind: 'dedup', prefetch: 100, replicas: 1, threads: 0 },
    { name: 'dedup-pool 1x2 p100', kind: 'dedup', prefetch: 100, replicas: 1, threads: 2 },
    { name: 'dedup-pool 2x2 p100', kind: 'dedup', prefetch: 100, replicas: 2, threads: 2 },
    { name: 'raw amqplib p500', kind: 'raw', prefetch: 500 },
    { name: 'dedup-pool 1x1 p500', kind: 'dedup', prefetch: 500, replicas: 1, threads: 1 },
  ],
};
