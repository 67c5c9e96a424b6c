//! getUpdates as Telegram answers it: long polling over the queued updates, and 409 Conflict
//! for a second client polling while one waits.

use super::{FakeTelegram, err};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::time::Duration;

pub(super) async fn get_updates(fake: &FakeTelegram, params: &Value) -> Response {
    // A guard: a poll the client gives up on (its future dropped) stops waiting too.
    struct Waiting(FakeTelegram);
    impl Drop for Waiting {
        fn drop(&mut self) {
            self.0.lock().polls_waiting -= 1;
        }
    }
    let clash = {
        let mut inner = fake.lock();
        inner.polls_waiting += 1;
        inner.polls_waiting > 1
    };
    let _waiting = Waiting(fake.clone());
    if clash {
        fake.lock().poll_conflicts += 1;
        return err(
            StatusCode::CONFLICT,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            None,
        );
    }
    wait_for_updates(fake, params).await
}

async fn wait_for_updates(fake: &FakeTelegram, params: &Value) -> Response {
    let offset = params["offset"].as_i64().unwrap_or(0);
    let wait = params["timeout"].as_u64().unwrap_or(0).min(1);
    // Telegram's bounds: 1–100, 100 when absent.
    let limit = params["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let ready = fake.updates_ready.notified();
        {
            let mut inner = fake.lock();
            while inner
                .updates
                .front()
                .is_some_and(|u| u["update_id"].as_i64().unwrap_or(0) < offset)
            {
                inner.updates.pop_front();
            }
            if !inner.updates.is_empty() || tokio::time::Instant::now() >= deadline {
                let mut updates: Vec<Value> = inner.updates.iter().take(limit).cloned().collect();
                if !updates.is_empty() {
                    inner.update_batches.push((limit, updates.len()));
                }
                drop(inner);
                super::chaos::garble_updates(fake, &mut updates);
                let answer = serde_json::json!({"ok": true, "result": updates});
                return (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    super::wire(&answer),
                )
                    .into_response();
            }
        }
        tokio::select! {
            _ = ready => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
