//! What the sweep has sent: one row per reminder, closing or other once-only moment, keyed so
//! that two sweeps (or two instances) send it once.

use super::to_ms;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// Claims `key`, due at `due`; true for the one caller that inserted it.
pub async fn claim(
    conn: &mut AnyConnection,
    key: &str,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO reminders_sent (key, due_at, sent_at, recipients) VALUES ($1, $2, $3, 0)
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(to_ms(due))
    .bind(to_ms(now))
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// How many a claimed moment reached.
pub async fn set_recipients(conn: &mut AnyConnection, key: &str, n: usize) -> sqlx::Result<()> {
    sqlx::query("UPDATE reminders_sent SET recipients = $2 WHERE key = $1")
        .bind(key)
        .bind(n as i64)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `key` was claimed.
pub async fn claimed(conn: &mut AnyConnection, key: &str) -> sqlx::Result<bool> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT recipients FROM reminders_sent WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}
