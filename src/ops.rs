//! What operators and the load balancer ask a running instance over HTTP: `/healthz` (the
//! process answers), `/readyz` (and its database does), `/metrics` (Prometheus' text format).
//! Served on `run --listen ADDR`, next to the webhook when there is one.

use crate::app::App;
use crate::metrics::Exposition;
use crate::store::{inbox, outbox};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;

pub fn routes(app: App) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/readyz", axum::routing::get(ready))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(app)
}

async fn ready(State(app): State<App>) -> (StatusCode, &'static str) {
    let answered = async {
        let mut conn = app.db.pool.acquire().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        anyhow::Ok(())
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), answered).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer\n",
        ),
    }
}

async fn metrics(State(app): State<App>) -> axum::response::Response {
    match exposition(&app).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => {
            tracing::error!("cannot gather metrics: {e:#}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Every figure: the process's own, then what the shared database holds.
pub async fn exposition(app: &App) -> anyhow::Result<String> {
    let mut out = Exposition::default();
    let c = &app.counters;
    out.histogram(
        "exam_bot_update_seconds",
        "Time from receiving an update to its handler having committed.",
        &app.update_latency,
    );
    out.counter(
        "exam_bot_sends_total",
        "Messages and edits Telegram accepted from this instance.",
        &c.sends,
    );
    out.counter(
        "exam_bot_sends_429_total",
        "Sends Telegram answered with 429 Too Many Requests.",
        &c.too_many,
    );
    out.counter(
        "exam_bot_send_errors_total",
        "Sends that failed otherwise (server errors, time-outs, refusals).",
        &c.send_errors,
    );
    out.counter(
        "exam_bot_reminders_total",
        "Reminder messages queued by this instance's sweeps.",
        &c.reminders,
    );
    out.counter(
        "exam_bot_webhook_refused_total",
        "Webhook requests refused for a wrong or missing secret.",
        &c.webhook_refused,
    );
    out.counter(
        "exam_bot_updates_skipped_total",
        "Updates from Telegram that could not be read and were skipped.",
        &c.updates_skipped,
    );
    out.metric(
        "exam_bot_updates_in_hand",
        "gauge",
        "Updates taken from Telegram whose handler has not finished.",
    );
    out.sample(
        "exam_bot_updates_in_hand",
        &[],
        c.updates_in_hand.load(std::sync::atomic::Ordering::Relaxed) as f64,
    );

    let now = Utc::now();
    let mut conn = app.db.pool.acquire().await?;
    out.metric(
        "exam_bot_outbox_depth",
        "gauge",
        "Messages waiting to be sent, by kind.",
    );
    let queues = outbox::depth_by_kind(&mut conn, now).await?;
    for (kind, n, _) in &queues {
        out.sample("exam_bot_outbox_depth", &[("kind", kind)], *n as f64);
    }
    out.metric(
        "exam_bot_outbox_oldest_seconds",
        "gauge",
        "Age of the oldest message waiting, by kind.",
    );
    for (kind, _, age_ms) in &queues {
        let age = *age_ms as f64 / 1000.0;
        out.sample("exam_bot_outbox_oldest_seconds", &[("kind", kind)], age);
    }
    let (waiting, oldest) = inbox::backlog(&mut conn, now).await?;
    out.metric(
        "exam_bot_inbox_depth",
        "gauge",
        "Webhook updates recorded and not yet handled.",
    );
    out.sample("exam_bot_inbox_depth", &[], waiting as f64);
    out.metric(
        "exam_bot_inbox_oldest_seconds",
        "gauge",
        "Age of the oldest webhook update not yet handled.",
    );
    out.sample(
        "exam_bot_inbox_oldest_seconds",
        &[],
        oldest.unwrap_or(0) as f64 / 1000.0,
    );
    out.metric(
        "exam_bot_review_requests_open",
        "gauge",
        "Review requests not yet ended, by state and the level (route step) they wait at.",
    );
    for (state, step, n) in crate::store::reviews::open_by_step(&mut conn).await? {
        let step = step.to_string();
        out.sample(
            "exam_bot_review_requests_open",
            &[("state", &state), ("step", &step)],
            n as f64,
        );
    }
    Ok(out.0)
}
