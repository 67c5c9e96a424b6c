//! DingTalk's per-app limit on the calls that send or update (20 a second on the standard
//! edition), enforced when a test asks, and measured over what the bot did either way.

use super::FakeDingTalk;
use super::paths::SEND_PATHS;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub(super) struct Limits {
    per_second: usize,
    /// The send and update calls each app was let through, within the last second.
    recent: HashMap<String, VecDeque<Instant>>,
    refused: usize,
}

/// Whether a send or update call of `app` arriving now keeps within the enforced limit; one
/// let through counts towards the next ones. Always when nothing is enforced.
pub(super) fn admit(fake: &FakeDingTalk, app: &str) -> bool {
    let mut inner = fake.lock();
    let Some(limits) = inner.limits.as_mut() else {
        return true;
    };
    let now = Instant::now();
    let recent = limits.recent.entry(app.to_string()).or_default();
    while recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        recent.pop_front();
    }
    if recent.len() >= limits.per_second {
        limits.refused += 1;
        return false;
    }
    recent.push_back(now);
    true
}

impl FakeDingTalk {
    /// From now on, more than `per_second` send or update calls of one app within any second
    /// are refused with 403 `Forbidden.AccessDenied.QpsLimitForApi`, as DingTalk refuses them.
    pub fn enforce_limits(&self, per_second: u32) {
        self.lock().limits = Some(Limits {
            per_second: per_second as usize,
            recent: HashMap::new(),
            refused: 0,
        });
    }

    /// Calls refused for going over the enforced limit.
    pub fn refused_over_limits(&self) -> usize {
        self.lock().limits.as_ref().map_or(0, |l| l.refused)
    }

    /// The most send and update calls answered 200 within any one second (every app's
    /// together): what the bot's pacing kept to, enforced or not.
    pub fn busiest_second(&self) -> usize {
        let mut sends: Vec<Instant> = self
            .calls()
            .into_iter()
            .filter(|c| c.status == 200 && SEND_PATHS.contains(&c.path.as_str()))
            .map(|c| c.at)
            .collect();
        sends.sort();
        let second = Duration::from_secs(1);
        (0..sends.len())
            .map(|i| {
                sends[i..]
                    .iter()
                    .take_while(|t| **t < sends[i] + second)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}
