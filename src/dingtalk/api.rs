//! DingTalk's OpenAPI as the adapter calls it: the app's access token (asked for once and again
//! when DingTalk says it expired), JSON calls with the token, the media upload of the older API,
//! and downloads cut off at a size. Every answer is sorted into what the caller does next.

use crate::app::TooLarge;
use crate::config::DingTalk;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The app's keys. The secret is never printed: not by `Debug`, not in an error.
#[derive(Clone)]
pub struct Keys {
    pub client_id: String,
    client_secret: String,
}

impl Keys {
    pub fn new(client_id: &str, client_secret: &str) -> Keys {
        Keys {
            client_id: client_id.trim().to_string(),
            client_secret: client_secret.trim().to_string(),
        }
    }

    /// `DINGTALK_CLIENT_ID` and `DINGTALK_CLIENT_SECRET`.
    pub fn from_env() -> anyhow::Result<Keys> {
        let id = std::env::var("DINGTALK_CLIENT_ID").unwrap_or_default();
        let secret = std::env::var("DINGTALK_CLIENT_SECRET").unwrap_or_default();
        if id.trim().is_empty() || secret.trim().is_empty() {
            anyhow::bail!(
                "DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET must be set: the Client ID and \
                 Client Secret of the office's internal app (see docs/dingtalk.md)"
            );
        }
        Ok(Keys::new(&id, &secret))
    }

    pub(super) fn secret(&self) -> &str {
        &self.client_secret
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What went wrong with a call, by what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Try again later: DingTalk is busy (its rate limits), down, or out of reach.
    Later { why: String, throttled: bool },
    /// It will never work: DingTalk refused the request itself.
    Never {
        status: u16,
        code: String,
        why: String,
    },
}

impl Fault {
    fn later(why: impl Into<String>) -> Fault {
        Fault::Later {
            why: why.into(),
            throttled: false,
        }
    }

    /// The error code DingTalk gave, when it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Fault::Never { code, .. } => Some(code),
            Fault::Later { .. } => None,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Later { why, .. } => write!(f, "DingTalk says later: {why}"),
            Fault::Never { status, code, why } => {
                write!(f, "DingTalk refused ({status} {code}): {why}")
            }
        }
    }
}

impl std::error::Error for Fault {}

/// Sorts an answer of status 400 or above: its code says whether DingTalk is only busy.
pub fn sort(status: u16, body: &Value) -> Fault {
    let code = body["code"].as_str().unwrap_or_default().to_string();
    let why = body["message"].as_str().unwrap_or_default().to_string();
    let throttled = status == 429 || code.contains("QpsLimit") || code.contains("Throttl");
    if throttled || status >= 500 {
        return Fault::Later {
            why: format!("{status} {code} {why}"),
            throttled,
        };
    }
    Fault::Never { status, code, why }
}

/// The most of one OpenAPI answer that is read.
const MOST_ANSWER: usize = 1 << 20;

struct Token {
    value: String,
    until: Instant,
}

