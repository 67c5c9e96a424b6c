//! The transactional outbox. Use cases enqueue inside their own transaction; the delivery worker
//! claims due rows with a lease (so a crashed or second instance never strands or doubles them)
//! and records the outcome.

use super::chat_bots::BotScope;
use super::to_ms;
use crate::buttons::Buttons;
use crate::render::{fit_html, limits, visible_len};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// A message to be sent: HTML text, optionally a keyboard and a document (then `body` is its
/// caption).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outgoing {
    pub chat_id: i64,
    pub body: String,
    pub buttons: Option<crate::buttons::Buttons>,
    pub document: Option<(String, Vec<u8>)>,
    /// A file Telegram already holds, sent on by its reference (the body is its caption).
    pub file: Option<crate::domain::attachment::Attachment>,
    /// Sending the same key twice is a no-op: this is what makes repeated use cases idempotent.
    pub dedupe_key: Option<String>,
    /// Groups the messages of one fan-out (for its completion report).
    pub batch: Option<String>,
    /// A reply to the recipient's own action: its chat is served before chats that only have
    /// notices waiting (the chat's own messages keep their order).
    pub is_reply: bool,
    /// A plain notice nobody will edit: sent together with the chat's other such notices
    /// waiting right behind it, as one message.
    pub mergeable: bool,
    /// A card that may be folded into its chat's batch card (`card_lists`) while it waits.
    pub foldable: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub chat_id: i64,
    pub body: String,
    pub reply_markup: Option<String>,
    pub document_name: Option<String>,
    pub document: Option<Vec<u8>>,
    /// `Attachment` as stored: a file sent on by reference.
    pub file_ref: Option<String>,
    pub batch: Option<String>,
    pub attempts: i64,
    /// Set on rows that edit an earlier message (its outbox id).
    pub edit_of: Option<i64>,
    pub mergeable: i64,
    /// Rows sent in this one message with it (`claim_followers`), marked as it is.
    #[sqlx(skip)]
    pub merged: Vec<i64>,
}

/// Queues a message and returns its row id (None when its dedupe key was queued before).
pub async fn enqueue_returning(
    conn: &mut AnyConnection,
    msg: &Outgoing,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    // Telegram refuses a longer text for good; cut it here rather than lose the message.
    let limit = match (&msg.document, &msg.file) {
        (None, None) => limits::TEXT,
        _ => limits::CAPTION,
    };
    let body = fit_html(&msg.body, limit);
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO outbox (chat_id, body, reply_markup, dedupe_key, batch, status,
                             next_attempt_at, created_at, is_reply, file_ref, mergeable,
                             foldable, bot_id)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8, $9, $10,
                 (SELECT bot_id FROM chat_bots WHERE chat_id = $1))
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(msg.chat_id)
    .bind(&body)
    .bind(msg.buttons.as_ref().map(Buttons::to_stored))
    .bind(msg.dedupe_key.as_deref())
    .bind(msg.batch.as_deref())
    .bind(to_ms(now))
    .bind(i64::from(msg.is_reply))
    .bind(msg.file.as_ref().map(ToString::to_string))
    .bind(i64::from(
        msg.mergeable && msg.buttons.is_none() && msg.document.is_none() && msg.file.is_none(),
    ))
    .bind(i64::from(msg.foldable))
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
    edit_with(conn, original, body, None, now).await
}

