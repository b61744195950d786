/**
 * Worker threads that die or are replaced, on real piscina threads: every task handed
 * to the executor gets exactly one result, and a graceful close waits for every
 * running handler however long it runs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { monotonicMs } from '../src/common/clock.js';
import { createLogger } from '../src/common/logger.js';
import { createExecutor, type Executor } from '../src/threads/executor.js';
import { LeaseBoard } from '../src/threads/lease-board.js';
import type { Task, TaskResult } from '../src/threads/worker-protocol.js';

const HANDLER = new URL('./fixtures/ledger-handler.mjs', import.meta.url).pathname;

function setUp(threads: number, concurrency: number) {
  const dir = mkdtempSync(join(tmpdir(), 'thread-exit-'));
  const ledger = join(dir, 'ledger.jsonl');
  const board = new LeaseBoard(16);
  const results: TaskResult[] = [];
  const executor = createExecutor(
    { handlerPath: HANDLER, threads, concurrency, logLevel: 'silent', board, onResults: (rs) => results.push(...rs) },
    createLogger('silent'),
  );
  let next = 1;
  const task = (data: Record<string, unknown>): Task => {
    const taskId = next++;
    const slot = board.acquire(monotonicMs() + 600_000, monotonicMs() + 600_000)!;
    return { taskId, slot, fencingToken: 1, message: { id: `m${taskId}`, body: { data: { ledger, ...data } }, headers: {}, attempt: 1, redelivered: false } };
  };
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  return { dir, ledger, board, results, executor, task, cleanup };
}

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error('timed out waiting');
  }
}

const ledgerLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ev: string; id: string }) : []);

describe('worker threads that die', () => {
  let executor: Executor | undefined;
  let cleanup: (() => void) | undefined;
  afterEach(async () => {
    await executor?.close();
    cleanup?.();
  });

  it('a task that finished just before its thread was terminated still gets a result (it was never lost)', async () => {
    const t = setUp(1, 2);
    ({ executor, cleanup } = t);
    await t.executor.probe();
    // Two batches on the one thread: A's timer fires first and A finishes; S's timer fires in
    // the same turn and spins forever, so nothing else ever runs on that thread.
    const a = t.task({ sleepMs: 50 });
    const s = t.task({ sleepMs: 50, spinForever: true });
    t.executor.submit([a]);
    t.executor.submit([s]);
    await until(() => ledgerLines(t.ledger).filter((l) => l.ev === 'start').length === 2);
    await until(() => ledgerLines(t.ledger).some((l) => l.ev === 'done' && l.id === a.message.id));
    await new Promise((r) => setTimeout(r, 100));
    expect(t.executor.terminate(s.slot)).toBe(true);
    await until(() => t.results.length >= 2);
    const byTask = new Map(t.results.map((r) => [r.taskId, r]));
    expect(byTask.get(s.taskId)).toMatchObject({ ok: false, started: true });
    // A either reports its result or, where the result never left the thread, fails as started
    // (its message is then retried): it is answered, not left running forever.
    expect(byTask.get(a.taskId)).toBeDefined();
    expect(t.results.filter((r) => r.taskId === a.taskId)).toHaveLength(1);
  });

  it('every task started on a thread that exits is answered once, whether its batch had resolved or not', async () => {
    const t = setUp(1, 4);
    ({ executor, cleanup } = t);
    await t.executor.probe();
    const hold = join(t.dir, 'hold');
    const tasks = [t.task({ holdFile: hold }), t.task({ holdFile: hold }), t.task({ exitOnAttempt: 1, sleepMs: 100 })];
    t.executor.submit([tasks[0]!]);
    t.executor.submit([tasks[1]!, tasks[2]!]);
    await until(() => t.results.length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(t.results.map((r) => r.taskId).sort()).toEqual(tasks.map((x) => x.taskId).sort());
    for (const r of t.results) expect(r).toMatchObject({ ok: false, started: true });
  });
});

describe('a graceful close', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  // piscina's own graceful close destroys tasks still running after 30 s (its closeTimeout).
  it('waits for a handler running longer than 30 s and hands its result on', { timeout: 90_000 }, async () => {
    const t = setUp(1, 1);
    cleanup = t.cleanup;
    await t.executor.probe();
    const hold = join(t.dir, 'hold');
    const long = t.task({ holdFile: hold });
    t.executor.submit([long]);
    await until(() => ledgerLines(t.ledger).length === 1);
    let closed = false;
    const closing = t.executor.close({ force: false }).then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 32_000));
    expect(closed).toBe(false);
    expect(t.results).toEqual([]);
    writeFileSync(hold, '');
    await closing;
    expect(t.results).toEqual([{ taskId: long.taskId, ok: true, resultJson: JSON.stringify({ attempt: 1 }) }]);
    expect(ledgerLines(t.ledger).map((l) => l.ev)).toEqual(['start', 'done']);
  });
});
