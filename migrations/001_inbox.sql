-- The inbox of dedup-pool's Postgres mode: one row per message id processed inside
-- the dedup window, inserted in the same transaction as the handler's own writes.
-- The primary key is the authority: a second transaction for the same id waits for
-- the first, then finds the row and is treated as a duplicate.
CREATE TABLE IF NOT EXISTS dedup_inbox (
  queue        text        NOT NULL,
  message_id   text        NOT NULL,
  fence        bigint      NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (queue, message_id)
);
-- The cleanup job deletes expired rows by this index.
CREATE INDEX IF NOT EXISTS dedup_inbox_expires_at ON dedup_inbox (expires_at);
