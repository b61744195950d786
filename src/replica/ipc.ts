/** The typed messages between the supervisor and its replica processes (Node IPC). */
import type { PoolOptions } from '../common/options.js';
import type { ReplicaStats } from './stats.js';

export type ToReplica =
  /** First message: the replica's options, and its slot (replicas of a node list start at different nodes). */
  | { type: 'start'; options: PoolOptions; slot: number }
  /** Stop consuming, finish in-flight work, exit 0. */
  | { type: 'drain' }
  /** Already draining or not: abort running handlers now, requeue their messages, exit. */
  | { type: 'stop-now' }
  /** Replace the thread pool with one of this size. */
  | { type: 'threads'; threads: number };

export type FromReplica =
  | { type: 'ready' }
  /** `amqp`: the RabbitMQ node connected to now (password redacted). */
  | { type: 'stats'; stats: ReplicaStats; threads: number; consuming: boolean; amqp?: string }
  /** Start-up failed; the replica exits right after. `permanent`: another start cannot help (names the setting at fault). */
  | { type: 'fatal'; message: string; permanent?: { option: string } };

/** How often a replica reports its stats. */
export const STATS_INTERVAL_MS = 250;
