/**
 * The bench: for each scenario, the same messages through every variant (raw
 * amqplib, the naive EXISTS-then-SET design, dedup-pool), one after another in
 * one run, against RabbitMQ and Redis (--amqp, --redis: the local ones by default).
 * Each row runs --pairs times, right after a run of its base, each run only once the
 * broker has settled after the publish (bench/lib/steady.ts says why). Prints a table,
 * writes JSON and an SVG chart to --out (default ./bench-results, not tracked; the
 * reference results in bench/results/ are written with --out bench/results).
 *
 *   npm run bench                      the quick set (noop-baseline alone: about 13 minutes at 3 pairs)
 *   npm run bench -- --scenario a,b    named scenarios (--list shows them; --all runs every one)
 *   npm run bench -- --scale 0.2       fewer messages (a smoke run)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ConfirmChannel } from 'amqplib';
import type { Redis } from 'ioredis';
import { chart } from './lib/chart.js';
import { LedgerWatcher } from './lib/ledger.js';
import { bodyOf, buildMessages, type MessageSet } from './lib/messages.js';
import { combineRuns, progress, table, writeResult, type ScenarioResult, type VariantResult } from './lib/report.js';
import { amqpNodes } from '../src/amqp/broker.js';
import { connectAnyNode } from '../src/amqp/connect-any.js';
import { ConfigError } from '../src/common/errors.js';
import { clusterEnv, longestStall } from './lib/cluster-chaos.js';
import { chaosScheduler } from './lib/chaos.js';
import { forEachKeys, startRedisServer, type RedisServer } from './lib/services.js';
import { startRedisCluster, type RedisClusterHarness } from './lib/redis-cluster.js';
import { recordSizes } from './lib/record-size.js';
import { runNemesisBench } from './lib/nemesis.js';
import { runChainBench } from './lib/chain.js';
import { scenario as chainScenario } from './scenarios/chain.js';
import { baseIndex, groupSeconds, messagesInWindow, runOrder, SteadyWindow, steadyFigures, usPer, type GroupCpu } from './lib/steady.js';
import { bytesPerRecord, callsDelta, commandsDelta, cpuOf, cpuSeconds, machineSeconds, mainThreadCpuSeconds, rabbitPid, readyStatsClient, redisSnapshot, statsClient, waitSettled } from './lib/system.js';
import { prepareSink } from './lib/sinks.js';
import { startVariant } from './lib/variants.js';
import { SCENARIOS } from './scenarios/index.js';
import type { Scenario, Variant } from './scenarios/types.js';

const PG_URL = process.env.DEDUP_BENCH_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/test';
const POLL_MS = 200;
/** A variant that finishes faster than this measures mostly start-up and the first batch: its ratio is noise. */
export const MIN_SECONDS = 3;

export interface Env {
  ch: ConfirmChannel;
  /** What the consumers get as --amqp. */
  amqpUrl: string;
  /** Declare a variant's work queue. */
  declare(queue: string): Promise<unknown>;
  /** Set for scenarios run on a RabbitMQ cluster of their own: SIGKILL the node of `queue`'s leader; returns its name. */
  killQueueLeader?(queue: string): Promise<string>;
  redis: Redis[];
  urls: string[];
  extra: RedisServer[];
  /** The Redis Cluster of the scenarios that use one, started on first use. */
  redisCluster?: RedisClusterHarness;
  /** Stats clients of that cluster's masters (as it was started). */
  clusterProbes?: Redis[];
}

