//! A unit's batch of signed review results (附件6 注2: 区属考生以区为单位、市直属学校考生以学校为
//! 单位统一报送): which requests it holds, and the batch card each reporter was sent.
//!
//! A unit is a district (its schools' requests) or a city-direct school (its own): see
//! `domain::review::batch_unit`.

use sqlx::AnyConnection;

/// The schools of a unit: a district's own (not city-direct) schools, or the school itself.
/// The queries below read the unit's schools first (`CROSS JOIN` keeps SQLite to that order)
/// and then each school's requests by `review_by_school_state`, not every open request.
const IN_UNIT: &str = "(s.code = $2 OR (s.parent_code = $2 AND s.city_direct = 0))";

/// A request of the unit that is with its review group or waits for the 上报.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Item {
    pub id: i64,
    pub state: String,
    pub name: String,
    pub school: String,
    pub original_score: i64,
    pub result_kind: Option<String>,
    pub result_score: Option<i64>,
    pub result_category: Option<String>,
}

/// The first `limit` of the unit's requests of this season in `states` (the group's:
/// recording, confirming; or signed and waiting for the 上报: reporting), oldest first.
pub async fn items(
    conn: &mut AnyConnection,
    season_id: i64,
    unit: &str,
    states: &str,
    limit: usize,
) -> sqlx::Result<Vec<Item>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.id, r.state, c.name, s.name AS school, r.original_score, r.result_kind,
                r.result_score, r.result_category
         FROM units s
         CROSS JOIN review_requests r
         JOIN candidates c ON c.id = r.candidate_id
         WHERE r.school_code = s.code AND r.state IN {states}
           AND r.season_id = $1 AND r.kind = 'review' AND {IN_UNIT}
         ORDER BY r.id LIMIT {limit}"
    )))
    .bind(season_id)
    .bind(unit)
    .fetch_all(conn)
    .await
}

/// How many of the unit's requests of this season are in `states`.
pub async fn count(
    conn: &mut AnyConnection,
    season_id: i64,
    unit: &str,
    states: &str,
) -> sqlx::Result<usize> {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM units s CROSS JOIN review_requests r
         WHERE r.school_code = s.code AND r.state IN {states} AND r.season_id = $1 AND r.kind = 'review'
           AND {IN_UNIT}"
    )))
    .bind(season_id)
    .bind(unit)
    .fetch_one(conn)
    .await?;
    Ok(n as usize)
}

/// The states of a batch's two parts, for `items` and `count`.
pub const READY: &str = "('reporting')";
pub const WITH_GROUP: &str = "('recording', 'confirming')";

/// The unit's requests of `kind` (reviews, or 免考 applications) that wait for the 上报, oldest
/// first (the order their rows are locked in, so that two reporters at once cannot deadlock).
pub async fn reporting(
    conn: &mut AnyConnection,
    kind: &str,
    season_id: i64,
    unit: &str,
) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.id FROM units s CROSS JOIN review_requests r
         WHERE r.school_code = s.code AND r.state = 'reporting' AND r.season_id = $1
           AND r.kind = $3 AND {IN_UNIT}
         ORDER BY r.id"
    )))
    .bind(season_id)
    .bind(unit)
    .bind(kind)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A 免考 application waiting for its county's 上报, as its card lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Application {
    pub id: i64,
    pub name: String,
    pub school: String,
}

/// The first `limit` of the unit's applications waiting for the 上报 (a roster row is an
/// application's candidate), oldest first.
pub async fn waiting_applications(
    conn: &mut AnyConnection,
    season_id: i64,
    unit: &str,
    limit: usize,
) -> sqlx::Result<Vec<Application>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.id, c.name, s.name AS school
         FROM units s
         CROSS JOIN review_requests r
         JOIN roster c ON c.id = r.candidate_id
         WHERE r.school_code = s.code AND r.state = 'reporting'
           AND r.season_id = $1 AND r.kind = 'exemption' AND {IN_UNIT}
         ORDER BY r.id LIMIT {limit}"
    )))
    .bind(season_id)
    .bind(unit)
    .fetch_all(conn)
    .await
}

/// One request of each unit that has requests with its group or waiting for the 上报 (the
/// newest: the one most likely filed on the current route), for finding a person's batches.
pub async fn open_with_group(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT MAX(r.id) FROM review_requests r JOIN units s ON s.code = r.school_code
         WHERE r.season_id = $1 AND r.kind = 'review' AND r.state IN ('recording', 'confirming', 'reporting')
         GROUP BY CASE WHEN s.city_direct = 0 AND s.parent_code IS NOT NULL
                       THEN s.parent_code ELSE s.code END
         ORDER BY 1",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Takes the unit's lock until the transaction ends: a batch changes one transaction at a
/// time (a signature joining it, its card's edits, its 上报), so that a result signed while
/// the 上报 commits is seen by one or the other and every card is written in one order.
/// Taken after the requests' own locks. SQLite transactions here already hold the database's
/// write lock (BEGIN IMMEDIATE).
pub async fn lock(conn: &mut AnyConnection, unit: &str) -> sqlx::Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT code FROM units WHERE code = $1 FOR UPDATE")
            .bind(unit)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The outbox row of the batch card this person holds for the unit.
pub async fn card(conn: &mut AnyConnection, unit: &str, user: i64) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT outbox_id FROM batch_cards WHERE unit_code = $1 AND user_id = $2")
            .bind(unit)
            .bind(user)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id,)| id))
}

/// Remembers the batch card sent to this person for the unit (replacing an older one). An
/// upsert: two results of one unit signed at once on PostgreSQL may both send a first card,
/// and the later one is kept (the other's button still checks its count when pressed).
pub async fn set_card(
    conn: &mut AnyConnection,
    unit: &str,
    user: i64,
    outbox_id: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO batch_cards (unit_code, user_id, outbox_id) VALUES ($1, $2, $3)
         ON CONFLICT (unit_code, user_id) DO UPDATE SET outbox_id = excluded.outbox_id",
    )
    .bind(unit)
    .bind(user)
    .bind(outbox_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes every batch card of the unit off the books (its batch was reported): the outbox rows
/// to close. The next signed result starts a new card.
pub async fn take_cards(conn: &mut AnyConnection, unit: &str) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT outbox_id FROM batch_cards WHERE unit_code = $1 ORDER BY user_id")
            .bind(unit)
            .fetch_all(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM batch_cards WHERE unit_code = $1")
        .bind(unit)
        .execute(conn)
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A request of the season as 附件6 lists it: its result and its candidate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryRow {
    pub request_id: i64,
    pub state: String,
    pub original_score: i64,
    pub result_kind: Option<String>,
    pub result_score: Option<i64>,
    pub result_category: Option<String>,
    pub result_note: Option<String>,
    #[sqlx(flatten)]
    pub cand: super::candidates::Candidate,
}

/// Every request of the season but the withdrawn, oldest first, with its candidate.
pub async fn summary_rows(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<SummaryRow>> {
    let cand: Vec<String> = super::candidates::COLUMNS
        .split(", ")
        .map(|c| format!("c.{}", c.trim()))
        .collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.id AS request_id, r.state, r.original_score, r.result_kind, r.result_score,
                r.result_category, r.result_note, {}
         FROM review_requests r JOIN candidates c ON c.id = r.candidate_id
         WHERE r.season_id = $1 AND r.kind = 'review' AND r.state <> 'withdrawn'
         ORDER BY r.id",
        cand.join(", ")
    )))
    .bind(season_id)
    .fetch_all(conn)
    .await
}
