/**
 * Postgres inbox mode's outbox: a handler's follow-up messages (ctx.publish) are
 * rows inserted in the transaction that inserts its inbox row, so they commit with
 * its writes or not at all. Whoever publishes one marks it sent: the replica right
 * after the commit, or the dispatcher (replica/outbox-dispatcher.ts) for rows left
 * unsent by a replica that died. Sent rows go once the dedup window has passed;
 * unsent ones stay until they are sent.
 */
import type pg from 'pg';

export const OUTBOX_TABLE = 'dedup_outbox';

/** One follow-up as it is stored and published (threads/followup-calls.ts builds them). */
export interface OutboxMessage {
  /** Which ctx.publish call of the run it came from, from 0. */
  position: number;
  exchange: string;
  routingKey: string;
  id: string;
  /** JSON text, or raw bytes. */
  content: string | Uint8Array;
  contentType: string;
  persistent: boolean;
  headers: Record<string, string | number | boolean>;
}

/** The incoming message the follow-ups belong to. */
export interface OutboxOwner {
  /** The dedup scope. */
  queue: string;
  id: string;
  dedupTtlMs: number;
}

/** Insert the follow-ups of one run, inside its inbox transaction (`db` is in it). */
export async function insertOutbox(db: pg.PoolClient, owner: OutboxOwner, list: OutboxMessage[]): Promise<void> {
  if (list.length === 0) return;
  const values: unknown[] = [owner.queue, owner.id, owner.dedupTtlMs];
  const rows = list.map((m) => {
    const at = values.length;
    values.push(m.position, m.id, m.exchange, m.routingKey, Buffer.from(m.content), JSON.stringify({ contentType: m.contentType, persistent: m.persistent, headers: m.headers }));
    return `($1, $2, $${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}, $${at + 6}, now() + $3 * interval '1 millisecond')`;
  });
  await db.query(
    `INSERT INTO ${OUTBOX_TABLE} (queue, message_id, position, followup_id, exchange, routing_key, content, properties, expires_at) VALUES ${rows.join(', ')}`,
    values,
  );
}

/** Mark follow-ups of one incoming message sent. */
export async function markSent(db: pg.Pool | pg.PoolClient, queue: string, messageId: string, positions: number[]): Promise<void> {
  if (positions.length === 0) return;
  await db.query(`UPDATE ${OUTBOX_TABLE} SET sent_at = now() WHERE queue = $1 AND message_id = $2 AND position = ANY($3::int[]) AND sent_at IS NULL`, [queue, messageId, positions]);
}

export interface UnsentRow {
  messageId: string;
  message: OutboxMessage & { content: Buffer };
}

/**
 * Rows of `queue` left unsent for longer than `olderThanMs`, locked for this
 * transaction (others skip them), oldest first. `db` must be inside a transaction.
 */
export async function claimUnsent(db: pg.PoolClient, queue: string, olderThanMs: number, limit: number): Promise<UnsentRow[]> {
  const res = await db.query<{ message_id: string; position: number; followup_id: string; exchange: string; routing_key: string; content: Buffer; properties: { contentType: string; persistent: boolean; headers: OutboxMessage['headers'] } }>(
    `SELECT message_id, position, followup_id, exchange, routing_key, content, properties FROM ${OUTBOX_TABLE}
      WHERE queue = $1 AND sent_at IS NULL AND created_at < now() - $2 * interval '1 millisecond'
      ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [queue, olderThanMs, limit],
  );
  return res.rows.map((r) => ({
    messageId: r.message_id,
    message: { position: r.position, id: r.followup_id, exchange: r.exchange, routingKey: r.routing_key, content: r.content, ...r.properties },
  }));
}

/** How many follow-ups of `queue` are stored and not yet sent (the partial index on unsent rows answers it). */
export async function countUnsent(db: pg.Pool, queue: string): Promise<number> {
  const res = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${OUTBOX_TABLE} WHERE queue = $1 AND sent_at IS NULL`, [queue]);
  return res.rows[0]?.n ?? 0;
}

/** Delete sent rows of `queue` past the dedup window, a bounded batch at a time; how many went. */
export async function deleteExpiredSent(db: pg.Pool, queue: string): Promise<number> {
  const res = await db.query(
    `DELETE FROM ${OUTBOX_TABLE} WHERE ctid IN (SELECT ctid FROM ${OUTBOX_TABLE} WHERE queue = $1 AND sent_at IS NOT NULL AND expires_at < now() LIMIT 10000)`,
    [queue],
  );
  return res.rowCount ?? 0;
}

/** The follow-ups stored for an incoming id, in call order (`id show`). */
export async function outboxOf(db: pg.Pool | pg.Client, queue: string, messageId: string): Promise<{ position: number; id: string; sent: boolean }[]> {
  const res = await db.query<{ position: number; followup_id: string; sent: boolean }>(
    `SELECT position, followup_id, sent_at IS NOT NULL AS sent FROM ${OUTBOX_TABLE} WHERE queue = $1 AND message_id = $2 ORDER BY position`,
    [queue, messageId],
  );
  return res.rows.map((r) => ({ position: r.position, id: r.followup_id, sent: r.sent }));
}
