//! Which bot each chat talks to, when a deployment has several (a bot per large city: Telegram's
//! 30 messages a second are a bot's). A person is answered by the bot their latest update came
//! through; a message takes its chat's bot when it is queued (`outbox.bot_id`), and only that
//! bot's instances send it. A chat never heard from has no bot: the deployment's own bot sends
//! to it (`BotScope`).

use sqlx::AnyConnection;

/// Which queued rows a bot's instances take (messages, menus): those of the chats that talk to
/// it, and, for the deployment's own bot, those of chats never heard from. A city's bot never
/// takes those: the person may never have started it, and Telegram would refuse (a bot cannot
/// write first), which marks the chat unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotScope {
    pub bot_id: i64,
    pub unrouted: bool,
}

impl BotScope {
    /// The deployment's own bot (the only one, in most deployments).
    pub fn deployment(bot_id: i64) -> BotScope {
        BotScope {
            bot_id,
            unrouted: true,
        }
    }

    /// `unrouted` as a bound parameter (1 or 0) for the queries' `$n = 1`.
    pub fn unrouted_flag(self) -> i64 {
        i64::from(self.unrouted)
    }
}

/// The chat's latest update came through `bot_id`; true when that changed anything.
pub async fn talks_through(
    conn: &mut AnyConnection,
    chat_id: i64,
    bot_id: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO chat_bots (chat_id, bot_id) VALUES ($1, $2)
         ON CONFLICT (chat_id) DO UPDATE SET bot_id = excluded.bot_id
         WHERE chat_bots.bot_id <> excluded.bot_id",
    )
    .bind(chat_id)
    .bind(bot_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The bot a chat talks to, if it was ever heard from.
pub async fn bot_of(conn: &mut AnyConnection, chat_id: i64) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT bot_id FROM chat_bots WHERE chat_id = $1")
        .bind(chat_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(bot,)| bot))
}
