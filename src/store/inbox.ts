/**
 * Postgres inbox mode: the handler's writes and an inbox row for the message id
 * commit in one transaction. The row's primary key is the authority: a
 * redelivery (or a second replica after a lost lease) finds it and is a duplicate,
 * so the handler's effect happens once even across a crash between the commit
 * and the completion record. Rows expire with the dedup window.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import type { Logger } from '../common/logger.js';
import { packageFile } from '../common/paths.js';

export const INBOX_TABLE = 'dedup_inbox';

/** Apply the shipped migrations (each is idempotent), in file-name order. */
export async function migrate(url: string): Promise<void> {
  const dir = packageFile('migrations');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
      await client.query(readFileSync(`${dir}/${file}`, 'utf8'));
    }
  } finally {
    await client.end();
  }
}

/** Delete expired inbox rows every `everyMs`, in bounded batches. */
export function startInboxCleanup(url: string, everyMs: number, log: Logger): { stop(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => {});
  const sweep = async (): Promise<void> => {
    try {
      const res = await pool.query(
        `DELETE FROM ${INBOX_TABLE} WHERE ctid IN (SELECT ctid FROM ${INBOX_TABLE} WHERE expires_at < now() LIMIT 10000)`,
      );
      if (res.rowCount) log.debug({ deleted: res.rowCount }, 'expired inbox rows deleted');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'inbox cleanup failed; trying again later');
    }
  };
  const timer = setInterval(() => void sweep(), everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await pool.end().catch(() => {});
    },
  };
}

export interface InboxEntry {
  /** The dedup scope (the queue unless --dedup-scope names another): rows are unique per scope and id. */
  queue: string;
  id: string;
  fence: number;
  dedupTtlMs: number;
}

/**
 * Run `fn` inside a transaction that also inserts the inbox row; commit both or
 * neither. If the row exists already (another run committed), nothing runs.
 */
export async function inTransaction<T>(pool: pg.Pool, entry: InboxEntry, fn: (db: pg.PoolClient) => Promise<T>): Promise<{ duplicate: true } | { duplicate: false; value: T }> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    const inserted = await db.query(
      `INSERT INTO ${INBOX_TABLE} (queue, message_id, fence, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond') ON CONFLICT DO NOTHING`,
      [entry.queue, entry.id, entry.fence, entry.dedupTtlMs],
    );
    if (inserted.rowCount === 0) {
      await db.query('ROLLBACK');
      return { duplicate: true };
    }
    const value = await fn(db);
    await db.query('COMMIT');
    return { duplicate: false, value };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    db.release();
  }
}
