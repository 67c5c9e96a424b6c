//! Review requests, their append-only events, and the cards sent for them.

use super::to_ms;
use crate::domain::attachment::Attachment;
use crate::domain::review::{OPEN_SQL, State};
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub id: i64,
    pub season_id: i64,
    pub candidate_id: i64,
    pub school_code: String,
    pub filer_user_id: i64,
    pub filer_chat_id: i64,
    pub filer_name: String,
    pub reason: String,
    pub contact: String,
    pub state: String,
    pub step: i64,
    pub round: i64,
    pub version: i64,
    pub original_score: i64,
    pub result_kind: Option<String>,
    pub result_score: Option<i64>,
    pub result_items: Option<String>,
    pub result_category: Option<String>,
    pub result_note: Option<String>,
    pub recorded_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The candidate's signed application (an `Attachment` as stored); None on requests filed
    /// before it was asked for, or where a city does not ask for it.
    pub signed_form: Option<String>,
    /// The route it was filed on, as JSON (`domain::workflow::Route`); None before routes
    /// were kept.
    pub route: Option<String>,
    /// `review` (复核) or `exemption` (免考, whose candidate_id is a roster row's).
    pub kind: String,
    /// An exemption's 附件2 fields beyond the roster (`domain::exemption::Details`, as JSON).
    pub details: Option<String>,
}

impl Request {
    pub fn state(&self) -> State {
        State::parse(&self.state).unwrap_or(State::Pending)
    }

    pub fn signed_form(&self) -> Option<Attachment> {
        self.signed_form.as_deref().and_then(Attachment::parse)
    }
}

pub const COLUMNS: &str = "id, season_id, candidate_id, school_code, filer_user_id, filer_chat_id, \
    filer_name, reason, contact, state, step, round, version, original_score, result_kind, \
    result_score, result_items, result_category, result_note, recorded_by, created_at, updated_at, \
    signed_form, route, kind, details";

pub struct NewRequest<'a> {
    pub season_id: i64,
    pub candidate_id: i64,
    pub school_code: &'a str,
    pub filer_user_id: i64,
    pub filer_chat_id: i64,
    pub filer_name: &'a str,
    pub reason: &'a str,
    pub contact: &'a str,
    pub step: i64,
    pub original_score: i64,
    pub signed_form: Option<&'a Attachment>,
    /// The route as JSON.
    pub route: &'a str,
    /// `Purpose::kind` of the route.
    pub kind: &'a str,
    pub details: Option<&'a str>,
}

/// Inserts a pending request; None when the candidate already has an open one (the unique
/// index decides, so two filers at once get one request).
pub async fn insert(
    conn: &mut AnyConnection,
    r: &NewRequest<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO review_requests (season_id, candidate_id, school_code, filer_user_id,
             filer_chat_id, filer_name, reason, contact, state, step, original_score,
             created_at, updated_at, signed_form, route, kind, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $11, $12, $13, $14, $15)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(r.season_id)
    .bind(r.candidate_id)
    .bind(r.school_code)
    .bind(r.filer_user_id)
    .bind(r.filer_chat_id)
    .bind(r.filer_name)
    .bind(r.reason)
    .bind(r.contact)
    .bind(r.step)
    .bind(r.original_score)
    .bind(to_ms(now))
    .bind(r.signed_form.map(ToString::to_string))
    .bind(r.route)
    .bind(r.kind)
    .bind(r.details)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Takes the request's row lock until the transaction ends, so that decisions on one request
/// happen one after the other (two last signatures must see each other). SQLite transactions
/// here already hold the database's write lock (BEGIN IMMEDIATE).
pub async fn lock(conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT id FROM review_requests WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> sqlx::Result<Option<Request>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM review_requests WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The candidate's open request of this kind (`review` names a scored candidate, `exemption`
/// a roster row).
pub async fn open_of_candidate(
    conn: &mut AnyConnection,
    kind: &str,
    candidate_id: i64,
) -> sqlx::Result<Option<Request>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM review_requests
         WHERE kind = $2 AND candidate_id = $1 AND state IN {OPEN_SQL}"
    )))
    .bind(candidate_id)
    .bind(kind)
    .fetch_optional(conn)
    .await
}

/// The candidate's request of this kind that reached its result (one per candidate: see
/// `review::filing`).
pub async fn result_of_candidate(
    conn: &mut AnyConnection,
    kind: &str,
    candidate_id: i64,
) -> sqlx::Result<Option<Request>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM review_requests
         WHERE kind = $2 AND candidate_id = $1 AND state = 'completed'
         ORDER BY id DESC LIMIT 1"
    )))
    .bind(candidate_id)
    .bind(kind)
    .fetch_optional(conn)
    .await
}

