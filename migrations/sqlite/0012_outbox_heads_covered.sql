-- The delivery worker's read of each chat's oldest open row (`outbox::due_heads`) also asks
-- whether a reply waits in the chat; with `is_reply` in the index the read never touches the
-- rows themselves, however long the backlog.
DROP INDEX outbox_open_by_chat;
CREATE INDEX outbox_open_by_chat ON outbox(chat_id, id, is_reply)
    WHERE status IN ('pending', 'sending');
