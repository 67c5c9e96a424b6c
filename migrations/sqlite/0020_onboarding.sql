-- Onboarding from the people roster and chat (issue 13).

-- 附件1's directory: a person's title (组长, 副组长, 成员, 办公室主任, 办公室副主任, or free
-- text) and phone, from the roster's 职务 and 手机 columns. Kept on the invite; a binding reaches
-- them through its invite_code.
ALTER TABLE invites ADD COLUMN title TEXT;
ALTER TABLE invites ADD COLUMN phone TEXT;

-- Chats whose Telegram command menu must be set again because a binding there was made or
-- revoked. The bot's menu worker sets the chat's menu from its bindings and deletes the row;
-- a row left by a crash is simply done again.
CREATE TABLE menu_updates (
    chat_id INTEGER PRIMARY KEY,
    due_at  INTEGER NOT NULL,
    -- Bumped by every change, so that the worker deletes only the version it has set.
    version INTEGER NOT NULL DEFAULT 1
);
-- Chats bound before menus followed the roles get theirs once.
INSERT INTO menu_updates (chat_id, due_at)
    SELECT DISTINCT chat_id, 0 FROM bindings WHERE revoked_at IS NULL;
