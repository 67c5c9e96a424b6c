-- A chat's rest after each message or edit sent to it: Telegram allows one a second to a chat,
-- per bot. Resting the chat's waiting rows (outbox.next_attempt_at) does not cover a row
-- queued after the send, which another instance would then send at once: every claim checks
-- this table too.
CREATE TABLE chat_rests (
    chat_id BIGINT PRIMARY KEY,
    until   BIGINT NOT NULL
);
