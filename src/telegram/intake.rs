//! Taking updates from Telegram: long polling that takes only as many updates as the bot is
//! ready to handle (`telegram.updates_in_flight`).
//!
//! teloxide's own `Polling` takes up to 100 updates per call and keeps calling while handlers
//! run, so under a burst thousands of updates sit inside the bot, each waiting its turn for
//! SQLite's single writer: the time from receiving an update to answering it grows with the
//! burst, and a crash loses every update already taken (Telegram forgets an update once a later
//! offset is asked for). Here every taken update holds one slot until its handler has finished;
//! getUpdates asks for at most as many updates as there are free slots, so the rest of a burst
//! waits at Telegram, and what the bot has taken it answers promptly.
//!
//! Two things follow and are accepted. One chat's updates are handled one after another (the
//! dispatcher's per-chat order), so a person who sends several at once holds several slots while
//! they wait their turn; each takes milliseconds. And on stop the last offset is confirmed before
//! the dispatcher has finished the few updates still in the channel: a kill in that moment loses
//! them, as with teloxide's own polling.

use crate::metrics::Counters;
use crate::telegram::sender::TgBot;
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::stop::{StopFlag, StopToken, mk_stop_token};
use teloxide::types::{AllowedUpdate, UpdateKind};
use teloxide::update_listeners::{AsUpdateStream, UpdateListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// The slots for updates being handled, and which update holds which.
pub struct Intake {
    pub(super) slots: Arc<Semaphore>,
    pub(super) capacity: u32,
    taken: Mutex<HashMap<u32, Taken>>,
    /// Webhook mode: where a finished update's id goes, to be marked handled in the inbox.
    finished: Option<mpsc::UnboundedSender<u32>>,
    /// The bot the updates come through (getMe's id).
    pub bot_id: i64,
    /// Where the updates in hand are counted (`Counters::updates_in_hand`).
    counters: Arc<Counters>,
}

/// An update the bot has taken from Telegram: when it arrived, and its slot (freed on drop).
pub struct Taken {
    pub received_at: Instant,
    update_id: u32,
    finished: Option<mpsc::UnboundedSender<u32>>,
    counters: Arc<Counters>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.counters
            .updates_in_hand
            .fetch_sub(1, Ordering::Relaxed);
        if let Some(finished) = &self.finished {
            // The receiver goes only at shutdown; the update then stays open in the inbox and
            // is handled again at the next start (the at-least-once window).
            finished.send(self.update_id).ok();
        }
    }
}

impl Intake {
    /// For long polling.
    pub fn new(capacity: u32, bot_id: i64, counters: Arc<Counters>) -> Arc<Intake> {
        Self::build(capacity, None, bot_id, counters)
    }

