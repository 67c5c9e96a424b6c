//! The Telegram side: building the bot from the environment, long polling, and the thin
//! handlers that turn updates into use-case calls.

mod courier;
mod files;
mod handlers;
pub mod init_data;
pub mod intake;
mod menus;
mod poller;
pub mod sender;
pub mod webhook;

use crate::app::App;
use crate::delivery;
use crate::store::chat_bots::BotScope;
use anyhow::{Context, bail};
use sender::TgBot;
use std::time::Duration;
use teloxide::adaptors::throttle::{Limits, Settings};
use teloxide::adaptors::{CacheMe, Throttle};
use teloxide::prelude::*;
use tokio::sync::watch;

/// Builds the throttled bot from teloxide's own variables: `TELOXIDE_TOKEN` (required) and
/// `TELOXIDE_API_URL` (optional). The token is never put into an error or a log line.
pub fn bot_from_env(app: &App) -> anyhow::Result<TgBot> {
    let token = std::env::var("TELOXIDE_TOKEN").unwrap_or_default();
    if token.trim().is_empty() {
        bail!(
            "TELOXIDE_TOKEN is not set: export the token @BotFather gave you \
             (or run `exam-review-bot demo` to try the bot without one)"
        );
    }
    let api_url = match std::env::var("TELOXIDE_API_URL") {
        Ok(u) if !u.is_empty() => {
            Some(reqwest::Url::parse(&u).context("TELOXIDE_API_URL is not a valid URL")?)
        }
        _ => None,
    };
    Ok(build_bot(app, token.trim(), api_url))
}

pub fn build_bot(app: &App, token: &str, api_url: Option<reqwest::Url>) -> TgBot {
    let client = teloxide::net::default_reqwest_settings()
        .timeout(Duration::from_secs(
            app.config.telegram.request_timeout_secs,
        ))
        .build()
        .expect("a reqwest client with plain settings builds");
    let mut bot = Bot::with_client(token, client);
    if let Some(url) = api_url {
        bot = bot.set_api_url(url);
    }
    // Telegram's own limits; the delivery worker's pacer feeds requests below them, evenly.
    // Telegram allows one message a second to a private chat; Throttle's default of 20 a minute
    // per chat is the rule for groups, and the bot answers private chats only.
    let limits = Limits {
        messages_per_min_chat: 60,
        ..Limits::default()
    };
    let settings = Settings::default()
        .limits(limits)
        .on_queue_full(|pending| async move {
            tracing::debug!("{pending} messages wait for Telegram's rate limits");
        });
    Throttle::spawn_with_settings(bot, settings)
}

/// How a running instance takes updates, and where it answers HTTP.
#[derive(Clone, Default)]
pub struct Serving {
    /// Telegram pushes updates here; None: long polling.
    pub webhook: Option<webhook::Webhook>,
    /// Where the webhook, /healthz, /readyz and /metrics are served; None: nowhere (polling).
    pub listen: Option<std::net::SocketAddr>,
    /// Another bot run in this process on the same app sweeps (the simulation's bots on one
    /// SQLite file, where there is no advisory lock to make the others skip).
    pub no_sweep: bool,
}

/// Long polling plus delivery until Ctrl-C or SIGTERM (or until `stop` turns true, for tests).
pub async fn run(app: App, bot: TgBot, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    run_with(app, bot, stop, Serving::default()).await
}

/// How many times a call the bot needs before it starts is tried (about two minutes of waits).
const START_TRIES: u32 = 10;

/// A call the bot must make before it starts (getMe, the default menu, deleteWebhook), tried
/// again while Telegram says "later" (a 429, a 5xx, a network error or time-out); anything else
/// (a wrong token) stops the start at once. Without this, one 429 at start ended `run` (the
/// chaotic season found it).
pub(crate) async fn before_start<T, Fut>(
    what: &str,
    mut call: impl FnMut() -> Fut,
) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = Result<T, teloxide::RequestError>>,
{
    let mut wait = Duration::from_millis(500);
    let mut tries = 1;
    loop {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(e) if tries < START_TRIES && sender::is_transient(&e) => {
                let pause = match &e {
                    teloxide::RequestError::RetryAfter(secs) => secs.duration(),
                    _ => wait,
                };
                tracing::warn!("{what} failed, retrying in {pause:?}: {e}");
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(30));
                tries += 1;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("{what} failed"))),
        }
    }
}

