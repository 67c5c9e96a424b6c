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
ALTER TABLE seasons ADD COLUMN city_code TEXT NOT NULL DEFAULT '';
UPDATE seasons SET city_code = COALESCE((SELECT MIN(code) FROM units WHERE kind = 'city'), '');
ALTER TABLE seasons DROP CONSTRAINT seasons_year_key;
CREATE UNIQUE INDEX seasons_city_year ON seasons(city_code, year);
