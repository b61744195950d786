/** How a batch is split over worker threads: by the handler time it carries, not by its size alone. */
import { describe, expect, it } from 'vitest';
import { sharesFor } from '../src/threads/executor.js';

describe('batch shares', () => {
  it('a batch of fast handlers goes to one thread; slow ones spread over every thread', () => {
    expect(sharesFor(100, 2, 0.01)).toBe(1); // 1 ms in all: not worth a second message
    expect(sharesFor(100, 2, 0.02)).toBe(2);
    expect(sharesFor(100, 8, 1)).toBe(8);
    expect(sharesFor(3, 8, 5)).toBe(3); // never more shares than tasks
    expect(sharesFor(1, 2, 0)).toBe(1);
    expect(sharesFor(40, 4, 0.05)).toBe(2); // 2 ms: two shares of 1 ms
  });
});
