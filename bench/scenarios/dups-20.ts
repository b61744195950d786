import type { Scenario } from './types.js';

export const scenario: Scenario = {
  name: 'dups-20',
  about: 'no-op handler, 20% duplicates (adjacent and far apart) plus 2% producer retries',
  unique: 10_000,
  duplicates: 0.2,
  producerRetries: 0.02,
  handler: { kind: 'noop' },
  variants: [
    { name: 'raw amqplib p100', kind: 'raw', prefetch: 100 },
    { name: 'naive p1 x2', kind: 'naive', prefetch: 1, consumers: 2 },
    { name: 'naive p100 x2', kind: 'naive', prefetch: 100, consumers: 2 },
    { name: 'dedup-pool 1x2 p100', kind: 'dedup', prefetch: 100, replicas: 1, threads: 2 },
  ],
};
