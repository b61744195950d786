/**
 * Step 4's store side (see pipeline.ts): the completion records of everything that
 * finished since the last call go in one call, retried briefly while Redis is unreachable;
 * a Redis-atomic item goes in a call of its own, with the effects its handler described.
 */
import { DedupPoolError, StoreUnavailableError } from '../common/errors.js';
import { encodeRecord, type DedupStore } from '../store/dedup-store.js';
import { checkEffects } from '../store/effects.js';
import type { Followups } from './followups.js';
import type { Item } from './item.js';

/** Tries of a complete call that failed for want of Redis, before its messages are requeued. */
const COMPLETE_TRIES = 3;

/**
 * Per item: true, recorded; false, not recorded because another lease was granted for
 * the id since ours; an Error, not recorded: BAD_EFFECT (its effects cannot be applied)
 * or Redis unreachable.
 */
export type Completion = boolean | Error;

/** `followups`: a run with effects stores its follow-ups in the Redis outbox in the same script, and publishes them after it. */
export async function completeItems(store: DedupStore, items: Item[], resultMaxBytes: number, followups?: Pick<Followups, 'outboxEffects' | 'afterCommit'>): Promise<Completion[]> {
  const out: Completion[] = new Array<Completion>(items.length);
  const record = (item: Item): string => encodeRecord(item.print, item.result!.resultJson, resultMaxBytes);
  const plain: number[] = [];
  const withEffects: Promise<void>[] = [];
  items.forEach((item, i) => {
    item.trace?.next('dedup complete');
    const effects = item.result!.effects ? checkEffects(item.result!.effects) : [];
    if (typeof effects === 'string') out[i] = new DedupPoolError('BAD_EFFECT', effects);
    else if (effects.length === 0) plain.push(i);
    else {
      const done = store.completeWithEffects(item.lease, record(item), [...effects, ...(followups?.outboxEffects(item) ?? [])]);
      const committed = async (r: boolean): Promise<void> => {
        if (r) await followups?.afterCommit(item);
        out[i] = r;
      };
      withEffects.push(done.then(committed, (err: unknown) => void (out[i] = err instanceof Error ? err : new Error(String(err)))));
    }
  });
  // A try again carries only what Redis did not answer: a record written by an earlier
  // try has ended its lease, and would come back as "another lease since ours". An earlier
  // try that timed out may still have run (Redis paused, a slow link): the retry says so,
  // and finds that record ours.
  let pending = plain;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const results = await store.completeMany(pending.map((i) => ({ lease: items[i]!.lease, record: record(items[i]!) })), attempt > 1);
    pending.forEach((i, k) => (out[i] = results[k]!));
    pending = pending.filter((i) => out[i] instanceof StoreUnavailableError);
    if (pending.length === 0 || attempt === COMPLETE_TRIES) break;
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
  await Promise.all(withEffects);
  return out;
}
