//! The app's `Courier` on Telegram: a message shown at once, outside the outbox, and deleted
//! from its chat when its time comes (bots may delete their own messages in a private chat for
//! 48 hours). `delivery::takeback` takes back what `store::takebacks` says is due.

use crate::app::{Courier, ShowOnce};
use crate::clock::Pace;
use crate::store::Db;
use crate::store::outbox;
use crate::telegram::sender::TgBot;
use chrono::Utc;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use teloxide::prelude::*;
use teloxide::types::{MessageId, ParseMode};
use teloxide::{ApiError, RequestError};

/// The longest a shown message waits for its chat's rest, or for Telegram's `retry_after`.
const MOST_WAIT: Duration = Duration::from_secs(5);
/// Telegram's one message a second to a chat, as the outbox keeps it.
const PER_CHAT: Duration = Duration::from_secs(1);
/// How soon a chat with a send in flight is looked at again.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

pub struct TelegramCourier {
    bot: TgBot,
    db: Db,
    pace: Pace,
}

impl TelegramCourier {
    pub fn new(bot: TgBot, db: Db, pace: Pace) -> Self {
        Self { bot, db, pace }
    }

    /// Sends past the outbox but within its pacing: once the chat's rest is over and no send to
    /// it is in flight, the chat's next second is taken (`chat_rests`, which the outbox's claims
    /// check) and the message sent in it. Called with no transaction open.
    async fn paced_send(&self, chat: i64, text: &str) -> anyhow::Result<i64> {
        // Past the wait a busy chat is sent to all the same (Telegram's answer is then waited
        // out below).
        let give_up = tokio::time::Instant::now() + MOST_WAIT;
        while tokio::time::Instant::now() < give_up {
            let mut conn = self.db.pool.acquire().await?;
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(self.pace.wall(PER_CHAT))?;
            if outbox::take_chat_turn(&mut conn, chat, now, until).await? {
                break;
            }
            drop(conn);
            tokio::time::sleep(LOOK_AGAIN).await;
        }
        let send = || {
            self.bot
                .inner()
                .send_message(ChatId(chat), text.to_string())
                .parse_mode(ParseMode::Html)
        };
        let sent = match send().await {
            Err(RequestError::RetryAfter(after)) if after.duration() <= MOST_WAIT => {
                tokio::time::sleep(after.duration()).await;
                send().await?
            }
            other => other?,
        };
        Ok(i64::from(sent.id.0))
    }
}

impl Courier for TelegramCourier {
    fn show<'a>(
        &'a self,
        shown: &'a ShowOnce,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<i64>> + Send + 'a>> {
        Box::pin(self.paced_send(shown.chat, &shown.text))
    }

    fn take_back(
        &self,
        chat: i64,
        message: i64,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + '_>> {
        Box::pin(async move {
            match self
                .bot
                .inner()
                .delete_message(ChatId(chat), MessageId(message as i32))
                .await
            {
                Ok(_) | Err(RequestError::Api(ApiError::MessageToDeleteNotFound)) => Ok(()),
                // A message older than Telegram lets a bot delete: an error that will not
                // change, so it is given up.
                Err(e @ RequestError::Api(ApiError::MessageCantBeDeleted)) => {
                    tracing::warn!(chat, "a shown message could not be taken back: {e}");
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}
