/** The batch and results messages between the main thread and worker threads: compact on the wire, the same on arrival; what a runner measures. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { monotonicMs } from '../src/common/clock.js';
import { createLogger } from '../src/common/logger.js';
import { BoardView, LeaseBoard } from '../src/threads/lease-board.js';
import { TaskRunner } from '../src/threads/task-runner.js';
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
    expect([msg.handlerMs, msg.busyMs]).toEqual([12, 5]);
    expect(resultsOf(msg).sort((a, b) => a.taskId - b.taskId)).toEqual(results);
  });
});

describe('TaskRunner', () => {
  it('reports each call\'s time and the occupancy: calls side by side count once in the occupancy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-'));
    const board = new LeaseBoard(8);
    const posts: { n: number; handlerMs: number; busyMs: number }[] = [];
    const runner = new TaskRunner({
      handlerPath: LEDGER_HANDLER,
      concurrency: 8,
      board: new BoardView(board.buffer, 1),
      log: createLogger('silent'),
      post: (results, handlerMs, busyMs) => posts.push({ n: results.length, handlerMs, busyMs }),
    });
    try {
      const far = monotonicMs() + 60_000;
      const tasks: Task[] = Array.from({ length: 8 }, (_, i) => ({
        taskId: i + 1,
        slot: board.acquire(far, far)!,
        fencingToken: 1,
        message: { id: `m${i}`, body: { data: { ledger: join(dir, 'ledger.jsonl'), sleepMs: 100 } }, headers: {}, attempt: 1, redelivered: false },
      }));
      await runner.run(tasks);
      const total = posts.reduce((a, p) => ({ n: a.n + p.n, handlerMs: a.handlerMs + p.handlerMs, busyMs: a.busyMs + p.busyMs }), { n: 0, handlerMs: 0, busyMs: 0 });
      expect(total.n).toBe(8);
      expect(total.handlerMs).toBeGreaterThanOrEqual(8 * 95);
      expect(total.busyMs).toBeGreaterThanOrEqual(95);
      expect(total.busyMs).toBeLessThan(total.handlerMs / 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
