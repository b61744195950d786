/**
 * A failed message's retry can come back while its own run is still being
 * settled (a short --retry-delay): it must run again, not be acked as a copy of itself.
 */
import { describe, expect, it } from 'vitest';
import { inProcessPool } from './helpers/in-process.js';
import { LEDGER_HANDLER, body, executions, publishRaw, readLedger, waitFor } from './helpers/services.js';

describe('retry back before its run is settled', () => {
  const pool = inProcessPool();

  it('--retry-delay 0: every id that fails once completes on its second attempt; none is lost as a duplicate', async () => {
    const env = await pool.env('retry-follow');
    const replica = await pool.replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, maxAttempts: 3, retryDelayMs: 0 });
    const ids = Array.from({ length: 50 }, (_, i) => `r-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, failTimes: 1 })));
    await waitFor(() => replica.stats.completed === ids.length, 20_000, `all ids completed (counters: ${JSON.stringify(replica.stats.duplicates)})`);
    const done = readLedger(env.ledger).filter((l) => l.ev === 'done');
    expect(done.map((l) => l.id).sort()).toEqual([...ids].sort());
    expect(done.every((l) => l.attempt === 2)).toBe(true);
    expect([...executions(env.ledger).values()].every((n) => n === 1)).toBe(true);
    expect(replica.stats.duplicates).toEqual({ done: 0, 'in-flight': 0, inbox: 0 });
    expect(replica.stats.retried).toBe(ids.length);
  });
});
