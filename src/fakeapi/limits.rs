//! Telegram's send limits, checked at the receiving end from the fake's own arrival times.

use super::FakeTelegram;
use std::time::Duration;

/// Sends that broke a limit, counted over every accepted send.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OverLimits {
    /// Sends that opened a one-second window holding more than 30 sends.
    pub overall: usize,
    /// Sends followed within a second by another to the same chat.
    pub per_chat: usize,
}

impl FakeTelegram {
    /// How far the bot's accepted sends went over 30 a second in all and one a second per chat.
    pub fn over_limits(&self) -> OverLimits {
        let sends: Vec<_> = self
            .calls()
            .into_iter()
            .filter(|c| c.method.starts_with("send") && c.status == 200)
            .collect();
        let second = Duration::from_secs(1);
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
}
