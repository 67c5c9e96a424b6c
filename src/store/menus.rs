//! Chats whose command menu must be set again: a binding there was made or revoked. The bot's
//! menu worker (`telegram::menus`) takes the due rows; a row it could not finish stays.

use super::chat_bots::BotScope;
use super::to_ms;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// The chat's menu is due again, now; a newer version, so that a worker setting the old one
/// leaves the row for the next round.
pub async fn due(conn: &mut AnyConnection, chat_id: i64, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO menu_updates (chat_id, due_at, version) VALUES ($1, $2, 1)
         ON CONFLICT (chat_id) DO UPDATE
         SET due_at = excluded.due_at, version = menu_updates.version + 1",
    )
    .bind(chat_id)
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Every chat where the account holds or held a binding (a revocation changes their menus).
pub async fn due_for_user(
    conn: &mut AnyConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let chats: Vec<(i64,)> =
        sqlx::query_as("SELECT DISTINCT chat_id FROM bindings WHERE telegram_user_id = $1")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    for (chat,) in chats {
        due(conn, chat, now).await?;
    }
    Ok(())
}

/// Up to `limit` chats whose menu is due, with the version read (see `done`).
pub async fn take(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    limit: i64,
    scope: BotScope,
) -> sqlx::Result<Vec<(i64, i64)>> {
    // A menu is set by the bot the chat talks to, or by the deployment's own bot before the chat
    // was heard from (see `chat_bots::BotScope`).
    sqlx::query_as(
        "SELECT m.chat_id, m.version FROM menu_updates m
         LEFT JOIN chat_bots b ON b.chat_id = m.chat_id
         WHERE m.due_at <= $1 AND (b.bot_id = $3 OR (b.bot_id IS NULL AND $4 = 1))
         ORDER BY m.due_at LIMIT $2",
    )
    .bind(to_ms(now))
    .bind(limit)
    .bind(scope.bot_id)
    .bind(scope.unrouted_flag())
    .fetch_all(conn)
    .await
}

/// The chat's menu was set as of `version`; a change made meanwhile (a newer version) stays.
pub async fn done(conn: &mut AnyConnection, chat_id: i64, version: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM menu_updates WHERE chat_id = $1 AND version = $2")
        .bind(chat_id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// Setting it failed: try again at `retry_at`.
pub async fn retry(
    conn: &mut AnyConnection,
    chat_id: i64,
    version: i64,
    retry_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE menu_updates SET due_at = $3 WHERE chat_id = $1 AND version = $2")
        .bind(chat_id)
        .bind(version)
        .bind(to_ms(retry_at))
        .execute(conn)
        .await?;
    Ok(())
}
