-- Several bots in one deployment (issue 14): Telegram's 30 messages a second are a bot's, so a
-- province gives its large cities a bot each. A person is answered by the bot they talk to:
-- each chat's bot is the one its latest update came through, and each message is sent by the
-- bot of its chat when it was queued. A chat never heard from since has none: the deployment's
-- own bot sends to it (not a city's bot, which that person may never have started).
CREATE TABLE chat_bots (
    chat_id INTEGER PRIMARY KEY,
    bot_id  INTEGER NOT NULL
);
ALTER TABLE outbox ADD COLUMN bot_id INTEGER;
-- The heads' one grouped pass (0014) reads the index only: it carries the bot too.
DROP INDEX outbox_open_by_chat;
CREATE INDEX outbox_open_by_chat
    ON outbox(chat_id, id, is_reply, status, next_attempt_at, lease_until, bot_id)
    WHERE status IN ('pending', 'sending');
-- A bot's instances share its rate, not the other bots' instances.
ALTER TABLE instances ADD COLUMN bot_id INTEGER;

-- Update ids are a bot's own: two bots' webhooks push the same numbers. The inbox's key becomes
-- (bot, update); rows from before are the one bot's (0: any bot takes them).
CREATE TABLE inbox_by_bot (
    bot_id      INTEGER NOT NULL,
    update_id   INTEGER NOT NULL,
    chat_id     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending',
    lease_owner TEXT,
    lease_until INTEGER,
    handled_at  INTEGER,
    PRIMARY KEY (bot_id, update_id)
);
INSERT INTO inbox_by_bot (bot_id, update_id, chat_id, body, received_at, status, lease_owner,
                          lease_until, handled_at)
    SELECT 0, update_id, chat_id, body, received_at, status, lease_owner, lease_until, handled_at
    FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_by_bot RENAME TO inbox;
CREATE INDEX inbox_open_by_chat ON inbox(bot_id, chat_id, update_id, status, lease_until)
    WHERE status IN ('pending', 'handling');
CREATE INDEX inbox_handled ON inbox(handled_at) WHERE status = 'handled';
CREATE INDEX inbox_leased_by ON inbox(lease_owner) WHERE status = 'handling';
