-- Batch cards (issue 14, "say less, sooner"): a person with many cards waiting gets one message
-- that lists them a page at a time, not a card each. A folded card keeps its outbox row (status
-- 'folded': never sent on its own; 'dropped' once closed before it was shown) and its
-- review_cards line, so every path that closes or counts cards still finds it.
ALTER TABLE outbox ADD COLUMN foldable INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_folded_by_chat ON outbox(chat_id, id) WHERE status = 'folded';
CREATE INDEX outbox_foldable_waiting ON outbox(chat_id, id) WHERE status = 'pending' AND foldable = 1;

-- One list per chat. `outbox_id` is the message showing it now (NULL once it was emptied: the
-- next card that folds starts a new message, which notifies, where an edit would not).
CREATE TABLE card_lists (
    id        INTEGER PRIMARY KEY,
    chat_id   INTEGER NOT NULL UNIQUE,
    user_id   INTEGER NOT NULL,
    outbox_id INTEGER,
    page      INTEGER NOT NULL DEFAULT 0,
    version   INTEGER NOT NULL DEFAULT 0
);

-- What each version of a list showed: a card's buttons act on an item only once a page showed
-- it, and a page's 全部同意 acts on exactly the items of the version it was pressed on.
CREATE TABLE card_pages (
    list_id    INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    request_id INTEGER NOT NULL,
    stage      TEXT    NOT NULL,
    PRIMARY KEY (list_id, version, request_id, stage)
);
CREATE INDEX card_pages_by_request ON card_pages(request_id, stage);
