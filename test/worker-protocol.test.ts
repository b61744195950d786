/** The batch and results messages between the main thread and worker threads: compact on the wire, the same on arrival. */
import { describe, expect, it } from 'vitest';
import { packTasks, resultsMessage, resultsOf, unpackTasks, type Task, type TaskResult } from '../src/threads/worker-protocol.js';

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
    const msg = structuredClone(resultsMessage(results, 12));
    expect(msg.okIds).toEqual([1, 6]);
    expect(msg.handlerMs).toBe(12);
    expect(resultsOf(msg).sort((a, b) => a.taskId - b.taskId)).toEqual(results);
  });
});
