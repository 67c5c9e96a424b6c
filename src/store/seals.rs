//! Seals of a season's score library (加密封存, 附件4 二.5), and the rows a sealed archive holds,
//! read page by page.

use super::audit_chain::Record;
use super::candidates::{self, Candidate};
use super::reviews::Request;
use super::to_ms;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AssertSqlSafe};

/// A seal in force.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Seal {
    pub id: i64,
    pub season_id: i64,
    pub sealed_at: i64,
    pub sealed_by: String,
    pub archive_sha256: String,
    pub chain_head: String,
}

/// The season's seal in force, if any.
pub async fn in_force(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<Option<Seal>> {
    sqlx::query_as(
        "SELECT id, season_id, sealed_at, sealed_by, archive_sha256, chain_head FROM seals
         WHERE season_id = $1 AND lifted_at IS NULL",
    )
    .bind(season_id)
    .fetch_optional(conn)
    .await
}

/// Puts a seal in force; its id, or None when one is in force already (the unique index
/// decides between two at once).
pub async fn insert(
    conn: &mut AnyConnection,
    season_id: i64,
    at: DateTime<Utc>,
    by: &str,
    archive_sha256: &str,
    chain_head: &str,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO seals (season_id, sealed_at, sealed_by, archive_sha256, chain_head)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(season_id)
    .bind(to_ms(at))
    .bind(by)
    .bind(archive_sha256)
    .bind(chain_head)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Records the archive of a seal put in force before it was written.
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    archive_sha256: &str,
    chain_head: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE seals SET archive_sha256 = $2, chain_head = $3 WHERE id = $1")
        .bind(id)
        .bind(archive_sha256)
        .bind(chain_head)
        .execute(conn)
        .await?;
    Ok(())
}

/// A seal whose archive could not be written is taken back (it never was a seal).
pub async fn remove_unfinished(conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM seals WHERE id = $1 AND archive_sha256 = ''")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Lifts the seal; false when it was lifted meanwhile.
pub async fn lift(
    conn: &mut AnyConnection,
    id: i64,
    at: DateTime<Utc>,
    by: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE seals SET lifted_at = $2, lifted_by = $3 WHERE id = $1 AND lifted_at IS NULL",
    )
    .bind(id)
    .bind(to_ms(at))
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One line of a sealed archive (JSON Lines, gzip-compressed, inside the age encryption): the header first, then
/// every row of the season's tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "table", content = "row", rename_all = "snake_case")]
pub enum Line {
    Header(Header),
    Candidates(Candidate),
    ScoreHistory(ScoreChange),
    ReviewRequests(Request),
    ReviewEvents(EventRow),
    AuditChain(Record),
    Roster(super::roster::Row),
    EntryRows(EntrySideRow),
}

/// A row of a batch's entry, with the batch and side it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct EntrySideRow {
    pub batch_id: i64,
    pub side: String,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub row: crate::domain::entry::EntryRow,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub season_year: i32,
    pub sealed_by: String,
    pub sealed_at: String,
}

/// The format written: /2 holds the roster and the entries too, so that lifting a seal can put
/// back everything the seal took out of the live database.
pub const FORMAT: &str = "exam-review-bot seal/2";

/// The formats this version opens.
pub const READABLE: [&str; 2] = ["exam-review-bot seal/1", FORMAT];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ScoreChange {
    pub id: i64,
    pub candidate_id: i64,
    pub request_id: i64,
    pub old_score: i64,
    pub new_score: i64,
    pub old_items: Option<String>,
    pub new_items: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub request_id: i64,
    pub at: i64,
    pub user_id: i64,
    pub actor_name: String,
    pub actor_role: String,
    pub step: Option<i64>,
    pub round: i64,
    pub action: String,
    pub comment: String,
}

/// Rows read per page.
pub const PAGE: i64 = 5_000;

/// The season's candidates after id `after`, one page.
pub async fn candidates_page(
    conn: &mut AnyConnection,
    season_id: i64,
    after: i64,
) -> sqlx::Result<Vec<Candidate>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {} FROM candidates WHERE season_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        candidates::COLUMNS
    )))
    .bind(season_id)
    .bind(after)
    .bind(PAGE)
    .fetch_all(conn)
    .await
}

pub async fn score_history(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<ScoreChange>> {
    sqlx::query_as(
        "SELECT h.id, h.candidate_id, h.request_id, h.old_score, h.new_score, h.old_items,
                h.new_items, h.at
         FROM score_history h JOIN review_requests r ON r.id = h.request_id
         WHERE r.season_id = $1 ORDER BY h.id",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

pub async fn requests(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<Vec<Request>> {
    let columns: Vec<String> = super::reviews::COLUMNS
        .split(',')
        .map(|c| format!("r.{}", c.trim()))
        .collect();
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {} FROM review_requests r WHERE r.season_id = $1 ORDER BY r.id",
        columns.join(", ")
    )))
    .bind(season_id)
    .fetch_all(conn)
    .await
}

pub async fn events(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(
        "SELECT e.id, e.request_id, e.at, e.user_id, e.actor_name, e.actor_role, e.step, e.round,
                e.action, e.comment
         FROM review_events e JOIN review_requests r ON r.id = e.request_id
         WHERE r.season_id = $1 ORDER BY e.id",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

/// The season's roster after id `after`, one page.
pub async fn roster_page(
    conn: &mut AnyConnection,
    season_id: i64,
    after: i64,
) -> sqlx::Result<Vec<super::roster::Row>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {} FROM roster r WHERE r.season_id = $1 AND r.id > $2 ORDER BY r.id LIMIT $3",
        super::roster::ROW_COLUMNS
    )))
    .bind(season_id)
    .bind(after)
    .bind(PAGE)
    .fetch_all(conn)
    .await
}

/// Every entry row of the season's batches (both sides: the agreed one and its proofreading).
pub async fn entry_rows(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<EntrySideRow>> {
    sqlx::query_as(
        "SELECT e.batch_id, e.side, e.exam_no, e.name, e.score, e.item_main, e.item_sec1,
                e.item_sec2, e.item_tidy, e.exempt
         FROM entry_rows e JOIN entry_batches b ON b.id = e.batch_id
         WHERE b.season_id = $1 ORDER BY e.batch_id, e.side, e.exam_no",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

/// The audit chain after record `after`, one page.
pub async fn chain_page(conn: &mut AnyConnection, after: i64) -> sqlx::Result<Vec<Record>> {
    sqlx::query_as(
        "SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit_chain
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(conn)
    .await
}
