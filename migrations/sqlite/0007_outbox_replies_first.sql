-- A reply to a person's own command (/start, /whoami, a refusal …) is sent before
-- notices already queued: during a publication's fan-out thousands of notices wait their turn
-- at Telegram's rate, and nobody should wait minutes for the answer to what they just typed.
-- (Version 0006 exists on PostgreSQL only.)
ALTER TABLE outbox ADD COLUMN is_reply INTEGER NOT NULL DEFAULT 0;
-- The replies waiting are found without reading the backlog of notices.
CREATE INDEX outbox_replies_due ON outbox(is_reply, status, next_attempt_at);
