-- 登分 (附件7): each county's scores of each exam half-day, entered twice by two clerks with
-- their roles swapped, sealed by the county's 纪检监督, reported to the city the same day; a
-- batch not reported by the cutoff is 缺考.

-- One batch per county (考区) and half-day, planned from the roster's sitting columns. The
-- city's own 考区 (city-direct schools) has the city's code as its county.
CREATE TABLE entry_batches (
    id          INTEGER PRIMARY KEY,
    season_id   INTEGER NOT NULL,
    county_code TEXT    NOT NULL,
    exam_date   TEXT    NOT NULL,                   -- YYYY-MM-DD
    half_day    TEXT    NOT NULL,                   -- 上午 | 下午
    candidates  INTEGER NOT NULL,
    report_by   INTEGER NOT NULL,                   -- the cutoff (entry.report_by of the exam day, or a lift's)
    mismatches  INTEGER,                            -- between the two entries; NULL until both are in
    sealed_at   INTEGER,
    sealed_by   INTEGER,
    seal_hash   TEXT,                               -- SHA-256 of the agreed rows, also in the audit chain
    reported_at INTEGER,
    reported_by INTEGER,
    absent_at   INTEGER,                            -- marked 缺考 at the cutoff (cleared by a lift)
    lifted_at   INTEGER,                            -- the city last lifted a 缺考 …
    lifted_by   INTEGER,
    lift_reason TEXT                                -- … for this written reason
);
CREATE UNIQUE INDEX entry_batch_key ON entry_batches(season_id, county_code, exam_date, half_day);

-- Every upload, kept: who entered, who read out, which side it was.
CREATE TABLE entry_uploads (
    id          INTEGER PRIMARY KEY,
    batch_id    INTEGER NOT NULL REFERENCES entry_batches(id),
    side        TEXT    NOT NULL,                   -- a (录入) | b (交叉校对, roles swapped)
    entered_by  INTEGER NOT NULL,                   -- Telegram user ids of bound entry clerks
    read_by     INTEGER NOT NULL,
    file_name   TEXT    NOT NULL,
    file_hash   TEXT    NOT NULL,
    row_count   INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL
);
CREATE INDEX entry_uploads_by_batch ON entry_uploads(batch_id, id);

-- Each side's current rows (a corrected upload replaces its side's rows).
CREATE TABLE entry_rows (
    batch_id    INTEGER NOT NULL,
    side        TEXT    NOT NULL,
    exam_no     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    score       INTEGER NOT NULL,                   -- tenths of a point
    item_main   INTEGER,
    item_sec1   INTEGER,
    item_sec2   INTEGER,
    item_tidy   INTEGER,
    exempt      INTEGER NOT NULL,
    PRIMARY KEY (batch_id, side, exam_no)
);

-- A candidate of a batch not reported in time: no score, 缺考 on every record.
ALTER TABLE candidates ADD COLUMN absent INTEGER NOT NULL DEFAULT 0;
