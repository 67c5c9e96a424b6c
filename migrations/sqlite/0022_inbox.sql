-- Updates Telegram pushed to the webhook (issue 14). An update is written here before
-- Telegram hears 200, so a crash after the answer loses nothing; its update_id is the key, so
-- an update Telegram sends again is recorded once. Instances take each chat's oldest open
-- update (the chat's order kept across instances) and mark it handled when its handler is done.
CREATE TABLE inbox (
    update_id   INTEGER PRIMARY KEY,
    -- The chat the update came from (0 when it has none): one chat's updates in order.
    chat_id     INTEGER NOT NULL,
    -- The update as Telegram sent it; emptied once handled.
    body        TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    -- pending | handling | handled
    status      TEXT NOT NULL DEFAULT 'pending',
    lease_owner TEXT,
    lease_until INTEGER,
    handled_at  INTEGER
);
CREATE INDEX inbox_open_by_chat ON inbox(chat_id, update_id, status, lease_until)
    WHERE status IN ('pending', 'handling');
CREATE INDEX inbox_handled ON inbox(handled_at) WHERE status = 'handled';
CREATE INDEX inbox_leased_by ON inbox(lease_owner) WHERE status = 'handling';
