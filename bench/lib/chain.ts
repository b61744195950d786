/**
 * The chain bench: ids through two dedup-pools, A's handler sending follow-ups to
 * B, while a replica of A is SIGKILLed every ~2 s. A killed replica's unacked
 * messages run again; what their reruns send decides what B does twice. With
 * ctx.publish a rerun sends the same ids, and B acks the copies as duplicates;
 * a handler publishing on its own channel under fresh ids sends new messages, and
 * B runs them again. B is a dedup-pool in both rows: the difference is the ids.
 * Both stages log every run (bench/chain-handler.ts); chain-tally.ts counts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { amqpNodes } from '../../src/amqp/broker.js';
import { cleanup, publish, type MeasurementContext } from '../run.js';
import type { ChainScenario } from '../scenarios/chain.js';
import { chainTable, tallyChain, type ChainRow } from './chain-tally.js';
import { chaosScheduler } from './chaos.js';
import { LedgerWatcher } from './ledger.js';
import { rabbitPid, waitSettled } from './system.js';
import { startVariant, type RunningVariant } from './variants.js';

const HANDLER = fileURLToPath(new URL('../chain-handler.js', import.meta.url));
const PG_URL = process.env.DEDUP_BENCH_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/test';
const POLL_MS = 200;

export async function runChainBench(s: ChainScenario, out: string, ctx: MeasurementContext): Promise<string> {
  const unique = Math.max(100, Math.round(s.unique * ctx.scale));
  const rows: ChainRow[] = [];
  for (const v of s.variants) rows.push(await runChainVariant(s, v, unique, ctx));
  mkdirSync(out, { recursive: true });
  const file = join(out, `${s.name}.json`);
  writeFileSync(file, JSON.stringify({ scenario: s.name, about: s.about, date: new Date().toISOString(), command: ctx.command, unique, followups: s.followups, rows }, null, 2));
  return `${s.name}: ${s.about}\n${unique} ids, ${s.followups} follow-ups each\n${chainTable(rows)}\nwrote ${file}`;
}

async function runChainVariant(s: ChainScenario, v: ChainScenario['variants'][number], unique: number, { env }: MeasurementContext): Promise<ChainRow> {
  const tag = randomBytes(4).toString('hex');
  const queueA = `bench.chain.${tag}`;
  const queueB = `${queueA}.next`;
  const prefix = `bench:${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'dedup-bench-chain-'));
  const ledgers = { a: join(dir, 'ledger-a'), b: join(dir, 'ledger-b') };
  writeFileSync(ledgers.a, '');
  writeFileSync(ledgers.b, '');
  const ids = Array.from({ length: unique }, (_, i) => `${tag}-${i}`);
  await env.declare(queueB);
  await env.declare(queueA);
  await publish(env.ch, queueA, { order: ids, unique, injected: 0 }, `${v.name}`);
  await waitSettled(env.ch, queueA, rabbitPid());

  const base = {
    pgUrl: PG_URL,
    prefix,
    redisUrls: env.urls,
    handler: HANDLER,
    summaryPath: (i: number) => join(dir, `summary-${i}.json`),
  };
  const stageEnv = { ...process.env, BENCH_HANDLER: s.handler.kind, BENCH_HANDLER_MS: String(s.handler.ms ?? 0) };
  const running: RunningVariant[] = [];
  let row: ChainRow | undefined;
  try {
    const b = await startVariant(s.stageB, { ...base, queue: queueB, amqpUrl: env.amqpUrl, env: { ...stageEnv, BENCH_CHAIN_STAGE: 'b', BENCH_LEDGER: ledgers.b } });
    running.push(b);
    const a = await startVariant(s.stageA, {
      ...base,
      queue: queueA,
      // Killed replicas' connections are noticed by the broker within a few seconds.
      amqpUrl: env.amqpUrl.split(',').map((u) => `${u}?heartbeat=2`).join(','),
      env: {
        ...stageEnv,
        BENCH_CHAIN_STAGE: 'a',
        BENCH_LEDGER: ledgers.a,
        BENCH_CHAIN_NEXT: queueB,
        BENCH_CHAIN_FOLLOWUPS: String(s.followups),
        BENCH_CHAIN_PUBLISH: v.publish,
        BENCH_AMQP: amqpNodes(env.amqpUrl)[0],
      },
    });
    running.push(a);

    const watch = new LedgerWatcher(ledgers.b);
    const started = Date.now();
    let kills = 0;
    const nextChaos = chaosScheduler(s.chaos, a, env, queueA, () => (kills += 1));
    const expected = unique * s.followups;
    const limitMs = 30_000 + unique * 20;
    const empty = async (q: string): Promise<boolean> => (await env.ch.checkQueue(q)).messageCount === 0;
    let timedOut = false;
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      watch.poll();
      await nextChaos(Date.now() - started);
      if (process.stderr.isTTY) process.stderr.write(`\r  ${v.name.padEnd(28)} ${watch.uniqueExecuted}/${expected} follow-ups run at B, ${kills} kills   `);
      if (watch.uniqueExecuted >= expected && (await empty(queueA)) && (await empty(queueB))) break;
      if (Date.now() - started > limitMs) {
        timedOut = true;
        break;
      }
    }
    // A drains (its in-flight runs finish and publish), then B takes what they sent.
    running.pop();
    await a.stop();
    for (let t = Date.now(); !(await empty(queueB)) && Date.now() - t < 10_000; ) await new Promise((r) => setTimeout(r, POLL_MS));
    await new Promise((r) => setTimeout(r, 500));
    running.pop();
    const atB = await b.stop();
    process.stderr.write('\n');
    const figures = tallyChain(ids, s.followups, readFileSync(ledgers.a, 'utf8'), readFileSync(ledgers.b, 'utf8'));
    const copiesAckedAtB = Object.values(atB.suppressed).reduce((n, k) => n + k, 0);
    row = { variant: v.name, ...figures, copiesAckedAtB, kills, timedOut };
  } finally {
    for (const r of running.reverse()) await r.stop().catch(() => {});
    await cleanup(env, queueA, prefix);
    await cleanup(env, queueB, prefix);
  }
  return row;
}
