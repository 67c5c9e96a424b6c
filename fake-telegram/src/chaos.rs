//! Chaos: the fake answering as a bad day at Telegram does, at configured rates and from a seed
//! (the same seed, the same faults in the same order of calls). Each call may be refused with
//! 429 and a `retry_after`, fail with 500 or 502, hang until the client gives up (not
//! delivered), be delivered with its answer lost (the client gives up and sends again: the
//! at-least-once window), or be answered slowly. getUpdates answers may repeat an update and
//! come out of order.

use super::{FakeTelegram, Fault, FaultRule};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::time::Duration;

/// The rates (each a probability per call) and the shape of the faults.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub seed: u64,
    /// 429 Too Many Requests with `retry_after_secs`.
    pub too_many: f64,
    pub retry_after_secs: u32,
    /// 500 or 502, half each.
    pub server_error: f64,
    /// No answer until `hang_for` (longer than the client waits), not delivered.
    pub timeout: f64,
    /// Delivered, then no answer until `hang_for`: the client sends it again.
    pub lost_answer: f64,
    pub hang_for: Duration,
    /// Answered after up to `slow_by`.
    pub slow: f64,
    pub slow_by: Duration,
    /// A getUpdates answer carries one of its updates twice.
    pub duplicate_update: f64,
    /// A getUpdates answer comes in another order.
    pub reorder_updates: f64,
}

impl Chaos {
    /// The bad day: 10 % 429, 5 % 5xx, 5 % time-outs (three of them lost answers after
    /// delivery, two never delivered), 10 % slow answers, and a tenth of update batches with a
    /// repeat or out of order. `hang_for` must exceed the client's request time-out.
    pub fn bad_day(seed: u64, hang_for: Duration) -> Chaos {
        Chaos {
            seed,
            too_many: 0.10,
            retry_after_secs: 1,
            server_error: 0.05,
            timeout: 0.02,
            lost_answer: 0.03,
            hang_for,
            slow: 0.10,
            slow_by: Duration::from_millis(400),
            duplicate_update: 0.10,
            reorder_updates: 0.10,
        }
    }
}

/// What chaos did, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosCounts {
    pub calls: usize,
    pub too_many: usize,
    pub server_error: usize,
    pub timeout: usize,
    pub lost_answer: usize,
    pub slow: usize,
    pub duplicate_update: usize,
    pub reorder_updates: usize,
    /// Sends delivered whose answer was lost, by chat: each may arrive twice.
    pub lost_sends: std::collections::HashMap<i64, usize>,
}

pub(super) struct State {
    chaos: Chaos,
    rng: StdRng,
    counts: ChaosCounts,
}

impl State {
    pub(super) fn new(chaos: Chaos) -> State {
        State {
            rng: StdRng::seed_from_u64(chaos.seed),
            chaos,
            counts: ChaosCounts::default(),
        }
    }
}

/// What happens to one call.
pub(super) enum Roll {
    Pass,
    Fault(Fault),
    Slow(Duration),
    /// Answer it, then hang: the client never hears.
    LoseAnswer(Duration),
}

/// Startup calls are left alone: a bot that cannot learn its own name does not start, which
/// says nothing about delivery.
const SPARED: [&str; 3] = ["getme", "setwebhook", "deletewebhook"];

pub(super) fn roll(fake: &FakeTelegram, method: &str, chat_id: Option<i64>) -> Roll {
    let mut inner = fake.lock();
    let Some(state) = inner.chaos.as_mut() else {
        return Roll::Pass;
    };
    if SPARED.contains(&method) {
        return Roll::Pass;
    }
    let c = state.chaos.clone();
    state.counts.calls += 1;
    let x: f64 = state.rng.random();
    let mut edge = 0.0;
    let mut hit = |rate: f64| {
        edge += rate;
        x < edge
    };
    let is_send = super::http::SEND_METHODS.contains(&method);
    if hit(c.too_many) {
        state.counts.too_many += 1;
        Roll::Fault(Fault::RetryAfter(c.retry_after_secs))
    } else if hit(c.server_error) {
        state.counts.server_error += 1;
        match state.rng.random_bool(0.5) {
            true => Roll::Fault(Fault::ServerError),
            false => Roll::Fault(Fault::BadGateway),
        }
    } else if hit(c.timeout) {
        state.counts.timeout += 1;
        Roll::Fault(Fault::Timeout(c.hang_for))
    } else if hit(c.lost_answer) && method != "getupdates" {
        state.counts.lost_answer += 1;
        if is_send && let Some(chat) = chat_id {
            *state.counts.lost_sends.entry(chat).or_default() += 1;
        }
        Roll::LoseAnswer(c.hang_for)
    } else if hit(c.slow) {
        state.counts.slow += 1;
        Roll::Slow(c.slow_by.mul_f64(state.rng.random()))
    } else {
        Roll::Pass
    }
}

/// A getUpdates answer as chaos may garble it: an update repeated, the order changed.
pub(super) fn garble_updates(fake: &FakeTelegram, updates: &mut Vec<Value>) {
    let mut inner = fake.lock();
    let Some(state) = inner.chaos.as_mut() else {
        return;
    };
    if updates.is_empty() {
        return;
    }
    if state.rng.random_bool(state.chaos.duplicate_update) {
        state.counts.duplicate_update += 1;
        let i = state.rng.random_range(0..updates.len());
        let copy = updates[i].clone();
        let at = state.rng.random_range(0..=updates.len());
        updates.insert(at, copy);
    }
    if updates.len() > 1 && state.rng.random_bool(state.chaos.reorder_updates) {
        state.counts.reorder_updates += 1;
        let i = state.rng.random_range(0..updates.len());
        let j = state.rng.random_range(0..updates.len());
        updates.swap(i, j);
    }
}

impl FakeTelegram {
    /// From now on, answers as `chaos` says (None: faithfully again).
    pub fn chaos(&self, chaos: Option<Chaos>) {
        self.lock().chaos = chaos.map(State::new);
    }

    /// What chaos has done so far.
    pub fn chaos_counts(&self) -> ChaosCounts {
        self.lock()
            .chaos
            .as_ref()
            .map(|s| s.counts.clone())
            .unwrap_or_default()
    }
}

/// Faults a test asks for by hand.
impl FakeTelegram {
    /// Makes the next `times` calls of `method` (any method when None) to `chat_id` (any chat when
    /// None) fail with `fault`.
    pub fn inject(&self, method: Option<&str>, chat_id: Option<i64>, times: usize, fault: Fault) {
        self.lock().faults.push(FaultRule {
            method: method.map(str::to_ascii_lowercase),
            chat_id,
            remaining: times,
            fault,
        });
    }

    /// While held, send calls wait unanswered and are not delivered; `drop_held` then answers
    /// them with an error without delivering (the process that made them is gone).
    pub fn hold_sends(&self) {
        self.lock().hold_sends = true;
    }

    pub fn held(&self) -> usize {
        self.lock().held
    }

    pub fn drop_held(&self) {
        let mut inner = self.lock();
        inner.hold_sends = false;
        inner.drop_held = true;
        drop(inner);
        self.release.notify_waiters();
    }
}
