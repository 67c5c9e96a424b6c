//! The webhook's inbox: every update Telegram pushed, recorded before it is acknowledged and
//! handled once (see migration 0022). Claims work as the outbox's: each chat's oldest open
//! update, leased to one instance, given back when that instance is gone (`store::instances`).
//!
//! Update ids are a bot's own, so each row names the bot it came through (migration 0027); a
//! bot's instances take only its updates, and rows from before are any bot's (0).

use super::to_ms;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// Records an update; false when it was recorded before (Telegram sent it again).
pub async fn record(
    conn: &mut AnyConnection,
    bot_id: i64,
    update_id: i64,
    chat_id: i64,
    body: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO inbox (update_id, chat_id, body, received_at, bot_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (bot_id, update_id) DO NOTHING",
    )
    .bind(update_id)
    .bind(chat_id)
    .bind(body)
    .bind(to_ms(now))
    .bind(bot_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Up to `limit` updates that may be handled now: the oldest open update of each chat whose
/// oldest is not being handled (or whose handler's lease ran out).
pub async fn due_heads(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    limit: i64,
    bot_id: i64,
) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT chat_id, MIN(update_id) AS head FROM inbox
         WHERE status IN ('pending', 'handling') AND bot_id IN (0, $3)
         GROUP BY chat_id
         HAVING MIN(update_id) = MIN(CASE WHEN status = 'pending'
                                               OR (status = 'handling' AND lease_until < $1)
                                          THEN update_id END)
         ORDER BY MIN(update_id) LIMIT $2",
    )
    .bind(to_ms(now))
    .bind(limit)
    .bind(bot_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(_, id)| id).collect())
}

/// Claims one update for `owner` until `lease_until`: its body, or None when another instance
/// took it first.
pub async fn claim(
    conn: &mut AnyConnection,
    bot_id: i64,
    update_id: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    owner: &str,
) -> sqlx::Result<Option<String>> {
    let done = sqlx::query(
        "UPDATE inbox SET status = 'handling', lease_until = $3, lease_owner = $4
         WHERE update_id = $1 AND bot_id IN (0, $5)
           AND (status = 'pending' OR (status = 'handling' AND lease_until < $2))",
    )
    .bind(update_id)
    .bind(to_ms(now))
    .bind(to_ms(lease_until))
    .bind(owner)
    .bind(bot_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let (body,): (String,) = sqlx::query_as(
        "SELECT body FROM inbox WHERE update_id = $1 AND bot_id IN (0, $2) AND lease_owner = $3",
    )
    .bind(update_id)
    .bind(bot_id)
    .bind(owner)
    .fetch_one(conn)
    .await?;
    Ok(Some(body))
}

/// The update's handler has finished; what it said is no longer kept.
pub async fn handled(
    conn: &mut AnyConnection,
    bot_id: i64,
    update_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE inbox SET status = 'handled', handled_at = $2, body = '',
                lease_owner = NULL, lease_until = NULL
         WHERE update_id = $1 AND bot_id IN (0, $3)",
    )
    .bind(update_id)
    .bind(to_ms(now))
    .bind(bot_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets updates handled before `before`: by then Telegram no longer sends them again.
pub async fn prune(conn: &mut AnyConnection, before: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM inbox WHERE status = 'handled' AND handled_at < $1")
            .bind(to_ms(before))
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Updates recorded and not yet handled, and the age of the oldest (for /metrics).
pub async fn backlog(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
) -> sqlx::Result<(i64, Option<i64>)> {
    let (n, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(received_at) FROM inbox WHERE status IN ('pending', 'handling')",
    )
    .fetch_one(conn)
    .await?;
    Ok((n, oldest.map(|at| (to_ms(now) - at).max(0))))
}
