//! Telegram's send limits, checked at the receiving end from the fake's own arrival times, and
//! (for the offline demo) enforced on a clock that runs faster than the wall clock.

use super::FakeTelegram;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Sends that broke a limit, counted over every accepted send.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OverLimits {
    /// Sends that opened a one-second window holding more than 30 sends.
    pub overall: usize,
    /// Sends followed within a second by another to the same chat.
    pub per_chat: usize,
}

/// Telegram's limits as Telegram applies them, on a clock `scale` times faster than the wall
/// clock: a send that would be a chat's second within a (simulated) second, or the 31st of the
/// bot's within one, is refused with 429, as Telegram refuses it.
pub(super) struct Enforced {
    scale: u32,
    by_chat: HashMap<i64, Instant>,
    recent: VecDeque<Instant>,
    refused: usize,
}

impl Enforced {
    pub(super) fn new(scale: u32) -> Enforced {
        Enforced {
            scale: scale.max(1),
            by_chat: HashMap::new(),
            recent: VecDeque::new(),
            refused: 0,
        }
    }

    /// A second on this clock, in wall time.
    fn second(&self) -> Duration {
        Duration::from_secs(1) / self.scale
    }

    /// Whether a send to `chat` that arrived at `at` is within the limits; a send taken counts
    /// towards the next ones. Sends are judged against everything taken within a second either
    /// side of theirs (requests handled a moment out of their arrival order included), so no
    /// window of a second ever holds more than the limits, whatever the order.
    pub(super) fn admit(&mut self, chat: Option<i64>, at: Instant) -> bool {
        let second = self.second();
        let near = |t: &Instant| t.max(&at).duration_since(*t.min(&at)) < second;
        let latest = self.recent.iter().max().copied().unwrap_or(at).max(at);
        while self
            .recent
            .front()
            .is_some_and(|t| latest.duration_since(*t) > second * 2)
        {
            self.recent.pop_front();
        }
        let chat_busy = chat.is_some_and(|c| self.by_chat.get(&c).is_some_and(near));
        if chat_busy || self.recent.iter().filter(|t| near(t)).count() >= 30 {
            self.refused += 1;
            return false;
        }
        if let Some(c) = chat {
            self.by_chat.insert(c, at);
        }
        self.recent.push_back(at);
        true
    }
}

/// A send over the enforced limits, answered as Telegram answers it (429, retry after a
/// second) and recorded; None when it is within them, or nothing is enforced.
pub(super) fn refuse_over(
    fake: &FakeTelegram,
    method: &str,
    chat_id: Option<i64>,
    arrived: Instant,
    params: &serde_json::Value,
) -> Option<axum::response::Response> {
    let mut inner = fake.lock();
    let over = inner
        .enforced
        .as_mut()
        .is_some_and(|e| !e.admit(chat_id, arrived));
    if !over {
        return None;
    }
    inner.calls.push(super::Call {
        method: method.to_string(),
        chat_id,
        at: arrived,
        status: 429,
        params: params.clone(),
    });
    drop(inner);
    Some(super::err(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests: retry after 1",
        Some(serde_json::json!({"retry_after": 1})),
    ))
}

impl FakeTelegram {
    /// How far the bot's accepted sends went over 30 a second in all and one a second per chat.
    pub fn over_limits(&self) -> OverLimits {
        self.over_limits_per(Duration::from_secs(1))
    }

    /// The same, on a clock `scale` times faster than the wall clock (the demo's).
    pub fn over_limits_at_scale(&self, scale: u32) -> OverLimits {
        self.over_limits_per(Duration::from_secs(1) / scale.max(1))
    }

    fn over_limits_per(&self, second: Duration) -> OverLimits {
        let sends: Vec<_> = self
            .calls()
            .into_iter()
            .filter(|c| c.method.starts_with("send") && c.status == 200)
            .collect();
        let mut over = OverLimits::default();
        for (i, a) in sends.iter().enumerate() {
            let window = || sends[i..].iter().take_while(|b| b.at < a.at + second);
            if window().count() > 30 {
                over.overall += 1;
            }
            if window().skip(1).any(|b| b.chat_id == a.chat_id) {
                over.per_chat += 1;
            }
        }
        over
    }

    /// From now on, refuses with 429 every send over Telegram's limits counted on a clock
    /// `scale` times faster than the wall clock. The offline demo's bot waits that much less
    /// (`clock::Pace`); the tests of pacing keep real seconds and only count.
    pub fn enforce_limits(&self, scale: u32) {
        self.lock().enforced = Some(Enforced::new(scale));
    }

    /// Sends refused for going over the enforced limits.
    pub fn refused_over_limits(&self) -> usize {
        self.lock().enforced.as_ref().map_or(0, |e| e.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chats_second_send_within_a_second_and_the_31st_are_refused() {
        let mut e = Enforced::new(20);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert!(e.admit(Some(1), t0));
        // A simulated second is 50 ms here.
        assert!(!e.admit(Some(1), t0 + ms(40)));
        assert!(e.admit(Some(1), t0 + ms(60)));
        for chat in 2..=30 {
            assert!(e.admit(Some(chat), t0 + ms(60)), "{chat}");
        }
        assert!(!e.admit(Some(31), t0 + ms(61)), "the 31st within a second");
        assert!(e.admit(Some(31), t0 + ms(111)));
        // Out of arrival order: one that arrived earlier is judged against the later ones.
        assert!(!e.admit(Some(32), t0 + ms(59)));
        assert_eq!(e.refused, 3);
    }
}