/// Replaces the text of an earlier message and its buttons with `buttons` (none: the message
/// keeps none, as Telegram drops the keyboard of an edit that names none). An edit still waiting to go out is
/// rewritten rather than queued twice: a card edited many times in a burst costs one call.
pub async fn edit_with(
    conn: &mut AnyConnection,
    original: i64,
    body: &str,
    buttons: Option<&Buttons>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let body = &fit_html(body, limits::TEXT);
    let reply_markup = buttons.map(Buttons::to_stored);
    // The original and any edit of it still waiting, both: an original that went back to
    // waiting (a failed send) may have an older edit queued behind it. Two statements, each
    // on its own index (an OR of the two had SQLite scan the whole outbox on every edit).
    let mut rewritten = 0;
    for rewrite in [
        "UPDATE outbox SET body = $2, reply_markup = $3 WHERE id = $1 AND status = 'pending'",
        "UPDATE outbox SET body = $2, reply_markup = $3 WHERE edit_of = $1 AND status = 'pending'",
    ] {
        rewritten += sqlx::query(rewrite)
            .bind(original)
            .bind(body)
            .bind(reply_markup.as_deref())
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    if rewritten >= 1 {
        return Ok(());
    }
    // A card folded into a batch card, or dropped from it, was never sent: there is no
    // message to edit (closing one takes it off its list instead).
    sqlx::query(
        "INSERT INTO outbox (chat_id, body, reply_markup, edit_of, status, next_attempt_at,
                             created_at, bot_id)
         SELECT chat_id, $2, $3, id, 'pending', 0, $4, bot_id FROM outbox
         WHERE id = $1 AND status NOT IN ('folded', 'dropped')",
    )
    .bind(original)
    .bind(body)
    .bind(reply_markup.as_deref())
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

/// The oldest open row of each chat, where that row is due: (chat_id, id), chats with a reply
/// waiting first, then by age. Only a chat's oldest row is ever sent, so its order is kept;
/// a chat with thousands of rows waiting takes one place here, like any other.
///
/// Only rows the bot of `scope` sends (see `chat_bots::BotScope`).
pub async fn due_heads(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    limit: i64,
    scope: BotScope,
) -> sqlx::Result<Vec<(i64, i64)>> {
    // A chat's head is due when its oldest due row is its oldest row. One grouped pass, no
    // join: a join here let PostgreSQL's planner, on statistics from before a burst, rescan
    // the backlog once per chat (see migration 0014).
    // A resting chat (`chat_rests`) is left out after grouping: one lookup a chat, not a row.
    sqlx::query_as(
        "SELECT chat_id, head FROM (
             SELECT chat_id, MIN(id) AS head, MAX(is_reply) AS reply FROM outbox
             WHERE status IN ('pending', 'sending')
               AND (bot_id = $3 OR (bot_id IS NULL AND $4 = 1))
             GROUP BY chat_id
             HAVING MIN(id) = MIN(CASE WHEN (status = 'pending' AND next_attempt_at <= $1)
                                         OR (status = 'sending' AND lease_until < $1)
                                       THEN id END)
         ) due
         WHERE NOT EXISTS (SELECT 1 FROM chat_rests r
                           WHERE r.chat_id = due.chat_id AND r.until > $1)
         ORDER BY reply DESC, head LIMIT $2",
    )
    .bind(to_ms(now))
    .bind(limit)
    .bind(scope.bot_id)
    .bind(scope.unrouted_flag())
    .fetch_all(conn)
    .await
}

/// Claims one row for sending until `lease_until`, for instance `owner` (see
/// `store::instances`); None when someone else has it.
pub async fn claim(
    conn: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    owner: &str,
) -> sqlx::Result<Option<Row>> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'sending', lease_until = $3, lease_owner = $4,
                attempts = attempts + 1
         WHERE id = $1 AND ((status = 'pending' AND next_attempt_at <= $2)
                         OR (status = 'sending' AND lease_until < $2))
           AND NOT EXISTS (SELECT 1 FROM chat_rests r
                           WHERE r.chat_id = outbox.chat_id AND r.until > $2)",
    )
    .bind(id)
    .bind(to_ms(now))
    .bind(to_ms(lease_until))
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT o.id, o.chat_id, o.body, o.reply_markup, d.name AS document_name,
                d.bytes AS document, o.file_ref, o.batch, o.attempts, o.edit_of, o.mergeable
         FROM outbox o LEFT JOIN outbox_documents d ON d.outbox_id = o.id WHERE o.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Between notices sent as one message: a rule, so that each reads as its own.
pub const MERGED_SEPARATOR: &str = "\n\n┈┈┈┈┈┈┈┈\n\n";

