//! The apps DingTalk knows (one per organisation: Client ID and Secret) and the access tokens
//! it issued them. A token names its app: a call with it acts as that app's robot.

use super::answer::{json_body, unauthorized};
use super::paths::TOKEN;
use super::{FakeDingTalk, random_token};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;

/// How long DingTalk says a token lasts, in seconds. The fake never lets one lapse by
/// itself: `expire_tokens` does it when a test wants.
const EXPIRE_IN: u64 = 7200;

#[derive(Default)]
pub(super) struct Apps {
    /// Client Secret by Client ID.
    secrets: HashMap<String, String>,
    /// The app each live token was issued to.
    tokens: HashMap<String, String>,
    issued: usize,
}

impl FakeDingTalk {
    /// Registers an app (another organisation's, or a second robot): its Client ID is also
    /// its robot code.
    pub fn app(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .apps
            .secrets
            .insert(client_id.to_string(), client_secret.to_string());
    }

    /// Every token issued so far stops working, as when DingTalk's two hours are up or the
    /// secret was reset: the next call with one is answered 401 `InvalidAuthentication`.
    pub fn expire_tokens(&self) {
        self.lock().apps.tokens.clear();
    }

    /// How many tokens were issued (each `accessToken` call that succeeded).
    pub fn tokens_issued(&self) -> usize {
        self.lock().apps.issued
    }

    /// The app a live token was issued to.
    pub(super) fn token_app(&self, token: &str) -> Option<String> {
        self.lock().apps.tokens.get(token).cloned()
    }

    /// Whether this Client ID and Secret are a registered app's.
    pub(super) fn credentials_match(&self, client_id: &str, secret: &str) -> bool {
        self.lock()
            .apps
            .secrets
            .get(client_id)
            .is_some_and(|s| s == secret)
    }
}

/// `POST /v1.0/oauth2/accessToken {appKey, appSecret}` → `{accessToken, expireIn}`.
pub(super) async fn access_token(State(fake): State<FakeDingTalk>, body: Bytes) -> Response {
    if let Some(refused) = fake.named_fault(TOKEN).await {
        return refused;
    }
    let body = match json_body(&body) {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let key = body["appKey"].as_str().unwrap_or_default();
    let secret = body["appSecret"].as_str().unwrap_or_default();
    if !fake.credentials_match(key, secret) {
        return unauthorized("appKey 或 appSecret 不正确");
    }
    let token = random_token(32);
    let mut inner = fake.lock();
    inner.apps.tokens.insert(token.clone(), key.to_string());
    inner.apps.issued += 1;
    drop(inner);
    (
        StatusCode::OK,
        axum::Json(json!({"accessToken": token, "expireIn": EXPIRE_IN})),
    )
        .into_response()
}
