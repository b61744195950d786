/** The printed timeline and outcome table of nemesis runs. */
import type { RunResult } from './harness.js';

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function timeline(r: RunResult): string {
  const lines = r.timeline.map((f) => `  ${s(f.from - r.t0).padStart(8)} ${s(f.to - r.t0).padStart(8)}  ${f.note}`);
  return [`seed ${r.options.seed} (${r.options.mode}): fault timeline, from the schedule's start`, ...lines, `  ${s(r.healedAt - r.t0).padStart(8)}           every fault healed`].join('\n');
}

const COLUMNS = ['seed', 'mode', 'faults', 'ids', 'msgs', 'runs begun/done', 'lost', 'unexp', 'dup ids', 'explained', 'effects!=1', 'fence', 'lease lost (unplanned)', 'left', 'drained s', 'probe ms', 'secs'] as const;

export function outcomeRow(r: RunResult): string[] {
  const o = r.outcome;
  const probe = [...o.probe.values()].map((ms) => (ms === undefined ? 'none' : String(ms))).join('/');
  return [
    String(r.options.seed),
    o.mode,
    String(o.faults),
    String(o.ids),
    String(o.messages),
    `${o.started}/${o.finished}`,
    String(o.lost.length),
    String(o.unexpected.length),
    o.mode === 'plain' ? String(o.duplicates.length) : '-',
    o.mode === 'plain' ? String(o.duplicates.filter((d) => d.explained).length) : '-',
    o.mode === 'redis-atomic' ? String(o.effectsNotOnce.length) : '-',
    String(o.fenceViolations.length),
    `${o.leaseLost.logged} (${o.leaseLost.unplanned.length}) /metrics ${o.leaseLost.metric}`,
    String(o.leftover.queue + o.leftover.retry + o.leftover.dlq),
    ((r.drainedAt - r.healedAt) / 1000).toFixed(1),
    probe,
    r.seconds.toFixed(1),
  ];
}

/** A Markdown table, one row per run. */
export function outcomeTable(runs: RunResult[]): string {
  const rows = runs.map(outcomeRow);
  return [`| ${COLUMNS.join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Every problem the checker found, and what the duplicates were explained by. */
export function details(r: RunResult): string {
  const o = r.outcome;
  const out = [...o.problems.map((p) => `  PROBLEM ${p}`), ...r.warnings.map((w) => `  warning: ${w}`)];
  for (const d of o.duplicates) out.push(`  ${d.id} ran ${d.runs} times; ${d.explained ? 'fault window' : 'NOT EXPLAINED'}: ${d.explainedBy.join('; ') || '-'}`);
  for (const l of o.leaseLost.unplanned) out.push(`  unplanned lease loss: ${l.pool} pid ${l.pid} at ${s(l.t - r.t0)}: ${l.msg}`);
  out.push(...r.evidence.map((e) => `  ${e}`));
  return out.join('\n');
}
