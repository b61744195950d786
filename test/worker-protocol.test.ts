/** The batch and results messages between the main thread and worker threads: compact on the wire, the same on arrival; what a runner measures. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { monotonicMs } from '../src/common/clock.js';
import { createLogger } from '../src/common/logger.js';
import { BoardView, LeaseBoard } from '../src/threads/lease-board.js';
import { TaskRunner } from '../src/threads/task-runner.js';
import { threadWorkClock } from '../src/threads/thread-cpu.js';
import { packTasks, resultsMessage, resultsOf, unpackTasks, type Task, type TaskResult } from '../src/threads/worker-protocol.js';
import { LEDGER_HANDLER } from './helpers/services.js';

describe('worker protocol', () => {
  it('tasks packed flat and unpacked are the tasks sent, trace context included where there was one', () => {
    const tasks: Task[] = [
      { taskId: 7, slot: 2, fencingToken: 3, message: { id: 'a', body: { message_id: 'a', data: [1] }, headers: { h: 'v' }, attempt: 2, redelivered: true } },
      { taskId: 8, slot: 0, fencingToken: 1, traceparent: '00-abc-def-01', message: { id: 'b', body: Buffer.from('raw'), headers: {}, attempt: 1, redelivered: false } },
    ];
    const wire = structuredClone(packTasks(tasks));
    expect(wire.every((v) => typeof v !== 'object' || v === null || !('taskId' in v))).toBe(true);
    const back = unpackTasks(wire);
    expect(back[0]).toEqual(tasks[0]);
    expect(back[0]).not.toHaveProperty('traceparent');
    expect(back[1]!.traceparent).toBe('00-abc-def-01');
    expect(Buffer.from(back[1]!.message.body as Uint8Array).toString()).toBe('raw');
  });

  it('plain successes travel as ids; every other result whole; all of them arrive', () => {
    const results: TaskResult[] = [
      { taskId: 1, ok: true },
      { taskId: 2, ok: true, resultJson: '{"x":1}' },
      { taskId: 3, ok: false, error: { name: 'Error', message: 'boom' } },
      { taskId: 4, ok: true, effects: [{ command: 'INCR', key: 'k', args: [] }] },
      { taskId: 5, ok: true, inboxDuplicate: true },
      { taskId: 6, ok: true },
    ];
    const msg = structuredClone(resultsMessage(results, 12, 5));
    expect(msg.okIds).toEqual([1, 6]);
    expect([msg.handlerMs, msg.workMs]).toEqual([12, 5]);
    expect(resultsOf(msg).sort((a, b) => a.taskId - b.taskId)).toEqual(results);
  });
});

describe('TaskRunner', () => {
  /** Runs `n` ledger-handler calls side by side and sums what the runner posted. */
  async function measure(data: Record<string, unknown>, n: number, workMs?: () => number): Promise<{ n: number; handlerMs: number; workMs: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'runner-'));
    const board = new LeaseBoard(8);
    const total = { n: 0, handlerMs: 0, workMs: 0 };
    const runner = new TaskRunner({
      handlerPath: LEDGER_HANDLER,
      concurrency: 8,
      board: new BoardView(board.buffer, 1),
      log: createLogger('silent'),
      ...(workMs && { workMs }),
      post: (results, handlerMs, work) => {
        total.n += results.length;
        total.handlerMs += handlerMs;
        total.workMs += work;
      },
    });
    try {
      const far = monotonicMs() + 60_000;
      const tasks: Task[] = Array.from({ length: n }, (_, i) => ({
        taskId: i + 1,
        slot: board.acquire(far, far)!,
        fencingToken: 1,
        message: { id: `m${i}`, body: { data: { ledger: join(dir, 'ledger.jsonl'), ...data } }, headers: {}, attempt: 1, redelivered: false },
      }));
      await runner.run(tasks);
      // The last post leaves on the next turn.
      await new Promise((r) => setImmediate(r));
      return total;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const threadClock = threadWorkClock();

  it("reports each call's time and the thread's work: awaiting counts in the first, not in the second", async () => {
    const waiting = await measure({ sleepMs: 100 }, 8, threadClock);
    expect(waiting.n).toBe(8);
    expect(waiting.handlerMs).toBeGreaterThanOrEqual(8 * 95);
    expect(waiting.workMs).toBeLessThan(60);
    const spinning = await measure({ spinMs: 30 }, 4, threadClock);
    // CPU time: a spin timed by the wall clock gets less of it when the machine is busy.
    expect(spinning.workMs).toBeGreaterThanOrEqual(60);
  });

  it("without the thread's clock (the main thread): each call's synchronous stretch", async () => {
    const waiting = await measure({ sleepMs: 100 }, 8);
    expect(waiting.handlerMs).toBeGreaterThanOrEqual(8 * 95);
    expect(waiting.workMs).toBeLessThan(60);
    const spinning = await measure({ spinMs: 30 }, 4);
    expect(spinning.workMs).toBeGreaterThanOrEqual(4 * 29);
  });
});

describe('threadWorkClock', () => {
  it("counts this thread's work on a core, not its waiting", async () => {
    const clock = threadWorkClock();
    const t0 = clock();
    for (const until = performance.now() + 50; performance.now() < until; );
    const t1 = clock();
    await new Promise((r) => setTimeout(r, 50));
    const t2 = clock();
    expect(t1 - t0).toBeGreaterThanOrEqual(25); // less than 50 when the machine is busy
    expect(t2 - t1).toBeLessThan(20);
  });
});
