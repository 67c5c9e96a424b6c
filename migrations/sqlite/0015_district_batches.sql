-- A signed result waits in 'reporting' for its unit's 上报 (附件6 注2); it is still open, so the
-- one-open-request-per-candidate index counts it.
DROP INDEX review_one_open;
CREATE UNIQUE INDEX review_one_open ON review_requests(candidate_id)
    WHERE state IN ('pending', 'returned', 'recording', 'confirming', 'reporting', 'rechecking');

-- The batch card each reporter holds for a unit (a district, or a city-direct school): the
-- message that is edited as the unit's signed results arrive, until the unit reports them.
CREATE TABLE batch_cards (
    unit_code  TEXT    NOT NULL,
    user_id    INTEGER NOT NULL,
    outbox_id  INTEGER NOT NULL,
    PRIMARY KEY (unit_code, user_id)
);

-- A batch card is edited many times in a burst; an edit still waiting is rewritten, found here.
CREATE INDEX outbox_pending_edits ON outbox(edit_of) WHERE edit_of IS NOT NULL AND status = 'pending';

-- A batch card lists one unit's requests with the group: found from the unit's schools.
CREATE INDEX review_by_school_state ON review_requests(school_code, state);
