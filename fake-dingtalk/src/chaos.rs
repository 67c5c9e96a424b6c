//! DingTalk's failures, asked for by hand (`inject`) or at random from a seed (`chaos`: the
//! same seed, the same faults in the same order of calls), with the Stream connection dropped
//! now and then, as a bad day's network does.

use super::FakeDingTalk;
use super::paths::SEND_PATHS;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// A failure DingTalk answers a call with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 403 `Forbidden.AccessDenied.QpsLimitForApi` (oapi: errcode 90018).
    Throttled,
    /// 429 `Throttling` (oapi: errcode 90018).
    TooMany,
    /// 500 `ServiceUnavailable` (oapi: errcode -1, 系统繁忙).
    ServerError,
    /// Served at once, answered only after this long: a client that gave up before sends it
    /// again, and finds it done.
    Hang(Duration),
    /// A batch send answered 200 with every person in `flowControlledStaffIdList`, not
    /// delivered; any other call refused as `Throttled`.
    FlowControlled,
}

#[derive(Debug, Clone)]
pub(super) struct FaultRule {
    path: Option<String>,
    remaining: usize,
    fault: Fault,
}

/// Random faults on the calls that send or update, and the connection dropped regularly.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub seed: u64,
    /// The probability a send or update call fails (with one of `Throttled`, `TooMany`,
    /// `ServerError`, `FlowControlled`, as likely each).
    pub fault_rate: f64,
    /// Every this long, the live Stream connection is dropped abruptly.
    pub drop_every: Option<Duration>,
}

impl Chaos {
    /// A bad day at DingTalk: one send in ten fails, and the connection drops every 3 s.
    pub fn bad_day(seed: u64) -> Chaos {
        Chaos {
            seed,
            fault_rate: 0.10,
            drop_every: Some(Duration::from_secs(3)),
        }
    }
}

/// What chaos did, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosCounts {
    /// Send and update calls chaos looked at.
    pub calls: usize,
    pub throttled: usize,
    pub too_many: usize,
    pub server_error: usize,
    pub flow_controlled: usize,
    /// Connections dropped.
    pub drops: usize,
}

pub(super) struct State {
    chaos: Chaos,
    rng: StdRng,
    counts: ChaosCounts,
    /// Which `chaos` call this is: the dropping task of an earlier one stops.
    generation: u64,
}

/// The fault chaos gives a call, if any: only sends and updates are touched.
pub(super) fn roll(fake: &FakeDingTalk, path: &str) -> Option<Fault> {
    if !SEND_PATHS.contains(&path) {
        return None;
    }
    let mut inner = fake.lock();
    let state = inner.chaos.as_mut()?;
    state.counts.calls += 1;
    if !state
        .rng
        .random_bool(state.chaos.fault_rate.clamp(0.0, 1.0))
    {
        return None;
    }
    let fault = match state.rng.random_range(0..4) {
        0 => {
            state.counts.throttled += 1;
            Fault::Throttled
        }
        1 => {
            state.counts.too_many += 1;
            Fault::TooMany
        }
        2 => {
            state.counts.server_error += 1;
            Fault::ServerError
        }
        _ => {
            state.counts.flow_controlled += 1;
            Fault::FlowControlled
        }
    };
    Some(fault)
}

impl FakeDingTalk {
    /// Makes the next `times` calls whose path starts with `path` fail with `fault`. None
    /// names every OpenAPI call (the oapi upload too) but the token and connection calls,
    /// which only a rule naming their exact path reaches.
    pub fn inject(&self, path: Option<&str>, times: usize, fault: Fault) {
        self.lock().faults.push(FaultRule {
            path: path.map(str::to_string),
            remaining: times,
            fault,
        });
    }

    /// The fault injected for this call, if any, counted off its rule. `spared`: the token and
    /// connection calls.
    pub(super) fn take_fault(&self, path: &str, spared: bool) -> Option<Fault> {
        let mut inner = self.lock();
        let rule = inner.faults.iter_mut().find(|r| {
            r.remaining > 0
                && match &r.path {
                    Some(p) if spared => p == path,
                    Some(p) => path.starts_with(p.as_str()),
                    None => !spared,
                }
        })?;
        rule.remaining -= 1;
        Some(rule.fault.clone())
    }

    /// From now on, fails as `chaos` says (None: faithfully again).
    pub fn chaos(&self, chaos: Option<Chaos>) {
        let mut inner = self.lock();
        inner.chaos_generation += 1;
        let generation = inner.chaos_generation;
        let drop_every = chaos.as_ref().and_then(|c| c.drop_every);
        inner.chaos = chaos.map(|chaos| State {
            rng: StdRng::seed_from_u64(chaos.seed),
            chaos,
            counts: ChaosCounts::default(),
            generation,
        });
        drop(inner);
        if let Some(every) = drop_every {
            let fake = self.clone();
            tokio::spawn(async move { fake.drop_regularly(every, generation).await });
        }
    }

    async fn drop_regularly(&self, every: Duration, generation: u64) {
        loop {
            tokio::time::sleep(every).await;
            let live = self.live_connection();
            let mut inner = self.lock();
            let Some(state) = inner.chaos.as_mut().filter(|s| s.generation == generation) else {
                return;
            };
            if live {
                state.counts.drops += 1;
            }
            drop(inner);
            if live {
                self.drop_connection();
            }
        }
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
