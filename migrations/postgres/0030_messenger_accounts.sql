-- A DingTalk person is known to the bot by a number of its own, as a Telegram user is by
-- Telegram's: the app (its client id) and the staff id DingTalk gives them in it. The numbers
-- start above every Telegram id (store::accounts).
CREATE TABLE messenger_accounts (
    id BIGSERIAL PRIMARY KEY,
    app TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    UNIQUE (app, staff_id)
);
