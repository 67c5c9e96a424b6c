-- Plain notices that may go out together (issue 14, "say less"): when a chat has several of
-- them waiting one after another, they are sent as one message. Only notices nobody will
-- ever edit are marked (a card's row is edited in place, so cards never are).
ALTER TABLE outbox ADD COLUMN mergeable BIGINT NOT NULL DEFAULT 0;
