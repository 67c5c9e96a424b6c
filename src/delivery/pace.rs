//! How fast delivery's clock runs against the wall clock. In production, one to one: a
//! second of Telegram's limits is a second. The offline demo plays a season whose own clock is
//! simulated; its fake Telegram counts the limits on a clock `scale` times faster (see
//! `FakeTelegram::enforce_limits`), and delivery waits that much less, so that the season is
//! not spent waiting in real time for seconds nobody lives through.

use std::time::Duration;

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
    pub fn wall(self, d: Duration) -> Duration {
        d / self.scale
    }
}

impl Default for Pace {
    fn default() -> Self {
        Pace::REAL
    }
}
