//! A deployment with several bots (a bot per large city: Telegram's 30 messages a second are a
//! bot's). Each update tells which bot its chat talks to; the chat's messages then go out
//! through that bot (`store::chat_bots`, `delivery`).

use super::App;
use crate::store::chat_bots;

impl App {
    /// The chat's update came through the bot `bot_id`: its messages go out through that bot
    /// from now on. A read, and a write only when the chat changed bots.
    pub async fn talks_through(&self, chat_id: i64, bot_id: i64) -> anyhow::Result<()> {
        let known = {
            let mut conn = self.db.pool.acquire().await?;
            chat_bots::bot_of(&mut conn, chat_id).await?
        };
        if known == Some(bot_id) {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        chat_bots::talks_through(&mut tx, chat_id, bot_id).await?;
        tx.commit().await?;
        Ok(())
    }
}
