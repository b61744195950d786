/** One variant's figures, the terminal table, and the JSON on disk. */
import { mkdirSync, writeFileSync } from 'node:fs';

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
  /** Redis client calls (round trips) per delivery; null for a consumer without Redis. */
  redisRoundTripsPerMessage: number | null;
  /** CPU time of the consumers' main threads (event loops) per delivery, microseconds. */
  mainThreadCpuUsPerMessage: number;
  /** Redis memory added per completion record (dedup-pool and naive). */
  redisBytesPerRecord: number | null;
  cpu: { consumersPct: number; rabbitmqPct: number; redisPct: number };
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

export function table(res: ScenarioResult): string {
  const head = ['variant', 'ids/s', 'x base', 'deliv', 'suppressed', 'dup exec', 'dup effects', 'lost', 'DLQ', 'ack p50/p99 ms', 'redis RT/msg', 'redis cmd/msg', 'main CPU us/msg', 'B/record', 'CPU cons/rmq/redis %'];
  const rows = res.variants.map((v) => [
    v.variant + (v.timedOut ? ' (timed out)' : ''),
    v.idsPerSecond.toFixed(0),
    (v.idsPerSecond / baseOf(res, v).idsPerSecond).toFixed(2),
    String(v.deliveries),
    Object.entries(v.suppressed).map(([k, n]) => `${k} ${n}`).join(', ') || '0',
    String(v.duplicateExecutions),
    v.duplicateEffects === null ? '-' : String(v.duplicateEffects),
    String(v.lost),
    String(sum(v.deadLettered)),
    `${v.handlerToAckMs.p50.toFixed(2)}/${v.handlerToAckMs.p99.toFixed(2)}`,
    v.redisRoundTripsPerMessage === null ? '-' : v.redisRoundTripsPerMessage.toFixed(3),
    v.redisCommandsPerMessage.toFixed(2),
    v.mainThreadCpuUsPerMessage.toFixed(0),
    v.redisBytesPerRecord === null ? '-' : v.redisBytesPerRecord.toFixed(0),
    `${v.cpu.consumersPct.toFixed(0)}/${v.cpu.rabbitmqPct.toFixed(0)}/${v.cpu.redisPct.toFixed(0)}`,
  ]);
  const first = res.variants[0]!;
  const lines = [
    `${res.scenario}: ${res.about}`,
    `published ${first.published}, unique ids ${first.unique}, duplicates injected ${first.duplicatesInjected}; x base = against the raw consumer at the same prefetch (else the first raw or first row)`,
    markdownTable(head, rows),
    ...res.variants.flatMap((v) => (v.stallSeconds === undefined ? [] : [`${v.variant}: ${v.stallSeconds.toFixed(1)} s without progress after ${v.chaos[0]?.[1] ?? 'the chaos'}`])),
  ];
  return lines.join('\n');
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
