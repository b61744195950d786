/** One variant's figures, the terminal table and progress bar, and the JSON on disk. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { median, spread, STEADY_SPAN, type Spread } from './steady.js';

/** CPU per message of each process group, microseconds; null for a group the row does not use. */
export interface CpuPerMessage {
  /** The consumer processes, all their threads: dedup-pool's supervisor, replicas and worker threads, or the baseline consumers. */
  consumers: number;
  /** The Redis instances the row writes to. */
  redis: number | null;
  rabbitmq: number | null;
}

/** The steady part of a run (STEADY_SPAN in steady.ts): after the JIT's warm-up, before the drain's small batches. */
export interface SteadyFigures {
  idsPerSecond: number;
  cpuUsPerMessage: CpuPerMessage;
  /** Against the steady rate of the base run just before it; null for a base row. */
  ratio: number | null;
}

/** One run of a row (each row runs --pairs times, right after a run of its base). */
export interface RunFigures {
  idsPerSecond: number;
  seconds: number;
  /** Against the base run just before it; null for a base row or an unpaired run. */
  ratio: number | null;
  /** Measured from the moment the consumers were ready to the last ack. */
  cpuUsPerMessage: CpuPerMessage;
  /** The same over the steady part only; null when the run passed it between two polls. */
  steady: SteadyFigures | null;
  /** The rest of the machine over the same window (other processes, the bench itself), percent of one core: noise. */
  otherPct: number;
  /** Seconds waited after publishing for the broker to settle, and whether it did within the limit. */
  settleSeconds: number;
  settled: boolean;
}

export interface VariantResult {
  variant: string;
  kind: string;
  prefetch: number;
  published: number;
  unique: number;
  duplicatesInjected: number;
  deliveries: number;
  suppressed: Record<string, number>;
  /** Handler runs beyond the first, over all ids. */
  duplicateExecutions: number;
  /** Atomic modes: effects applied beyond the first, counted in the sink (null in plain mode, where the run is the effect). */
  duplicateEffects: number | null;
  /** Ids whose handler never ran. */
  lost: number;
  deadLettered: Record<string, number>;
  seconds: number;
  /** Distinct ids completed per second, first to last execution. */
  idsPerSecond: number;
  handlerToAckMs: { p50: number; p99: number };
  /** Commands Redis executed per published message, those inside scripts included. */
  redisCommandsPerMessage: number;
  /** The same per distinct id, and per command (lower-case names, as INFO commandstats spells them). */
  redisCommandsPerId: number;
  redisCommandsById: Record<string, number>;
  /** Redis client calls (round trips) per delivery; null for a consumer without Redis. */
  redisRoundTripsPerMessage: number | null;
  /** CPU time of the consumers' main threads (event loops) per delivery, microseconds. */
  mainThreadCpuUsPerMessage: number;
  /** Redis memory added per completion record (dedup-pool and naive). */
  redisBytesPerRecord: number | null;
  /** Medians over the row's runs. */
  cpuUsPerMessage: CpuPerMessage;
  /** Against the base row: the median of the pairs' ratios and their spread; null for a base row. */
  ratio: Spread | null;
  /** Medians of the runs' steady figures (the ratio with its spread); null when no run has them (older results too). */
  steady?: { idsPerSecond: number; cpuUsPerMessage: CpuPerMessage; ratio: Spread | null } | null;
  runs: RunFigures[];
  replicaRestarts: number;
  timedOut: boolean;
  /** [ms since start, completed ids per second] */
  series: [number, number][];
  chaos: [number, string][];
  /** Chaos that strikes once: the longest time without a new id completed, from the strike to the end. */
  stallSeconds?: number;
}

