/** What waits for a begin call: plain batches join into one call; a suspect always begins alone. */
import { describe, expect, it } from 'vitest';
import { BeginQueue, CALLS_IN_FLIGHT, beginCallSize } from '../src/replica/begin-queue.js';
import { beginVotes } from '../src/store/redis-clients.js';
import type { Item } from '../src/replica/item.js';

const items = (...ids: string[]): Item[] => ids.map((id) => ({ id }) as Item);
const ids = (list: Item[]): string[] => list.map((i) => i.id);

describe('the begin queue', () => {
  it('joins the plain batches waiting behind a call into one, up to --batch-size, in arrival order', () => {
    const q = new BeginQueue(5);
    q.push(items('a', 'b'), false);
    q.push(items('c', 'd'), false);
    q.push(items('e', 'f'), false); // would make 6: the next call's
    expect(ids(q.take())).toEqual(['a', 'b', 'c', 'd']);
    expect(ids(q.take())).toEqual(['e', 'f']);
    expect(q.length).toBe(0);
  });

  it('a suspect is never joined: it begins alone, and the batches behind it wait for their own call', () => {
    const q = new BeginQueue(100);
    q.push(items('a'), false);
    q.push(items('s'), true);
    q.push(items('b'), false);
    q.push(items('c'), false);
    expect(ids(q.take())).toEqual(['a']);
    expect(q.head()).toEqual({ items: items('s'), alone: true });
    expect(ids(q.take())).toEqual(['s']);
    expect(ids(q.take())).toEqual(['b', 'c']);
  });

  it('a batch larger than a call takes calls of its first ids, in order, and the rest join what follows', () => {
    const q = new BeginQueue(2);
    q.push(items('a', 'b', 'c'), false);
    q.push(items('d'), false);
    expect(ids(q.take())).toEqual(['a', 'b']);
    expect(ids(q.take())).toEqual(['c', 'd']);
    expect(q.length).toBe(0);
  });

  it('a call carries the prefetch window\'s share of the calls in flight, never more than --batch-size, at least one id', () => {
    expect(CALLS_IN_FLIGHT).toBeGreaterThan(1);
    expect(beginCallSize(256, 100)).toBe(Math.ceil(100 / CALLS_IN_FLIGHT));
    expect(beginCallSize(256, 100 * CALLS_IN_FLIGHT + 1)).toBe(101);
    expect(beginCallSize(20, 500)).toBe(20);
    expect(beginCallSize(256, 1)).toBe(1);
  });

  it('a drain takes everything that waits', () => {
    const q = new BeginQueue(100);
    q.push(items('a', 'b'), false);
    q.push(items('s'), true);
    expect(ids(q.takeAll())).toEqual(['a', 'b', 's']);
    expect(q.head()).toBeUndefined();
  });
});

describe("begin.lua's flat reply", () => {
  it('three values per id: done with its record, granted with its fence, locked with its pttl and the counter', () => {
    expect(beginVotes([0, 'rec', 0, 1, 3, 0, 2, 1500, 7])).toEqual([
      [0, 'rec'],
      [1, 3],
      [2, 1500, 7],
    ]);
    expect(beginVotes([])).toEqual([]);
  });
});
