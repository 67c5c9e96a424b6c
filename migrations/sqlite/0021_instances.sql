-- Running instances of the bot (issue 14): several `run` processes may share one PostgreSQL
-- database. Each delivering instance keeps its row fresh every few seconds; a row that has gone
-- stale is a dead instance, and what it had claimed from the outbox goes back to the queue at
-- once instead of when its lease runs out (two minutes).
CREATE TABLE instances (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);

-- Which instance holds a row's lease; only rows being sent are looked up by it.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
CREATE INDEX outbox_leased_by ON outbox(lease_owner) WHERE status = 'sending';
