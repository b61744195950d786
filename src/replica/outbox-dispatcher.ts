/**
 * Inbox mode: publishes outbox rows left unsent (their replica died between the
 * commit and the publish, or the broker did not take them then), and deletes sent
 * rows past the dedup window. Each replica of the scope runs one; rows are claimed
 * with FOR UPDATE SKIP LOCKED, so two dispatchers never take the same row at once.
 * A row is sent again only if its first publisher did not mark it within the grace
 * time: the copy has the same id and bytes, and the next service acks it as a duplicate.
 */
import pg from 'pg';
import type { OutgoingChannel } from '../amqp/outgoing.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { claimUnsent, deleteExpiredSent, markSent } from '../store/outbox.js';
import { followupProps } from './followups.js';
import type { ReplicaStats } from './stats.js';

/** Rows younger than this are left to the replica that committed them. */
export const OUTBOX_GRACE_MS = 5000;
/** How often unsent rows are looked for. */
const SWEEP_MS = 2000;
/** Rows per claim. */
const BATCH = 100;

export interface OutboxDispatcher {
  /** The pool the replica marks its own publishes sent through. */
  readonly db: pg.Pool;
  /** One pass now (tests; the timer runs them every `everyMs`); how many rows were sent. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startOutboxDispatcher(url: string, scope: string, channel: OutgoingChannel, stats: ReplicaStats, log: Logger, everyMs = SWEEP_MS): OutboxDispatcher {
  const db = new pg.Pool({ connectionString: url, max: 4 });
  db.on('error', () => {});
  let running: Promise<number> | undefined;
  const pass = async (): Promise<number> => {
    let sent = 0;
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      const rows = await claimUnsent(client, scope, OUTBOX_GRACE_MS, BATCH);
      const results = await Promise.allSettled(rows.map((r) => channel.publish(r.message.exchange, r.message.routingKey, r.message.content, followupProps(r.message))));
      for (const [k, r] of rows.entries()) {
        const res = results[k]!;
        if (res.status === 'rejected') {
          log.warn({ msgId: r.messageId, followupId: r.message.id, err: errorMessage(res.reason) }, 'outbox: follow-up not confirmed; trying again later');
          continue;
        }
        await markSent(client, scope, r.messageId, [r.message.position]);
        sent += 1;
      }
      await client.query('COMMIT');
      stats.followupsPublished += sent;
      if (sent > 0) log.info({ sent }, 'outbox: follow-ups left unsent were published');
      const deleted = await deleteExpiredSent(db, scope);
      if (deleted > 0) log.debug({ deleted }, 'outbox: sent rows past the dedup window deleted');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      log.warn({ err: errorMessage(err) }, 'outbox dispatch failed; trying again later');
    } finally {
      client.release();
    }
    return sent;
  };
  const sweep = (): Promise<number> => (running ??= pass().finally(() => (running = undefined)));
  const timer = setInterval(() => void sweep(), everyMs);
  timer.unref();
  return {
    db,
    sweep,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => {});
      await db.end().catch(() => {});
    },
  };
}
