//! Seasons: one per city and exam year; each city has exactly one current season. A season
//! written before the unit tree is imported has the city "" until the tree's city adopts it.

use super::{from_ms, to_ms};
use crate::domain::Score;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Debug, sqlx::FromRow)]
struct SeasonRow {
    id: i64,
    city_code: String,
    year: i64,
    last_exam_day: String,
    tz: String,
    full_score: i64,
    publish_deadline_at: i64,
    published_at: Option<i64>,
    review_deadline_at: Option<i64>,
    exemption_closes_at: Option<i64>,
    first_exam_day: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Season {
    pub id: i64,
    /// The city whose season this is.
    pub city_code: String,
    pub year: i32,
    pub last_exam_day: NaiveDate,
    pub tz: Tz,
    pub full_score: Score,
    pub publish_deadline: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub review_deadline: Option<DateTime<Utc>>,
    /// 免考 applications are accepted until then (`season --exemption-closes`).
    pub exemption_closes: Option<DateTime<Utc>>,
    /// The first exam day, when set; an applicant's age is counted on it.
    pub first_exam_day: Option<NaiveDate>,
}

impl Season {
    /// The day an exemption applicant's age is counted on: the first exam day, or failing that
    /// the last.
    pub fn age_day(&self) -> NaiveDate {
        self.first_exam_day.unwrap_or(self.last_exam_day)
    }
}

impl TryFrom<SeasonRow> for Season {
    type Error = anyhow::Error;
    fn try_from(r: SeasonRow) -> anyhow::Result<Self> {
        Ok(Season {
            id: r.id,
            city_code: r.city_code,
            year: r.year as i32,
            last_exam_day: r.last_exam_day.parse()?,
            tz: r
                .tz
                .parse()
                .map_err(|e| anyhow::anyhow!("bad time zone in season {}: {e}", r.id))?,
            full_score: Score::from_tenths(r.full_score as u32),
            publish_deadline: from_ms(r.publish_deadline_at),
            published_at: r.published_at.map(from_ms),
            review_deadline: r.review_deadline_at.map(from_ms),
            exemption_closes: r.exemption_closes_at.map(from_ms),
            first_exam_day: r.first_exam_day.map(|d| d.parse()).transpose()?,
        })
    }
}

const COLUMNS: &str = "id, city_code, year, last_exam_day, tz, full_score, publish_deadline_at, published_at, \
    review_deadline_at, exemption_closes_at, first_exam_day";

pub struct NewSeason {
    /// The city ("" while no unit tree is imported).
    pub city_code: String,
    pub year: i32,
    pub last_exam_day: NaiveDate,
    pub tz: Tz,
    pub full_score: Score,
    pub publish_deadline: DateTime<Utc>,
}

pub async fn by_year(
    conn: &mut AnyConnection,
    city: &str,
    year: i32,
) -> anyhow::Result<Option<Season>> {
    let row: Option<SeasonRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM seasons WHERE city_code = $1 AND year = $2"
    )))
    .bind(city)
    .bind(i64::from(year))
    .fetch_optional(conn)
    .await?;
    row.map(Season::try_from).transpose()
}

/// The city's current season.
pub async fn current(conn: &mut AnyConnection, city: &str) -> anyhow::Result<Option<Season>> {
    let row: Option<SeasonRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM seasons WHERE city_code = $1 AND is_current = 1"
    )))
    .bind(city)
    .fetch_optional(conn)
    .await?;
    row.map(Season::try_from).transpose()
}

/// Every city's current season, in city order (what the sweep walks).
pub async fn all_current(conn: &mut AnyConnection) -> anyhow::Result<Vec<Season>> {
    let rows: Vec<SeasonRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM seasons WHERE is_current = 1 ORDER BY city_code"
    )))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Season::try_from).collect()
}

/// A season by id (a request's, a batch's).
pub async fn by_id(conn: &mut AnyConnection, id: i64) -> anyhow::Result<Option<Season>> {
    let row: Option<SeasonRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM seasons WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(Season::try_from).transpose()
}

/// The season by id when it is still its city's current one (a batch's, a card's: one of an
/// older season is stale).
pub async fn current_by_id(conn: &mut AnyConnection, id: i64) -> anyhow::Result<Option<Season>> {
    let row: Option<SeasonRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM seasons WHERE id = $1 AND is_current = 1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(Season::try_from).transpose()
}

/// Gives the seasons written before any city existed to `city`, the tree's one city.
pub async fn adopt(conn: &mut AnyConnection, city: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE seasons SET city_code = $1 WHERE city_code = ''
             AND year NOT IN (SELECT year FROM seasons WHERE city_code = $1)",
    )
    .bind(city)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Whether any season still waits for a city.
pub async fn any_without_city(conn: &mut AnyConnection) -> sqlx::Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM seasons WHERE city_code = '' LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// Creates or updates the city's season of that year and makes it the city's current one.
pub async fn upsert_current(
    conn: &mut AnyConnection,
    s: &NewSeason,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO seasons (year, last_exam_day, tz, full_score, publish_deadline_at, created_at,
             city_code)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (city_code, year) DO UPDATE SET last_exam_day = excluded.last_exam_day, tz = excluded.tz,
             full_score = excluded.full_score, publish_deadline_at = excluded.publish_deadline_at
         RETURNING id",
    )
    .bind(i64::from(s.year))
    .bind(s.last_exam_day.to_string())
    .bind(s.tz.name())
    .bind(i64::from(s.full_score.tenths()))
    .bind(to_ms(s.publish_deadline))
    .bind(to_ms(now))
    .bind(&s.city_code)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE seasons SET is_current = CASE WHEN id = $1 THEN 1 ELSE 0 END WHERE city_code = $2",
    )
    .bind(id)
    .bind(&s.city_code)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The 免考 window's close and the first exam day of a season.
pub async fn set_exemption_window(
    conn: &mut AnyConnection,
    season_id: i64,
    closes: Option<DateTime<Utc>>,
    first_exam_day: Option<NaiveDate>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE seasons SET exemption_closes_at = $2, first_exam_day = $3 WHERE id = $1")
        .bind(season_id)
        .bind(closes.map(to_ms))
        .bind(first_exam_day.map(|d| d.to_string()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records publication once; returns false when it was already recorded (a guarded update).
pub async fn mark_published(
    conn: &mut AnyConnection,
    season_id: i64,
    at: DateTime<Utc>,
    review_deadline: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE seasons SET published_at = $2, review_deadline_at = $3
         WHERE id = $1 AND published_at IS NULL",
    )
    .bind(season_id)
    .bind(to_ms(at))
    .bind(to_ms(review_deadline))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
