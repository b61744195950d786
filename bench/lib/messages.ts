/** The messages of a scenario, the same for every variant: ids, copies, producer retries. */
import type { Scenario } from '../scenarios/types.js';

export interface MessageSet {
  /** Message ids in publish order (copies included). */
  order: string[];
  unique: number;
  /** Copies injected: duplicates plus producer retries. */
  injected: number;
}

export function buildMessages(s: Scenario, tag: string): MessageSet {
  const ids = Array.from({ length: s.unique }, (_, i) => `${tag}-${i}`);
  const copies = Math.round((s.unique * s.duplicates) / (1 - s.duplicates));
  const order = [...ids];
  // Half the copies right behind their original, half at the far end of the stream.
  const adjacent: Map<number, number> = new Map();
  const far: string[] = [];
  for (let c = 0; c < copies; c++) {
    const i = (c * 7919) % s.unique;
    if (c % 2 === 0) adjacent.set(i, (adjacent.get(i) ?? 0) + 1);
    else far.push(ids[i]!);
  }
  const withAdjacent = order.flatMap((id, i) => [id, ...Array<string>(adjacent.get(i) ?? 0).fill(id)]);
  const retries = Array.from({ length: Math.round(s.unique * (s.producerRetries ?? 0)) }, (_, c) => ids[(c * 104_729) % s.unique]!);
  const all = [...withAdjacent, ...far, ...retries];
  return { order: all, unique: s.unique, injected: all.length - s.unique };
}

/** The body of an id: the same bytes for every copy, as a producer retry or a resend would be. */
export function bodyOf(id: string): Buffer {
  return Buffer.from(JSON.stringify({ message_id: id, data: { order: id, amount: 10 } }));
}
