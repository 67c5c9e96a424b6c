//! Takes back the messages shown once (a half-day archive's password) whose time has come, by
//! the app's clock: a password is shown for `entry.password_shown_minutes` of it. Each
//! messenger's `Courier` says how a message is taken back there.

use crate::app::{App, Courier};
use crate::store::chat_bots::BotScope;
use crate::store::takebacks;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often due messages are looked for.
const POLL: Duration = Duration::from_secs(1);

/// Until told to stop.
pub async fn run(
    app: App,
    courier: Arc<dyn Courier>,
    scope: BotScope,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = take_back_due(&app, courier.as_ref(), scope).await {
            tracing::warn!("cannot take back shown messages: {e:#}");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn take_back_due(app: &App, courier: &dyn Courier, scope: BotScope) -> anyhow::Result<()> {
    let mut conn = app.db.pool.acquire().await?;
    for (id, chat, message) in takebacks::due(&mut conn, app.clock.now(), scope, 100).await? {
        match courier.take_back(chat, message).await {
            Ok(()) => takebacks::done(&mut conn, id).await?,
            // Another try at the next look.
            Err(e) => tracing::warn!(chat, "cannot take back a shown message yet: {e:#}"),
        }
    }
    Ok(())
}
