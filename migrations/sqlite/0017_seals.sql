-- 加密封存 (附件4 二.5): a season's score library sealed by its 纪检监督 into an encrypted archive
-- (app/seal.rs). While a seal is in force (not lifted) nothing changes a score of the season.
CREATE TABLE seals (
    id              INTEGER PRIMARY KEY,
    season_id       INTEGER NOT NULL,
    sealed_at       INTEGER NOT NULL,
    sealed_by       TEXT    NOT NULL,
    archive_sha256  TEXT    NOT NULL,
    chain_head      TEXT    NOT NULL,      -- the audit chain's head hash when sealed
    lifted_at       INTEGER,
    lifted_by       TEXT
);
CREATE UNIQUE INDEX seals_one_in_force ON seals(season_id) WHERE lifted_at IS NULL;
