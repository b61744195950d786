/**
 * Reads the CPU profiles of `npm run bench -- --cpu-prof DIR` and prints, per process
 * and thread, where the time went: self time by area and the top functions.
 *
 *   node dist/bench/profile.js DIR [--messages N] [--top N] [--callers FUNCTION]
 *   node dist/bench/profile.js DIR --messages N --table    one table: areas x (run, role)
 *
 * With --messages (the messages of one run) the figures are microseconds per message.
 * Only the consumption is counted: the span in which the replica ran pipeline code (its
 * first to last sample there), applied to every profile of the run's directory (one
 * clock); start-up and drain are left out, and so is idle time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { markdownTable } from './lib/report.js';
import { activeWindow, callersOf, roleOf, summarize, type CpuProfile } from './lib/profile-areas.js';

function profiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? profiles(join(dir, e.name)) : e.name.endsWith('.cpuprofile') ? [join(dir, e.name)] : []))
    .sort();
}

/** The profiles under `dir`, and per run directory the span of its replicas' pipeline work. */
function load(dir: string): { all: (readonly [string, CpuProfile])[]; windows: Map<string, [number, number]> } {
  const all = profiles(dir).map((file) => [file, JSON.parse(readFileSync(file, 'utf8')) as CpuProfile] as const);
  const windows = new Map<string, [number, number]>();
  for (const [file, p] of all) {
    const w = roleOf(p) === 'replica' ? activeWindow(p, /\/src\/replica\/pipeline\.js$/) : undefined;
    const had = windows.get(dirname(file));
    if (w) windows.set(dirname(file), had ? [Math.min(had[0], w[0]), Math.max(had[1], w[1])] : w);
  }
  return { all, windows };
}

/** One table: a column per run directory and role (threads of a role summed), a row per area, us per message. */
export function areaTable(dir: string, messages: number): string {
  const { all, windows } = load(dir);
  const cols = new Map<string, Map<string, number>>();
  for (const [file, p] of all) {
    // "noop-baseline-02-dedup-pool_1x1_p100" -> "1x1_p100"
    const run = (relative(dir, dirname(file)) || '.').replace(/^.*?-\d\d-(dedup-pool_)?/, '');
    const col = `${run} ${roleOf(p) === 'worker thread' ? 'workers' : roleOf(p)}`;
    const areas = cols.get(col) ?? new Map<string, number>();
    for (const [a, us] of summarize(p, 0, windows.get(dirname(file))).byArea) areas.set(a, (areas.get(a) ?? 0) + us);
    cols.set(col, areas);
  }
  const busy = [...cols].filter(([, areas]) => [...areas.values()].reduce((a, b) => a + b, 0) / messages >= 0.5);
  const totals = new Map<string, number>();
  for (const [, areas] of busy) for (const [a, us] of areas) totals.set(a, (totals.get(a) ?? 0) + us);
  const rows = [...totals].sort((a, b) => b[1] - a[1]).map(([a]) => [a, ...busy.map(([, areas]) => ((areas.get(a) ?? 0) / messages).toFixed(1))]);
  rows.push(['total', ...busy.map(([, areas]) => ([...areas.values()].reduce((x, y) => x + y, 0) / messages).toFixed(1))]);
  return markdownTable(['area (us/msg)', ...busy.map(([c]) => c)], rows);
}

export function report(dir: string, messages: number | undefined, topN: number, callers?: string): string {
  const unit = messages ? 'us/msg' : 'ms';
  const scale = (us: number): string => (messages ? (us / messages).toFixed(1) : (us / 1000).toFixed(0));
  const out: string[] = [];
  const { all, windows } = load(dir);
  for (const [file, p] of all) {
    const window = windows.get(dirname(file));
    const s = summarize(p, topN, window);
    const span = window ? `, over ${((window[1] - window[0]) / 1e6).toFixed(1)} s of consumption` : ', whole life';
    out.push(`## ${relative(dir, file)}: ${roleOf(p)}, ${scale(s.busyUs)} ${unit} busy (idle excluded${span})`, '');
    out.push(markdownTable(['area', unit, '%'], s.byArea.map(([a, us]) => [a, scale(us), ((100 * us) / s.busyUs).toFixed(1)])), '');
    out.push(markdownTable(['function', 'where', 'area', unit, '%'], s.top.map(([f, w, a, us]) => [f, w, a, scale(us), ((100 * us) / s.busyUs).toFixed(1)])), '');
    const by = callers ? callersOf(p, callers, 3, window) : [];
    if (by.length) out.push(markdownTable([`${callers} for`, unit], by.slice(0, 10).map(([c, us]) => [c, scale(us)])), '');
  }
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { messages: { type: 'string' }, top: { type: 'string' }, callers: { type: 'string' }, table: { type: 'boolean' } } });
  const messages = values.messages === undefined ? undefined : Number(values.messages);
  if (!positionals[0] || (messages !== undefined && !(messages > 0))) {
    console.error('usage: node dist/bench/profile.js DIR [--messages N] [--top N] [--callers FUNCTION] [--table]  (DIR: the --cpu-prof directory of a bench run; N > 0)');
    process.exitCode = 2;
  } else if (values.table) {
    process.stdout.write(`${areaTable(positionals[0], messages ?? 1)}\n`);
  } else {
    process.stdout.write(`${report(positionals[0], messages, Number(values.top ?? 25), values.callers)}\n`);
  }
}