/** The bench's flags, with the help `dedup-pool bench --help` prints. */
export const BENCH_FLAGS = {
  scenario: { type: 'string', value: 'a,b', doc: 'run these scenarios (names from --list)' },
  all: { type: 'boolean', doc: 'run every scenario, chaos ones included' },
  list: { type: 'boolean', doc: 'list the scenarios and exit' },
  scale: { type: 'string', value: 'F', doc: 'messages per scenario times F (0.2 for a smoke run)', default: '1' },
  amqp: { type: 'string', value: 'URL[,URL...]', doc: 'RabbitMQ, or the nodes of one cluster (env DEDUP_AMQP_URL)', default: 'amqp://guest:guest@127.0.0.1:5672' },
  redis: { type: 'string', value: 'URL', doc: 'the Redis the one-Redis variants and the baselines use (env DEDUP_REDIS_URL)', default: 'redis://127.0.0.1:6379' },
  out: { type: 'string', value: 'DIR', doc: 'where the JSON results and SVG charts go (bench/results for the reference ones)', default: './bench-results' },
  pairs: { type: 'string', value: 'N', doc: 'runs of each row, each right after a run of its base; the ratio is the median of the pairs (chaos scenarios run once)', default: '3' },
  rows: { type: 'string', value: 'a,b', doc: 'only the rows whose name contains one of these (and their bases)' },
  'cpu-prof': { type: 'string', value: 'DIR', doc: 'run dedup-pool under node --cpu-prof: a profile per process and thread in DIR/<run>/ (node dist/bench/profile.js DIR reads them)' },
} as const;

/** Options of one bench invocation that shape every run. */
interface RunOptions {
  command: string;
  pairs: number;
  cpuProf?: string;
}

/** What a measurement gets besides the results' directory. */
export interface MeasurementContext {
  env: Env;
  scale: number;
  command: string;
}

