/** The chain bench's figures, from the two stages' ledgers (pure: unit-tested). */

export interface ChainFigures {
  /** Incoming ids whose every follow-up ran at B, per second from A's first run's start to the last of them. */
  idsPerSecond: number;
  seconds: number;
  /** Incoming ids times follow-ups per id. */
  expected: number;
  /** Follow-up runs at B, copies included. */
  executedAtB: number;
  /** Runs at B beyond the first of each follow-up (same id or not). */
  duplicatesAtB: number;
  /** Expected follow-ups that never ran at B. */
  lost: number;
  /** Runs of A's handler started beyond the first per id (redeliveries after a kill). */
  rerunsAtA: number;
}

/** A ledger's lines ("<key> <epoch ms>") as key -> times, in file order. */
export function parseLedger(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const [key, t] = line.split(' ');
    if (!key || t === undefined) continue;
    const times = out.get(key) ?? [];
    times.push(Number(t));
    out.set(key, times);
  }
  return out;
}

const extra = (m: Map<string, number[]>): number => [...m.values()].reduce((n, ts) => n + ts.length - 1, 0);

/** Stage B logs "<incoming id>#<position>": one key per expected follow-up. */
export function tallyChain(ids: string[], followups: number, ledgerA: string, ledgerB: string): ChainFigures {
  const a = parseLedger(ledgerA);
  const b = parseLedger(ledgerB);
  const expected = ids.length * followups;
  let completed = 0;
  let lastDone = 0;
  let found = 0;
  for (const id of ids) {
    // An id is done at B when its last follow-up first ran there.
    let done = 0;
    let all = true;
    for (let n = 0; n < followups; n++) {
      const first = b.get(`${id}#${n}`)?.[0];
      if (first === undefined) all = false;
      else {
        found += 1;
        done = Math.max(done, first);
      }
    }
    if (all) {
      completed += 1;
      lastDone = Math.max(lastDone, done);
    }
  }
  const start = Math.min(...[...a.values()].map((ts) => ts[0]!));
  const seconds = completed > 0 && Number.isFinite(start) ? Math.max(0.001, (lastDone - start) / 1000) : 0;
  const executedAtB = [...b.values()].reduce((n, ts) => n + ts.length, 0);
  return {
    idsPerSecond: seconds > 0 ? completed / seconds : 0,
    seconds,
    expected,
    executedAtB,
    duplicatesAtB: extra(b),
    lost: expected - found,
    rerunsAtA: extra(a),
  };
}

export interface ChainRow extends ChainFigures {
  variant: string;
  /** Deliveries B acked as duplicates without running them (its own counters): the copies its dedup stopped. */
  copiesAckedAtB: number;
  /** Replicas of A killed during the run. */
  kills: number;
  timedOut: boolean;
}

export function chainTable(rows: ChainRow[]): string {
  const head = ['variant', 'ids/s e2e', 'follow-ups expected', 'executed at B', 'duplicate executions at B', 'copies acked at B', 'lost', 'reruns at A', 'A kills'];
  const cells = rows.map((r) => [
    `${r.variant}${r.timedOut ? ' (timed out)' : ''}`,
    r.idsPerSecond.toFixed(0),
    String(r.expected),
    String(r.executedAtB),
    String(r.duplicatesAtB),
    String(r.copiesAckedAtB),
    String(r.lost),
    String(r.rerunsAtA),
    String(r.kills),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => '-'.repeat(w + 1) + (i === 0 ? '-' : ':')).join('|')}|`;
  return [line(head), rule, ...cells.map(line)].join('\n');
}
