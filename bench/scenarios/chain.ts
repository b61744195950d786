import type { Chaos, Variant } from './types.js';

/** A two-stage chain: stage A's handler sends follow-ups to stage B, both dedup-pools. */
export interface ChainScenario {
  name: string;
  about: string;
  /** Distinct incoming ids, published to stage A. */
  unique: number;
  /** Follow-ups each run of A's handler publishes. */
  followups: number;
  /** Stage A's work per message (stage B only logs). */
  handler: { kind: 'noop' | 'cpu' | 'io'; ms?: number };
  /** Applied to stage A's replicas. */
  chaos: Chaos;
  stageA: Extract<Variant, { kind: 'dedup' }>;
  stageB: Extract<Variant, { kind: 'dedup' }>;
  /** How A's handler publishes: ctx.publish (derived ids), or its own amqplib channel with a new UUID each time. */
  variants: { name: string; publish: 'ctx' | 'own' }[];
}

export const scenario: ChainScenario = {
  name: 'chain',
  about: 'two dedup-pools in a chain, 2 follow-ups per id, A: 5 ms I/O-like handler, a replica of A SIGKILLed every 2 s; ctx.publish against publishing on the handler\'s own channel with fresh ids',
  unique: 10_000,
  followups: 2,
  handler: { kind: 'io', ms: 5 },
  chaos: { kind: 'kill-replica', everyMs: 2000 },
  stageA: { name: 'A 2x2 p20', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 1, lockTtl: '1s' },
  stageB: { name: 'B 2x2 p20', kind: 'dedup', prefetch: 20, replicas: 2, threads: 2, redis: 1 },
  variants: [
    { name: 'ctx.publish, derived ids', publish: 'ctx' },
    { name: 'own channel, fresh ids', publish: 'own' },
  ],
};