pub async fn of_filer(conn: &mut AnyConnection, user_id: i64) -> sqlx::Result<Vec<Request>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM review_requests WHERE filer_user_id = $1 ORDER BY id"
    )))
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// The open requests of one kind in a season, oldest first.
pub async fn open_ids(
    conn: &mut AnyConnection,
    kind: &str,
    season_id: i64,
) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id FROM review_requests
         WHERE kind = $1 AND season_id = $2 AND state IN {OPEN_SQL} ORDER BY id"
    )))
    .bind(kind)
    .bind(season_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// How many requests of one kind in a season are open.
pub async fn count_open(conn: &mut AnyConnection, kind: &str, season_id: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM review_requests WHERE kind = $1 AND season_id = $2 AND state IN {OPEN_SQL}"
    )))
    .bind(kind)
    .bind(season_id)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// How many requests of one kind in a season are in `state`.
pub async fn count_in(
    conn: &mut AnyConnection,
    kind: &str,
    season_id: i64,
    state: State,
) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM review_requests WHERE kind = $1 AND season_id = $2 AND state = $3",
    )
    .bind(kind)
    .bind(season_id)
    .bind(state.as_str())
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// Open requests in a given state (and step, for pending ones), oldest first.
pub async fn open_at(
    conn: &mut AnyConnection,
    state: State,
    step: Option<i64>,
) -> sqlx::Result<Vec<Request>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM review_requests WHERE state = $1 AND ($2 < 0 OR step = $2)
         ORDER BY id"
    )))
    .bind(state.as_str())
    .bind(step.unwrap_or(-1))
    .fetch_all(conn)
    .await
}

/// A season's requests of every kind and state, oldest first, at most `limit` of them (the
/// season board; a city files some 14,000).
pub async fn of_season(
    conn: &mut AnyConnection,
    season_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Request>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM review_requests WHERE season_id = $1 ORDER BY id LIMIT $2"
    )))
    .bind(season_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A guarded transition: applies only when the request is still in `from` at `version`.
/// Returns false when someone else changed it first.
pub async fn transition(
    conn: &mut AnyConnection,
    r: &Request,
    to: State,
    step: i64,
    round: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    // A move the workflow does not allow is a bug in a use case, never a race: refused loudly.
    let from = State::parse(&r.state);
    if !from.is_some_and(|from| from.may_become(to)) {
        return Err(sqlx::Error::Protocol(format!(
            "request {} may not move from {} to {}",
            r.id,
            r.state,
            to.as_str()
        )));
    }
    let closed = (!to.is_open()).then_some(to_ms(now));
    let done = sqlx::query(
        "UPDATE review_requests SET state = $3, step = $4, round = $5, version = version + 1,
                updated_at = $6, closed_at = $7
         WHERE id = $1 AND version = $2",
    )
    .bind(r.id)
    .bind(r.version)
    .bind(to.as_str())
    .bind(step)
    .bind(round)
    .bind(to_ms(now))
    .bind(closed)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A returned exemption's new 附件2 fields, and its signed application page.
/// A returned request's new content; `details` (附件2's fields) and `form` replace what was
/// filed when given.
pub async fn amend(
    conn: &mut AnyConnection,
    id: i64,
    reason: &str,
    contact: &str,
    details: Option<&str>,
    form: Option<&Attachment>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE review_requests SET reason = $2, contact = $3, details = COALESCE($4, details),
                signed_form = COALESCE($5, signed_form) WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(contact)
    .bind(details)
    .bind(form.map(ToString::to_string))
    .execute(conn)
    .await?;
    Ok(())
}

pub struct RecordedResult<'a> {
    pub kind: &'a str,
    pub score: i64,
    pub items: Option<String>,
    pub category: Option<&'a str>,
    pub note: &'a str,
    pub recorded_by: i64,
}

/// Stores the city group's result and moves the request to confirming (guarded).
pub async fn record_result(
    conn: &mut AnyConnection,
    r: &Request,
    result: &RecordedResult<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE review_requests SET state = 'confirming', result_kind = $3, result_score = $4,
                result_items = $5, result_category = $6, result_note = $7, recorded_by = $8,
                version = version + 1, updated_at = $9
         WHERE id = $1 AND version = $2 AND state = 'recording'",
    )
    .bind(r.id)
    .bind(r.version)
    .bind(result.kind)
    .bind(result.score)
    .bind(result.items.as_deref())
    .bind(result.category)
    .bind(result.note)
    .bind(result.recorded_by)
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub at: i64,
    pub user_id: i64,
    pub actor_name: String,
    pub actor_role: String,
    pub step: Option<i64>,
    pub round: i64,
    pub action: String,
    pub comment: String,
}

