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
 *
 * Redis-atomic runs (with effects): the follow-ups are not published before the
 * script; they go into the Redis outbox by one more effect, committed with the
 * others and the record (completions.ts), and are published right after it
 * (afterCommit); what is not confirmed then waits there for the dispatcher.
 */
import type pg from 'pg';
import type { Options } from 'amqplib';
import type { Redis } from 'ioredis';
import type { OutgoingChannel } from '../amqp/outgoing.js';
import { DedupPoolError, UnroutableError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { RedisEffect } from '../store/effects.js';
import { markSent, type OutboxMessage } from '../store/outbox.js';
import { outboxEffect, outboxField, removeFromOutbox } from '../store/redis-outbox.js';
import { describeTarget } from '../threads/followup-calls.js';
import type { Item } from './item.js';
import type { ReplicaStats } from './stats.js';

export interface FollowupsDeps {
  channel: OutgoingChannel;
  stats: ReplicaStats;
  log: Logger;
  /** Inbox mode: the outbox's database and the scope its rows are under. */
  outbox?: { db: pg.Pool; scope: string };
  /** A single Redis: runs with effects store their follow-ups in this outbox hash. */
  redisOutbox?: { redis(): Redis; key: string };
}

/** The AMQP properties of a follow-up: the same on every publish of it. */
export function followupProps(m: OutboxMessage): Options.Publish {
  return { messageId: m.id, contentType: m.contentType, persistent: m.persistent, headers: m.headers };
}

/** Publish each follow-up, mandatory and confirmed; how each went. */
export function publishEach(channel: OutgoingChannel, list: OutboxMessage[]): Promise<PromiseSettledResult<void>[]> {
  // async: a throw becomes that message's rejection, never a throw out of the complete step (which would stall it).
  return Promise.allSettled(list.map(async (m) => channel.publish(m.exchange, m.routingKey, Buffer.from(m.content), followupProps(m))));
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
    const sends = (i: Item): boolean => i.result?.followups !== undefined && !i.lost && !this.viaRedisOutbox(i);
    if (!items.some(sends)) return items;
    const errors = await Promise.all(items.map((i) => (sends(i) ? this.send(i) : undefined)));
    items.forEach((item, k) => errors[k] && failed(item, errors[k]));
    return items.filter((_, k) => !errors[k]);
  }

  /** Its follow-ups are committed with its effects (a run with effects on a single Redis). */
  private viaRedisOutbox(item: Item): boolean {
    return this.deps.redisOutbox !== undefined && (item.result?.effects?.length ?? 0) > 0 && item.result?.followups !== undefined;
  }

  /** The effects that store the item's follow-ups in the Redis outbox (none unless it goes that way). */
  outboxEffects(item: Item): RedisEffect[] {
    const o = this.deps.redisOutbox;
    return o && this.viaRedisOutbox(item) ? item.result!.followups!.map((m) => outboxEffect(o.key, item.id, m)) : [];
  }

  /** The script committed the item's effects and follow-ups: publish them, and take the confirmed ones out of the outbox. */
  async afterCommit(item: Item): Promise<void> {
    const o = this.deps.redisOutbox;
    if (!o || !this.viaRedisOutbox(item)) return;
    const { channel, stats, log } = this.deps;
    const list = item.result!.followups!;
    const results = await publishEach(channel, list);
    const confirmed = list.filter((_, k) => results[k]!.status === 'fulfilled');
    stats.followupsPublished += confirmed.length;
    await removeFromOutbox(o.redis(), o.key, confirmed.map((m) => outboxField(item.id, m.position))).catch((err: unknown) =>
      log.warn({ msgId: item.id, err: errorMessage(err) }, 'could not take sent follow-ups out of the outbox: the dispatcher will send them again (same ids)'),
    );
    if (confirmed.length < list.length) log.warn({ msgId: item.id, unsent: list.length - confirmed.length }, 'follow-up not confirmed: left in the outbox for the dispatcher');
  }

  private async send(item: Item): Promise<DedupPoolError | undefined> {
    const { channel, stats, log, outbox } = this.deps;
    const list = item.result!.followups!;
    const results = await publishEach(channel, list);
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
