//! Spacing sends: this instance's share of the bot's rate, and the messenger's "wait" that
//! holds every send.

use crate::clock::Pace;
use std::time::Duration;

/// Spaces sends evenly at this instance's share of the bot's rate, and is the only limit
/// they pass: teloxide's `Throttle` (still used for the handlers' few direct sends) lets
/// requests go in batches every 250 ms, which reach Telegram spread by a few milliseconds;
/// measured at the receiving end, one-second windows then held 31 or 32, and every send
/// waited for the next batch (a fan-out at 27 a second with eight sends in flight). Evenly
/// spaced sends leave room for the jitter.
///
/// Telegram's 30 a second is the bot's, not a process's: with several instances delivering,
/// each takes an equal share (the live instances are counted at every heartbeat).
pub struct Pacer {
    rate: u32,
    pace: Pace,
    instances: std::sync::atomic::AtomicU32,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    pub fn per_second(rate: u32, pace: Pace) -> Pacer {
        Pacer {
            rate: rate.max(1),
            pace,
            instances: std::sync::atomic::AtomicU32::new(1),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// How many instances share the rate now (this one included).
    pub(super) fn share_with(&self, instances: u32) {
        let instances = instances.max(1);
        let before = self
            .instances
            .swap(instances, std::sync::atomic::Ordering::Relaxed);
        if before != instances {
            tracing::info!(
                instances,
                "the instances delivering share the rate: this one sends at its share"
            );
        }
    }

    fn interval(&self) -> Duration {
        let instances = self.instances.load(std::sync::atomic::Ordering::Relaxed);
        self.pace
            .wall(Duration::from_secs(1) * instances / self.rate)
    }

    /// Telegram answered 429: no send before `wait` is over.
    pub(super) async fn freeze(&self, wait: Duration) {
        let mut next = self.next.lock().await;
        *next = (*next).max(tokio::time::Instant::now() + self.pace.wall(wait));
    }

    pub(super) async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.interval();
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
