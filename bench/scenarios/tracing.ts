import type { Scenario } from './types.js';

/**
 * What tracing costs: the same no-op run with no OpenTelemetry SDK (twice, to show the
 * noise between two identical rows) and with an SDK that records every span.
 * BENCH_OTHER_BIN=<path to another build's bin/dedup-pool.js> adds that build's row
 * (e.g. the commit before tracing), in the same run.
 */
const other = process.env.BENCH_OTHER_BIN;
export const scenario: Scenario = {
  name: 'tracing',
  about: 'no-op handler: no OpenTelemetry SDK registered (twice) against an SDK recording every span',
  unique: 60_000,
  duplicates: 0,
  handler: { kind: 'noop' },
  variants: [
    { name: 'raw amqplib p100', kind: 'raw', prefetch: 100 },
    { name: 'dedup-pool 1x1 p100, no SDK', kind: 'dedup', prefetch: 100, replicas: 1, threads: 1 },
    { name: 'dedup-pool 1x1 p100, SDK (all spans)', kind: 'dedup', prefetch: 100, replicas: 1, threads: 1, tracing: true },
    { name: 'dedup-pool 1x1 p100, no SDK (again)', kind: 'dedup', prefetch: 100, replicas: 1, threads: 1 },
    ...(other ? [{ name: 'dedup-pool 1x1 p100, other build', kind: 'dedup' as const, prefetch: 100, replicas: 1, threads: 1, bin: other }] : []),
  ],
};
