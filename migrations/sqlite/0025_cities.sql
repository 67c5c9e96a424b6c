-- Many cities in one deployment (issue 14): a 省 unit may stand above the cities, each city's
-- season is its own, and every unit carries the code of the city it belongs to, so a city's
-- people and data are found without walking the tree at each query.
ALTER TABLE units ADD COLUMN city_code TEXT NOT NULL DEFAULT '';
UPDATE units SET city_code = code WHERE kind = 'city';
UPDATE units SET city_code = parent_code WHERE kind = 'district'
    OR (kind = 'school' AND parent_code IN (SELECT code FROM units WHERE kind = 'city'));
UPDATE units SET city_code = COALESCE(
        (SELECT p.parent_code FROM units p WHERE p.code = units.parent_code), '')
    WHERE kind = 'school' AND city_code = '';
CREATE INDEX units_by_city ON units(city_code, kind);

-- A season belongs to a city ('' before the unit tree is imported: the first city adopts it).
-- SQLite cannot drop the inline UNIQUE(year), so the table is rebuilt; nothing references it.
CREATE TABLE seasons_by_city (
    id                  INTEGER PRIMARY KEY,
    city_code           TEXT    NOT NULL DEFAULT '',
    year                INTEGER NOT NULL,
    last_exam_day       TEXT    NOT NULL,
    tz                  TEXT    NOT NULL,
    full_score          INTEGER NOT NULL,
    publish_deadline_at INTEGER NOT NULL,
    is_current          INTEGER NOT NULL DEFAULT 0,
    published_at        INTEGER,
    review_deadline_at  INTEGER,
    created_at          INTEGER NOT NULL,
    exemption_closes_at INTEGER,
    first_exam_day      TEXT
);
INSERT INTO seasons_by_city (id, city_code, year, last_exam_day, tz, full_score,
        publish_deadline_at, is_current, published_at, review_deadline_at, created_at,
        exemption_closes_at, first_exam_day)
    SELECT id, COALESCE((SELECT MIN(code) FROM units WHERE kind = 'city'), ''), year,
        last_exam_day, tz, full_score, publish_deadline_at, is_current, published_at,
        review_deadline_at, created_at, exemption_closes_at, first_exam_day
    FROM seasons;
DROP TABLE seasons;
ALTER TABLE seasons_by_city RENAME TO seasons;
CREATE UNIQUE INDEX seasons_city_year ON seasons(city_code, year);
