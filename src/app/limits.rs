//! What one person can make the bot do: a token bucket per person and kind of update, refilled
//! over the app's clock. Excess is dropped before any work is done, so a flood costs the bot a
//! lookup, never a queued reply, and nobody else's messages wait behind it.
//!
//! The buckets live in memory: after a restart everyone starts with a full bucket, which is
//! harmless (limits are about rates, not totals).

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Whose bucket an update draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Someone who has not joined, writing anything but an invite.
    Unbound,
    /// Someone who has not joined, pressing Start on an invite link.
    Start,
    /// Someone who has joined.
    Bound,
}

/// What to do with one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Over the limit for the first time in a while: drop it, and say so once.
    Notice,
    /// Over the limit: drop it silently.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
    told: bool,
}

/// Above this many buckets the full ones (nobody sent anything for a minute) are forgotten.
const PRUNE_ABOVE: usize = 50_000;

#[derive(Default)]
pub struct Inbound {
    buckets: Mutex<HashMap<(i64, Kind), Bucket>>,
}

impl Inbound {
    /// Takes one token from the person's bucket of this kind (`per_minute` tokens, refilled
    /// evenly over a minute).
    pub fn admit(&self, user: i64, kind: Kind, per_minute: u32, now: DateTime<Utc>) -> Admit {
        let capacity = f64::from(per_minute.max(1));
        let mut buckets = self.buckets.lock().expect("limits lock");
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| (now - b.at).num_seconds() < 60);
        }
        let b = buckets.entry((user, kind)).or_insert(Bucket {
            tokens: capacity,
            at: now,
            told: false,
        });
        let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 60_000.0;
        b.tokens = (b.tokens + elapsed * capacity).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.told = false;
            Admit::Yes
        } else if !b.told && kind == Kind::Bound {
            b.told = true;
            Admit::Notice
        } else {
            Admit::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_over_a_minute_and_tells_once() {
        let limits = Inbound::default();
        let t0: DateTime<Utc> = "2023-04-29T02:00:00Z".parse().unwrap();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        assert_eq!(limits.admit(1, Kind::Unbound, 1, at(0)), Admit::Yes);
        assert_eq!(limits.admit(1, Kind::Unbound, 1, at(1)), Admit::Drop);
        assert_eq!(limits.admit(1, Kind::Unbound, 1, at(59)), Admit::Drop);
        assert_eq!(limits.admit(1, Kind::Unbound, 1, at(61)), Admit::Yes);
        // Another person, another kind: buckets of their own.
        assert_eq!(limits.admit(2, Kind::Unbound, 1, at(1)), Admit::Yes);
        assert_eq!(limits.admit(1, Kind::Start, 5, at(1)), Admit::Yes);

        for _ in 0..3 {
            assert_eq!(limits.admit(3, Kind::Bound, 3, at(0)), Admit::Yes);
        }
        assert_eq!(limits.admit(3, Kind::Bound, 3, at(0)), Admit::Notice);
        assert_eq!(limits.admit(3, Kind::Bound, 3, at(1)), Admit::Drop);
        // One token back after 20 s.
        assert_eq!(limits.admit(3, Kind::Bound, 3, at(20)), Admit::Yes);
        assert_eq!(limits.admit(3, Kind::Bound, 3, at(20)), Admit::Notice);
    }
}
