//! The HTTP face of both hosts: the routes, and every call recorded. What a call goes through
//! before it is served, and how it is answered, is `answer`'s.

use super::answer::v1_err;
use super::paths::{BATCH_SEND, CARD_SEND, CARD_UPDATE, DOWNLOAD, OPEN, TOKEN, UPLOAD};
use super::{Call, FakeDingTalk, apps, cards, files, stream};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use std::time::Instant;

/// DingTalk takes files up to 20 MB; the body limit leaves room for the form around one.
const BODY_LIMIT: usize = 64 << 20;

pub(super) fn router(fake: FakeDingTalk) -> Router {
    Router::new()
        .route(TOKEN, post(apps::access_token))
        .route(OPEN, post(stream::open))
        .route("/gateway", get(stream::gateway))
        .route(CARD_SEND, post(cards::send))
        .route(CARD_UPDATE, put(cards::update))
        .route(BATCH_SEND, post(files::batch_send))
        .route(DOWNLOAD, post(files::download))
        .route(UPLOAD, post(files::upload))
        .route("/files/{code}", get(files::serve))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(fake.clone(), record))
        .with_state(fake)
}

/// Records every call with the status it was answered, then wakes whoever waits on answers.
async fn record(State(fake): State<FakeDingTalk>, request: Request, next: Next) -> Response {
    let at = Instant::now();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    fake.lock().calls.push(Call { path, status, at });
    fake.answered.notify_waiters();
    response
}

async fn not_found() -> Response {
    v1_err(
        StatusCode::NOT_FOUND,
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    )
}
