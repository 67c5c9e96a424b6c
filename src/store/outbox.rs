//! The transactional outbox. Use cases enqueue inside their own transaction; the delivery worker
//! claims due rows with a lease (so a crashed or second instance never strands or doubles them)
//! and records the outcome.

use super::to_ms;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// A message to be sent: HTML text, optionally a keyboard and a document (then `body` is its
/// caption).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outgoing {
    pub chat_id: i64,
    pub body: String,
    pub reply_markup: Option<String>,
    pub document: Option<(String, Vec<u8>)>,
    /// Sending the same key twice is a no-op: this is what makes repeated use cases idempotent.
    pub dedupe_key: Option<String>,
    /// Groups the messages of one fan-out (for its completion report).
    pub batch: Option<String>,
    /// A reply to the recipient's own action: its chat is served before chats that only have
    /// notices waiting (the chat's own messages keep their order).
    pub is_reply: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub chat_id: i64,
    pub body: String,
    pub reply_markup: Option<String>,
    pub document_name: Option<String>,
    pub document: Option<Vec<u8>>,
    pub batch: Option<String>,
    pub attempts: i64,
    /// Set on rows that edit an earlier message (its outbox id).
    pub edit_of: Option<i64>,
}

/// Queues a message and returns its row id (None when its dedupe key was queued before).
pub async fn enqueue_returning(
    conn: &mut AnyConnection,
    msg: &Outgoing,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO outbox (chat_id, body, reply_markup, dedupe_key, batch, status,
                             next_attempt_at, created_at, is_reply)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(msg.chat_id)
    .bind(&msg.body)
    .bind(msg.reply_markup.as_deref())
    .bind(msg.dedupe_key.as_deref())
    .bind(msg.batch.as_deref())
    .bind(to_ms(now))
    .bind(i64::from(msg.is_reply))
    .fetch_optional(&mut *conn)
    .await?;
    if let (Some((id,)), Some((name, bytes))) = (row, &msg.document) {
        sqlx::query("INSERT INTO outbox_documents (outbox_id, name, bytes) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(bytes.clone())
            .execute(conn)
            .await?;
    }
    Ok(row.map(|(id,)| id))
}

/// Replaces the text of an earlier message and removes its buttons. When the original has not
/// gone out yet it is rewritten in place; otherwise an edit is queued behind it.
pub async fn edit(
    conn: &mut AnyConnection,
    original: i64,
    body: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let rewritten = sqlx::query(
        "UPDATE outbox SET body = $2, reply_markup = NULL WHERE id = $1 AND status = 'pending'",
    )
    .bind(original)
    .bind(body)
    .execute(&mut *conn)
    .await?;
    if rewritten.rows_affected() == 1 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO outbox (chat_id, body, edit_of, status, next_attempt_at, created_at)
         SELECT chat_id, $2, id, 'pending', 0, $3 FROM outbox WHERE id = $1",
    )
    .bind(original)
    .bind(body)
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The Telegram message id and status of a row (for edits).
pub async fn sent_message(
    conn: &mut AnyConnection,
    id: i64,
) -> sqlx::Result<Option<(String, Option<i64>)>> {
    sqlx::query_as("SELECT status, telegram_message_id FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Queues a message, due at once; false when its dedupe key was queued before. `now` is the
/// app's clock (for the record); when to send is the delivery worker's wall-clock business.
pub async fn enqueue(
    conn: &mut AnyConnection,
    msg: &Outgoing,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    Ok(enqueue_returning(conn, msg, now).await?.is_some())
}

/// Due rows (pending and due, or sending with an expired lease), replies first, then oldest
/// first: (id, chat_id). Two queries, so that each is answered by an index in order: sorting
/// every due row by kind would read the whole backlog (tens of thousands of rows in a burst).
pub async fn due(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let mut rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, chat_id FROM outbox
         WHERE is_reply = 1 AND status = 'pending' AND next_attempt_at <= $1
         ORDER BY id LIMIT $2",
    )
    .bind(to_ms(now))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let oldest: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, chat_id FROM outbox
         WHERE (status = 'pending' AND next_attempt_at <= $1)
            OR (status = 'sending' AND lease_until < $1)
         ORDER BY id LIMIT $2",
    )
    .bind(to_ms(now))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    let replies: std::collections::HashSet<i64> = rows.iter().map(|(id, _)| *id).collect();
    rows.extend(oldest.into_iter().filter(|(id, _)| !replies.contains(id)));
    Ok(rows)
}

/// Claims one row for sending until `lease_until`; None when someone else has it.
pub async fn claim(
    conn: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> sqlx::Result<Option<Row>> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'sending', lease_until = $3, attempts = attempts + 1
         WHERE id = $1 AND ((status = 'pending' AND next_attempt_at <= $2)
                         OR (status = 'sending' AND lease_until < $2))",
    )
    .bind(id)
    .bind(to_ms(now))
    .bind(to_ms(lease_until))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT o.id, o.chat_id, o.body, o.reply_markup, d.name AS document_name,
                d.bytes AS document, o.batch, o.attempts, o.edit_of
         FROM outbox o LEFT JOIN outbox_documents d ON d.outbox_id = o.id WHERE o.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn mark_sent(
    conn: &mut AnyConnection,
    id: i64,
    message_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $2, telegram_message_id = $3,
                lease_until = NULL, last_error = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(to_ms(now))
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_retry(
    conn: &mut AnyConnection,
    id: i64,
    next_attempt: DateTime<Utc>,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'pending', next_attempt_at = $2, lease_until = NULL,
                last_error = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(to_ms(next_attempt))
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_failed(conn: &mut AnyConnection, id: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many messages of a batch are not yet finished (sent or failed).
pub async fn open_in_batch(conn: &mut AnyConnection, batch: &str) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox WHERE batch = $1 AND status IN ('pending', 'sending')",
    )
    .bind(batch)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// (sent, failed) of a batch.
pub async fn batch_outcome(conn: &mut AnyConnection, batch: &str) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0)
         FROM outbox WHERE batch = $1",
    )
    .bind(batch)
    .fetch_one(conn)
    .await
}

/// Messages not yet finished, in all batches (the demo and tests wait for zero).
pub async fn open_count(conn: &mut AnyConnection) -> sqlx::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
            .fetch_one(conn)
            .await?;
    Ok(n)
}

/// The soonest moment a pending row becomes due, if any.
pub async fn next_due(conn: &mut AnyConnection) -> sqlx::Result<Option<i64>> {
    let (at,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(CASE WHEN status = 'pending' THEN next_attempt_at ELSE lease_until END)
         FROM outbox WHERE status IN ('pending', 'sending')",
    )
    .fetch_one(conn)
    .await?;
    Ok(at)
}

/// Returns every leased row to the queue (at start of a single-process deployment).
pub async fn release_all_leases(conn: &mut AnyConnection) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'pending', lease_until = NULL WHERE status = 'sending'",
    )
    .execute(conn)
    .await?
    .rows_affected())
}