export interface ScenarioResult {
  scenario: string;
  about: string;
  date: string;
  command: string;
  machine: string;
  variants: VariantResult[];
  /** What makes figures of this run doubtful (a run too short for its ratios). */
  warnings: string[];
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** The variant a row is compared with: the raw consumer at the same prefetch, else the first raw (or first) variant. */
export function baseOf(res: ScenarioResult, v: VariantResult): VariantResult {
  const raws = res.variants.filter((x) => x.kind === 'raw');
  return raws.find((x) => x.prefetch === v.prefetch) ?? raws[0] ?? res.variants[0]!;
}

const us = (x: number | null): string => (x === null ? '-' : x.toFixed(0));

const spreadCell = (r: Spread, runs: number): string => (runs > 1 ? `${r.median.toFixed(2)} (${r.min.toFixed(2)}-${r.max.toFixed(2)})` : r.median.toFixed(2));

/** The steady rate with its ratio, and consumer + Redis CPU per message over the steady part. */
function steadyCells(v: VariantResult): [string, string] {
  if (!v.steady) return ['-', '-'];
  const { idsPerSecond, cpuUsPerMessage: c, ratio } = v.steady;
  return [`${idsPerSecond.toFixed(0)}${ratio ? ` x${spreadCell(ratio, v.runs.length)}` : ''}`, us(c.consumers + (c.redis ?? 0))];
}

/** A row's ratio: the median of its pairs with their range, or (older results, a single run) the ratio of rates. */
function ratioCell(res: ScenarioResult, v: VariantResult): string {
  if (v.ratio) return spreadCell(v.ratio, v.runs.length);
  return (v.idsPerSecond / baseOf(res, v).idsPerSecond).toFixed(2);
}

export function table(res: ScenarioResult): string {
  const head = ['variant', 'runs', 'ids/s', 'x base (min-max)', 'deliv', 'suppressed', 'dup exec', 'dup effects', 'lost', 'DLQ', 'ack p50/p99 ms', 'redis RT/msg', 'redis cmd/id', 'main CPU us/msg', 'CPU us/msg cons/redis/rmq', 'cons+redis', 'steady ids/s (x base)', 'steady cons+redis', 'B/record', 'other %'];
  const rows = res.variants.map((v) => [
    v.variant + (v.timedOut ? ' (timed out)' : ''),
    String(v.runs.length),
    v.idsPerSecond.toFixed(0),
    ratioCell(res, v),
    String(v.deliveries),
    Object.entries(v.suppressed).map(([k, n]) => `${k} ${n}`).join(', ') || '0',
    String(v.duplicateExecutions),
    v.duplicateEffects === null ? '-' : String(v.duplicateEffects),
    String(v.lost),
    String(sum(v.deadLettered)),
    `${v.handlerToAckMs.p50.toFixed(2)}/${v.handlerToAckMs.p99.toFixed(2)}`,
    v.redisRoundTripsPerMessage === null ? '-' : v.redisRoundTripsPerMessage.toFixed(3),
    v.redisCommandsPerId.toFixed(2),
    v.mainThreadCpuUsPerMessage.toFixed(0),
    [v.cpuUsPerMessage.consumers, v.cpuUsPerMessage.redis, v.cpuUsPerMessage.rabbitmq].map(us).join('/'),
    us(v.cpuUsPerMessage.consumers + (v.cpuUsPerMessage.redis ?? 0)),
    ...steadyCells(v),
    v.redisBytesPerRecord === null ? '-' : v.redisBytesPerRecord.toFixed(0),
    median(v.runs.map((r) => r.otherPct)).toFixed(0),
  ]);
  const first = res.variants[0]!;
  const lines = [
    `${res.scenario}: ${res.about}`,
    `published ${first.published}, unique ids ${first.unique}, duplicates injected ${first.duplicatesInjected}; x base = against the raw consumer at the same prefetch (else the first raw or first row):`,
    `the median of the ratios of runs alternated with a run of the base, and their range. ids/s, CPU and ack latency: medians over a row's runs;`,
    `dup exec, lost, DLQ: summed over them. CPU us/msg: per message, consumers ready to last ack; other %: the rest of the machine meanwhile.`,
    `steady: the same from ${STEADY_SPAN[0] * 100}% to ${STEADY_SPAN[1] * 100}% of the ids, after the JIT's warm-up and before the drain (the whole-run figures are the headline).`,
    markdownTable(head, rows),
    ...res.variants.flatMap((v) => (v.stallSeconds === undefined ? [] : [`${v.variant}: ${v.stallSeconds.toFixed(1)} s without progress after ${v.chaos[0]?.[1] ?? 'the chaos'}`])),
  ];
  return lines.join('\n');
}

/**
 * One row from its runs: rates, latencies and CPU are medians (the run at the median rate
 * gives the chart its series); what must be zero (duplicate executions, losses, dead letters)
 * is summed, so a bad run is never hidden by good ones.
 */
export function combineRuns(runs: VariantResult[]): VariantResult {
  const byRate = [...runs].sort((a, b) => a.idsPerSecond - b.idsPerSecond);
  const mid = byRate[(byRate.length - 1) >> 1]!;
  const med = (f: (v: VariantResult) => number): number => median(runs.map(f));
  const total = (f: (v: VariantResult) => number): number => runs.reduce((n, v) => n + f(v), 0);
  const medOrNull = (f: (v: VariantResult) => number | null): number | null => (runs.some((v) => f(v) === null) ? null : med((v) => f(v)!));
  const ratios = runs.flatMap((v) => v.runs.flatMap((r) => (r.ratio === null ? [] : [r.ratio])));
  const ids = total((v) => v.unique);
  const byCommand: Record<string, number> = {};
  for (const v of runs) for (const [c, n] of Object.entries(v.redisCommandsById)) byCommand[c] = (byCommand[c] ?? 0) + n * v.unique;
  const deadLettered: Record<string, number> = {};
  for (const v of runs) for (const [k, n] of Object.entries(v.deadLettered)) deadLettered[k] = (deadLettered[k] ?? 0) + n;
  return {
    ...mid,
    duplicateExecutions: total((v) => v.duplicateExecutions),
    duplicateEffects: medOrNull((v) => v.duplicateEffects) === null ? null : total((v) => v.duplicateEffects!),
    lost: total((v) => v.lost),
    deadLettered,
    replicaRestarts: total((v) => v.replicaRestarts),
    timedOut: runs.some((v) => v.timedOut),
    seconds: med((v) => v.seconds),
    idsPerSecond: med((v) => v.idsPerSecond),
    handlerToAckMs: { p50: med((v) => v.handlerToAckMs.p50), p99: med((v) => v.handlerToAckMs.p99) },
    redisCommandsPerMessage: med((v) => v.redisCommandsPerMessage),
    redisCommandsPerId: med((v) => v.redisCommandsPerId),
    redisCommandsById: Object.fromEntries(Object.entries(byCommand).map(([c, n]) => [c, n / ids])),
    redisRoundTripsPerMessage: medOrNull((v) => v.redisRoundTripsPerMessage),
    mainThreadCpuUsPerMessage: med((v) => v.mainThreadCpuUsPerMessage),
    redisBytesPerRecord: medOrNull((v) => v.redisBytesPerRecord),
    cpuUsPerMessage: medianCpu(runs.map((v) => v.cpuUsPerMessage)),
    ratio: ratios.length ? spread(ratios) : null,
    steady: steadyOf(runs.flatMap((v) => v.runs)),
    runs: runs.flatMap((v) => v.runs),
  };
}

/** Medians of the runs' steady figures; null when none has them. */
function steadyOf(runs: RunFigures[]): VariantResult['steady'] {
  const s = runs.flatMap((r) => (r.steady ? [r.steady] : []));
  if (s.length === 0) return null;
  const ratios = s.flatMap((x) => (x.ratio === null ? [] : [x.ratio]));
  return {
    idsPerSecond: median(s.map((x) => x.idsPerSecond)),
    cpuUsPerMessage: medianCpu(s.map((x) => x.cpuUsPerMessage)),
    ratio: ratios.length ? spread(ratios) : null,
  };
}

/** Each group's median; null for a group any of them does not use. */
function medianCpu(cpu: CpuPerMessage[]): CpuPerMessage {
  const orNull = (f: (c: CpuPerMessage) => number | null): number | null => (cpu.some((c) => f(c) === null) ? null : median(cpu.map((c) => f(c)!)));
  return { consumers: median(cpu.map((c) => c.consumers)), redis: orNull((c) => c.redis), rabbitmq: orNull((c) => c.rabbitmq) };
}

export function markdownTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function writeResult(dir: string, res: ScenarioResult, svg: string): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const stem = `${dir}/${res.date.slice(0, 10)}-${res.scenario}`;
  writeFileSync(`${stem}.json`, `${JSON.stringify(res, null, 2)}\n`);
  writeFileSync(`${stem}.svg`, svg);
  return { json: `${stem}.json`, svg: `${stem}.svg` };
}

/** A run's progress on the terminal (on a pipe only the finished line, so logs stay short). */
export function progress(label: string, done: number, total: number): void {
  if (!process.stderr.isTTY && done < total) return;
  const width = 30;
  const filled = Math.round((Math.min(done, total) / total) * width);
  process.stderr.write(`\r  ${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}   `);
}
