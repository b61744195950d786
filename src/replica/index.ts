/**
 * replica: one consumer process. pipeline.ts is the per-message protocol on batches,
 * read top to bottom; around it the replica's lifecycle (start, resize threads, drain),
 * handler runs and the lease clock, completions, the settler that carries decisions to
 * the broker, the gate that follows the store's health, counters and the summary line,
 * and the process entry the supervisor forks (with its IPC messages).
 *
 * May import: common, store, amqp, threads.
 */
export { Replica, startReplica, type ReplicaEvents } from './replica.js';
export type { ReplicaStats } from './stats.js';
export { atomicModeProblem } from './atomic-mode.js';
