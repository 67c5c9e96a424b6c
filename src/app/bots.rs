//! A deployment with several bots (a bot per large city: Telegram's 30 messages a second are a
//! bot's). Each update tells which bot its chat talks to; the chat's messages then go out
//! through that bot (`store::chat_bots`, `delivery`).

use super::App;
use crate::store::chat_bots;

impl App {
    /// The chat's update came through the bot `bot_id`: its messages go out through that bot
    /// from now on. Written only when that changes (the map in memory says what this process
    /// wrote; a chat that moved to another bot through another process and back keeps the
    /// other bot until this process restarts, and still hears from a bot it talks to).
    pub async fn talks_through(&self, chat_id: i64, bot_id: i64) -> anyhow::Result<()> {
        if self.chat_bots.lock().expect("chat_bots lock").get(&chat_id) == Some(&bot_id) {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        chat_bots::talks_through(&mut tx, chat_id, bot_id).await?;
        tx.commit().await?;
        self.chat_bots
            .lock()
            .expect("chat_bots lock")
            .insert(chat_id, bot_id);
        Ok(())
    }
}
