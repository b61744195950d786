/** A delivery with an id as the pipeline carries it, and what can become of it. */
import type { Delivery } from '../amqp/consumer.js';
import type { Lease } from '../store/dedup-store.js';
import type { Executor } from '../threads/executor.js';
import type { Task, TaskResult } from '../threads/worker-protocol.js';
import type { Held } from './lease-clock.js';
import type { MessageTrace } from './message-trace.js';
import type { ReplicaStats } from './stats.js';

export interface ReplicaEvents {
  completed: [id: string];
  duplicate: [id: string, reason: keyof ReplicaStats['duplicates']];
  'dead-lettered': [id: string | undefined, reason: string];
  retried: [id: string, attempt: number];
}

let nextSeq = 0;

/** One delivery with an id, from admission to settlement. */
export class Item implements Held {
  readonly seq = nextSeq++;
  /** Copies of the same id that arrived while this one was being worked on. */
  followers: Item[] | undefined = undefined;
  /** Waited for another holder (locally or elsewhere) before it was decided. */
  waited = false;
  parkMs = 0;
  // While leased:
  lease: Lease = NO_LEASE;
  slot = -1;
  task: Task | undefined = undefined;
  executor: Executor | undefined = undefined;
  running = false;
  lost = false;
  timedOut = false;
  overdue = false;
  abortedAt = 0;
  stuck = false;
  result: Extract<TaskResult, { ok: true }> | undefined = undefined;
  handlerStarted = 0;
  handlerEnded = 0;
  /** Its spans, when an OpenTelemetry SDK is registered. */
  trace: MessageTrace | undefined = undefined;

  constructor(
    readonly d: Delivery,
    readonly id: string,
    readonly body: unknown,
    readonly headers: Record<string, unknown>,
    readonly print: string,
    /** Evidence says it was in flight where a thread or process died: it begins alone (isolation.ts). */
    public suspect: boolean,
    /** A retry of this pool's (it carries an attempt header). */
    readonly retry: boolean,
  ) {}
}

/** Shared by every item without a lease: frozen, so no store caches one id's keys on it. */
export const NO_LEASE: Lease = Object.freeze({ id: '', token: '', fence: 0, fences: [], validUntil: 0 });

/** What happened to an id's leading copy; its followers take it from there. */
export type Outcome = 'completed' | 'duplicate' | 'retried' | 'dead-lettered' | 'requeued';
