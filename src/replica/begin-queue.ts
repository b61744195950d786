/**
 * What waits for a begin call, in arrival order: plain batches, and suspects that must
 * begin (and run) alone (isolation.ts).
 *
 * A begin call goes out only when fewer than CALLS_IN_FLIGHT are out; what arrives
 * meanwhile waits here, and the plain batches at the head go as one call when it is
 * their turn. Under load the batches grow instead of the calls multiplying: a script
 * call costs Redis and the replica about as much as the commands in it.
 */
import type { Item } from './item.js';

/**
 * Store calls of one kind (begin, complete) out at once per replica. Two, so the
 * prefetch window travels as two calls (beginCallSize): with one, the whole window went
 * as one lump through begin, handlers, complete, acks and the broker's refill, one stage
 * at a time, and a no-op pool at prefetch 100 waited on round trips with its cores
 * half idle (docs/bench.md).
 */
export const CALLS_IN_FLIGHT = 2;

/** Ids in one begin call: at most --batch-size, and at most the window's share of one call in flight. */
export function beginCallSize(batchSize: number, prefetch: number): number {
  return Math.max(1, Math.min(batchSize, Math.ceil(prefetch / CALLS_IN_FLIGHT)));
}

interface Entry {
  items: Item[];
  alone: boolean;
}

export class BeginQueue {
  private entries: Entry[] = [];

  /** `maxBatch`: the most ids in one call (beginCallSize); a larger batch is taken in parts. */
  constructor(private readonly maxBatch: number) {}

  get length(): number {
    return this.entries.length;
  }

  /** The next entry to begin, without taking it. */
  head(): Entry | undefined {
    return this.entries[0];
  }

  push(items: Item[], alone: boolean): void {
    this.entries.push({ items, alone });
  }

  /** The next call's items: the head entry (its first maxBatch if larger), joined by the plain batches behind a plain one (up to maxBatch). */
  take(): Item[] {
    const head = this.entries[0]!;
    if (head.items.length > this.maxBatch) {
      const part = head.items.slice(0, this.maxBatch);
      head.items = head.items.slice(this.maxBatch);
      return part;
    }
    const first = this.entries.shift()!;
    let items = first.items;
    if (first.alone) return items;
    while (this.entries.length > 0 && !this.entries[0]!.alone && items.length + this.entries[0]!.items.length <= this.maxBatch) {
      items = items.concat(this.entries.shift()!.items);
    }
    return items;
  }

  /** Everything waiting, taken out (a drain gives it back to the broker). */
  takeAll(): Item[] {
    const all = this.entries.flatMap((e) => e.items);
    this.entries = [];
    return all;
  }
}