/** Measurements that are not one-queue message runs: name -> what it says, and the run (returns a printable table). */
const MEASUREMENTS: Record<string, { about: string; run(resultsDir: string, ctx: MeasurementContext): Promise<string> }> = {
  'record-size': { about: 'Redis memory per completion record (used_memory growth over 20,000 and 100,000 UUIDs) per store mode, with and without a 32-byte result', run: recordSizes },
  [chainScenario.name]: { about: chainScenario.about, run: (out, ctx) => runChainBench(chainScenario, out, ctx) },
  nemesis: { about: 'a random fault schedule (seed printed, NEMESIS_SEED replays) over 3 pools; prints the fault timeline and the checker\'s outcome table (docs/nemesis.md)', run: runNemesisBench },
};

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.entries(BENCH_FLAGS).map(([k, f]) => [k, { type: f.type }])) as { [K in keyof typeof BENCH_FLAGS]: { type: (typeof BENCH_FLAGS)[K]['type'] } },
  });
  if (values.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(20)} ${s.quick ? '[quick] ' : ''}${s.about}\n`);
    for (const [name, m] of Object.entries(MEASUREMENTS)) process.stdout.write(`${name.padEnd(20)} ${m.about}\n`);
    return 0;
  }
  const names = values.scenario?.split(',');
  const unknown = names?.filter((n) => !SCENARIOS.some((s) => s.name === n) && !(n in MEASUREMENTS)) ?? [];
  if (unknown.length) throw new ConfigError('scenario', `--scenario: unknown scenario ${unknown.join(', ')} (see --list)`);
  const chosen = SCENARIOS.filter((s) => (names ? names.includes(s.name) : values.all || s.quick));
  const scale = Number(values.scale ?? 1);
  if (!(scale > 0)) throw new ConfigError('scale', '--scale must be a positive number, e.g. 0.2');
  const pairs = Number(values.pairs ?? BENCH_FLAGS.pairs.default);
  if (!Number.isInteger(pairs) || pairs < 1) throw new ConfigError('pairs', '--pairs must be a whole number of 1 or more, e.g. 3');
  const rowFilter = values.rows?.split(',').filter(Boolean);
  const out = resolvePath(values.out ?? 'bench-results');
  const AMQP_URL = values.amqp ?? process.env.DEDUP_AMQP_URL ?? BENCH_FLAGS.amqp.default;
  const REDIS_URL = values.redis ?? process.env.DEDUP_REDIS_URL ?? BENCH_FLAGS.redis.default;
  const nodes = amqpNodes(AMQP_URL);
  if (nodes.length === 0 || !nodes.every((u) => /^amqps?:\/\//.test(u))) throw new ConfigError('amqp', '--amqp must be amqp://… or amqps://… URLs, comma-separated');
  if (!/^rediss?:\/\//.test(REDIS_URL)) throw new ConfigError('redis', '--redis must be a redis://… or rediss://… URL');

  // --amqp may list a cluster's nodes: the bench's own channel uses the first that answers; dedup-pool gets them all.
  const conn = await connectAnyNode(AMQP_URL, 'dedup-pool bench');
  conn.on('error', (err: Error) => process.stderr.write(`bench: AMQP error: ${err.message}\n`));
  const ch = await conn.createConfirmChannel();
  const extra = await Promise.all([startRedisServer(), startRedisServer()]);
  const env: Env = { ch, amqpUrl: AMQP_URL, declare: (q) => ch.assertQueue(q, { durable: true }), redis: [REDIS_URL, ...extra.map((s) => s.url)].map(statsClient), urls: [REDIS_URL, ...extra.map((s) => s.url)], extra };
  const opts: RunOptions = { command: `npm run bench -- ${argv.join(' ')}`.trim(), pairs, ...(values['cpu-prof'] && { cpuProf: resolvePath(values['cpu-prof']) }) };
  try {
    for (const [name, m] of Object.entries(MEASUREMENTS)) {
      if (names?.includes(name) || values.all) process.stdout.write(`\n${await m.run(out, { env, scale, command: opts.command })}\n`);
    }
    for (const s of chosen) {
      const scaled = { ...s, unique: Math.max(100, Math.round(s.unique * scale)), variants: onlyRows(s.variants, rowFilter) };
      const res = scaled.chaos?.kind === 'kill-rabbit-node' ? await clusterEnv(env, (on) => runScenario(scaled, on, opts)) : await runScenario(scaled, env, opts);
      process.stdout.write(`\n${table(res)}\n`);
      for (const w of res.warnings) process.stdout.write(`warning: ${w}\n`);
      const files = writeResult(out, res, chart(res));
      process.stdout.write(`wrote ${files.json} and ${files.svg}\n`);
    }
  } finally {
    env.redis.forEach((r) => r.disconnect());
    env.clusterProbes?.forEach((r) => r.disconnect());
    await Promise.all(extra.map((s) => s.kill()));
    await env.redisCluster?.stop();
    await conn.close().catch(() => {});
  }
  return 0;
}

/** The rows whose name contains one of `filter` and their bases (all rows without a filter). */
export function onlyRows(variants: Variant[], filter: string[] | undefined): Variant[] {
  if (!filter?.length) return variants;
  const keep = new Set<number>();
  variants.forEach((v, i) => {
    if (filter.some((f) => v.name.includes(f))) keep.add(i).add(baseIndex(variants, i));
  });
  if (keep.size === 0) throw new ConfigError('rows', `--rows: no row matches ${filter.join(', ')} (rows: ${variants.map((v) => v.name).join('; ')})`);
  return variants.filter((_, i) => keep.has(i));
}

async function runScenario(s: Scenario, env: Env, opts: RunOptions): Promise<ScenarioResult> {
  const messages = buildMessages(s, `${s.name}-${randomBytes(3).toString('hex')}`);
  const { order, pairedWith } = runOrder(s.variants, opts.pairs, s.chaos !== undefined);
  const done: VariantResult[] = [];
  for (const [k, i] of order.entries()) {
    const v = s.variants[i]!;
    if (v.kind === 'dedup' && v.redis === 'cluster') await freshCluster(env);
    if (s.chaos?.kind === 'kill-redis' && env.extra[1]!.process.exitCode !== null) {
      env.extra[1] = await startRedisServer(env.extra[1]!.port);
      env.redis[2] = statsClient(env.extra[1].url);
    }
    const label = `${v.name} [${k + 1}/${order.length}]`;
    const profDir = opts.cpuProf && v.kind === 'dedup' ? join(opts.cpuProf, `${s.name}-${String(k + 1).padStart(2, '0')}-${v.name.replace(/[^\w.-]+/g, '_')}`) : undefined;
    const r = await runVariant(s, v, messages, env, label, profDir);
    const base = pairedWith[k];
    if (base != null) r.runs[0]!.ratio = r.idsPerSecond / done[base]!.idsPerSecond;
    const steadyBase = base != null ? done[base]!.runs[0]!.steady : null;
    if (steadyBase && r.runs[0]!.steady) r.runs[0]!.steady.ratio = r.runs[0]!.steady.idsPerSecond / steadyBase.idsPerSecond;
    done.push(r);
  }
  const variants = s.variants.map((_, i) => combineRuns(done.filter((_, k) => order[k] === i)));
  return {
    scenario: s.name,
    about: s.about,
    date: new Date().toISOString(),
    command: opts.command,
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}, Node ${process.version}`,
    variants,
    warnings: [...tooShort(variants), ...unsettled(variants)],
  };
}

