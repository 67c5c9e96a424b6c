//! Webhook mode: Telegram pushes updates to us instead of being polled.
//!
//! An update is acknowledged only once it is recorded in the inbox (`store::inbox`): a crash
//! after the 200 loses nothing, and an update Telegram sends again (it does when it heard no
//! 200) is recorded once. Every instance behind the load balancer records what reaches it; each
//! instance's feeder then takes the oldest open update of each chat from the shared inbox, so a
//! chat's updates are handled in order and once, whichever instance Telegram happened to reach.
//!
//! The window that remains is the outbox's: an instance killed after a handler committed and
//! before the update was marked handled handles that update again (at most once more).

use super::intake::{self, Intake, Listener};
use crate::app::App;
use crate::store::inbox;
use crate::telegram::sender::TgBot;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;
use tokio::sync::{Notify, Semaphore, mpsc};

/// Telegram's header carrying the secret given to setWebhook.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// The shortest webhook secret taken: 32 characters of Telegram's 64-letter alphabet.
const MIN_SECRET: usize = 32;
/// Requests recorded at once; more are answered 503 and Telegram sends them again later.
const RECORDING: usize = 64;
/// Telegram's own connections to the webhook at once (its default is 40).
const CONNECTIONS: u8 = 40;
/// A feeder looks at the inbox this often even when nobody woke it (another instance recorded).
const LOOK: Duration = Duration::from_millis(500);
/// How long an instance keeps an update it took; the backstop behind `store::instances`.
const LEASE_SECS: i64 = 120;
/// Handled updates are remembered this long (Telegram gives up on an update within a day).
const REMEMBER_HOURS: i64 = 48;

/// Where Telegram sends updates, and the secret it must show.
#[derive(Clone)]
pub struct Webhook {
    pub url: reqwest::Url,
    pub secret: String,
}

impl Webhook {
    /// Checks the URL (https, as Telegram requires, or loopback http for tests) and the
    /// secret: Telegram allows 1–256 of A–Z, a–z, 0–9, _ and -; anything under 32 of them
    /// can be guessed by someone posting to the webhook, so it is refused.
    pub fn new(url: &str, secret: &str) -> anyhow::Result<Webhook> {
        let url = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("--webhook: {e}"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            anyhow::bail!("--webhook must be an https:// URL (Telegram sends updates only there)");
        }
        let valid = (MIN_SECRET..=256).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            anyhow::bail!(
                "WEBHOOK_SECRET must be {MIN_SECRET} to 256 characters of A-Z, a-z, 0-9, _ and - \
                 (Telegram's alphabet; for example `openssl rand -hex 32`), the same on every \
                 instance; the one given has {} characters{}",
                secret.chars().count(),
                if secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    ""
                } else {
                    " and some outside that alphabet"
                }
            );
        }
        Ok(Webhook {
            url,
            secret: secret.to_string(),
        })
    }

    /// The path Telegram posts to, served by every instance.
    pub fn path(&self) -> String {
        match self.url.path() {
            "" => "/".into(),
            p => p.into(),
        }
    }
}

#[derive(Clone)]
struct Receiving {
    app: App,
    secret: Arc<[u8]>,
    recording: Arc<Semaphore>,
    recorded: Arc<Notify>,
    /// The bot whose webhook this is: its update ids are its own.
    bot_id: i64,
}

/// Tells Telegram where to send updates, and returns the route that records them and the
/// listener that feeds the dispatcher from the inbox.
pub async fn start(
    app: &App,
    bot: &TgBot,
    bot_id: i64,
    hook: &Webhook,
) -> anyhow::Result<(Router, Listener, Arc<Intake>)> {
    bot.set_webhook(hook.url.clone())
        .secret_token(hook.secret.clone())
        .max_connections(CONNECTIONS)
        .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
        .await
        .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
    tracing::info!(path = hook.path(), "Telegram sends updates to the webhook");
    let (intake, finished) = Intake::with_inbox(
        app.config.telegram.updates_in_flight,
        bot_id,
        app.counters.clone(),
    );
    let recorded = Arc::new(Notify::new());
    let receiving = Receiving {
        app: app.clone(),
        secret: hook.secret.as_bytes().into(),
        recording: Arc::new(Semaphore::new(RECORDING)),
        recorded: recorded.clone(),
        bot_id,
    };
    let route = Router::new()
        .route(&hook.path(), axum::routing::post(receive))
        .with_state(receiving);
    let (tx, listener, stopped) = intake::channel(&intake);
    tokio::spawn(feed(app.clone(), intake.clone(), tx, recorded, stopped));
    tokio::spawn(mark_handled(app.clone(), bot_id, finished));
    Ok((route, listener, intake))
}

