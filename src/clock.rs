//! Time is injected: production uses the system clock, tests and the demo a clock they move.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = at;
    }

    /// The next whole hour after the clock's time.
    pub fn now_utc_hour(&self) -> DateTime<Utc> {
        use chrono::{DurationRound, TimeDelta};
        let now = *self.0.lock().expect("clock lock");
        now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now) + TimeDelta::hours(1)
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// A clock that started at a given time and runs at real speed from there: for drills and
/// process-level tests (`EXAM_REVIEW_BOT_CLOCK`), never set in production.
pub struct OffsetClock {
    offset: chrono::Duration,
}

impl OffsetClock {
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Self {
            offset: at - Utc::now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// How fast delivery's clock runs against the wall clock. In production, one to one: a
/// second of Telegram's limits is a second. The offline demo plays a season whose own clock is
/// simulated; its fake Telegram counts the limits on a clock `scale` times faster (see
/// `FakeTelegram::enforce_limits`), and delivery waits that much less, so that the season is
/// not spent waiting in real time for seconds nobody lives through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    scale: u32,
}

impl Pace {
    /// Telegram's own seconds: every deployment.
    pub const REAL: Pace = Pace { scale: 1 };

    /// A clock `scale` times faster than the wall clock (at least 1).
    pub fn faster(scale: u32) -> Pace {
        Pace {
            scale: scale.max(1),
        }
    }

    pub fn scale(self) -> u32 {
        self.scale
    }

    /// How long a wait of `d` on delivery's clock takes on the wall clock.
    pub fn wall(self, d: std::time::Duration) -> std::time::Duration {
        d / self.scale
    }
}

impl Default for Pace {
    fn default() -> Self {
        Pace::REAL
    }
}
