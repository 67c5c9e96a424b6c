//! Chat dialogue state lives in the database, so a restarted bot continues where the user was.

use super::to_ms;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Dialogue {
    pub user_id: i64,
    pub chat_id: i64,
    pub kind: String,
    pub step: String,
    /// The dialogue's state as JSON (`app::dialogue`).
    pub data: String,
}

pub async fn get(conn: &mut AnyConnection, user_id: i64) -> sqlx::Result<Option<Dialogue>> {
    sqlx::query_as("SELECT user_id, chat_id, kind, step, data FROM dialogues WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

pub async fn set(
    conn: &mut AnyConnection,
    user_id: i64,
    chat_id: i64,
    kind: &str,
    step: &str,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dialogues (user_id, chat_id, kind, step, data, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, kind = excluded.kind,
             step = excluded.step, data = excluded.data, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(chat_id)
    .bind(kind)
    .bind(step)
    .bind(data.to_string())
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut AnyConnection, user_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM dialogues WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Who of the city is in a dialogue of `kind`: (user, chat).
pub async fn of_kind_in_city(
    conn: &mut AnyConnection,
    kind: &str,
    city: &str,
) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT d.user_id, d.chat_id FROM dialogues d WHERE d.kind = $1 AND EXISTS (
             SELECT 1 FROM bindings b JOIN units u ON u.code = b.unit_code
             WHERE b.telegram_user_id = d.user_id AND b.revoked_at IS NULL
               AND u.city_code = $2)",
    )
    .bind(kind)
    .bind(city)
    .fetch_all(conn)
    .await
}
