-- 免考 (附件2, 附件3): the registration roster the exemption applications name, the window for
-- them, and the mark an approved candidate's score carries.

-- The candidate roster before the exam (`import candidates`): who is registered, where they
-- sit when the file says so. `import scores` later matches its rows against it by 准考证号.
CREATE TABLE roster (
    id          INTEGER PRIMARY KEY,
    season_id   INTEGER NOT NULL,
    exam_no     TEXT    NOT NULL,                   -- 准考证号
    reg_no      TEXT    NOT NULL,                   -- 报名序号
    name        TEXT    NOT NULL,
    gender      TEXT    NOT NULL,
    school_code TEXT    NOT NULL,
    class_name  TEXT    NOT NULL,
    id_card     TEXT    NOT NULL,
    student_no  TEXT    NOT NULL,
    exam_date   TEXT,                               -- the sitting columns are optional
    half_day    TEXT,
    batch       INTEGER,
    room        INTEGER,
    seat        INTEGER
);
-- Named indexes: a bulk import drops and rebuilds them, as it does candidates'.
CREATE UNIQUE INDEX roster_exam_no ON roster(season_id, exam_no);
CREATE INDEX roster_by_school ON roster(season_id, school_code, class_name);

-- An approved 免考 candidate's score is the configured share of the full score, not an exam's.
ALTER TABLE candidates ADD COLUMN exempt INTEGER NOT NULL DEFAULT 0;

-- Exemption applications are requests on the review's workflow engine: the same table, events,
-- cards and guarded transitions; `kind` tells them apart, and an exemption's candidate_id is a
-- roster row's id. `details` holds the 附件2 fields the roster lacks (JSON).
ALTER TABLE review_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'review';
ALTER TABLE review_requests ADD COLUMN details TEXT;
DROP INDEX review_one_open;
CREATE UNIQUE INDEX review_one_open ON review_requests(kind, candidate_id)
    WHERE state IN ('pending', 'returned', 'recording', 'confirming', 'reporting', 'rechecking');
CREATE INDEX review_by_kind_state ON review_requests(kind, season_id, state);

-- Applications are accepted until this moment (`season --exemption-closes`); the candidate's
-- age on the application is counted on the first exam day.
ALTER TABLE seasons ADD COLUMN exemption_closes_at INTEGER;
ALTER TABLE seasons ADD COLUMN first_exam_day TEXT;
