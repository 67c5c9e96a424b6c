//! The fake's webhook side, as Telegram behaves: after setWebhook every update is pushed to the
//! bot's URL with the secret in `X-Telegram-Bot-Api-Secret-Token`, in order, each sent again
//! until the bot answers 2xx; getUpdates is refused while a webhook is set; deleteWebhook
//! returns to getUpdates with nothing lost.

use super::FakeTelegram;
use serde_json::Value;
use std::time::Duration;

pub(super) struct Hook {
    url: String,
    secret: Option<String>,
    /// A pusher task is running for this fake.
    pushing: bool,
}

impl FakeTelegram {
    /// setWebhook: start pushing updates to `url`.
    pub(super) fn set_webhook(&self, url: &str, secret: Option<String>) {
        let start = {
            let mut inner = self.lock();
            let pushing = inner.webhook.as_ref().is_some_and(|h| h.pushing);
            inner.webhook = Some(Hook {
                url: url.to_string(),
                secret,
                pushing: true,
            });
            !pushing
        };
        if start {
            tokio::spawn(push(self.clone()));
        }
        self.updates_ready.notify_waiters();
    }

    /// deleteWebhook: updates wait for getUpdates again.
    pub(super) fn delete_webhook(&self) {
        self.lock().webhook = None;
        self.updates_ready.notify_waiters();
    }

    pub(super) fn webhook_is_set(&self) -> bool {
        self.lock().webhook.is_some()
    }

    /// The URL the bot set, if any.
    pub fn webhook_url(&self) -> Option<String> {
        self.lock().webhook.as_ref().map(|h| h.url.clone())
    }

    /// Updates the bot acknowledged through the webhook.
    pub fn webhook_acknowledged(&self) -> usize {
        self.lock().webhook_acks
    }
}

/// Pushes queued updates one at a time, oldest first, until the webhook is deleted.
async fn push(fake: FakeTelegram) {
    let client = reqwest::Client::new();
    loop {
        let ready = fake.updates_ready.notified();
        let next = {
            let mut inner = fake.lock();
            let Some(hook) = inner.webhook.as_mut() else {
                return;
            };
            let hook = (hook.url.clone(), hook.secret.clone());
            (hook, inner.updates.front().cloned())
        };
        let ((url, secret), Some(update)) = next else {
            tokio::select! {
                _ = ready => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        };
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(super::wire(&update))
            .timeout(Duration::from_secs(5));
        if let Some(secret) = secret {
            request = request.header("x-telegram-bot-api-secret-token", secret);
        }
        match request.send().await {
            Ok(answer) if answer.status().is_success() => {
                let mut inner = fake.lock();
                if inner.updates.front().map(id) == Some(id(&update)) {
                    inner.updates.pop_front();
                }
                inner.webhook_acks += 1;
            }
            // Telegram tries again a little later.
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn id(update: &Value) -> i64 {
    update["update_id"].as_i64().unwrap_or(0)
}