pub struct NewEvent<'a> {
    pub request_id: i64,
    pub user_id: i64,
    pub actor_name: &'a str,
    pub actor_role: &'a str,
    pub step: Option<i64>,
    pub round: i64,
    pub action: &'a str,
    pub comment: &'a str,
}

/// Appends an event; false when the same vote was already cast (approve/confirm are unique
/// per person, step and round).
pub async fn add_event(
    conn: &mut AnyConnection,
    e: &NewEvent<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO review_events (request_id, at, user_id, actor_name, actor_role, step, round,
                                    action, comment)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(e.request_id)
    .bind(to_ms(now))
    .bind(e.user_id)
    .bind(e.actor_name)
    .bind(e.actor_role)
    .bind(e.step)
    .bind(e.round)
    .bind(e.action)
    .bind(e.comment)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn events(conn: &mut AnyConnection, request_id: i64) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT at, user_id, actor_name, actor_role, step, round, action, comment
         FROM review_events WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await
}

/// Every event of a season's requests, in order: (request, at, step, round, action), for the
/// board's chart of what each level did day by day and its count of signatures.
pub async fn events_of_season(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<(i64, i64, Option<i64>, i64, String)>> {
    sqlx::query_as(
        "SELECT e.request_id, e.at, e.step, e.round, e.action
         FROM review_events e JOIN review_requests r ON r.id = e.request_id
         WHERE r.season_id = $1 ORDER BY e.id",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

/// Distinct people who cast `action` at this step (or stage, step None) and round.
pub async fn votes(
    conn: &mut AnyConnection,
    request_id: i64,
    round: i64,
    step: Option<i64>,
    action: &str,
) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT user_id FROM review_events
         WHERE request_id = $1 AND round = $2 AND COALESCE(step, -1) = $3 AND action = $4",
    )
    .bind(request_id)
    .bind(round)
    .bind(step.unwrap_or(-1))
    .bind(action)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(u,)| u).collect())
}

pub async fn add_card(
    conn: &mut AnyConnection,
    request_id: i64,
    stage: &str,
    user_id: i64,
    outbox_id: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO review_cards (request_id, stage, user_id, outbox_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(request_id)
    .bind(stage)
    .bind(user_id)
    .bind(outbox_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// (user id, outbox id) of every card of a stage.
pub async fn cards(
    conn: &mut AnyConnection,
    request_id: i64,
    stage: &str,
) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT user_id, outbox_id FROM review_cards WHERE request_id = $1 AND stage = $2
         ORDER BY id",
    )
    .bind(request_id)
    .bind(stage)
    .fetch_all(conn)
    .await
}

/// Every card of a request that may still carry buttons.
pub async fn all_cards(
    conn: &mut AnyConnection,
    request_id: i64,
) -> sqlx::Result<Vec<(String, i64, i64)>> {
    sqlx::query_as(
        "SELECT stage, user_id, outbox_id FROM review_cards WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await
}

/// Changes a candidate's score after a completed review, keeping the old one in history.
pub async fn change_score(
    conn: &mut AnyConnection,
    candidate_id: i64,
    request_id: i64,
    old: (i64, Option<String>),
    new: (i64, Option<[i64; 4]>),
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let new_items_text = new
        .1
        .map(|i| format!("{},{},{},{}", i[0], i[1], i[2], i[3]));
    sqlx::query(
        "INSERT INTO score_history (candidate_id, request_id, old_score, new_score, old_items,
                                    new_items, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(candidate_id)
    .bind(request_id)
    .bind(old.0)
    .bind(new.0)
    .bind(old.1)
    .bind(new_items_text)
    .bind(to_ms(now))
    .execute(&mut *conn)
    .await?;
    match new.1 {
        Some(i) => {
            sqlx::query(
                "UPDATE candidates SET score = $2, item_main = $3, item_sec1 = $4, item_sec2 = $5,
                        item_tidy = $6 WHERE id = $1",
            )
            .bind(candidate_id)
            .bind(new.0)
            .bind(i[0])
            .bind(i[1])
            .bind(i[2])
            .bind(i[3])
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query("UPDATE candidates SET score = $2 WHERE id = $1")
                .bind(candidate_id)
                .bind(new.0)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// Every approval given on a request, any round: (user, step). The duty rules read these.
pub async fn approvals(conn: &mut AnyConnection, request_id: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT DISTINCT user_id, step FROM review_events
         WHERE request_id = $1 AND action = 'approve' AND step IS NOT NULL",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await
}

/// Hands the open requests of a revoked filer in one school to someone who still holds a
/// filing role there; returns the ids moved.
pub async fn pass_filings(
    conn: &mut AnyConnection,
    from_user: i64,
    school_code: &str,
    to: (i64, i64, &str),
) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE review_requests SET filer_user_id = $3, filer_chat_id = $4, filer_name = $5,
                version = version + 1
         WHERE filer_user_id = $1 AND school_code = $2 AND state IN {OPEN_SQL}
         RETURNING id"
    )))
    .bind(from_user)
    .bind(school_code)
    .bind(to.0)
    .bind(to.1)
    .bind(to.2)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Requests not yet ended, by state and route step: (state, step, how many).
pub async fn open_by_step(conn: &mut AnyConnection) -> sqlx::Result<Vec<(String, i64, i64)>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT state, step, COUNT(*) FROM review_requests WHERE state IN {OPEN_SQL}
         GROUP BY state, step ORDER BY state, step"
    )))
    .fetch_all(conn)
    .await
}