/// A plain notice just claimed takes along the chat's plain notices queued right behind it
/// (up to the first that is not one, and as many as fit one message): they go out as one.
pub async fn claim_followers(
    conn: &mut AnyConnection,
    head: &mut Row,
    lease_until: DateTime<Utc>,
    owner: &str,
) -> sqlx::Result<()> {
    if head.mergeable == 0 || head.edit_of.is_some() {
        return Ok(());
    }
    let behind: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, body, mergeable FROM outbox
         WHERE chat_id = $1 AND id > $2 AND status IN ('pending', 'sending')
           AND COALESCE(bot_id, 0) = (SELECT COALESCE(bot_id, 0) FROM outbox WHERE id = $2)
         ORDER BY id LIMIT 50",
    )
    .bind(head.chat_id)
    .bind(head.id)
    .fetch_all(&mut *conn)
    .await?;
    let mut length = visible_len(&head.body);
    for (id, body, mergeable) in behind {
        let joined = length + MERGED_SEPARATOR.len() + visible_len(&body);
        if mergeable == 0 || joined > limits::TEXT {
            break;
        }
        let taken = sqlx::query(
            "UPDATE outbox SET status = 'sending', lease_until = $2, lease_owner = $3
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(to_ms(lease_until))
        .bind(owner)
        .execute(&mut *conn)
        .await?;
        if taken.rows_affected() == 0 {
            break;
        }
        head.body.push_str(MERGED_SEPARATOR);
        head.body.push_str(&body);
        head.merged.push(id);
        length = joined;
    }
    Ok(())
}

/// Rows that were to go out with another that did not: back to the queue, on their own.
pub async fn release(conn: &mut AnyConnection, ids: &[i64]) -> sqlx::Result<()> {
    for id in ids {
        sqlx::query(
            "UPDATE outbox SET status = 'pending', lease_until = NULL, lease_owner = NULL
             WHERE id = $1 AND status = 'sending'",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Takes the chat's next turn for a message sent past the outbox: the chat then rests until
/// `until`, which every claim checks. Taken only when the chat is not resting at `now` and no
/// send to it is in flight (its rest is known only once it is done), in one statement, so that
/// no claim slips in between; false when the chat is busy.
pub async fn take_chat_turn(
    conn: &mut AnyConnection,
    chat_id: i64,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO chat_rests (chat_id, until)
         SELECT $1, $3
         WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE chat_id = $1 AND status = 'sending')
           AND NOT EXISTS (SELECT 1 FROM chat_rests WHERE chat_id = $1 AND until > $2)
         ON CONFLICT (chat_id) DO UPDATE SET until = excluded.until",
    )
    .bind(chat_id)
    .bind(to_ms(now))
    .bind(to_ms(until))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Nothing more goes to the chat before `until`: Telegram's one message a second to a chat is
/// per bot, so the rest is kept in the database, where every instance sees it: in
/// `chat_rests`, which every claim checks (a row queued after this send included), and on the
/// chat's waiting rows, so that they are not due before it.
pub async fn rest_chat(
    conn: &mut AnyConnection,
    chat_id: i64,
    until: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO chat_rests (chat_id, until) VALUES ($1, $2)
         ON CONFLICT (chat_id) DO UPDATE SET until = excluded.until",
    )
    .bind(chat_id)
    .bind(to_ms(until))
    .execute(&mut *conn)
    .await?;
    // Written so that SQLite takes the chat's open rows from their partial index (it uses one
    // only for a query that repeats the index's condition): `status = 'pending'` had it pick
    // the due-time index instead and read every due row under a backlog, for every send.
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $2
         WHERE chat_id = $1 AND status IN ('pending', 'sending') AND status <> 'sending'
           AND next_attempt_at < $2",
    )
    .bind(chat_id)
    .bind(to_ms(until))
    .execute(conn)
    .await?;
    Ok(())
}

///
/// The row keeps the bot that sent it (`bot_id`): an edit of the message must go through it.
pub async fn mark_sent(
    conn: &mut AnyConnection,
    id: i64,
    message_id: i64,
    bot_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $2, telegram_message_id = $3,
                lease_until = NULL, last_error = NULL, body = '', file_ref = NULL,
                bot_id = COALESCE(bot_id, $4)
         WHERE id = $1",
    )
    .bind(id)
    .bind(to_ms(now))
    .bind(message_id)
    .bind(bot_id)
    .execute(&mut *conn)
    .await?;
    // What was said is with its reader now; the row keeps only the ids for later edits.
    sqlx::query("DELETE FROM outbox_documents WHERE outbox_id = $1")
        .bind(id)
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
        "UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = $2, file_ref = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    // A document that will never be sent is not kept either (it may carry invite links).
    sqlx::query("DELETE FROM outbox_documents WHERE outbox_id = $1")
        .bind(id)
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

