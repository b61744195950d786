/**
 * Which messages run alone: only those with evidence that they were in flight where a
 * thread or process died. Handed back by a graceful stop, or retried after a plain
 * failure, messages run together as before.
 */
import { describe, expect, it } from 'vitest';
import { inProcessPool } from './helpers/in-process.js';
import { LEDGER_HANDLER, body, publishRaw, readLedger, waitFor, type LedgerLine } from './helpers/services.js';

/** The most handler runs that overlapped in time, from the ledger's start/done lines of `filter`ed runs. */
function maxOverlap(lines: LedgerLine[], filter: (l: LedgerLine) => boolean = () => true): number {
  const events = lines
    .filter((l) => (l.ev === 'start' || l.ev === 'done') && filter(l))
    .map((l) => ({ t: l.t, d: l.ev === 'start' ? 1 : -1 }))
    .sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of events) max = Math.max(max, (now += e.d));
  return max;
}

describe('isolation only for messages that earned it', () => {
  const pool = inProcessPool();

  it('messages handed back by a graceful stop run together on the next replica', async () => {
    const env = await pool.env('iso-drain');
    const first = await pool.replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, concurrency: 16, prefetch: 64, drainTimeoutMs: '5s' });
    await publishRaw(env.ch, env.queue, Array.from({ length: 48 }, (_, i) => body(`d-${i}`, { ledger: env.ledger, sleepMs: 400 })));
    await waitFor(() => readLedger(env.ledger).filter((l) => l.ev === 'start').length >= 16, 20_000, 'the first replica runs 16');
    await first.stop(); // its 16 running finish; the rest go back redelivered
    const handedBack = 48 - readLedger(env.ledger).filter((l) => l.ev === 'done').length;
    expect(handedBack).toBeGreaterThanOrEqual(16);

    const cutoff = Date.now();
    const next = await pool.replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, concurrency: 16, prefetch: 64 });
    await waitFor(() => next.stats.completed === handedBack, 30_000, 'the handed-back messages completed');
    expect(maxOverlap(readLedger(env.ledger), (l) => l.t >= cutoff)).toBeGreaterThanOrEqual(8);
  });

  it('retries after a plain failure run together', async () => {
    const env = await pool.env('iso-retry');
    const r = await pool.replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, concurrency: 16, retryDelayMs: '200ms' });
    await publishRaw(env.ch, env.queue, Array.from({ length: 24 }, (_, i) => body(`r-${i}`, { ledger: env.ledger, sleepMs: 300, failTimes: 1 })));
    await waitFor(() => r.stats.completed === 24, 30_000, 'every message completed on its retry');
    expect(r.stats.retried).toBe(24);
    expect(maxOverlap(readLedger(env.ledger), (l) => l.attempt === 2)).toBeGreaterThanOrEqual(8);
  });

  it('a message whose thread died with it runs alone on its retry; the others do not', async () => {
    const env = await pool.env('iso-thread');
    const r = await pool.replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, concurrency: 8, retryDelayMs: '100ms' });
    await publishRaw(env.ch, env.queue, [
      body('killer', { ledger: env.ledger, exitOnAttempt: 1, sleepMs: 0 }),
      ...Array.from({ length: 12 }, (_, i) => body(`n-${i}`, { ledger: env.ledger, sleepMs: 300 })),
    ]);
    await waitFor(() => r.stats.completed === 13, 30_000, 'every message completed');
    const lines = readLedger(env.ledger);
    const retry = lines.filter((l) => l.id === 'killer' && l.attempt === 2);
    expect(retry.map((l) => l.ev)).toEqual(['start', 'done']);
    // Nothing else ran while the killer's retry did.
    const [start, done] = [retry[0]!.t, retry[1]!.t];
    expect(lines.filter((l) => l.id !== 'killer' && l.ev === 'start' && l.t >= start && l.t <= done)).toEqual([]);
    // Only the killer was in flight when its thread died: the others ran together.
    expect(maxOverlap(lines, (l) => l.id !== 'killer')).toBeGreaterThanOrEqual(4);
    expect(r.stats.retried).toBe(1);
  });
});
