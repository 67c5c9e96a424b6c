//! The demo's progress on standard error, one line per act, so that standard output stays the
//! season's transcript (to read, or to compare with another run's).

use super::chats::Chats;
use std::time::Instant;

/// The acts of the demo's season, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    City,
    Onboarding,
    Exemption,
    Entry,
    Publication,
    Notices,
    Reviews,
    Reminders,
    Records,
}

impl Act {
    const ALL: [Act; 9] = [
        Act::City,
        Act::Onboarding,
        Act::Exemption,
        Act::Entry,
        Act::Publication,
        Act::Notices,
        Act::Reviews,
        Act::Reminders,
        Act::Records,
    ];

    fn title(self) -> &'static str {
        match self {
            Act::City => "the city, its schools and the season",
            Act::Onboarding => "everyone joins (rosters and invitations in chat)",
            Act::Exemption => "免考 applications before the exam",
            Act::Entry => "the exam days: 登分, seals and same-day reports",
            Act::Publication => "publication",
            Act::Notices => "what everyone received",
            Act::Reviews => "four review requests through every level",
            Act::Reminders => "the review window on the simulated clock",
            Act::Records => "records and the seal",
        }
    }
}

pub struct Progress {
    started: Instant,
}

impl Progress {
    pub fn start() -> Progress {
        Progress {
            started: Instant::now(),
        }
    }

    pub fn begin(&self, act: Act) {
        let n = Act::ALL.iter().position(|a| *a == act).unwrap_or(0) + 1;
        eprintln!(
            "demo: act {n} of {} — {} ({:.1} s so far)",
            Act::ALL.len(),
            act.title(),
            self.started.elapsed().as_secs_f64()
        );
    }

    /// The last line: the time taken, and the messenger's limits as the demo's fake counted
    /// them on its faster clock.
    pub fn end(&self, chats: &Chats, pace: u32) {
        eprintln!(
            "demo: done in {:.1} s; {}",
            self.started.elapsed().as_secs_f64(),
            chats.limits_line(pace)
        );
    }
}
