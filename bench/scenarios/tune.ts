import type { Scenario } from './types.js';
export const scenario: Scenario = {
  name: 'tune', about: 'tmp', unique: 20_000, duplicates: 0, handler: { kind: 'noop' },
  variants: [
    { name: 'raw amqplib p100', kind: 'raw', prefetch: 100 },
    { name: 'b256', kind: 'dedup', prefetch: 100, replicas: 1, threads: 1 },
    { name: 't0', kind: 'dedup', prefetch: 100, replicas: 1, threads: 0 },
  ],
};
