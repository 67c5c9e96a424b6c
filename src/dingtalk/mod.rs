//! The DingTalk side: an enterprise internal app's robot, taking messages and card presses
//! through Stream mode and sending cards and files through the OpenAPI. Nothing of DingTalk
//! leaves this module; the app, the workflows and delivery are the Telegram bot's. See
//! docs/dingtalk.md.

pub mod api;
mod courier;
mod handlers;
pub mod markdown;
pub mod sender;
mod stream;

use crate::app::App;
use crate::delivery;
use crate::store::chat_bots::BotScope;
use anyhow::Context;
pub use api::Keys;
use api::{Api, Fault};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The app's number among the bots of a deployment: the chats its people talk through
/// (`store::chat_bots`). Negative, below every Telegram bot's id; the same for the same app on
/// every start.
pub fn bot_id(client_id: &str) -> i64 {
    // FNV-1a, for a number that does not change between builds (std's hasher may).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in client_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    -((hash >> 2) as i64) - 1
}

/// Receiving, delivery, shown-once messages and the sweep, until Ctrl-C, SIGTERM or `stop`.
/// `listen`: where /healthz, /readyz and /metrics are served.
pub async fn run(
    app: App,
    keys: Keys,
    stop: watch::Receiver<bool>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let api = Arc::new(Api::new(&app.config.dingtalk, keys));
    // The keys are checked before anything starts: a wrong secret stops the start at once,
    // DingTalk being busy or out of reach is waited out.
    let mut wait = Duration::from_millis(500);
    for tries in 1.. {
        match api.token().await {
            Ok(_) => break,
            Err(fault @ Fault::Later { .. }) if tries < 10 => {
                tracing::warn!("asking DingTalk for a token failed, again in {wait:?}: {fault}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(fault) => return Err(fault).context("DingTalk did not accept the app's keys"),
        }
    }
    let bot_id = bot_id(&api.keys.client_id);
    tracing::info!(client_id = %api.keys.client_id, "connected to DingTalk");
    let scope = BotScope::deployment(bot_id);
    app.files
        .set(Arc::new(courier::DingTalkFiles { api: api.clone() }))
        .ok();
    let shows: Arc<dyn crate::app::Courier> = Arc::new(courier::DingTalkCourier {
        api: api.clone(),
        db: app.db.clone(),
    });
    app.courier.set(shows.clone()).ok();
    let sender = sender::DingTalkSender {
        api: api.clone(),
        db: app.db.clone(),
        messages_per_second: app.config.dingtalk.messages_per_second,
    };
    let (stop_workers, workers_stop) = watch::channel(false);
    let delivery = tokio::spawn(delivery::run(
        app.clone(),
        Arc::new(sender),
        scope,
        workers_stop.clone(),
    ));
    let takebacks = tokio::spawn(delivery::takeback::run(
        app.clone(),
        shows,
        scope,
        workers_stop.clone(),
    ));
    let ticker = crate::scheduler::Ticker::start(app.clone()).await?;
    let http = match listen {
        Some(addr) => {
            let socket = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
            let routes = crate::ops::routes(app.clone());
            let mut stopped = workers_stop.clone();
            Some(tokio::spawn(async move {
                axum::serve(socket, routes)
                    .with_graceful_shutdown(async move {
                        stopped.changed().await.ok();
                    })
                    .await
            }))
        }
        None => None,
    };
    let stopped = until_stopped(stop);
    let listener = tokio::spawn(stream::listen(app.clone(), api, bot_id, stopped.clone()));
    let mut stopped = stopped;
    while !*stopped.borrow() {
        if stopped.changed().await.is_err() {
            break;
        }
    }
    listener.await.ok();
    ticker.stop().await;
    stop_workers.send(true).ok();
    if let Some(http) = http {
        http.await.ok();
    }
    match tokio::time::timeout(Duration::from_secs(15), delivery).await {
        Ok(Ok(result)) => result?,
        Ok(Err(e)) => anyhow::bail!("delivery worker panicked: {e}"),
        Err(_) => tracing::warn!("delivery did not finish within 15 s; leases will expire"),
    }
    takebacks.abort();
    tracing::info!("stopped");
    Ok(())
}

/// `stop`, or Ctrl-C, or SIGTERM, as one signal.
fn until_stopped(stop: watch::Receiver<bool>) -> watch::Receiver<bool> {
    let (tell, told) = watch::channel(false);
    tokio::spawn(async move {
        crate::shutdown::requested(stop).await;
        tell.send(true).ok();
    });
    told
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_apps_number_is_negative_and_its_own() {
        let a = super::bot_id("dingexamreview");
        assert!(a < 0);
        assert_eq!(a, super::bot_id("dingexamreview"));
        assert_ne!(a, super::bot_id("dingother"));
    }
}
