/**
 * What a fault cost, from the handler's own ledger (test/fixtures/ledger-handler.mjs):
 * ids never executed (lost), ids whose effect happened more than once (duplicate
 * executions, each with its runs so a test can say why), and a one-line summary.
 */
import type { Replica } from '../../src/index.js';
import { body, publishRaw, queueDepth, readLedger, waitFor, type LedgerLine, type TestEnv } from './services.js';

export interface Outcome {
  /** Ids published but never executed to the end. */
  lost: string[];
  /** Ids executed more than once, with their 'done' lines. */
  twice: { id: string; done: LedgerLine[] }[];
  /** Handler runs cut short (started, never done), e.g. a thread terminated after a lost lease. */
  cutShort: number;
}

export function outcome(ledger: string, ids: readonly string[]): Outcome {
  const lines = readLedger(ledger);
  const done = new Map<string, LedgerLine[]>();
  for (const l of lines) if (l.ev === 'done') done.set(l.id, [...(done.get(l.id) ?? []), l]);
  const starts = lines.filter((l) => l.ev === 'start').length;
  const dones = lines.filter((l) => l.ev === 'done').length;
  return {
    lost: ids.filter((id) => !done.has(id)),
    twice: [...done].filter(([, d]) => d.length > 1).map(([id, d]) => ({ id, done: d })),
    cutShort: starts - dones,
  };
}

/** "lost 0, duplicate executions 2 (ids a, b), runs cut short 3" */
export function describeOutcome(o: Outcome): string {
  const ids = o.twice.map((t) => t.id);
  return `lost ${o.lost.length}, duplicate executions ${ids.length}${ids.length ? ` (${ids.join(', ')})` : ''}, runs cut short ${o.cutShort}`;
}

/** Sleep, for the length of a fault. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * After a fault: wait until every id ran and nothing is queued or in flight on `replica`,
 * then publish 60 more and wait for those too. Returns all the ids, and how many of the
 * new ones `replica` completed (it consumes again).
 */
export async function secondBatch(env: TestEnv, replica: Replica, ids: string[], tag: string): Promise<{ all: string[]; completedAfter: number }> {
  const settled = (all: string[]) => async () => outcome(env.ledger, all).lost.length === 0 && (await queueDepth(env.ch, env.queue)) === 0 && replica.stats.inFlight === 0;
  await waitFor(settled(ids), 60_000, 'every id executed');
  const after = Array.from({ length: 60 }, (_, i) => `${tag}-after-${i}`);
  const before = replica.stats.completed;
  await publishRaw(env.ch, env.queue, after.map((id) => body(id, { ledger: env.ledger, sleepMs: 50 })));
  const all = [...ids, ...after];
  await waitFor(settled(all), 60_000, 'the second batch executed');
  return { all, completedAfter: replica.stats.completed - before };
}
