-- Instants are unix milliseconds (UTC) in INTEGER columns: the Any driver carries no chrono types.

CREATE TABLE seasons (
    id                  INTEGER PRIMARY KEY,
    year                INTEGER NOT NULL UNIQUE,
    last_exam_day       TEXT    NOT NULL,           -- YYYY-MM-DD in the season's time zone
    tz                  TEXT    NOT NULL,
    full_score          INTEGER NOT NULL,           -- tenths of a point
    publish_deadline_at INTEGER NOT NULL,
    is_current          INTEGER NOT NULL DEFAULT 0,
    published_at        INTEGER,
    review_deadline_at  INTEGER,
    created_at          INTEGER NOT NULL
);

CREATE TABLE units (
    code        TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,                   -- city | district | school
    parent_code TEXT,
    city_direct INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE invites (
    code        TEXT    PRIMARY KEY,
    role        TEXT    NOT NULL,
    unit_code   TEXT    NOT NULL REFERENCES units(code),
    name        TEXT    NOT NULL,
    class_name  TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    used_by     INTEGER
);

-- One row per role a Telegram account holds; revoking keeps the row for the audit trail.
CREATE TABLE bindings (
    id               INTEGER PRIMARY KEY,
    telegram_user_id INTEGER NOT NULL,
    chat_id          INTEGER NOT NULL,
    name             TEXT    NOT NULL,
    role             TEXT    NOT NULL,
    unit_code        TEXT    NOT NULL REFERENCES units(code),
    class_name       TEXT,
    invite_code      TEXT    NOT NULL,
    bound_at         INTEGER NOT NULL,
    revoked_at       INTEGER
);
CREATE INDEX bindings_by_user ON bindings(telegram_user_id);
CREATE INDEX bindings_by_unit_role ON bindings(unit_code, role);

-- Chats that blocked the bot or vanished: nothing more is sent there.
CREATE TABLE unreachable_chats (
    chat_id   INTEGER PRIMARY KEY,
    since     INTEGER NOT NULL,
    reason    TEXT    NOT NULL
);

CREATE TABLE candidates (
    id          INTEGER PRIMARY KEY,
    season_id   INTEGER NOT NULL,                   -- seasons.id; no FK: a per-row check would cost the bulk import more than the row
    exam_no     TEXT    NOT NULL,                   -- 准考证号
    reg_no      TEXT    NOT NULL,                   -- 报名序号
    name        TEXT    NOT NULL,
    gender      TEXT    NOT NULL,
    school_code TEXT    NOT NULL,
    class_name  TEXT    NOT NULL,
    id_card     TEXT    NOT NULL,
    student_no  TEXT    NOT NULL,
    exam_date   TEXT    NOT NULL,
    half_day    TEXT    NOT NULL,                   -- 上午 | 下午
    batch       INTEGER NOT NULL,
    room        INTEGER NOT NULL,
    seat        INTEGER NOT NULL,
    score       INTEGER NOT NULL,                   -- tenths of a point
    item_main   INTEGER,
    item_sec1   INTEGER,
    item_sec2   INTEGER,
    item_tidy   INTEGER
);
-- Named indexes, not table constraints: a bulk import drops and rebuilds them.
CREATE UNIQUE INDEX candidates_exam_no ON candidates(season_id, exam_no);
CREATE INDEX candidates_by_school ON candidates(season_id, school_code);

-- The transactional outbox: a row is written in the same transaction as the change that causes it.
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY,
    chat_id             INTEGER NOT NULL,
    body                TEXT    NOT NULL,           -- HTML text, or the caption of a document
    reply_markup        TEXT,                       -- JSON of an inline keyboard
    document_name       TEXT,
    document            BLOB,
    dedupe_key          TEXT    UNIQUE,
    batch               TEXT,
    status              TEXT    NOT NULL,           -- pending | sending | sent | failed
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    lease_until         INTEGER,
    created_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    telegram_message_id INTEGER,
    last_error          TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_by_batch ON outbox(batch, status);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,                        -- "cli" or "tg:<user id>"
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL
);