    /// For the webhook: every finished update's id comes out of the receiver.
    pub fn with_inbox(
        capacity: u32,
        bot_id: i64,
        counters: Arc<Counters>,
    ) -> (Arc<Intake>, mpsc::UnboundedReceiver<u32>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self::build(capacity, Some(tx), bot_id, counters), rx)
    }

    fn build(
        capacity: u32,
        finished: Option<mpsc::UnboundedSender<u32>>,
        bot_id: i64,
        counters: Arc<Counters>,
    ) -> Arc<Intake> {
        let capacity = capacity.clamp(1, 100);
        Arc::new(Intake {
            slots: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            taken: Mutex::default(),
            finished,
            bot_id,
            counters,
        })
    }

    /// The handler's hold on an update it now handles; dropping it frees the update's slot.
    pub fn claim(&self, update_id: u32) -> Option<Taken> {
        self.lock().remove(&update_id)
    }

    /// The update now holds `slot` until its handler has finished.
    pub(super) fn hold(&self, update_id: u32, received_at: Instant, slot: OwnedSemaphorePermit) {
        self.counters
            .updates_in_hand
            .fetch_add(1, Ordering::Relaxed);
        let taken = Taken {
            received_at,
            update_id,
            finished: self.finished.clone(),
            counters: self.counters.clone(),
            _slot: slot,
        };
        self.lock().insert(update_id, taken);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Taken>> {
        // A panic elsewhere while holding this lock leaves the map itself intact.
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The update listener handed to teloxide's dispatcher: a channel fed by the polling task.
pub struct Listener {
    updates: mpsc::Receiver<Update>,
    stop: StopToken,
}

/// Starts long polling (`timeout_secs` per call) feeding the returned listener. It stops when
/// the dispatcher asks the listener to stop; the last offset is then confirmed to Telegram.
/// Polling starts once `lead` says this instance is the one to poll (see `poller`).
pub fn listen(
    bot: TgBot,
    intake: Arc<Intake>,
    timeout_secs: u32,
    lead: impl Future<Output = super::poller::Lead> + Send + 'static,
    counters: Arc<crate::metrics::Counters>,
) -> Listener {
    let (tx, listener, stopped) = channel(&intake);
    tokio::spawn(async move {
        let mut stopped = stopped;
        let _lead = tokio::select! {
            lead = lead => lead,
            _ = &mut stopped => return,
        };
        poll(bot, intake, tx, timeout_secs, stopped, counters).await;
    });
    listener
}

/// The dispatcher's listener and the sending end that feeds it, and the flag raised when the
/// dispatcher asks it to stop.
pub(super) fn channel(intake: &Intake) -> (mpsc::Sender<Update>, Listener, StopFlag) {
    let (stop, stopped) = mk_stop_token();
    // Every update sent holds a slot, so the channel never holds more than `capacity`.
    let (tx, updates) = mpsc::channel(intake.capacity as usize);
    (tx, Listener { updates, stop }, stopped)
}

async fn poll(
    bot: TgBot,
    intake: Arc<Intake>,
    tx: mpsc::Sender<Update>,
    timeout_secs: u32,
    mut stopped: StopFlag,
    counters: Arc<crate::metrics::Counters>,
) {
    // Waiting for half the slots before asking again keeps getUpdates calls few under load.
    let refill = intake.capacity.div_ceil(2);
    let mut offset = 0;
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut slots = tokio::select! {
            slots = intake.slots.clone().acquire_many_owned(refill) => {
                slots.expect("the slot semaphore is never closed")
            }
            _ = &mut stopped => break,
        };
        while let Ok(more) = intake.slots.clone().try_acquire_owned() {
            slots.merge(more);
        }
        let request = bot
            .get_updates()
            .offset(offset)
            .limit(slots.num_permits() as u8)
            .timeout(timeout_secs)
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        let asked_at = Instant::now();
        let answer = tokio::select! {
            answer = request.send() => answer,
            _ = &mut stopped => break,
        };
        // An answer that does not read as a whole is read update by update: one update the
        // bot cannot read must not keep the others (and every later one) from being handled.
        let mut skipped_past = None;
        let answer = match answer {
            Err(RequestError::InvalidJson { raw, source }) => match one_by_one(&raw) {
                Some((updates, skipped)) => {
                    for id in &skipped {
                        // Its text is the sender's: only the id is logged.
                        tracing::error!(
                            update_id = id,
                            "an update that cannot be read was skipped"
                        );
                    }
                    crate::metrics::Counters::add(&counters.updates_skipped, skipped.len() as u64);
                    skipped_past = skipped.iter().max().map(|id| id + 1);
                    Ok(updates)
                }
                // Not even its frame reads: said without the text, which is users' messages.
                None => Err(RequestError::InvalidJson {
                    raw: "(not shown)".into(),
                    source,
                }),
            },
            other => other,
        };
        let updates = match answer {
            Ok(updates) => updates,
            Err(e) => {
                // Telegram's own wait when it gives one; otherwise back off, doubling. The
                // backoff spaces the calls' starts, and only quick failures double it: a call
                // that failed by timing out has waited already, and waiting again on top would
                // leave a slow moment's updates unread far longer than the moment lasted.
                let wait = match &e {
                    RequestError::RetryAfter(secs) => secs.duration(),
                    _ => {
                        let wait = backoff.saturating_sub(asked_at.elapsed());
                        if !wait.is_zero() {
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                        }
                        wait
                    }
                };
                // teloxide strips the URL (and so the token) from its request errors.
                tracing::warn!("getUpdates failed, retrying in {wait:?}: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = &mut stopped => break,
                }
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        let received_at = Instant::now();
        let mut held_back = false;
        for update in in_order_once(updates, offset) {
            offset = update.id.as_offset();
            if let UpdateKind::Error(e) = &update.kind {
                // teloxide's dispatcher would drop it too, without reaching a handler.
                tracing::error!("an update teloxide cannot read was skipped: {e}");
                continue;
            }
            let Some(slot) = slots.split(1) else {
                tracing::error!("Telegram sent more updates than asked for; the rest waits");
                offset = update.id.0 as i32;
                held_back = true;
                break;
            };
            intake.hold(update.id.0, received_at, slot);
            if tx.send(update).await.is_err() {
                return;
            }
        }
        // Confirmed past the skipped ones, unless a readable update after them still waits.
        if let Some(past) = skipped_past
            && !held_back
        {
            offset = offset.max(past);
        }
    }
    // Confirm what was taken, so that the next start does not receive it again.
    if offset != 0 {
        let confirm = bot.get_updates().offset(offset).limit(1).timeout(0);
        if let Err(e) = confirm.send().await {
            tracing::warn!("confirming the last updates failed: {e}");
        }
    }
}

/// A getUpdates answer read update by update: the updates that read, and the ids of those
/// that do not (a lone surrogate escape in a message's text fails the whole answer). None when
/// not even the answer's frame reads.
fn one_by_one(raw: &str) -> Option<(Vec<Update>, Vec<i32>)> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        result: Vec<&'a serde_json::value::RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Id {
        update_id: i32,
    }
    let answer: Answer = serde_json::from_str(raw).ok()?;
    let mut updates = Vec::new();
    let mut skipped = Vec::new();
    for one in answer.result {
        match serde_json::from_str::<Update>(one.get()) {
            Ok(update) => updates.push(update),
            Err(_) => skipped.push(serde_json::from_str::<Id>(one.get()).ok()?.update_id),
        }
    }
    Some((updates, skipped))
}

/// A getUpdates answer in update order, each update once, without any already taken (below
/// `offset`). Telegram sends each update once and in order; a Bot API server of another make,
/// or a proxy that retries, may not, and handling a message twice would answer a dialogue's
/// step twice.
fn in_order_once(mut updates: Vec<Update>, offset: i32) -> Vec<Update> {
    updates.sort_by_key(|u| u.id.0);
    updates.dedup_by_key(|u| u.id.0);
    updates.retain(|u| u.id.as_offset() > offset);
    updates
}

/// The dispatcher's view of the channel.
pub struct UpdateStream<'a>(&'a mut mpsc::Receiver<Update>);

