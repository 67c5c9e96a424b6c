-- `outbox::due_heads` now finds each chat's oldest open row and whether it is due in one pass
-- over this index, with no self-join: on PostgreSQL the join it had was planned on statistics
-- from before a burst (a few rows) and, under a backlog of 45,000 rows, took 20 s a read, so
-- delivery all but stopped. Carrying the due columns keeps the pass from touching the rows.
DROP INDEX outbox_open_by_chat;
CREATE INDEX outbox_open_by_chat
    ON outbox(chat_id, id, is_reply, status, next_attempt_at, lease_until)
    WHERE status IN ('pending', 'sending');
