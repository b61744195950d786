/** ChurnMap: the table of what is in flight (pure unit tests, one of them on V8's collector). */
import { setFlagsFromString, getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ChurnMap } from '../src/common/churn-map.js';

describe('ChurnMap', () => {
  it('keeps entries by string or number, counts them, and forgets deleted ones', () => {
    const m = new ChurnMap<string, number>();
    expect(m.set('a', 1).set('b', 2).set('a', 3).size).toBe(2);
    expect(m.get('a')).toBe(3);
    expect(m.has('b')).toBe(true);
    expect(m.delete('b')).toBe(true);
    expect(m.delete('b')).toBe(false);
    expect([m.has('b'), m.get('b'), m.size]).toEqual([false, undefined, 1]);
    // Ids are arbitrary strings: none is special (no prototype to reach).
    for (const id of ['__proto__', 'constructor', 'toString', '']) m.set(id, 7);
    expect(m.get('__proto__')).toBe(7);
    expect(m.keys().sort()).toEqual(['', '__proto__', 'a', 'constructor', 'toString']);
    const n = new ChurnMap<number, string>().set(3, 'x').set(1_000_000, 'y');
    expect([...n.values()].sort()).toEqual(['x', 'y']);
  });

  it('skips entries deleted while its values are walked', () => {
    const m = new ChurnMap<number, number>();
    for (let i = 0; i < 10; i++) m.set(i, i);
    const seen: number[] = [];
    for (const v of m.values()) {
      seen.push(v);
      if (v === 0) for (let i = 1; i < 10; i += 2) m.delete(i);
    }
    expect(seen.sort()).toEqual([0, 2, 4, 6, 8]);
  });

  it('lets deleted entries die young, where an old Map keeps them alive until a full collection', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const oldSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
    // 100 entries in flight at a time, 200,000 passing through: a replica's maps under load.
    const promoted = (table: { set(k: number, v: object): unknown; delete(k: number): unknown }): number => {
      for (let i = 0; i < 100; i++) table.set(i, { i });
      gc(); // the table's storage is now in the old generation, as a replica's is after its first full collection
      const before = oldSpace();
      for (let i = 100; i < 200_100; i++) {
        table.set(i, { i, pad: [i, i, i, i] });
        table.delete(i - 100);
      }
      return oldSpace() - before;
    };
    const map = promoted(new Map<number, object>());
    const churn = promoted(new ChurnMap<number, object>());
    expect(map).toBeGreaterThan(2_000_000);
    expect(churn).toBeLessThan(map / 10);
  });
});
