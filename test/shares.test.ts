/** How a batch is split over worker threads: by the handler time it carries, not by its size alone. */
import { describe, expect, it } from 'vitest';
import { pickWorker, sharesFor } from '../src/threads/placement.js';

describe('batch shares', () => {
  it('a batch of fast handlers goes to one thread; slow ones spread over every thread', () => {
    expect(sharesFor(100, 2, 0.03)).toBe(1); // 3 ms in all: not worth a second message
    expect(sharesFor(100, 2, 0.08)).toBe(2);
    expect(sharesFor(100, 8, 1)).toBe(8);
    expect(sharesFor(3, 8, 5)).toBe(3); // never more shares than tasks
    expect(sharesFor(1, 2, 0)).toBe(1);
    expect(sharesFor(40, 4, 0.2)).toBe(2); // 8 ms: two shares of 4 ms
  });

  it('a batch of fast handlers goes to the first thread with room; others to an idle thread, else the least busy', () => {
    const w = (currentUsage: number, terminating = false) => ({ currentUsage, terminating, destroyed: false });
    const busyFirst = [w(3), w(0), w(1)];
    expect(pickWorker(busyFirst, true, 64)).toBe(busyFirst[0]);
    expect(pickWorker(busyFirst, false, 64)).toBe(busyFirst[1]);
    const allBusy = [w(3), w(2), w(5)];
    expect(pickWorker(allBusy, false, 64)).toBe(allBusy[1]);
    // Full or going away: never chosen; none left: piscina queues the batch.
    const full = [w(64), w(1, true), w(2)];
    expect(pickWorker(full, true, 64)).toBe(full[2]);
    expect(pickWorker([w(64), w(0, true)], false, 64)).toBeNull();
  });
});