impl futures_core::Stream for UpdateStream<'_> {
    type Item = Result<Update, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().0.poll_recv(cx).map(|u| u.map(Ok))
    }
}

impl<'a> AsUpdateStream<'a> for Listener {
    type StreamErr = Infallible;
    type Stream = UpdateStream<'a>;

    fn as_stream(&'a mut self) -> UpdateStream<'a> {
        UpdateStream(&mut self.updates)
    }
}

impl UpdateListener for Listener {
    type Err = Infallible;

    fn stop_token(&mut self) -> StopToken {
        self.stop.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::types::UpdateId;

    fn update(id: u32) -> Update {
        Update {
            id: UpdateId(id),
            kind: UpdateKind::Error(serde_json::Value::Null),
        }
    }

    /// A lone surrogate escape fails the answer as a whole; read one by one, only its update is
    /// lost.
    #[test]
    fn an_answer_with_an_unreadable_update_is_read_one_by_one() {
        let raw = r#"{"ok":true,"result":[
            {"update_id":5,"message":{"message_id":1,"date":0,"chat":{"id":9,"type":"private","first_name":"A"},"from":{"id":9,"is_bot":false,"first_name":"A"},"text":"\ud83d"}},
            {"update_id":6,"message":{"message_id":2,"date":0,"chat":{"id":9,"type":"private","first_name":"A"},"from":{"id":9,"is_bot":false,"first_name":"A"},"text":"/help"}}
        ]}"#;
        assert!(serde_json::from_str::<Vec<Update>>(raw).is_err());
        let (updates, skipped) = one_by_one(raw).unwrap();
        assert_eq!(skipped, vec![5]);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].id.0, 6);
        assert!(one_by_one("<html>").is_none());
    }

    #[test]
    fn an_answer_out_of_order_with_repeats_is_taken_in_order_once() {
        let answer = [7, 5, 6, 5, 4, 8, 7].map(update).to_vec();
        // 4 was taken by the previous answer (the offset asked for is 5).
        let taken: Vec<u32> = in_order_once(answer, 5).iter().map(|u| u.id.0).collect();
        assert_eq!(taken, [5, 6, 7, 8]);
    }
}