pub struct Api {
    http: reqwest::Client,
    api_url: String,
    oapi_url: String,
    pub keys: Keys,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl Api {
    pub fn new(config: &DingTalk, keys: Keys) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_secs))
            .build()
            .expect("a reqwest client with plain settings builds");
        Api {
            http,
            api_url: config.api_url.trim_end_matches('/').to_string(),
            oapi_url: config.oapi_url.trim_end_matches('/').to_string(),
            keys,
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// The app's access token, asked for when there is none or it is about to run out.
    pub async fn token(&self) -> Result<String, Fault> {
        let mut token = self.token.lock().await;
        if let Some(t) = token.as_ref()
            && Instant::now() < t.until
        {
            return Ok(t.value.clone());
        }
        let body = json!({"appKey": self.keys.client_id, "appSecret": self.keys.secret()});
        let answer = self.send(self.http.post(self.url("/v1.0/oauth2/accessToken")), &body);
        let answer = answer.await?;
        let value = answer["accessToken"]
            .as_str()
            .ok_or_else(|| Fault::later("the token answer has no accessToken"))?
            .to_string();
        // Asked for again five minutes before DingTalk says it runs out.
        let lasts = answer["expireIn"]
            .as_u64()
            .unwrap_or(7200)
            .saturating_sub(300);
        *token = Some(Token {
            value: value.clone(),
            until: Instant::now() + Duration::from_secs(lasts.max(60)),
        });
        Ok(value)
    }

    async fn forget_token(&self, stale: &str) {
        let mut token = self.token.lock().await;
        if token.as_ref().is_some_and(|t| t.value == stale) {
            *token = None;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    /// A v1.0 call with the token; asked again once with a new token when DingTalk says the
    /// token is no longer valid.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, Fault> {
        let mut again = true;
        loop {
            let token = self.token().await?;
            let request = self
                .http
                .request(method.clone(), self.url(path))
                .header("x-acs-dingtalk-access-token", &token);
            match self.send(request, body).await {
                Err(Fault::Never { status: 401, .. }) if again => {
                    self.forget_token(&token).await;
                    again = false;
                }
                other => return other,
            }
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Fault> {
        self.call(reqwest::Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, Fault> {
        self.call(reqwest::Method::PUT, path, body).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, body: &Value) -> Result<Value, Fault> {
        let request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
        answer(request).await
    }

    /// Uploads a file the bot sends (the older API's media upload); its media id.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> Result<String, Fault> {
        let mut again = true;
        loop {
            let token = self.token().await?;
            let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string());
            let form = reqwest::multipart::Form::new().part("media", part);
            let request = self
                .http
                .post(format!("{}/media/upload", self.oapi_url))
                .query(&[("access_token", token.as_str()), ("type", "file")])
                .multipart(form);
            let value = answer(request).await?;
            match value["errcode"].as_i64().unwrap_or(-1) {
                0 => {
                    return value["media_id"]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| Fault::later("the upload answer has no media_id"));
                }
                // The older API's "token not valid" and "too fast".
                40014 | 42001 if again => {
                    self.forget_token(&token).await;
                    again = false;
                }
                90018 | 90002 | -1 => return Err(Fault::later(value.to_string())),
                code => {
                    return Err(Fault::Never {
                        status: 200,
                        code: code.to_string(),
                        why: value["errmsg"].as_str().unwrap_or_default().into(),
                    });
                }
            }
        }
    }

    /// The bytes of a file someone sent the robot, by the download code its message carried;
    /// refused past `limit` bytes, however the file's answer says its size.
    pub async fn download(&self, code: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        let body = json!({"downloadCode": code, "robotCode": self.keys.client_id});
        let answer = self
            .post("/v1.0/robot/messageFiles/download", &body)
            .await?;
        let url = answer["downloadUrl"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("DingTalk gave no address for the file"))?;
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(without_url(e)))?
            .error_for_status()
            .map_err(|e| anyhow::anyhow!(without_url(e)))?;
        if let Some(bytes) = response.content_length().filter(|n| *n > limit) {
            return Err(TooLarge {
                limit,
                bytes: Some(bytes),
            }
            .into());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| anyhow::anyhow!(without_url(e)))?
        {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(TooLarge { limit, bytes: None }.into());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Registers a Stream connection for the robot's messages and the cards' callbacks: the
    /// gateway's address and the one-time ticket.
    pub async fn open_connection(&self, topics: &[&str]) -> Result<(String, String), Fault> {
        let subscriptions: Vec<Value> = topics
            .iter()
            .map(|t| json!({"type": "CALLBACK", "topic": t}))
            .collect();
        let body = json!({
            "clientId": self.keys.client_id,
            "clientSecret": self.keys.secret(),
            "subscriptions": subscriptions,
            "ua": concat!("exam-review-bot/", env!("CARGO_PKG_VERSION")),
        });
        let request = self.http.post(self.url("/v1.0/gateway/connections/open"));
        let answer = self.send(request, &body).await?;
        match (answer["endpoint"].as_str(), answer["ticket"].as_str()) {
            (Some(endpoint), Some(ticket)) => Ok((endpoint.to_string(), ticket.to_string())),
            _ => Err(Fault::later("the gateway gave no endpoint or ticket")),
        }
    }
}

/// A call's answer as JSON; a status of 400 or above sorted into later or never.
async fn answer(request: reqwest::RequestBuilder) -> Result<Value, Fault> {
    let answer = request
        .send()
        .await
        .map_err(|e| Fault::later(without_url(e)))?;
    let status = answer.status().as_u16();
    // An answer is a few hundred bytes of JSON; one past the bound is read no further.
    let mut answer = answer;
    let mut bytes = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| Fault::later(without_url(e)))?
    {
        if bytes.len() + chunk.len() > MOST_ANSWER {
            return Err(Fault::later(format!(
                "an answer of over {MOST_ANSWER} bytes (status {status})"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status >= 400 {
        return Err(sort(status, &value));
    }
    Ok(value)
}

/// A reqwest error without its URL, which may carry the token (the upload's query).
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_down_are_later_and_a_refusal_is_never() {
        let busy = json!({"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "x"});
        assert!(matches!(
            sort(403, &busy),
            Fault::Later {
                throttled: true,
                ..
            }
        ));
        assert!(matches!(sort(429, &json!({})), Fault::Later { .. }));
        assert!(matches!(sort(503, &json!({})), Fault::Later { .. }));
        let unknown = json!({"code": "invalidParameter.userId.notFound", "message": "x"});
        assert_eq!(
            sort(400, &unknown).code(),
            Some("invalidParameter.userId.notFound")
        );
    }

    #[test]
    fn the_secret_is_not_printed() {
        let keys = Keys::new("dingid", "very-secret");
        assert!(!format!("{keys:?}").contains("very-secret"));
    }
}
