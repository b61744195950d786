/** The fast lane's decision and the watchdog's reading of the lease board (pure unit tests). */
import { describe, expect, it } from 'vitest';
import { monotonicMs } from '../src/common/clock.js';
import { createLogger } from '../src/common/logger.js';
import { createExecutor } from '../src/threads/executor.js';
import { FAST_LANE_AFTER_CALLS, FAST_LANE_MAX_CALL_MS, FAST_LANE_SAMPLE_EVERY, FAST_LANE_SAMPLE_MS, fastLane, sampleOnThread } from '../src/threads/placement.js';
import { Stretches } from '../src/threads/task-runner.js';
import { BoardView, BoardWatch, LeaseBoard, MAIN_THREAD } from '../src/threads/lease-board.js';
import { LEDGER_HANDLER } from './helpers/services.js';

describe('fastLane', () => {
  it('opens only after enough calls were measured, only under the bound, and only for short calls', () => {
    expect(fastLane(FAST_LANE_AFTER_CALLS - 1, 0.01, 1, 0.1)).toBe(false);
    expect(fastLane(FAST_LANE_AFTER_CALLS, 0.01, 1, 0.1)).toBe(true);
    expect(fastLane(FAST_LANE_AFTER_CALLS, 0.1, 1, 0.1)).toBe(false);
    expect(fastLane(10 * FAST_LANE_AFTER_CALLS, 0.001, 1, 0)).toBe(false);
    // Awaiting for long: few calls a second, and a hang would end the replica there.
    expect(fastLane(FAST_LANE_AFTER_CALLS, 0.01, FAST_LANE_MAX_CALL_MS - 1, 0.1)).toBe(true);
    expect(fastLane(FAST_LANE_AFTER_CALLS, 0.01, FAST_LANE_MAX_CALL_MS, 0.1)).toBe(false);
  });

  it('sends a batch to a thread only when both enough batches and enough time have passed since the last', () => {
    expect(sampleOnThread(FAST_LANE_SAMPLE_EVERY, FAST_LANE_SAMPLE_MS)).toBe(true);
    // A fast stream: many batches, but too soon after the last sample.
    expect(sampleOnThread(100 * FAST_LANE_SAMPLE_EVERY, FAST_LANE_SAMPLE_MS - 1)).toBe(false);
    // A slow stream: long enough ago, but too few batches since.
    expect(sampleOnThread(FAST_LANE_SAMPLE_EVERY - 1, 100 * FAST_LANE_SAMPLE_MS)).toBe(false);
  });
});

describe('Stretches (the main thread\'s measure of its handler calls)', () => {
  it('leaves out the longest stretch of a turn, so one pause of the heap or the host among short calls is not taken for a busy handler', () => {
    const s = new Stretches();
    for (const ms of [0.01, 0.012, 4, 0.011]) s.add(ms);
    // 3 short calls stand for all 4: 0.033 ms * 4/3.
    expect(s.take()).toBeCloseTo(0.044);
    // Taken: the next turn starts from nothing.
    expect(s.take()).toBe(0);
  });

  it('a busy handler makes every stretch long, and its work shows whole; a lone stretch counts as it is', () => {
    const s = new Stretches();
    for (let i = 0; i < 16; i++) s.add(30);
    expect(s.take()).toBeCloseTo(16 * 30);
    s.add(5);
    expect(s.take()).toBe(5);
  });
});

describe('BoardWatch', () => {
  const setup = () => {
    const board = new LeaseBoard(4);
    return { board, main: new BoardView(board.buffer, MAIN_THREAD), worker: new BoardView(board.buffer, 7), watch: new BoardWatch(board.buffer) };
  };

  it('reports a handler on the main thread still running at its hard stop, lease lost or not', () => {
    const { board, main, watch } = setup();
    const now = monotonicMs();
    const slot = board.acquire(now + 1000, now + 2000)!;
    expect(main.start(slot)).toBeUndefined();
    expect(watch.overdue(now + 1999)).toBeUndefined();
    expect(watch.overdue(now + 2000)).toBe(slot);
    board.lose(slot);
    expect(watch.overdue(now + 2000)).toBe(slot);
  });

  it("a worker's handler past its hard stop only while a handler runs on the main thread (which may block it)", () => {
    const { board, main, worker, watch } = setup();
    const now = monotonicMs();
    const w = board.acquire(now + 1000, now + 2000)!;
    worker.start(w);
    expect(watch.overdue(now + 2000)).toBeUndefined();
    const m = board.acquire(now + 5000, now + 6000)!;
    main.start(m);
    expect(watch.overdue(now + 2000)).toBe(w);
    main.finish(m);
    expect(watch.overdue(now + 2000)).toBeUndefined();
  });

  it('an extension moves the hard stop; a finished, released or queued task is not its concern; the heartbeat is read', () => {
    const { board, main, worker, watch } = setup();
    const now = monotonicMs();
    const a = board.acquire(now + 1000, now + 2000)!;
    const b = board.acquire(now + 1000, now + 2000)!;
    const c = board.acquire(now + 1000, now + 2000)!;
    board.acquire(now + 1000, now + 2000); // queued: never started
    main.start(a);
    main.start(b);
    worker.start(c);
    board.set(a, now + 5000, now + 6000);
    main.finish(b);
    worker.finish(c);
    expect(board.threadOf(c)).toBe(7); // a worker's thread id stays after its finish: a crash is charged to it
    expect(watch.overdue(now + 3000)).toBeUndefined();
    expect(watch.overdue(now + 6000)).toBe(a);
    board.release(a);
    expect(watch.overdue(now + 6000)).toBeUndefined();
    board.beat(now + 42);
    expect(watch.heartbeat).toBe(now + 42);
  });
});

describe('ending the process for a handler on the main thread', () => {
  it('is never for a task still waiting for its turn (its lost lease refuses it at its start)', async () => {
    const board = new LeaseBoard(2);
    const executor = createExecutor({ handlerPath: LEDGER_HANDLER, threads: 0, concurrency: 1, logLevel: 'silent', board, onResults: () => {} }, createLogger('silent'));
    try {
      const slot = board.acquire(0, 0)!; // its lease already lost
      expect(executor.terminate(slot)).toBe(false);
      expect(new BoardView(board.buffer, MAIN_THREAD).start(slot)).toBe('lease-expired');
    } finally {
      await executor.close();
    }
  });
});
