/**
 * A map for entries that come and go once per message (in flight, running, held),
 * keyed by a string or a number.
 *
 * Not a Map or a Set: V8 links each hash table a Map or Set outgrows or compacts to its
 * successor (so that live iterators can follow), and the old table keeps its entries.
 * Once one table of such a chain is in the old generation (every full collection puts
 * the current one there), each young collection keeps every later table alive, and every
 * entry they held, until the next full one: every message's objects were promoted. In a
 * replica at 1x1 with a no-op handler, 1.3 MB survived each young collection and a full
 * one ran every second (docs/bench.md, "Young objects kept alive"). An object in
 * dictionary mode rehashes without such a chain.
 */
export class ChurnMap<K extends string | number, V> {
  private table: Record<string | number, V> = Object.create(null) as Record<string | number, V>;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    return this.table[key];
  }

  has(key: K): boolean {
    return key in this.table;
  }

  set(key: K, value: V): this {
    if (!(key in this.table)) this.count += 1;
    this.table[key] = value;
    return this;
  }

  delete(key: K): boolean {
    if (!(key in this.table)) return false;
    delete this.table[key];
    this.count -= 1;
    return true;
  }

  /** The values, in no particular order; entries deleted meanwhile are skipped. */
  *values(): IterableIterator<V> {
    for (const key in this.table) yield this.table[key]!;
  }

  /** The keys as strings (a number key reads back as its decimal string). */
  keys(): string[] {
    return Object.keys(this.table);
  }
}