/// Each message of a fan-out by its dedupe key, with its status (pending, sending, sent or
/// failed).
pub async fn states_in_batch(
    conn: &mut AnyConnection,
    batch: &str,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT dedupe_key, status FROM outbox WHERE batch = $1 AND dedupe_key IS NOT NULL",
    )
    .bind(batch)
    .fetch_all(conn)
    .await
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

/// Returns every row the bot of `scope` had leased to the queue (at start of a single-process
/// deployment, which may serve several bots).
pub async fn release_all_leases(conn: &mut AnyConnection, scope: BotScope) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'pending', lease_until = NULL
         WHERE status = 'sending' AND (bot_id = $1 OR (bot_id IS NULL AND $2 = 1))",
    )
    .bind(scope.bot_id)
    .bind(scope.unrouted_flag())
    .execute(conn)
    .await?
    .rows_affected())
}

/// Adds `line` to the message of kind `batch` still waiting for this chat, or queues a new one
/// (`heading` then the line). Several events in a row become one digest.
pub async fn enqueue_or_append(
    conn: &mut AnyConnection,
    chat_id: i64,
    batch: &str,
    heading: &str,
    line: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let waiting: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, body FROM outbox
         WHERE chat_id = $1 AND batch = $2 AND status = 'pending' ORDER BY id DESC LIMIT 1",
    )
    .bind(chat_id)
    .bind(batch)
    .fetch_optional(&mut *conn)
    .await?;
    match waiting {
        Some((id, body)) if visible_len(&body) + 1 + visible_len(line) <= limits::TEXT => {
            sqlx::query("UPDATE outbox SET body = $2 WHERE id = $1 AND status = 'pending'")
                .bind(id)
                .bind(format!("{body}\n{line}"))
                .execute(conn)
                .await?;
        }
        _ => {
            let msg = Outgoing {
                chat_id,
                body: format!("{heading}\n{line}"),
                batch: Some(batch.to_string()),
                ..Outgoing::default()
            };
            enqueue(conn, &msg, now).await?;
        }
    }
    Ok(())
}

/// Messages waiting, by kind (the batch's name before its colon; replies; other notices):
/// (kind, how many, age of the oldest in ms).
pub async fn depth_by_kind(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, i64, i64)>> {
    let rows: Vec<(Option<String>, i64, i64, i64)> = sqlx::query_as(
        "SELECT batch, is_reply, COUNT(*), MIN(created_at) FROM outbox
         WHERE status IN ('pending', 'sending') GROUP BY batch, is_reply",
    )
    .fetch_all(conn)
    .await?;
    let mut kinds: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for (batch, is_reply, n, oldest) in rows {
        let kind = match (batch, is_reply) {
            (Some(b), _) => b.split(':').next().unwrap_or_default().to_string(),
            (None, r) if r != 0 => "reply".into(),
            (None, _) => "notice".into(),
        };
        let entry = kinds.entry(kind).or_insert((0, i64::MAX));
        entry.0 += n;
        entry.1 = entry.1.min(oldest);
    }
    Ok(kinds
        .into_iter()
        .map(|(kind, (n, oldest))| (kind, n, (to_ms(now) - oldest).max(0)))
        .collect())
}

/// The chat of the row `id`, when the messenger numbers its messages by the rows that carry
/// them (DingTalk's cards): known from the moment the row is queued, so a press on a card
/// that arrived before delivery recorded it finds its chat all the same.
pub async fn chat_of_row(
    conn: &mut AnyConnection,
    bot_id: i64,
    id: i64,
) -> sqlx::Result<Option<i64>> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT chat_id FROM outbox WHERE id = $1 AND (bot_id = $2 OR bot_id IS NULL)",
    )
    .bind(id)
    .bind(bot_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|(c,)| c))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fake_telegram_reads_merged_notices_as_the_bot_joins_them() {
        assert_eq!(super::MERGED_SEPARATOR, fake_telegram::NOTICE_SEPARATOR);
    }
}
