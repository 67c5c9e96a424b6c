//! Messages shown once and taken back from their chat at a set time (a half-day's password).
//! Only the message's id is kept, never its text.

use super::chat_bots::BotScope;
use super::to_ms;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// Takes message `message` of `chat` back at `at`.
pub async fn record(
    conn: &mut AnyConnection,
    chat: i64,
    message: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO takebacks (chat_id, message_id, take_back_at, bot_id)
         VALUES ($1, $2, $3, (SELECT bot_id FROM chat_bots WHERE chat_id = $1))",
    )
    .bind(chat)
    .bind(message)
    .bind(to_ms(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Up to `limit` messages due to be taken back by the bot of `scope`: (row, chat, message).
pub async fn due(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    scope: BotScope,
    limit: i64,
) -> sqlx::Result<Vec<(i64, i64, i64)>> {
    sqlx::query_as(
        "SELECT id, chat_id, message_id FROM takebacks
         WHERE take_back_at <= $1 AND (bot_id = $2 OR (bot_id IS NULL AND $3 = 1))
         ORDER BY take_back_at LIMIT $4",
    )
    .bind(to_ms(now))
    .bind(scope.bot_id)
    .bind(scope.unrouted_flag())
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A message taken back (or gone already).
pub async fn done(conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM takebacks WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A message taken back at its reader's word, before its time.
pub async fn done_message(conn: &mut AnyConnection, chat: i64, message: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM takebacks WHERE chat_id = $1 AND message_id = $2")
        .bind(chat)
        .bind(message)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a message of this chat waits to be taken back.
pub async fn is_due_later(conn: &mut AnyConnection, chat: i64, message: i64) -> sqlx::Result<bool> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM takebacks WHERE chat_id = $1 AND message_id = $2")
            .bind(chat)
            .bind(message)
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}
