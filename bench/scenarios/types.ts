/** What a scenario says: the messages, the handler, the variants to compare, and any chaos. */
export type HandlerKind = 'noop' | 'cpu' | 'io';

export type Variant =
  | { name: string; kind: 'raw'; prefetch: number }
  | { name: string; kind: 'naive'; prefetch: number; consumers: number }
  | {
      name: string;
      kind: 'dedup';
      prefetch: number;
      replicas: number;
      threads: number;
      /** 1 Redis, 3 independent masters, or the bench's Redis Cluster (3 masters + 3 replicas). */
      redis?: 1 | 3 | 'cluster';
      /** --redis-wait-replicas (default 0). */
      waitReplicas?: number;
      lockTtl?: string;
      /** --batch-size (default: the pool's). */
      batchSize?: number;
      /** --concurrency (default: the pool's). */
      concurrency?: number;
      /** --queue-type (default: the pool's, classic). */
      queueType?: 'classic' | 'quorum';
      /** plain (default), or an atomic mode: the effect is applied exactly once, counted in its sink. */
      mode?: 'plain' | 'redis-atomic' | 'pg-inbox';
      /** Replicas run with an OpenTelemetry SDK registered (bench/otel-sdk.ts) that records every span. */
      tracing?: boolean;
      /** Another build's bin/dedup-pool.js (an A/B row against an earlier commit); default this one. */
      bin?: string;
    };

export type Chaos =
  /** SIGKILL one replica process every `everyMs`. */
  | { kind: 'kill-replica'; everyMs: number }
  /** SIGKILL one of three Redis masters once, at `atMs`. */
  | { kind: 'kill-redis'; atMs: number }
  /** SIGKILL one master of the Redis Cluster once, at `atMs` (its replica is promoted). */
  | { kind: 'kill-redis-master'; atMs: number }
  /** The broker force-closes a replica's AMQP connection every `everyMs`. */
  | { kind: 'close-amqp'; everyMs: number }
  /** Freeze a replica process (SIGSTOP) for `pauseMs` every `everyMs`: a GC-like stall past its lease. */
  | { kind: 'freeze-replica'; everyMs: number; pauseMs: number }
  /** The run goes to a 3-node RabbitMQ cluster of its own (quorum queue); SIGKILL the queue leader's node once, at `atMs`. */
  | { kind: 'kill-rabbit-node'; atMs: number };

export interface Scenario {
  name: string;
  about: string;
  /** Distinct message ids. */
  unique: number;
  /** Fraction of published messages that are copies of another (half adjacent, half far away). */
  duplicates: number;
  /** Fraction of ids published again at the very end, as a producer retrying after a lost confirm. */
  producerRetries?: number;
  handler: { kind: HandlerKind; ms?: number };
  variants: Variant[];
  chaos?: Chaos;
  /** In the quick default set. */
  quick?: boolean;
}
