/**
 * Between steps 3 and 4 of the protocol (see pipeline.ts): the follow-up messages
 * a handler published (ctx.publish) go to the broker after it succeeded and before
 * its completion record is written, each mandatory and confirmed. Only an item
 * whose every follow-up was confirmed goes on to be recorded and acked; any other
 * is failed (retried, or dead-lettered naming the follow-up), so nothing is acked
 * whose follow-ups were not sent. A rerun sends the same ids (docs/chains.md).
 *
 * Inbox mode: the follow-ups are already committed to the outbox with the handler's
 * writes. They are published here all the same (and marked sent), but one that is
 * not confirmed stays in the outbox for the dispatcher: the message is done.
 */
import type pg from 'pg';
import type { Options } from 'amqplib';
import type { OutgoingChannel } from '../amqp/outgoing.js';
import { DedupPoolError, UnroutableError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { markSent, type OutboxMessage } from '../store/outbox.js';
import { describeTarget } from '../threads/followup-calls.js';
import type { Item } from './item.js';
import type { ReplicaStats } from './stats.js';

export interface FollowupsDeps {
  channel: OutgoingChannel;
  stats: ReplicaStats;
  log: Logger;
  /** Inbox mode: the outbox's database and the scope its rows are under. */
  outbox?: { db: pg.Pool; scope: string };
}

/** The AMQP properties of a follow-up: the same on every publish of it. */
export function followupProps(m: OutboxMessage): Options.Publish {
  return { messageId: m.id, contentType: m.contentType, persistent: m.persistent, headers: m.headers };
}

export class Followups {
  constructor(private readonly deps: FollowupsDeps) {}

  /**
   * Publish the follow-ups of each item and wait for their confirms. Resolves with the
   * items free to be recorded (every follow-up confirmed, or none); each other item is
   * handed to `failed` with an error naming its first follow-up that was not confirmed.
   */
  async publish(items: Item[], failed: (item: Item, err: DedupPoolError) => void): Promise<Item[]> {
    // A run whose lease was lost is not recorded (its redelivery runs again): its follow-ups wait for that run.
    const sends = (i: Item): boolean => i.result?.followups !== undefined && !i.lost;
    if (!items.some(sends)) return items;
    const errors = await Promise.all(items.map((i) => (sends(i) ? this.send(i) : undefined)));
    items.forEach((item, k) => errors[k] && failed(item, errors[k]));
    return items.filter((_, k) => !errors[k]);
  }

  private async send(item: Item): Promise<DedupPoolError | undefined> {
    const { channel, stats, log, outbox } = this.deps;
    const list = item.result!.followups!;
    const results = await Promise.allSettled(list.map((m) => channel.publish(m.exchange, m.routingKey, Buffer.from(m.content), followupProps(m))));
    const confirmed = list.filter((_, k) => results[k]!.status === 'fulfilled');
    stats.followupsPublished += confirmed.length;
    const k = results.findIndex((r) => r.status === 'rejected');
    const error = k < 0 ? undefined : notSent(list, k, (results[k] as PromiseRejectedResult).reason);
    if (!outbox) return error;
    // Committed already: what was confirmed is marked sent, the rest waits for the dispatcher.
    await markSent(outbox.db, outbox.scope, item.id, confirmed.map((m) => m.position)).catch((err: unknown) =>
      log.warn({ msgId: item.id, err: errorMessage(err) }, 'could not mark follow-ups sent: the outbox dispatcher will send them again (same ids)'),
    );
    if (error) log.warn({ msgId: item.id, err: error.message }, 'follow-up not confirmed: left in the outbox for the dispatcher');
    return undefined;
  }
}

/** The error naming follow-up `k` of `list`, which the broker did not take. */
export function notSent(list: OutboxMessage[], k: number, reason: unknown): DedupPoolError {
  const m = list[k]!;
  const code = reason instanceof UnroutableError ? 'FOLLOWUP_UNROUTABLE' : 'FOLLOWUP_REFUSED';
  return new DedupPoolError(code, `follow-up ${k + 1} of ${list.length} (id ${m.id}, to ${describeTarget(m.exchange, m.routingKey)}) was not confirmed: ${errorMessage(reason)}`);
}