/** Variants whose run was too short for their ratios to mean anything. */
export function tooShort(variants: VariantResult[]): string[] {
  return variants
    .filter((v) => v.seconds < MIN_SECONDS)
    .map((v) => `${v.variant} ran ${v.seconds.toFixed(2)} s (under ${MIN_SECONDS} s): its ratio is mostly start-up noise; raise --scale`);
}

/** Rows with runs started before the broker settled (it was still busy after the wait's limit). */
export function unsettled(variants: VariantResult[]): string[] {
  return variants.flatMap((v) => {
    const n = v.runs.filter((r) => !r.settled).length;
    return n ? [`${v.variant}: ${n} of ${v.runs.length} runs started before RabbitMQ settled (its CPU stayed over the limit): read its figures as rough`] : [];
  });
}

async function runVariant(s: Scenario, v: Variant, messages: MessageSet, env: Env, label: string, profDir?: string): Promise<VariantResult> {
  const tag = randomBytes(4).toString('hex');
  const queue = `bench.${s.name}.${tag}`;
  const prefix = `bench:${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'dedup-bench-'));
  const ledger = new LedgerWatcher(join(dir, 'ledger'));
  await env.declare(queue);
  await publish(env.ch, queue, messages, label);
  const rabbit = rabbitPid();
  // The broker writes persistent messages for seconds after the confirms: consumers started
  // meanwhile compete with that work, and the rate moves with it.
  const settle = await waitSettled(env.ch, queue, rabbit);
  const mode = v.kind === 'dedup' ? (v.mode ?? 'plain') : 'plain';
  const sink = await prepareSink(mode, tag, PG_URL);

  // The Redis the variant writes to: the cluster's masters (summed), or the one-Redis/quorum instances.
  const onCluster = v.kind === 'dedup' && v.redis === 'cluster';
  const probes = onCluster ? env.clusterProbes! : env.redis;
  const before = await redisSnapshot(probes);
  // The Redis instances this row writes to, for its CPU (none for the raw consumer).
  const used = v.kind === 'raw' ? 0 : onCluster ? probes.length : v.kind === 'dedup' && v.redis === 3 ? 3 : 1;
  const redisPids = before.slice(0, used).flatMap((c) => (c ? [c.pid] : []));
  const running = await startVariant(v, {
    pgUrl: PG_URL,
    queue,
    prefix,
    amqpUrl: s.chaos ? env.amqpUrl.split(',').map((u) => `${u}?heartbeat=2`).join(',') : env.amqpUrl,
    redisUrls: env.urls,
    ...(env.redisCluster && { clusterUrls: env.redisCluster.urls }),
    env: {
      ...process.env,
      BENCH_HANDLER: s.handler.kind,
      BENCH_HANDLER_MS: String(s.handler.ms ?? 0),
      BENCH_LEDGER: join(dir, 'ledger'),
      ...(sink && { BENCH_SINK: sink.name }),
    },
    summaryPath: (i) => join(dir, `summary-${i}.json`),
    ...(profDir && { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] }),
  });

  // CPU counts from here on, when the consumers are ready: start-up (module loading) is not
  // per-message work. The ids already run by now are left out of the count it is divided by.
  const started = Date.now();
  ledger.poll();
  const executedAtStart = ledger.uniqueExecuted;
  const machine0 = machineSeconds();
  const cpuAtStart = { consumers: cpuOf(running.pids()), redis: cpuOf(redisPids), rabbitmq: cpuOf(rabbit ? [rabbit] : []) };
  const mainCpuAtStart = new Map(running.consumerPids().map((pid) => [pid, mainThreadCpuSeconds(pid)]));
  // The largest reading of each pid: a process that dies (chaos) keeps the time it had.
  const cpu = { consumers: new Map<number, number>(), redis: new Map<number, number>(), rabbitmq: new Map<number, number>() };
  const mainCpu = new Map<number, number>();
  const top = (m: Map<number, number>, pids: number[], read: (pid: number) => number): void => {
    for (const pid of pids) m.set(pid, Math.max(m.get(pid) ?? 0, read(pid)));
  };
  const sampleCpu = (): void => {
    top(cpu.consumers, running.pids(), cpuSeconds);
    top(cpu.redis, redisPids, cpuSeconds);
    top(cpu.rabbitmq, rabbit ? [rabbit] : [], cpuSeconds);
    top(mainCpu, running.consumerPids(), mainThreadCpuSeconds);
  };
  const steady = new SteadyWindow<GroupCpu>(executedAtStart, messages.unique);
  const chaos: [number, string][] = [];
  const nextChaos = chaosScheduler(s.chaos, running, env, queue, (label) => chaos.push([Date.now() - started, label]));
  const limitMs = 30_000 + messages.order.length * 20;
  let timedOut = false;
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    ledger.poll();
    if (s.chaos) await running.replicaPids(); // a replica restarted by the chaos is sampled too
    sampleCpu();
    steady.observe(Date.now(), ledger.uniqueExecuted, () => ({ consumers: new Map(cpu.consumers), redis: new Map(cpu.redis), rabbitmq: new Map(cpu.rabbitmq) }));
    await nextChaos(Date.now() - started);
    progress(label, ledger.uniqueExecuted, messages.unique);
    const done = ledger.uniqueExecuted >= messages.unique && (await env.ch.checkQueue(queue)).messageCount === 0;
    if (done) break;
    if (Date.now() - started > limitMs) {
      timedOut = true;
      break;
    }
  }
  // Let the last acks of in-flight copies land before the counts are read.
  await new Promise((r) => setTimeout(r, 500));
  sampleCpu();
  const counters = await running.stop();
  ledger.poll();
  process.stderr.write('\n');

  const machine1 = machineSeconds();
  const after = await redisSnapshot(probes);
  const wall = Math.max(0.001, (Date.now() - started) / 1000);
  const window = messagesInWindow(messages.order.length, messages.unique, executedAtStart);
  const spent = { consumers: groupSeconds(cpuAtStart.consumers, cpu.consumers), redis: groupSeconds(cpuAtStart.redis, cpu.redis), rabbitmq: groupSeconds(cpuAtStart.rabbitmq, cpu.rabbitmq) };
  const commands = commandsDelta(before, after);
  const seconds = Math.max(0.001, (ledger.lastAt - ledger.firstAt) / 1000);
  const dlq = v.kind === 'dedup' ? (await env.ch.checkQueue(`${queue}.dlq`)).messageCount : 0;
  const perMessage = { consumers: usPer(spent.consumers, window), redis: used ? usPer(spent.redis, window) : null, rabbitmq: rabbit ? usPer(spent.rabbitmq, window) : null };
  const result: VariantResult = {
    variant: v.name,
    kind: v.kind,
    prefetch: v.prefetch,
    published: messages.order.length,
    unique: messages.unique,
    duplicatesInjected: messages.injected,
    deliveries: counters.deliveries,
    suppressed: counters.suppressed,
    duplicateExecutions: ledger.duplicateExecutions,
    duplicateEffects: sink ? await sink.duplicates(env.redis[0]!) : null,
    lost: messages.unique - ledger.uniqueExecuted,
    deadLettered: dlq > 0 ? { ...counters.deadLettered } : {},
    seconds,
    idsPerSecond: ledger.uniqueExecuted / seconds,
    handlerToAckMs: counters.handlerToAckMs,
    redisCommandsPerMessage: callsDelta(before, after) / messages.order.length,
    redisCommandsPerId: callsDelta(before, after) / messages.unique,
    redisCommandsById: Object.fromEntries(Object.entries(commands).map(([c, n]) => [c, n / messages.unique])),
    redisRoundTripsPerMessage: counters.redisCalls === null ? null : counters.redisCalls / Math.max(1, counters.deliveries),
    mainThreadCpuUsPerMessage: (1e6 * [...mainCpu].reduce((a, [pid, s]) => a + s - (mainCpuAtStart.get(pid) ?? 0), 0)) / Math.max(1, counters.deliveries),
    redisBytesPerRecord: v.kind === 'raw' ? null : bytesPerRecord(onCluster ? before : before.slice(0, 1), after, messages.unique),
    cpuUsPerMessage: perMessage,
    ratio: null,
    runs: [
      {
        idsPerSecond: ledger.uniqueExecuted / seconds,
        seconds,
        ratio: null,
        cpuUsPerMessage: perMessage,
        steady: steadyFigures(steady.window, messages.order.length, messages.unique, { redis: used > 0, rabbitmq: rabbit !== undefined }),
        otherPct: (100 * Math.max(0, machine1.busy - machine0.busy - spent.consumers - spent.redis - spent.rabbitmq)) / wall,
        settleSeconds: settle.seconds,
        settled: settle.settled,
      },
    ],
    replicaRestarts: counters.replicaRestarts,
    timedOut,
    series: ledger.rates(started),
    chaos,
    ...(s.chaos?.kind === 'kill-rabbit-node' && chaos[0] && { stallSeconds: longestStall(ledger.series, started + chaos[0][0], messages.unique) / 1000 }),
  };
  await cleanup(env, queue, prefix);
  await sink?.drop(env.redis[0]!);
  return result;
}

export async function publish(ch: ConfirmChannel, queue: string, m: MessageSet, label: string): Promise<void> {
  for (let i = 0; i < m.order.length; i++) {
    const id = m.order[i]!;
    ch.sendToQueue(queue, bodyOf(id), { persistent: true, messageId: id, contentType: 'application/json' });
    if (i % 2000 === 1999) {
      await ch.waitForConfirms();
      progress(`${label}: publishing`, i + 1, m.order.length);
    }
  }
  await ch.waitForConfirms();
  process.stderr.write('\n');
}

/** A Redis Cluster with every node up and replicated (a new one after a chaos kill). */
async function freshCluster(env: Env): Promise<void> {
  if (env.redisCluster?.nodes.every((n) => n.process.exitCode === null && n.process.signalCode === null)) return;
  env.clusterProbes?.forEach((r) => r.disconnect());
  await env.redisCluster?.stop();
  env.redisCluster = await startRedisCluster();
  env.clusterProbes = await Promise.all((await env.redisCluster.masters()).map((m) => readyStatsClient(m.url)));
}

export async function cleanup(env: Env, queue: string, prefix: string): Promise<void> {
  for (const q of [queue, `${queue}.retry`, `${queue}.dlq`]) await env.ch.deleteQueue(q).catch(() => {});
  for (const r of env.redis) {
    if (r.status === 'ready') await forEachKeys(r, `${prefix}:*`, (keys) => r.unlink(...keys));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(`bench: ${(err as Error).message}`);
      process.exitCode = err instanceof ConfigError ? 2 : 1;
    },
  );
}
