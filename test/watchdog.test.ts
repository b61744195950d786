/** The fast lane's decision and the watchdog's reading of the lease board (pure unit tests). */
import { describe, expect, it } from 'vitest';
import { monotonicMs } from '../src/common/clock.js';
import { FAST_LANE_AFTER_CALLS, fastLane } from '../src/threads/executor.js';
import { BoardView, BoardWatch, LeaseBoard, MAIN_THREAD } from '../src/threads/lease-board.js';

describe('fastLane', () => {
  it('opens only after enough calls were measured, and only under the bound', () => {
    expect(fastLane(FAST_LANE_AFTER_CALLS - 1, 0.01, 0.1)).toBe(false);
    expect(fastLane(FAST_LANE_AFTER_CALLS, 0.01, 0.1)).toBe(true);
    expect(fastLane(FAST_LANE_AFTER_CALLS, 0.1, 0.1)).toBe(false);
    expect(fastLane(10 * FAST_LANE_AFTER_CALLS, 0.001, 0)).toBe(false);
  });
});

describe('BoardWatch', () => {
  const setup = () => {
    const board = new LeaseBoard(4);
    return { board, main: new BoardView(board.buffer, MAIN_THREAD), worker: new BoardView(board.buffer, 7), watch: new BoardWatch(board.buffer) };
  };

  it('reports a handler on the main thread still running at its hard stop', () => {
    const { board, main, watch } = setup();
    const now = monotonicMs();
    const slot = board.acquire(now + 1000, now + 2000)!;
    expect(main.start(slot)).toBeUndefined();
    expect(watch.overdueOnMain(now + 1999)).toBeUndefined();
    expect(watch.overdueOnMain(now + 2000)).toBe(slot);
    // A lost lease keeps its hard stop: the main thread's loss does not disarm the watchdog.
    board.lose(slot);
    expect(watch.overdueOnMain(now + 2000)).toBe(slot);
  });

  it('an extension moves the hard stop; a finished or released handler, or one on a worker thread, is not its concern', () => {
    const { board, main, worker, watch } = setup();
    const now = monotonicMs();
    const a = board.acquire(now + 1000, now + 2000)!;
    const b = board.acquire(now + 1000, now + 2000)!;
    const c = board.acquire(now + 1000, now + 2000)!;
    main.start(a);
    main.start(b);
    worker.start(c);
    board.set(a, now + 5000, now + 6000);
    main.finish(b);
    expect(watch.overdueOnMain(now + 3000)).toBeUndefined();
    expect(board.threadOf(c)).toBe(7); // a worker's thread id stays after its finish: a crash is charged to it
    worker.finish(c);
    expect(board.threadOf(c)).toBe(7);
    expect(watch.overdueOnMain(now + 6000)).toBe(a);
    board.release(a);
    expect(watch.overdueOnMain(now + 6000)).toBeUndefined();
  });
});
