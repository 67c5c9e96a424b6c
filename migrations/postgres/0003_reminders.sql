-- Reminders already sent: one row per moment (a season's reminder key). The sweep inserts the
-- key in the transaction that queues the messages, so a moment fires once across restarts and
-- instances.
CREATE TABLE reminders_sent (
    key        TEXT    PRIMARY KEY,
    due_at     BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL,
    recipients BIGINT NOT NULL
);
