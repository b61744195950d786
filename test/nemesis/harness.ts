/**
 * One nemesis run: start the cluster, publish the workload while the seeded fault
 * schedule runs, heal, wait for every id, probe every pool, stop, and check.
 *
 *   NEMESIS_SEED=1234 npm run test:nemesis     replays the runs of one seed
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { AMQP_URL, readJsonLines, waitFor } from '../helpers/services.js';
import { scrape } from '../helpers/supervisor.js';
import { check, type LeaseLoss, type LedgerEntry, type Outcome } from './checker.js';
import { startCluster, type Cluster, type Pool } from './cluster.js';
import { flaggedIds, keepFiles, leftoverMessages, poolStates } from './evidence.js';
import { nemesis, type FaultRecord } from './faults.js';
import { planSchedule, plannedMs } from './schedule.js';
import { buildWorkload, publish, publishPaced, type Message } from './workload.js';

export interface RunOptions {
  seed: number;
  mode: 'plain' | 'redis-atomic';
  pools: number;
  replicas: number;
  faults: number;
  ids: number;
  lockTtlMs: number;
  sleepMs: number;
  /** Where to keep the ledger and the pools' logs of a run the checker failed. */
  keep?: string;
  /** Progress lines (the timeline as it happens). */
  log?: (line: string) => void;
}

export interface RunResult {
  options: RunOptions;
  outcome: Outcome;
  timeline: FaultRecord[];
  /** Time 0 of the timeline: when the schedule started. */
  t0: number;
  /** The last heal. */
  healedAt: number;
  /** When every published id had been executed (the probes come after). */
  drainedAt: number;
  /** Whole run, start-up included. */
  seconds: number;
  warnings: string[];
  /** For each id the checker flagged: its ledger lines and the replicas' log lines about it. */
  evidence: string[];
}

const LEASE_LOSS = /lease lost|lease expired before the handler started/;

