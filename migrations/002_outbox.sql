-- The outbox of dedup-pool's Postgres mode: the follow-up messages a handler
-- published (ctx.publish), inserted in the same transaction as its inbox row and
-- its own writes. The replica publishes them after the commit and marks them sent;
-- a dispatcher publishes any left unsent (a replica that died after the commit).
-- Sent rows are deleted once the dedup window has passed.
CREATE TABLE IF NOT EXISTS dedup_outbox (
  queue        text        NOT NULL,  -- the dedup scope of the incoming message
  message_id   text        NOT NULL,  -- the incoming message's id
  position     integer     NOT NULL,  -- which ctx.publish call of the run, from 0
  followup_id  text        NOT NULL,  -- the follow-up's own message id
  exchange     text        NOT NULL,
  routing_key  text        NOT NULL,
  content      bytea       NOT NULL,
  properties   jsonb       NOT NULL,  -- contentType, persistent, headers
  created_at   timestamptz NOT NULL DEFAULT now(),
  sent_at      timestamptz,
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (queue, message_id, position)
);
-- The dispatcher's scan: unsent rows, oldest first.
CREATE INDEX IF NOT EXISTS dedup_outbox_unsent ON dedup_outbox (queue, created_at) WHERE sent_at IS NULL;
-- The cleanup of sent rows past the dedup window.
CREATE INDEX IF NOT EXISTS dedup_outbox_expires_at ON dedup_outbox (expires_at) WHERE sent_at IS NOT NULL;
