//! Batch cards: the cards of a chat with many waiting are folded into one list message shown a
//! page at a time. A folded card keeps its outbox row, in status
//! `folded` (never sent on its own) and then `dropped` once it is closed unseen, so every path
//! that finds a request's cards (`reviews::cards`) still finds it.
//!
//! What a page showed is written down per version of the list: a button acts on an item only
//! once a page showed it, and a page's "approve all" acts on exactly that version's items.

use sqlx::AnyConnection;

/// A chat's list as it stands, taken under its row lock (see `lock`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct List {
    pub id: i64,
    pub chat_id: i64,
    pub user_id: i64,
    /// The message showing the list now; None once it was emptied.
    pub outbox_id: Option<i64>,
    pub page: i64,
    pub version: i64,
}

/// A folded card: its outbox row (text and keyboard as they would have been sent) and the
/// request and stage it was sent for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Folded {
    pub outbox_id: i64,
    pub body: String,
    pub reply_markup: Option<String>,
    pub request_id: i64,
    pub stage: String,
}

/// Folds the chat's waiting foldable cards when it has `fold_at` of them or a list already
/// holds some of its cards (a new card then joins the list). True when anything was folded.
/// Only a card still showing its buttons folds (one closed while it waited was rewritten
/// without them, and goes out as it is), and only one with no edit queued behind it (one that
/// was being sent when it was closed, and then set back to wait).
pub async fn fold_waiting(
    conn: &mut AnyConnection,
    chat_id: i64,
    fold_at: usize,
) -> sqlx::Result<bool> {
    let (waiting,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox
         WHERE chat_id = $1 AND status = 'pending' AND foldable = 1 AND reply_markup IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.edit_of = outbox.id
                                                    AND e.status = 'pending')",
    )
    .bind(chat_id)
    .fetch_one(&mut *conn)
    .await?;
    if waiting == 0 {
        return Ok(false);
    }
    if (waiting as usize) < fold_at && folded_count(conn, chat_id).await? == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE outbox SET status = 'folded'
         WHERE chat_id = $1 AND status = 'pending' AND foldable = 1 AND reply_markup IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.edit_of = outbox.id
                                                    AND e.status = 'pending')",
    )
    .bind(chat_id)
    .execute(conn)
    .await?;
    Ok(true)
}

/// Cards of the chat in its list.
pub async fn folded_count(conn: &mut AnyConnection, chat_id: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE chat_id = $1 AND status = 'folded'")
            .bind(chat_id)
            .fetch_one(conn)
            .await?;
    Ok(n)
}

/// The folded cards of a chat, oldest (most urgent) first, `limit` of them from `offset`.
pub async fn folded_page(
    conn: &mut AnyConnection,
    chat_id: i64,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<Folded>> {
    sqlx::query_as(
        "SELECT o.id AS outbox_id, o.body, o.reply_markup, c.request_id, c.stage
         FROM outbox o JOIN review_cards c ON c.outbox_id = o.id
         WHERE o.chat_id = $1 AND o.status = 'folded'
         ORDER BY o.id LIMIT $2 OFFSET $3",
    )
    .bind(chat_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
}

/// A folded card that was closed (or acted on by its holder) leaves the list, and its text
/// goes as a sent message's does; returns its chat (None when the card was not folded: it was
/// sent, and is edited like any other).
pub async fn drop_folded(conn: &mut AnyConnection, outbox_id: i64) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE outbox SET status = 'dropped', body = '' WHERE id = $1 AND status = 'folded'
         RETURNING chat_id",
    )
    .bind(outbox_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(chat,)| chat))
}

/// The chat's list, created if need be, with its version moved on. The update takes the row's
/// lock first (PostgreSQL), so two transactions that fold into one chat render one after the
/// other, each seeing the other's cards, and never start two messages.
pub async fn lock(conn: &mut AnyConnection, chat_id: i64, user_id: i64) -> sqlx::Result<List> {
    sqlx::query(
        "INSERT INTO card_lists (chat_id, user_id) VALUES ($1, $2)
         ON CONFLICT (chat_id) DO NOTHING",
    )
    .bind(chat_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(
        "UPDATE card_lists SET version = version + 1 WHERE chat_id = $1
         RETURNING id, chat_id, user_id, outbox_id, page, version",
    )
    .bind(chat_id)
    .fetch_one(conn)
    .await
}

pub async fn get(conn: &mut AnyConnection, list_id: i64) -> sqlx::Result<Option<List>> {
    sqlx::query_as(
        "SELECT id, chat_id, user_id, outbox_id, page, version FROM card_lists WHERE id = $1",
    )
    .bind(list_id)
    .fetch_optional(conn)
    .await
}

/// Where the list is shown now and which page.
pub async fn set_shown(
    conn: &mut AnyConnection,
    list_id: i64,
    outbox_id: Option<i64>,
    page: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE card_lists SET outbox_id = $2, page = $3 WHERE id = $1")
        .bind(list_id)
        .bind(outbox_id)
        .bind(page)
        .execute(conn)
        .await?;
    Ok(())
}

/// The page to show next time the list is drawn.
pub async fn set_page(conn: &mut AnyConnection, list_id: i64, page: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE card_lists SET page = $2 WHERE id = $1")
        .bind(list_id)
        .bind(page)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes down the items a version of the list shows.
pub async fn record_page(
    conn: &mut AnyConnection,
    list_id: i64,
    version: i64,
    items: &[(i64, String)],
) -> sqlx::Result<()> {
    for (request_id, stage) in items {
        sqlx::query(
            "INSERT INTO card_pages (list_id, version, request_id, stage) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(list_id)
        .bind(version)
        .bind(request_id)
        .bind(stage)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The items (request, stage) version `version` of the list showed.
pub async fn page_items(
    conn: &mut AnyConnection,
    list_id: i64,
    version: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT request_id, stage FROM card_pages WHERE list_id = $1 AND version = $2
         ORDER BY request_id",
    )
    .bind(list_id)
    .bind(version)
    .fetch_all(conn)
    .await
}

/// Whether this person may act on their card of (request, stage): true when the card was sent
/// on its own or a page of their list showed it; false only for a card still folded unseen.
pub async fn card_was_shown(
    conn: &mut AnyConnection,
    user_id: i64,
    request_id: i64,
    stage: &str,
) -> sqlx::Result<bool> {
    let folded: Option<(i64,)> = sqlx::query_as(
        "SELECT o.id FROM review_cards c JOIN outbox o ON o.id = c.outbox_id
         WHERE c.request_id = $1 AND c.stage = $2 AND c.user_id = $3 AND o.status = 'folded'",
    )
    .bind(request_id)
    .bind(stage)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    if folded.is_none() {
        return Ok(true);
    }
    let shown: Option<(i64,)> = sqlx::query_as(
        "SELECT p.list_id FROM card_pages p JOIN card_lists l ON l.id = p.list_id
         WHERE p.request_id = $1 AND p.stage = $2 AND l.user_id = $3 LIMIT 1",
    )
    .bind(request_id)
    .bind(stage)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(shown.is_some())
}
