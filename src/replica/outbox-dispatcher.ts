/**
 * The outboxes' dispatchers: publish follow-ups left unsent (their replica died
 * between the commit and the publish, or the broker did not take them then).
 * Each replica runs one per outbox its mode has; a follow-up is sent again only if
 * its first publisher did not mark it within the grace time: the copy has the same
 * id and bytes, and the next service acks it as a duplicate.
 *
 * Postgres (inbox mode): rows are claimed with FOR UPDATE SKIP LOCKED, so two
 * dispatchers never take the same row at once; sent rows are deleted after the
 * dedup window. Redis (Redis-atomic runs): entries are deleted once sent; two
 * dispatchers may both send an entry they find at the same moment (same id).
 * Each pass ends with one count of what is still unsent (COUNT on the partial index,
 * or HLEN): the gauge dedup_outbox_pending.
 */
import pg from 'pg';
import type { Redis } from 'ioredis';
import type { OutgoingChannel } from '../amqp/outgoing.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { claimUnsent, countUnsent, deleteExpiredSent, markSent } from '../store/outbox.js';
import { removeFromOutbox, scanOutbox } from '../store/redis-outbox.js';
import { publishEach } from './followups.js';
import type { ReplicaStats } from './stats.js';

/** Follow-ups younger than this are left to the replica that committed them. */
export const OUTBOX_GRACE_MS = 5000;
/** How often unsent follow-ups are looked for. */
const SWEEP_MS = 2000;
/** Follow-ups per pass. */
const BATCH = 100;

export interface Dispatcher {
  /** Begin the passes (once the replica is connected). */
  start(): void;
  /** One pass now (the timer runs one every SWEEP_MS); how many follow-ups were sent. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

interface Deps {
  channel: OutgoingChannel;
  stats: ReplicaStats;
  log: Logger;
}

/** Run `pass` every `everyMs`, one at a time; its failures are logged, never thrown. */
function periodic({ stats, log }: Deps, pass: () => Promise<number>, everyMs: number, onStop: () => Promise<void>): Dispatcher {
  let running: Promise<number> | undefined;
  const once = async (): Promise<number> => {
    try {
      const sent = await pass();
      stats.followupsPublished += sent;
      if (sent > 0) log.info({ sent }, 'outbox: follow-ups left unsent were published');
      return sent;
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'outbox dispatch failed; trying again later');
      return 0;
    }
  };
  const sweep = (): Promise<number> => (running ??= once().finally(() => (running = undefined)));
  let timer: NodeJS.Timeout | undefined;
  return {
    start() {
      timer ??= setInterval(() => void sweep(), everyMs);
      timer.unref();
    },
    sweep,
    async stop() {
      clearInterval(timer);
      await running;
      await onStop();
    },
  };
}

function warnUnsent(log: Logger, msgId: string, followupId: string, reason: unknown): void {
  log.warn({ msgId, followupId, err: errorMessage(reason) }, 'outbox: follow-up not confirmed; trying again later');
}

/** Inbox mode: the Postgres outbox of `scope`. `db` is also the pool the replica marks its own publishes through. */
export function startOutboxDispatcher(url: string, scope: string, deps: Deps, everyMs = SWEEP_MS): Dispatcher & { readonly db: pg.Pool } {
  const db = new pg.Pool({ connectionString: url, max: 4 });
  db.on('error', () => {});
  const pass = async (): Promise<number> => {
    let sent = 0;
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      const rows = await claimUnsent(client, scope, OUTBOX_GRACE_MS, BATCH);
      const results = await publishEach(deps.channel, rows.map((r) => r.message));
      for (const [k, r] of rows.entries()) {
        const res = results[k]!;
        if (res.status === 'rejected') warnUnsent(deps.log, r.messageId, r.message.id, res.reason);
        else {
          await markSent(client, scope, r.messageId, [r.message.position]);
          sent += 1;
        }
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    const deleted = await deleteExpiredSent(db, scope);
    if (deleted > 0) deps.log.debug({ deleted }, 'outbox: sent rows past the dedup window deleted');
    deps.stats.outboxPending.postgres = { count: await countUnsent(db, scope), at: Date.now() };
    return sent;
  };
  return { db, ...periodic(deps, pass, everyMs, () => db.end().catch(() => {})) };
}

/** Redis-atomic runs: the outbox hash `key` on the single Redis. */
export function startRedisOutboxDispatcher(redis: () => Redis, key: string, deps: Deps, everyMs = SWEEP_MS): Dispatcher {
  const pass = async (): Promise<number> => {
    const entries = (await scanOutbox(redis(), key, BATCH)).filter((e) => Date.now() - e.at > OUTBOX_GRACE_MS);
    const results = await publishEach(deps.channel, entries.map((e) => e.message));
    entries.forEach((e, k) => results[k]!.status === 'rejected' && warnUnsent(deps.log, e.owner, e.message.id, (results[k] as PromiseRejectedResult).reason));
    const sent = entries.filter((_, k) => results[k]!.status === 'fulfilled');
    await removeFromOutbox(redis(), key, sent.map((e) => e.field));
    deps.stats.outboxPending.redis = { count: await redis().hlen(key), at: Date.now() };
    return sent.length;
  };
  return periodic(deps, pass, everyMs, async () => {});
}
