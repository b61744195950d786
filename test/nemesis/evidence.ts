/**
 * What a failed check needs for diagnosis: the ledger and log lines of each flagged id,
 * what the pools were doing, the messages left over, and (with `keep`) the whole ledger
 * and every pool's log written to a directory.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfirmChannel } from 'amqplib';
import { readJsonLines } from '../helpers/services.js';
import type { LedgerEntry, Outcome } from './checker.js';
import type { Cluster } from './cluster.js';

/** Each pool's replica slots as its supervisor reports them (pid, state, consuming, in flight). */
export async function poolStates(cluster: Cluster): Promise<string[]> {
  return Promise.all(
    cluster.pools.map(async (p) => {
      const slots = await p.sup.status().then((s) => s.slots.map(({ pid, state, consuming, inFlight, lastError }) => ({ pid, state, consuming, inFlight, lastError })), () => 'no status');
      return `${p.name}: ${JSON.stringify(slots)}`;
    }),
  );
}

/** Takes the messages left in `queues` (they are counted before) and says what each is. */
export async function leftoverMessages(ch: ConfirmChannel, queues: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const q of queues) {
    for (let m = await ch.get(q, { noAck: true }).catch(() => false as const); m; m = await ch.get(q, { noAck: true }).catch(() => false as const)) {
      const id = (JSON.parse(m.content.toString()) as { message_id?: string }).message_id;
      out.push(`left in ${q}: ${id} redelivered=${m.fields.redelivered} headers=${JSON.stringify(m.properties.headers ?? {})}`);
    }
  }
  return out;
}

/** Ledger and log lines of the ids the checker flagged (the first few). */
export function flaggedIds(o: Outcome, cluster: Cluster, ledger: string): string[] {
  const ids = new Set([...o.lost, ...o.unexpected, ...o.duplicates.filter((d) => !d.explained).map((d) => d.id), ...o.effectsNotOnce.map(([id]) => id)].slice(0, 5));
  const lines = readJsonLines<LedgerEntry>(ledger);
  const out: string[] = [];
  for (const id of ids) {
    out.push(`${id}:`);
    for (const l of lines.filter((x) => x.id === id)) out.push(`  ledger ${JSON.stringify(l)}`);
    for (const p of cluster.pools) for (const l of p.sup.logs.filter((x) => x.msgId === id || JSON.stringify(x).includes(`"${id}"`))) out.push(`  ${p.name} log ${JSON.stringify(l)}`);
  }
  return out;
}

/** Copies the ledger and each pool's stdout (its replicas' logs) to `dir`; returns the directory. */
export function keepFiles(dir: string, cluster: Cluster, ledger: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(ledger, join(dir, 'ledger.jsonl'));
  for (const p of cluster.pools) writeFileSync(join(dir, `${p.name}.log`), p.sup.lines.join('\n') + '\n');
  return dir;
}
