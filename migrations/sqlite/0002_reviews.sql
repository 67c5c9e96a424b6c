-- Score review requests (复核, 附件5): the request, every decision on it (append-only), the cards
-- each approver was sent (so all copies can be edited after a decision), chat dialogue state, and
-- the history of changed scores.

CREATE TABLE review_requests (
    id             INTEGER PRIMARY KEY,
    season_id      INTEGER NOT NULL,
    candidate_id   INTEGER NOT NULL,
    school_code    TEXT    NOT NULL,
    filer_user_id  INTEGER NOT NULL,
    filer_chat_id  INTEGER NOT NULL,
    filer_name     TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    contact        TEXT    NOT NULL,
    state          TEXT    NOT NULL,   -- pending | returned | recording | confirming | completed | rejected | withdrawn
    step           INTEGER NOT NULL,   -- index into the route while pending
    round          INTEGER NOT NULL DEFAULT 1,  -- +1 on every resubmission and every recording
    version        INTEGER NOT NULL DEFAULT 1,  -- guards every update
    original_score INTEGER NOT NULL,
    result_kind    TEXT,               -- kept | corrected
    result_score   INTEGER,
    result_items   TEXT,               -- "main,sec1,sec2,tidy" in tenths, when given
    result_category TEXT,              -- 漏评 | 合分错误
    result_note    TEXT,
    recorded_by    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    closed_at      INTEGER
);
-- One open request per candidate.
CREATE UNIQUE INDEX review_one_open ON review_requests(candidate_id)
    WHERE state IN ('pending', 'returned', 'recording', 'confirming');
CREATE INDEX review_by_state ON review_requests(state, step);
CREATE INDEX review_by_filer ON review_requests(filer_user_id);

CREATE TABLE review_events (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    actor_name  TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    step        INTEGER,
    round       INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    comment     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX review_events_by_request ON review_events(request_id, id);
-- One vote per person per step and round: two taps count once.
CREATE UNIQUE INDEX review_one_vote ON review_events(request_id, round, step, user_id, action)
    WHERE action IN ('approve', 'confirm');

CREATE TABLE review_cards (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL,
    stage       TEXT    NOT NULL,      -- "step:<n>:<round>" | "record:<round>" | "confirm:<round>"
    user_id     INTEGER NOT NULL,
    outbox_id   INTEGER NOT NULL
);
CREATE INDEX review_cards_by_stage ON review_cards(request_id, stage);

-- A chat dialogue in progress; one per user. The bot restarted between two steps resumes here.
CREATE TABLE dialogues (
    user_id    INTEGER PRIMARY KEY,
    chat_id    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    step       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE score_history (
    id           INTEGER PRIMARY KEY,
    candidate_id INTEGER NOT NULL,
    request_id   INTEGER NOT NULL,
    old_score    INTEGER NOT NULL,
    new_score    INTEGER NOT NULL,
    old_items    TEXT,
    new_items    TEXT,
    at           INTEGER NOT NULL
);

-- Outbox rows that edit an earlier message instead of sending a new one.
ALTER TABLE outbox ADD COLUMN edit_of INTEGER;
