/** Starting and stopping the consumers of one variant: raw, naive, or dedup-pool. */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { amqpNodes } from '../../src/amqp/broker.js';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { percentile, type ReplicaStats } from '../../src/replica/stats.js';
import type { BaselineSummary } from '../baselines/consumer.js';
import type { Variant } from '../scenarios/types.js';

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
const BIN = here('../../../bin/dedup-pool.js');
const HANDLER = here('../handler.js');

export interface VariantContext {
  /** Postgres URL for the inbox mode. */
  pgUrl: string;
  queue: string;
  prefix: string;
  amqpUrl: string;
  redisUrls: string[];
  /** Seed nodes of the bench's Redis Cluster, when a variant uses it. */
  clusterUrls?: string[];
  env: NodeJS.ProcessEnv;
  /** A file per consumer process for baseline summaries. */
  summaryPath: (i: number) => string;
  /** dedup-pool's handler module (default: bench/handler.js). */
  handler?: string;
  /** Node flags for dedup-pool's supervisor (its replicas inherit them), e.g. --cpu-prof. */
  nodeArgs?: string[];
}

export interface VariantCounters {
  deliveries: number;
  suppressed: Record<string, number>;
  deadLettered: Record<string, number>;
  handlerToAckMs: { p50: number; p99: number };
  replicaRestarts: number;
  /** Redis client calls (round trips); null where none are made. */
  redisCalls: number | null;
}

export interface RunningVariant {
  /** Every consumer process (for CPU); grows as replicas restart. */
  pids(): number[];
  /** The processes that consume (baselines; dedup-pool's replicas, not its supervisor): main-thread CPU. */
  consumerPids(): number[];
  /** Replica processes now (dedup-pool only): chaos targets. */
  replicaPids(): Promise<number[]>;
  stop(): Promise<VariantCounters>;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

function quantiles(xs: number[]): { p50: number; p99: number } {
  if (xs.length === 0) return { p50: 0, p99: 0 };
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

export async function startVariant(v: Variant, ctx: VariantContext): Promise<RunningVariant> {
  return v.kind === 'dedup' ? startDedup(v, ctx) : startBaseline(v, ctx);
}

async function startBaseline(v: Extract<Variant, { kind: 'raw' | 'naive' }>, ctx: VariantContext): Promise<RunningVariant> {
  const count = v.kind === 'naive' ? v.consumers : 1;
  const children = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const child = fork(here(`../baselines/${v.kind}.js`), [], {
        env: {
          ...ctx.env,
          BENCH_AMQP: amqpNodes(ctx.amqpUrl)[0], // a baseline talks to one node
          BENCH_REDIS: ctx.redisUrls[0],
          BENCH_QUEUE: ctx.queue,
          BENCH_PREFETCH: String(v.prefetch),
          BENCH_PREFIX: ctx.prefix,
          BENCH_SUMMARY: ctx.summaryPath(i),
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`${v.kind} consumer exited with ${code}`)));
      });
      return child;
    }),
  );
  const pids = children.map((c) => c.pid!);
  return {
    pids: () => pids,
    consumerPids: () => pids,
    replicaPids: async () => pids,
    async stop() {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(children.map(exited));
      const summaries = children.map((_, i) => JSON.parse(readFileSync(ctx.summaryPath(i), 'utf8')) as BaselineSummary);
      const skipped = summaries.reduce((n, s) => n + s.skipped, 0);
      return {
        deliveries: summaries.reduce((n, s) => n + s.deliveries, 0),
        suppressed: (v.kind === 'naive' ? { exists: skipped } : {}) as Record<string, number>,
        deadLettered: {},
        handlerToAckMs: quantiles(summaries.flatMap((s) => s.handlerToAckMs)),
        replicaRestarts: 0,
        redisCalls: v.kind === 'naive' ? summaries.reduce((n, s) => n + s.redisCalls, 0) : null,
      };
    },
  };
}

async function startDedup(v: Extract<Variant, { kind: 'dedup' }>, ctx: VariantContext): Promise<RunningVariant> {
  const redisUrls = ctx.redisUrls.slice(0, v.redis === 'cluster' ? 1 : (v.redis ?? 1));
  const child = spawn(
    process.execPath,
    [
      ...(ctx.nodeArgs ?? []), v.bin ?? BIN, 'start', '--queue', ctx.queue, '--handler', ctx.handler ?? HANDLER, '--prefix', ctx.prefix,
      '--replicas', String(v.replicas), '--threads', String(v.threads), '--prefetch', String(v.prefetch),
      '--amqp', ctx.amqpUrl, '--admin', '127.0.0.1:0', '--log-level', 'info',
      ...(v.redis === 'cluster' ? ['--redis-cluster', ctx.clusterUrls!.join(',')] : ['--redis', redisUrls.join(',')]),
      ...(v.waitReplicas ? ['--redis-wait-replicas', String(v.waitReplicas)] : []),
      ...(v.lockTtl ? ['--lock-ttl', v.lockTtl] : []),
      ...(v.batchSize ? ['--batch-size', String(v.batchSize)] : []),
      ...(v.concurrency ? ['--concurrency', String(v.concurrency)] : []),
      ...(v.mode === 'pg-inbox' ? ['--inbox', ctx.pgUrl] : []),
      ...(v.queueType ? ['--queue-type', v.queueType] : []),
    ],
    {
      env: { ...ctx.env, DEDUP_LOG_LEVEL: undefined, ...(v.tracing && { NODE_OPTIONS: `${ctx.env.NODE_OPTIONS ?? ''} --import ${here('../otel-sdk.js')}` }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // The supervisor logs its admin address at info when it starts.
  const admin = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      for (const line of buf.split('\n')) {
        const m = /"admin":"([^"]+)"/.exec(line);
        if (m) resolve(m[1]!);
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code) => reject(new Error(`supervisor exited with ${code}`)));
  });
  child.stdout!.resume();
  const status = async (): Promise<SupervisorStatus> => (await fetch(`http://${admin}/status`)).json() as Promise<SupervisorStatus>;
  // Every replica, not the first (the supervisor is ready with one): a replica still starting
  // when the run begins would be missing from its CPU, and its start-up would be in its rate.
  const allReady = (s: SupervisorStatus): boolean => s.slots.filter((x) => x.pid && x.state === 'ready').length >= v.replicas;
  for (let s = await status(); !allReady(s); s = await status()) await new Promise((r) => setTimeout(r, 100));

  const seen = new Set<number>([child.pid!]);
  const replicaPids = async (): Promise<number[]> => {
    const pids = (await status()).slots.flatMap((s) => (s.pid && s.state === 'ready' ? [s.pid] : []));
    pids.forEach((p) => seen.add(p));
    return pids;
  };
  await replicaPids();
  return {
    pids: () => [...seen],
    consumerPids: () => [...seen].filter((p) => p !== child.pid),
    replicaPids,
    async stop() {
      await replicaPids();
      const totals: ReplicaStats = (await status()).totals;
      const restarts = (await status()).restarts;
      child.kill('SIGTERM');
      await exited(child);
      return {
        deliveries: totals.deliveries,
        suppressed: { ...totals.duplicates },
        deadLettered: totals.deadLettered,
        handlerToAckMs: { p50: percentile(totals.handlerToAck, 0.5), p99: percentile(totals.handlerToAck, 0.99) },
        replicaRestarts: restarts,
        redisCalls: totals.redisCalls,
      };
    },
  };
}
