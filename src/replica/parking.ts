/**
 * Step 2's wait (see pipeline.ts): an id held by another lease waits here, unleased,
 * and looks again with a backoff that doubles per look, never later than the
 * holder's lease ends. Never a requeue in a hot loop.
 */
import { ChurnMap } from '../common/churn-map.js';
import type { Item } from './item.js';

// The first look soon: a holder elsewhere mostly finishes within milliseconds, and a parked
// copy holds a prefetch slot while it waits (dups-50: 5.2-5.3x naive p1 at 25 ms, 5.8-6.2x at 5).
const PARK_FIRST_MS = 5;
const PARK_MAX_MS = 1000;

export class Parking {
  /** By Item.seq. */
  private readonly waiting = new ChurnMap<number, { item: Item; timer: NodeJS.Timeout }>();

  /** `again` takes an item whose wait is over: it goes through begin once more. */
  constructor(private readonly again: (item: Item) => void) {}

  /** Wait, then look again; `retryInMs` is how long the holder's lease has left. */
  park(item: Item, retryInMs: number): void {
    item.parkMs = Math.min(item.parkMs === 0 ? PARK_FIRST_MS : item.parkMs * 2, PARK_MAX_MS);
    const wait = Math.min(item.parkMs, Math.max(retryInMs, PARK_FIRST_MS));
    const timer = setTimeout(() => {
      this.waiting.delete(item.seq);
      this.again(item);
    }, wait);
    this.waiting.set(item.seq, { item, timer });
  }

  /** Every parked item, its wait cancelled (a drain gives them back). */
  takeAll(): Item[] {
    const parked = [...this.waiting.values()];
    for (const { item, timer } of parked) {
      clearTimeout(timer);
      this.waiting.delete(item.seq);
    }
    return parked.map((p) => p.item);
  }
}
