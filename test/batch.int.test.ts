/** The batch pipeline: handlers overlap inside a thread, copies in one batch share one decision, the main-thread mode, drains that start nothing new. */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { DedupStore, Replica } from '../src/index.js';
import { LEDGER_HANDLER, body, executions, publishRaw, queueDepth, readLedger, testEnv, waitFor, type LedgerLine, type TestEnv } from './helpers/services.js';

/** Most handlers of the ledger that were running at one moment. */
function maxOverlap(lines: LedgerLine[]): number {
  let running = 0;
  let most = 0;
  for (const l of [...lines].sort((a, b) => a.t - b.t || (a.ev === 'done' ? -1 : 1))) {
    running += l.ev === 'start' ? 1 : -1;
    most = Math.max(most, running);
  }
  return most;
}

describe('batch pipeline', () => {
  let env: TestEnv;
  let replica: Replica | undefined;
  afterEach(async () => {
    await replica?.stop();
    replica = undefined;
    await env.cleanup();
  });

  const start = async (extra: Record<string, unknown>): Promise<Replica> => {
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, logLevel: 'silent', ...extra }).start();
    return replica;
  };

  it('runs up to --concurrency I/O handlers at once on one thread, and no more', async () => {
    env = await testEnv('overlap');
    const ids = Array.from({ length: 16 }, (_, i) => `io-${i}`);
    const go = `${env.ledger}.go`;
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, holdFile: go })));
    const r = await start({ threads: 1, concurrency: 8 });
    const starts = () => readLedger(env.ledger).filter((l) => l.ev === 'start').length;
    await waitFor(() => starts() === 8, 20_000, '8 handlers running');
    await new Promise((res) => setTimeout(res, 300));
    expect(starts()).toBe(8); // a ninth waits for a place
    writeFileSync(go, '');
    await waitFor(() => r.stats.completed === ids.length, 30_000, 'all completed');
    const lines = readLedger(env.ledger);
    expect(new Set(lines.map((l) => l.thread)).size).toBe(1);
    expect(maxOverlap(lines)).toBe(8);
    expect([...executions(env.ledger).values()]).toEqual(ids.map(() => 1));
  });

  it('copies of one id in one batch cost no extra Redis call: the copy follows the first run', async () => {
    env = await testEnv('same-batch');
    await publishRaw(env.ch, env.queue, [
      body('twin-1', { ledger: env.ledger, sleepMs: 100 }),
      body('twin-1', { ledger: env.ledger, sleepMs: 100 }),
      body('twin-1', { ledger: env.ledger, sleepMs: 100 }),
      body('solo-1', { ledger: env.ledger }),
    ]);
    // Watches the real store's begin calls (they still go to Redis).
    const beginMany = vi.spyOn(DedupStore.prototype, 'beginMany');
    onTestFinished(() => beginMany.mockRestore());
    const r = await start({ threads: 1 });
    await waitFor(() => r.stats.inFlight === 0 && r.stats.deliveries === 4, 20_000, 'all settled');
    expect(executions(env.ledger)).toEqual(new Map([['twin-1', 1], ['solo-1', 1]]));
    expect(r.stats.completed).toBe(2);
    expect(r.stats.duplicates['in-flight']).toBe(2);
    // The copies made no begin of their own, however the deliveries were split into turns.
    expect(beginMany.mock.calls.flatMap(([ids]) => ids).sort()).toEqual(['solo-1', 'twin-1']);
    expect(await queueDepth(env.ch, env.queue)).toBe(0);
  });

  it('--threads 0 runs the handler on the main thread, each id once', async () => {
    env = await testEnv('main-thread');
    const ids = Array.from({ length: 200 }, (_, i) => `m-${i}`);
    await publishRaw(env.ch, env.queue, [...ids, ...ids.slice(0, 50)].map((id) => body(id, { ledger: env.ledger })));
    const r = await start({ threads: 0 });
    await waitFor(() => r.stats.inFlight === 0 && r.stats.deliveries === 250, 20_000, 'all settled');
    expect(new Set(readLedger(env.ledger).map((l) => l.thread))).toEqual(new Set([0]));
    expect(executions(env.ledger).size).toBe(ids.length);
    expect([...executions(env.ledger).values()].every((n) => n === 1)).toBe(true);
    expect(r.stats.duplicates.done + r.stats.duplicates['in-flight']).toBe(50);
  });

  it('a thread that dies mid-batch charges the other messages of its batch at most one attempt', async () => {
    env = await testEnv('thread-death');
    const innocents = Array.from({ length: 12 }, (_, i) => `inn-${i}`);
    await publishRaw(env.ch, env.queue, [
      ...innocents.slice(0, 6).map((id) => body(id, { ledger: env.ledger, sleepMs: 200 })),
      // Exits its worker thread on its first attempt only, with the innocents running beside it.
      body('exiter-1', { ledger: env.ledger, exitOnAttempt: 1, sleepMs: 200 }),
      ...innocents.slice(6).map((id) => body(id, { ledger: env.ledger, sleepMs: 200 })),
    ]);
    const r = await start({ threads: 1, concurrency: 20, maxAttempts: 2, retryDelayMs: '10ms' });
    await waitFor(() => r.stats.completed === 13, 30_000, 'every message completed');
    const done = readLedger(env.ledger).filter((l) => l.ev === 'done');
    for (const id of innocents) expect(done.find((l) => l.id === id)!.attempt, id).toBeLessThanOrEqual(2);
    expect(done.find((l) => l.id === 'exiter-1')!.attempt).toBe(2);
    expect(await queueDepth(env.ch, `${env.queue}.dlq`)).toBe(0);
    expect([...executions(env.ledger).values()].every((n) => n === 1)).toBe(true);
  });

  it.each([
    ['a worker thread', 1],
    ['the main thread (--threads 0)', 0],
  ])('a drain starts nothing new: messages waiting for a handler place on %s go back to the queue at once', async (_where, threads) => {
    env = await testEnv('drain-start');
    const ids = Array.from({ length: 6 }, (_, i) => `d-${i}`);
    const go = `${env.ledger}.go`;
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, holdFile: go })));
    const r = await start({ threads, concurrency: 1, drainTimeoutMs: '20s' });
    await waitFor(() => readLedger(env.ledger).some((l) => l.ev === 'start'), 10_000, 'the first handler started');
    const stopped = r.stop();
    replica = undefined;
    // The five waiting go back while the first still runs; then it may finish.
    await waitFor(async () => (await queueDepth(env.ch, env.queue)) === ids.length - 1, 10_000, 'the waiting ones requeued');
    writeFileSync(go, '');
    await stopped;
    // Only the running handler finished; the five waiting were requeued, not started.
    expect(readLedger(env.ledger).filter((l) => l.ev === 'start')).toHaveLength(1);
    expect(executions(env.ledger).size).toBe(1);
    expect(await queueDepth(env.ch, env.queue)).toBe(ids.length - 1);
  });
});
