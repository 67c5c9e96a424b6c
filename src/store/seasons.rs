//! Seasons: one per exam year; exactly one is current.

use super::{from_ms, to_ms};
use crate::domain::Score;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Debug, sqlx::FromRow)]
struct SeasonRow {
    id: i64,
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

const COLUMNS: &str = "id, year, last_exam_day, tz, full_score, publish_deadline_at, published_at, \
    review_deadline_at, exemption_closes_at, first_exam_day";

pub struct NewSeason {
    pub year: i32,
    pub last_exam_day: NaiveDate,
    pub tz: Tz,
    pub full_score: Score,
    pub publish_deadline: DateTime<Utc>,
}

pub async fn by_year(conn: &mut AnyConnection, year: i32) -> anyhow::Result<Option<Season>> {
    let row: Option<SeasonRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM seasons WHERE year = $1"
    )))
    .bind(i64::from(year))
    .fetch_optional(conn)
    .await?;
    row.map(Season::try_from).transpose()
}

pub async fn current(conn: &mut AnyConnection) -> anyhow::Result<Option<Season>> {
    let row: Option<SeasonRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM seasons WHERE is_current = 1"
    )))
    .fetch_optional(conn)
    .await?;
    row.map(Season::try_from).transpose()
}

/// Creates or updates the season of that year and makes it the current one.
pub async fn upsert_current(
    conn: &mut AnyConnection,
    s: &NewSeason,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO seasons (year, last_exam_day, tz, full_score, publish_deadline_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (year) DO UPDATE SET last_exam_day = excluded.last_exam_day, tz = excluded.tz,
             full_score = excluded.full_score, publish_deadline_at = excluded.publish_deadline_at
         RETURNING id",
    )
    .bind(i64::from(s.year))
    .bind(s.last_exam_day.to_string())
    .bind(s.tz.name())
    .bind(i64::from(s.full_score.tenths()))
    .bind(to_ms(s.publish_deadline))
    .bind(to_ms(now))
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE seasons SET is_current = CASE WHEN id = $1 THEN 1 ELSE 0 END")
        .bind(id)
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
