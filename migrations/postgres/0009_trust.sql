-- The trust boundary (issue 8).

-- One signature per person, step and round, also where the step is NULL (the group's
-- confirmations): a unique index treats NULLs as distinct, so two taps used to count twice.
DELETE FROM review_events WHERE action IN ('approve', 'confirm') AND id NOT IN (
    SELECT MIN(id) FROM review_events WHERE action IN ('approve', 'confirm')
    GROUP BY request_id, round, COALESCE(step, -1), user_id, action
);
DROP INDEX review_one_vote;
CREATE UNIQUE INDEX review_one_vote
    ON review_events(request_id, round, (COALESCE(step, -1)), user_id, action)
    WHERE action IN ('approve', 'confirm');

-- Invites: codes are stored as SHA-256 hashes (rewritten at start by the bot, see
-- store::people::hash_stored_codes); who issued each (NULL: the command line) and whether it
-- was revoked before use.
ALTER TABLE invites ADD COLUMN issued_by BIGINT;
ALTER TABLE invites ADD COLUMN revoked_at BIGINT;

-- The delivery worker takes the oldest open row of each chat; this index holds open rows only.
CREATE INDEX outbox_open_by_chat ON outbox(chat_id, id) WHERE status IN ('pending', 'sending');