/// Updates (long polling, or the webhook), delivery, menus and the sweep, until Ctrl-C or
/// SIGTERM or `stop`.
pub async fn run_with(
    app: App,
    bot: TgBot,
    stop: watch::Receiver<bool>,
    serving: Serving,
) -> anyhow::Result<()> {
    // teloxide's dispatcher asks getMe again as it starts, once and without retrying, and
    // panics when that fails: it is given this answer, kept, instead of asking Telegram.
    let known = CacheMe::new(bot.clone());
    let me = before_start("getMe", || known.get_me().send())
        .await
        .context("Telegram did not accept the bot token")?;
    tracing::info!(username = me.username(), "connected to Telegram");
    // A deployment may run several bots (one per large city); this instance serves this one. A
    // city's bot (named in a `[cities.CODE]`) sends only to chats that wrote to it.
    let bot_id = me.id.0 as i64;
    let scope = BotScope {
        bot_id,
        unrouted: !app.config.is_city_bot(me.username()),
    };
    menus::set_default(&app, &bot).await?;

    app.files
        .set(std::sync::Arc::new(files::TelegramFiles::new(bot.clone())))
        .ok();
    let shows: std::sync::Arc<dyn crate::app::Courier> = std::sync::Arc::new(
        courier::TelegramCourier::new(bot.clone(), app.db.clone(), app.pace),
    );
    app.courier.set(shows.clone()).ok();
    let (stop_delivery, delivery_stop) = watch::channel(false);
    let worker = tokio::spawn(delivery::run(
        app.clone(),
        std::sync::Arc::new(sender::TelegramSender(bot.clone())),
        scope,
        delivery_stop.clone(),
    ));
    let takeback_worker = tokio::spawn(delivery::takeback::run(
        app.clone(),
        shows,
        scope,
        delivery_stop.clone(),
    ));
    let menu_worker = tokio::spawn(menus::run(app.clone(), bot.clone(), scope, delivery_stop));
    let ticker = match serving.no_sweep {
        true => None,
        false => Some(crate::scheduler::Ticker::start(app.clone()).await?),
    };

    // Listening before setWebhook, so that Telegram's first push finds the door open.
    let socket = match serving.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?,
        ),
        None => None,
    };
    // The season board signs in whoever this bot's Telegram vouches for (its own token).
    let token = bot.inner().token();
    let board = crate::board::routes(
        app.clone(),
        std::sync::Arc::new(init_data::TelegramSignIn::new(token)),
        crate::board::SessionKey::derive(token),
    );
    let mut routes = crate::ops::routes(app.clone()).merge(board);
    let (listener, intake) = match &serving.webhook {
        Some(hook) => {
            let (route, listener, intake) = webhook::start(&app, &bot, bot_id, hook).await?;
            routes = routes.merge(route);
            (listener, intake)
        }
        None => {
            // A webhook left set (by webhook mode, or another deployment) would make every
            // getUpdates fail: switching back to polling removes it.
            before_start("deleteWebhook", || bot.delete_webhook().send()).await?;
            let intake = intake::Intake::new(
                app.config.telegram.updates_in_flight,
                bot_id,
                app.counters.clone(),
            );
            let listener = intake::listen(
                bot.clone(),
                intake.clone(),
                app.config.telegram.polling_timeout_secs,
                poller::lead(app.clone(), bot_id),
                app.counters.clone(),
            );
            (listener, intake)
        }
    };
    let (stop_http, http_stop) = watch::channel(false);
    let http = match socket {
        Some(socket) => {
            tracing::info!(addr = ?serving.listen, "serving /healthz, /readyz, /metrics and /board");
            let mut http_stop = http_stop;
            Some(tokio::spawn(async move {
                let stopped = async move {
                    while !*http_stop.borrow() {
                        if http_stop.changed().await.is_err() {
                            break;
                        }
                    }
                };
                axum::serve(socket, routes)
                    .with_graceful_shutdown(stopped)
                    .await
            }))
        }
        None => None,
    };
    let unhandled = intake.clone();
    let mut dispatcher = Dispatcher::builder(known, handlers::tree())
        .dependencies(dptree::deps![app.clone(), intake, bot.clone()])
        .default_handler(move |update| {
            // Updates no handler takes still free their slot.
            drop(unhandled.claim(update.id.0));
            async {}
        })
        .build();
    let token = dispatcher.shutdown_token();

    // Ctrl-C, SIGTERM or the caller's stop signal all end polling the same way.
    let signals = tokio::spawn(async move {
        crate::shutdown::requested(stop).await;
        loop {
            match token.shutdown() {
                Ok(done) => {
                    done.await;
                    break;
                }
                // Not started yet: try again in a moment.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });

    dispatcher
        .dispatch_with_listener(
            listener,
            LoggingErrorHandler::with_custom_text("polling error"),
        )
        .await;
    signals.abort();
    stop_http.send(true).ok();
    if let Some(http) = http {
        match tokio::time::timeout(Duration::from_secs(5), http).await {
            Ok(Ok(Err(e))) => tracing::warn!("the HTTP server stopped with an error: {e}"),
            Err(_) => tracing::warn!("the HTTP server did not stop within 5 s"),
            _ => {}
        }
    }
    if let Some(ticker) = ticker {
        ticker.stop().await;
    }
    stop_delivery.send(true).ok();
    match tokio::time::timeout(Duration::from_secs(15), worker).await {
        Ok(Ok(result)) => result?,
        Ok(Err(e)) => bail!("delivery worker panicked: {e}"),
        Err(_) => tracing::warn!("delivery did not finish within 15 s; leases will expire"),
    }
    // A menu not set now is still due at the next start.
    menu_worker.abort();
    // A message not taken back now is due at the next start.
    takeback_worker.abort();
    tracing::info!("stopped");
    Ok(())
}
