/**
 * Reads the CPU profiles of `npm run bench -- --cpu-prof DIR` and prints, per process
 * and thread, where the time went: self time by area and the top functions.
 *
 *   node dist/bench/profile.js DIR [--messages N] [--top N]
 *
 * With --messages (the messages of one run) the figures are microseconds per message.
 * A profile spans the process's life, start-up and drain included; idle is left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { markdownTable } from './lib/report.js';
import { roleOf, summarize, type CpuProfile } from './lib/profile-areas.js';

function profiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? profiles(join(dir, e.name)) : e.name.endsWith('.cpuprofile') ? [join(dir, e.name)] : []))
    .sort();
}

export function report(dir: string, messages: number | undefined, topN: number): string {
  const unit = messages ? 'us/msg' : 'ms';
  const scale = (us: number): string => (messages ? (us / messages).toFixed(1) : (us / 1000).toFixed(0));
  const out: string[] = [];
  for (const file of profiles(dir)) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const s = summarize(p, topN);
    out.push(`## ${relative(dir, file)}: ${roleOf(p)}, ${scale(s.busyUs)} ${unit} busy (idle excluded)`, '');
    out.push(markdownTable(['area', unit, '%'], s.byArea.map(([a, us]) => [a, scale(us), ((100 * us) / s.busyUs).toFixed(1)])), '');
    out.push(markdownTable(['function', 'where', 'area', unit, '%'], s.top.map(([f, w, a, us]) => [f, w, a, scale(us), ((100 * us) / s.busyUs).toFixed(1)])), '');
  }
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { messages: { type: 'string' }, top: { type: 'string' } } });
  const messages = values.messages === undefined ? undefined : Number(values.messages);
  if (!positionals[0] || (messages !== undefined && !(messages > 0))) {
    console.error('usage: node dist/bench/profile.js DIR [--messages N] [--top N]  (DIR: the --cpu-prof directory of a bench run; N > 0)');
    process.exitCode = 2;
  } else {
    process.stdout.write(`${report(positionals[0], messages, Number(values.top ?? 25))}\n`);
  }
}
