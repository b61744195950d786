/**
 * What the dedup store hands out and reports, per id: a lease and its fencing
 * token, the outcome of a begin, how a lease ends without a completion, and the
 * state `dedup-pool id show` prints. Types only (dedup-store.ts does the work).
 */
import type { IdKey } from './keys.js';

export interface Lease {
  id: string;
  token: string;
  /** Fencing token: grows with every grant for this id; also the attempt number. */
  fence: number;
  /** The grant counter each instance returned (null where that instance did not grant). */
  fences: (number | null)[];
  /** Monotonic time (common/clock.ts) after which the lease must be assumed lost. */
  validUntil: number;
  /** The id's keys, named once at begin for every later call on the lease (made on first use where absent). */
  key?: IdKey;
}

export type BeginResult =
  | { state: 'done'; record: string }
  | { state: 'acquired'; lease: Lease }
  | { state: 'locked'; retryInMs: number };

/**
 * What ending a lease without a completion does to the id's attempt count:
 * `keep` it (the handler ran), `reset` it (dead-lettered: a replay starts from 1),
 * or `uncount` the grant (the handler never started).
 */
export type ReleaseMode = 'keep' | 'reset' | 'uncount';

/** What the store knows about one id (`dedup-pool id show`). */
export interface IdState {
  /** The completion record, if the id completed inside the window. */
  record?: string;
  /** How long the record has left (for a hashed record: its slot's hash), ms. */
  recordTtlMs?: number;
  /** The lease token of the replica running it now, and how long that lease has left. */
  lease?: { token: string; ttlMs: number };
  /** The grant counter: the last fencing token, and the attempts counted so far. */
  fence?: number;
}