export async function runNemesis(o: RunOptions): Promise<RunResult> {
  const begun = Date.now();
  const log = o.log ?? (() => {});
  const tag = `nemesis-${o.seed}-${randomBytes(3).toString('hex')}`;
  const queue = `test.${tag}`;
  const prefix = `test:${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'dedup-nemesis-'));
  const ledger = join(dir, 'ledger.jsonl');
  const sink = o.mode === 'redis-atomic' ? `${prefix}:sink:` : undefined;
  const warnings: string[] = [];

  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createConfirmChannel();
  let cluster: Cluster | undefined;
  let redis: Redis | undefined;
  const stopAll = async () => {
    await cluster?.stop();
    cluster = undefined;
  };
  try {
    await ch.assertQueue(queue, { durable: true });
    const c = await startCluster({ pools: o.pools, replicas: o.replicas, lockTtlMs: o.lockTtlMs, queue, prefix });
    cluster = c;
    redis = new Redis(c.redis.url);
    const plan = planSchedule(o.seed, { faults: o.faults, pools: o.pools, replicas: o.replicas, lockTtlMs: o.lockTtlMs });
    const messages = buildWorkload(o.seed, { ids: o.ids, copies: 0.2, sleepMs: o.sleepMs, tag, ledger, ...(sink && { sink }) });

    const t0 = Date.now();
    const rel = (t: number) => `${((t - t0) / 1000).toFixed(2).padStart(6)} s`;
    const nem = nemesis(c, (r) => log(`${rel(r.from)} ${rel(r.to)}  ${r.note}`), (w) => (warnings.push(w), log(`warning: ${w}`)));
    let scheduleOver = false;
    const everyMs = 250;
    const publishing = publishPaced(ch, queue, messages, Math.max(1, Math.floor(plannedMs(plan) / everyMs)), everyMs, () => scheduleOver);
    let timeline: FaultRecord[];
    try {
      timeline = await nem.run(plan);
    } finally {
      scheduleOver = true;
      nem.healAll();
    }
    const healedAt = Date.now();
    log(`${rel(healedAt)}           every fault healed`);
    const published = await publishing;

    const finished = async () => {
      const done = sink ? await sinkIds(redis!, sink, [...published.keys()]) : new Set(readJsonLines<LedgerEntry>(ledger).filter((l) => l.ev === 'done').map((l) => l.id));
      return [...published.keys()].every((id) => done.has(id));
    };
    // What the pools were doing if some id never finished (kept for the evidence).
    const evidence: string[] = [];
    await waitFor(finished, 90_000, 'every published id executed').catch(async (err: Error) => {
      warnings.push(err.message);
      evidence.push(`after ${err.message}:`, ...(await poolStates(c)));
    });
    const drainedAt = Date.now();
    log(`${rel(drainedAt)}           every published id executed`);

    // Probes after the last heal: small batches until every pool has finished one.
    const probe = new Map<string, number | undefined>(c.pools.map((p) => [p.name, undefined]));
    const probing = Date.now();
    for (let round = 0; [...probe.values()].includes(undefined) && Date.now() - probing < 30_000; round++) {
      const batch: Message[] = Array.from({ length: 4 * o.pools }, (_, i) => ({ id: `${tag}-probe-${round}-${i}`, data: { ledger, ...(sink && { sink }) } }));
      await publish(ch, queue, batch);
      for (const m of batch) published.set(m.id, 1);
      await new Promise((r) => setTimeout(r, 500));
      for (const l of readJsonLines<LedgerEntry>(ledger)) {
        if (l.ev === 'done' && l.id.includes('-probe-') && probe.get(l.pool) === undefined) probe.set(l.pool, l.t - probing);
      }
    }
    await waitFor(finished, 30_000, 'every probe executed').catch((err: Error) => warnings.push(err.message));
    await waitFor(async () => (await ch.checkQueue(queue)).messageCount + (await ch.checkQueue(`${queue}.retry`)).messageCount === 0, 30_000, 'queues drained').catch(
      (err: Error) => warnings.push(err.message),
    );
    // A copy parked in a replica (looking again, up to a second apart, for a lease another
    // holds) is not in the queue's count: stopped then, it is given back and would count as
    // left. Settled means nothing in flight either; one held for good is still left at the end.
    const inFlight = async (p: Pool) => p.sup.status().then((s) => s.slots.reduce((n, slot) => n + (slot.inFlight ?? 0), 0), () => 0);
    await waitFor(async () => (await Promise.all(c.pools.map(inFlight))).every((n) => n === 0), 30_000, 'pools settled').catch((err: Error) => warnings.push(err.message));

    // A supervisor that gave up (a crash loop) is a finding, not a harness error.
    const poolsDown = c.pools.filter((p) => p.sup.child.exitCode !== null).map((p) => `${p.name} (exit ${p.sup.child.exitCode}: ${lastFatal(p.sup.logs)})`);
    const metric = (p: Pool) => scrape(p.sup.admin).then((m) => m.get('dedup_lease_lost_total') ?? 0, () => 0);
    const leaseLostMetric = (await Promise.all(c.pools.map(metric))).reduce((a, b) => a + b, 0);
    const leaseLosses: LeaseLoss[] = c.pools.flatMap((p) =>
      p.sup.logs.filter((l) => LEASE_LOSS.test(String(l.msg))).map((l) => ({ pool: p.name, pid: Number(l.pid), t: Number(l.time), msg: String(l.msg) })),
    );
    const atEnd = await poolStates(c);
    await c.stopPools(); // unacked messages go back to their queue: counted below
    const leftover = {
      queue: (await ch.checkQueue(queue)).messageCount,
      retry: (await ch.checkQueue(`${queue}.retry`)).messageCount,
      dlq: (await ch.checkQueue(`${queue}.dlq`).catch(() => ({ messageCount: 0 }))).messageCount,
    };
    if (leftover.queue + leftover.retry + leftover.dlq > 0) {
      evidence.push('pools just before they were stopped:', ...atEnd, ...(await leftoverMessages(ch, [queue, `${queue}.retry`, `${queue}.dlq`])));
    }
    const sinkState = sink ? await readSink(redis, sink, [...published.keys()]) : undefined;
    const outcome = check({
      mode: o.mode,
      published,
      ledger: readJsonLines<LedgerEntry>(ledger),
      ...(sinkState && { sink: sinkState }),
      faults: timeline,
      leaseLosses,
      leaseLostMetric,
      leftover,
      probe,
      poolsDown,
      lockTtlMs: o.lockTtlMs,
    });
    evidence.push(...flaggedIds(outcome, c, ledger));
    if (outcome.problems.length && o.keep) evidence.push(`ledger and logs kept in ${keepFiles(join(o.keep, `nemesis-${o.seed}-${o.mode}-${tag.slice(-6)}`), c, ledger)}`);
    return { options: o, outcome, timeline, t0, healedAt, drainedAt, seconds: (Date.now() - begun) / 1000, warnings, evidence };
  } finally {
    await stopAll().catch(() => {});
    redis?.disconnect();
    for (const q of [queue, `${queue}.retry`, `${queue}.dlq`]) await ch.deleteQueue(q).catch(() => {});
    await conn.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

function lastFatal(logs: Record<string, unknown>[]): string {
  const l = logs.filter((x) => Number(x.level) >= 50).at(-1);
  return l ? `${String(l.msg)} ${String(l.err ?? '')}`.trim() : 'no error logged';
}

async function sinkIds(redis: Redis, sink: string, ids: string[]): Promise<Set<string>> {
  const n = await redis.mget(ids.map((id) => `${sink}n:${id}`));
  return new Set(ids.filter((_, i) => n[i] !== null));
}

async function readSink(redis: Redis, sink: string, ids: string[]): Promise<Map<string, { n: number; fences: number[] }>> {
  const out = new Map<string, { n: number; fences: number[] }>();
  // Everything under the sink prefix, so effects for ids never published show up too.
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${sink}n:*`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  const all = new Set([...ids, ...keys.map((k) => k.slice(sink.length + 2))]);
  for (const id of all) {
    const [n, fences] = await Promise.all([redis.get(`${sink}n:${id}`), redis.lrange(`${sink}f:${id}`, 0, -1)]);
    if (n !== null || fences.length) out.set(id, { n: Number(n ?? 0), fences: fences.map(Number) });
  }
  return out;
}
