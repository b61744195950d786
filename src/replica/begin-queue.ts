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

/** Store calls of one kind (begin, complete) out at once per replica. */
export const CALLS_IN_FLIGHT = 1;

interface Entry {
  items: Item[];
  alone: boolean;
}

export class BeginQueue {
  private entries: Entry[] = [];

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

  /** The next call's items: the head entry, joined by the plain batches behind a plain one (up to --batch-size). */
  take(): Item[] {
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
