//! The app's `Courier` on Telegram: a message shown at once, outside the outbox, and deleted
//! from its chat when its time comes (bots may delete their own messages in a private chat for
//! 48 hours). The loop here takes back what `store::takebacks` says is due.

use crate::app::{App, Courier, ShowOnce};
use crate::delivery::TgBot;
use crate::store::chat_bots::BotScope;
use crate::store::takebacks;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use teloxide::prelude::*;
use teloxide::types::{MessageId, ParseMode};
use teloxide::{ApiError, RequestError};
use tokio::sync::watch;

/// How often due messages are looked for.
const POLL: Duration = Duration::from_secs(1);

pub struct TelegramCourier {
    bot: TgBot,
}

impl TelegramCourier {
    pub fn new(bot: TgBot) -> Self {
        Self { bot }
    }
}

impl Courier for TelegramCourier {
    fn show<'a>(
        &'a self,
        shown: &'a ShowOnce,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<i64>> + Send + 'a>> {
        Box::pin(async move {
            let sent = self
                .bot
                .send_message(ChatId(shown.chat), shown.text.clone())
                .parse_mode(ParseMode::Html)
                .await?;
            Ok(i64::from(sent.id.0))
        })
    }

    fn take_back(
        &self,
        chat: i64,
        message: i64,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + '_>> {
        Box::pin(async move {
            match self
                .bot
                .delete_message(ChatId(chat), MessageId(message as i32))
                .await
            {
                Ok(_) | Err(RequestError::Api(ApiError::MessageToDeleteNotFound)) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// Takes back the messages whose time has come (the app's clock: a password is shown for
/// `entry.password_shown_minutes` of it), until told to stop.
pub async fn run(app: App, bot: TgBot, scope: BotScope, mut stop: watch::Receiver<bool>) {
    let courier = TelegramCourier::new(bot);
    loop {
        if let Err(e) = take_back_due(&app, &courier, scope).await {
            tracing::warn!("cannot take back shown messages: {e:#}");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn take_back_due(
    app: &App,
    courier: &TelegramCourier,
    scope: BotScope,
) -> anyhow::Result<()> {
    let mut conn = app.db.pool.acquire().await?;
    for (id, chat, message) in takebacks::due(&mut conn, app.clock.now(), scope, 100).await? {
        match courier.take_back(chat, message).await {
            Ok(()) => takebacks::done(&mut conn, id).await?,
            // Another try at the next look; a message older than Telegram lets a bot delete
            // answers with an error that will not change, so it is given up.
            Err(e)
                if matches!(
                    e.downcast_ref::<RequestError>(),
                    Some(RequestError::Api(ApiError::MessageCantBeDeleted))
                ) =>
            {
                tracing::warn!(chat, "a shown message could not be taken back: {e:#}");
                takebacks::done(&mut conn, id).await?;
            }
            Err(e) => tracing::warn!(chat, "cannot take back a shown message yet: {e:#}"),
        }
    }
    Ok(())
}