/// One update from Telegram: refused without the secret, recorded, then acknowledged.
async fn receive(State(r): State<Receiving>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let shown = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(shown.ct_eq(&r.secret)) {
        crate::metrics::Counters::add(&r.app.counters.webhook_refused, 1);
        tracing::warn!("a webhook request without the right secret was refused");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(_recording) = r.recording.try_acquire() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let Some((update_id, chat_id)) = identify(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let text = String::from_utf8_lossy(&body);
    let recorded = async {
        let mut tx = r.app.db.begin().await?;
        let new = inbox::record(&mut tx, r.bot_id, update_id, chat_id, &text, Utc::now()).await?;
        tx.commit().await?;
        anyhow::Ok(new)
    };
    match recorded.await {
        Ok(new) => {
            if new {
                r.recorded.notify_one();
            }
            StatusCode::OK
        }
        Err(e) => {
            // Telegram keeps the update and sends it again.
            tracing::error!("cannot record an update: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The update's id and the chat whose order it keeps (0 when it has none). Only these are
/// read: an update whose text the bot cannot read (a lone surrogate escape) is still recorded,
/// and skipped when it is handled, instead of being refused and sent again for ever.
fn identify(body: &[u8]) -> Option<(i64, i64)> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: i64,
    }
    #[derive(serde::Deserialize)]
    struct Chat {
        chat: Option<Id>,
    }
    #[derive(serde::Deserialize)]
    struct Part {
        chat: Option<Id>,
        message: Option<Chat>,
        from: Option<Id>,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        update_id: i64,
        message: Option<Part>,
        edited_message: Option<Part>,
        callback_query: Option<Part>,
    }
    let update: Head = serde_json::from_slice(body).ok()?;
    let chat = [update.message, update.edited_message, update.callback_query]
        .into_iter()
        .flatten()
        .find_map(|part| {
            part.chat
                .or(part.message.and_then(|m| m.chat))
                .or(part.from)
                .map(|id| id.id)
        })
        .unwrap_or(0);
    Some((update.update_id, chat))
}

/// Takes each chat's oldest open update from the inbox as slots free up, and hands it to the
/// dispatcher.
async fn feed(
    app: App,
    intake: Arc<Intake>,
    tx: mpsc::Sender<Update>,
    recorded: Arc<Notify>,
    mut stopped: teloxide::stop::StopFlag,
) {
    let bot_id = intake.bot_id;
    // The delivery of this bot registers this id, so that its leases are known to be alive.
    let owner = app.instance.for_bot(bot_id).id;
    loop {
        let slot = tokio::select! {
            slot = intake.slots.clone().acquire_owned() => {
                slot.expect("the slot semaphore is never closed")
            }
            _ = &mut stopped => return,
        };
        let mut slots = slot;
        while let Ok(more) = intake.slots.clone().try_acquire_owned() {
            slots.merge(more);
        }
        let taken = match take(&app, bot_id, &owner, slots.num_permits()).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::error!("cannot read the inbox: {e:#}");
                Vec::new()
            }
        };
        let received_at = Instant::now();
        let none = taken.is_empty();
        for (update_id, body) in taken {
            let Some(slot) = slots.split(1) else { break };
            let update = match serde_json::from_str::<Update>(&body) {
                Ok(update) => update,
                Err(_) => {
                    // Its text is the sender's: only the id is logged.
                    tracing::error!(update_id, "an update that cannot be read was skipped");
                    crate::metrics::Counters::add(&app.counters.updates_skipped, 1);
                    done(&app, bot_id, update_id).await;
                    continue;
                }
            };
            intake.hold(update.id.0, received_at, slot);
            if tx.send(update).await.is_err() {
                return;
            }
        }
        drop(slots);
        if none {
            tokio::select! {
                _ = recorded.notified() => {}
                _ = tokio::time::sleep(LOOK) => {}
                _ = &mut stopped => return,
            }
        }
    }
}

/// Claims up to `free` updates: each chat's oldest, if no instance is handling that chat.
async fn take(
    app: &App,
    bot_id: i64,
    owner: &str,
    free: usize,
) -> anyhow::Result<Vec<(i64, String)>> {
    let now = Utc::now();
    let heads = {
        let mut conn = app.db.pool.acquire().await?;
        inbox::due_heads(&mut conn, now, free as i64, bot_id).await?
    };
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let lease_until = now + chrono::Duration::seconds(LEASE_SECS);
    let mut tx = app.db.begin().await?;
    let mut taken = Vec::new();
    for id in heads {
        if let Some(body) = inbox::claim(&mut tx, bot_id, id, now, lease_until, owner).await? {
            taken.push((id, body));
        }
    }
    tx.commit().await?;
    Ok(taken)
}

/// Marks finished updates handled, as their handlers finish; forgets old ones now and then.
async fn mark_handled(app: App, bot_id: i64, mut finished: mpsc::UnboundedReceiver<u32>) {
    let mut pruned_at = Instant::now();
    while let Some(update_id) = finished.recv().await {
        done(&app, bot_id, i64::from(update_id)).await;
        if pruned_at.elapsed() > Duration::from_secs(3600) {
            pruned_at = Instant::now();
            let before = Utc::now() - chrono::Duration::hours(REMEMBER_HOURS);
            let pruned = async {
                let mut tx = app.db.begin().await?;
                let n = inbox::prune(&mut tx, before).await?;
                tx.commit().await?;
                anyhow::Ok(n)
            };
            if let Err(e) = pruned.await {
                tracing::warn!("cannot prune the inbox: {e:#}");
            }
        }
    }
}

async fn done(app: &App, bot_id: i64, update_id: i64) {
    let marked = async {
        let mut tx = app.db.begin().await?;
        inbox::handled(&mut tx, bot_id, update_id, Utc::now()).await?;
        tx.commit().await?;
        anyhow::Ok(())
    };
    if let Err(e) = marked.await {
        // It stays open and is handled again after a restart (the at-least-once window).
        tracing::error!(update_id, "cannot mark an update handled: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_known_by_its_id_and_chat() {
        let message = br#"{"update_id": 7, "message": {"chat": {"id": 42}, "text": "/start"}}"#;
        assert_eq!(identify(message), Some((7, 42)));
        let press = br#"{"update_id": 8, "callback_query": {"from": {"id": 5},
                         "message": {"chat": {"id": 43}}}}"#;
        assert_eq!(identify(press), Some((8, 43)));
        assert_eq!(identify(br#"{"update_id": 9, "poll": {}}"#), Some((9, 0)));
        assert_eq!(identify(br#"{"message": {}}"#), None);
        assert_eq!(identify(b"not json"), None);
        let unreadable = br#"{"update_id": 10, "message": {"chat": {"id": 44}, "text": "\ud83d"}}"#;
        assert_eq!(identify(unreadable), Some((10, 44)));
    }

    #[test]
    fn the_webhook_wants_https_and_a_secret_telegram_accepts() {
        let good = "s3cret_-".repeat(4);
        assert!(Webhook::new("https://bot.example.org/tg", &good).is_ok());
        assert!(Webhook::new("http://127.0.0.1:8080/tg", &good).is_ok());
        assert!(Webhook::new("http://bot.example.org/tg", &good).is_err());
        assert!(Webhook::new("https://bot.example.org/tg", "").is_err());
        let short = Webhook::new("https://bot.example.org/tg", "s")
            .err()
            .unwrap();
        assert!(format!("{short}").contains("32 to 256"), "{short}");
        assert!(format!("{short}").contains("has 1 characters"), "{short}");
        let spaced = format!("{} x", &good[..31]);
        let err = Webhook::new("https://bot.example.org/tg", &spaced)
            .err()
            .unwrap();
        assert!(format!("{err}").contains("outside that alphabet"), "{err}");
        assert!(Webhook::new("https://bot.example.org/tg", &"a".repeat(257)).is_err());
        assert_eq!(
            Webhook::new("https://bot.example.org/tg", &good)
                .unwrap()
                .path(),
            "/tg"
        );
    }
}