/// Where a season's review request stands, as the season's board counts it.
#[derive(Debug, sqlx::FromRow)]
pub struct Standing {
    pub state: String,
    pub step: i64,
    pub school_code: String,
    /// The route it was filed on (JSON).
    pub route: Option<String>,
}

/// Where each of the season's review requests stands.
pub async fn where_each_stands(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<Standing>> {
    sqlx::query_as(
        "SELECT r.state, r.step, r.school_code, r.route FROM review_requests r
         WHERE r.season_id = $1 AND r.kind = 'review'",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

/// The season's review requests counted by state.
pub async fn count_by_state(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT state, COUNT(*) FROM review_requests
         WHERE season_id = $1 AND kind = 'review' GROUP BY state",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

/// The signatures given in the current round of the requests waiting for them (the group's
/// confirmations and the city's 复审): (request, round, user).
pub async fn pending_signatures(conn: &mut AnyConnection) -> sqlx::Result<Vec<(i64, i64, i64)>> {
    sqlx::query_as(
        "SELECT e.request_id, e.round, e.user_id FROM review_events e
         JOIN review_requests r ON r.id = e.request_id
         WHERE (r.state = 'confirming' AND e.action = 'confirm')
            OR (r.state = 'rechecking' AND e.action = 'recheck')",
    )
    .fetch_all(conn)
    .await
}

/// An open request as the reminders see it.
#[derive(Debug, sqlx::FromRow)]
pub struct OpenItem {
    pub id: i64,
    pub state: String,
    pub step: i64,
    pub round: i64,
    pub recorded_by: Option<i64>,
    pub name: String,
    pub class_name: String,
    pub school_code: String,
    pub school_name: String,
    pub district_code: Option<String>,
    pub district_name: String,
    /// The route it was filed on (JSON), see `Routes`.
    pub route: Option<String>,
}

/// The highest request id of a season's `kind` (0 when none): where the windows of
/// `open_page` end.
pub async fn last_id(conn: &mut AnyConnection, season_id: i64, kind: &str) -> sqlx::Result<i64> {
    let (last,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(id) FROM review_requests WHERE season_id = $1 AND kind = $2")
            .bind(season_id)
            .bind(kind)
            .fetch_one(conn)
            .await?;
    Ok(last.unwrap_or(0))
}

/// The open requests of a season's `kind` with ids in (after, after + page], in id order; a
/// 免考 application's candidate is the roster's (`roster`), a review's the published one.
pub async fn open_page(
    conn: &mut AnyConnection,
    season_id: i64,
    kind: &str,
    roster: bool,
    after: i64,
    page: i64,
) -> sqlx::Result<Vec<OpenItem>> {
    let candidates = if roster { "roster" } else { "candidates" };
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT r.id, r.state, r.step, r.round, r.recorded_by, c.name, c.class_name,
                c.school_code, s.name AS school_name,
                CASE WHEN s.city_direct = 1 THEN NULL ELSE s.parent_code END AS district_code,
                CASE WHEN s.city_direct = 1 THEN '市直属' ELSE COALESCE(d.name, '') END
                    AS district_name, r.route
         FROM review_requests r
         JOIN {candidates} c ON c.id = r.candidate_id
         JOIN units s ON s.code = c.school_code
         LEFT JOIN units d ON d.code = s.parent_code
         WHERE r.season_id = $1 AND r.kind = $2 AND r.id > $3 AND r.id <= $4
           AND r.state IN ('pending', 'recording', 'confirming', 'reporting', 'rechecking')
         ORDER BY r.id"
    )))
    .bind(season_id)
    .bind(kind)
    .bind(after)
    .bind(after + page)
    .fetch_all(conn)
    .await
}
