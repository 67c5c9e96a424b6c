//! The review route as a model, against the real app: random sequences of up to 40 actions —
//! file, approve, return (with its reason), reject, amend and resubmit, withdraw, the review
//! group's record (kept or corrected), sign and dispute, the district's 上报, the city's 复审
//! (agree, or return to the group), revoking a person, publishing again, and jumps of the clock
//! past the filing deadline — by random people of the city: the schools' contacts, 班主任 and
//! principals, the district's officer and its 复核小组 (one of them also a city reviewer), the
//! city's admin and reviewers, and another district's 纪检监督. After every action the app
//! agrees with the model (`world`): each request in the state, step and round the route says, a
//! press accepted exactly when the permission model allows it, every approval and every result
//! told exactly once, a score changed only by a result the group signed and the city agreed to
//! (the old one kept in the history), the publication notice once to each contact. A failure is
//! shrunk to its shortest sequence. `MODEL_SEQUENCES` sets how many (16 in `cargo test`; 20,000
//! is the long run of RELIABILITY.md). SQLite files copied from one prepared city, whatever the
//! test backend (so it runs on the SQLite pass only).

mod city;
mod world;

use city::{Prepared, check, correction, file, prepare, record, sqlite_url};
use exam_review_bot::app::callback::Press;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::ManualClock;
use exam_review_bot::domain::stage::{Choice, Stage};
use exam_review_bot::domain::workflow::Purpose;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use proptest::prelude::*;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use world::{Deed, Filed, Outcome, PEOPLE, Stand, World, user};

/// Who acts: the k-th of those the model lets act now (so that sequences get somewhere), the
/// request's filer, or anyone.
#[derive(Debug, Clone, Copy)]
enum Who {
    Holder(usize),
    Filer,
    Anyone(usize),
}

#[derive(Debug, Clone)]
enum Act {
    File {
        pupil: usize,
        by: Who,
    },
    Decide {
        req: usize,
        by: Who,
        action: &'static str,
    },
    Amend {
        req: usize,
        by: Who,
    },
    Withdraw {
        req: usize,
        by: Who,
    },
    Record {
        req: usize,
        by: Who,
        corrected: bool,
    },
    Sign {
        req: usize,
        by: Who,
        agree: bool,
    },
    Report {
        by: Who,
        miscounted: bool,
    },
    Recheck {
        req: usize,
        by: Who,
        agree: bool,
    },
    Revoke {
        person: usize,
    },
    Publish,
    Jump {
        hours: i64,
    },
    /// Whatever the request's stage calls for, by `by`: `choice` picks approve or return,
    /// keep or correct, sign or dispute, agree or send back.
    Advance {
        req: usize,
        by: Who,
        choice: u8,
    },
}

/// Who acts, weighted: `holder` in `holder + 3` times the one the model lets act.
fn who(holder: u32) -> impl Strategy<Value = Who> {
    prop_oneof![
        holder => (0..3usize).prop_map(Who::Holder),
        1 => Just(Who::Filer),
        2 => (0..PEOPLE).prop_map(Who::Anyone),
    ]
}

/// One action. Most are `Advance` by the one who may (so that sequences of 40 reach the city's
/// 复审); the rest press a given button, by anyone, on any request.
fn act() -> impl Strategy<Value = Act> {
    let decision = prop_oneof![4 => Just("a"), 2 => Just("b"), 1 => Just("r")];
    let req = 0..ANY_REQUEST + 2;
    prop_oneof![
        4 => (0..4usize, who(3)).prop_map(|(pupil, by)| Act::File { pupil, by }),
        4 => (req.clone(), who(3), decision)
            .prop_map(|(req, by, action)| Act::Decide { req, by, action }),
        2 => (req.clone(), who(3)).prop_map(|(req, by)| Act::Amend { req, by }),
        1 => (req.clone(), who(3)).prop_map(|(req, by)| Act::Withdraw { req, by }),
        2 => (req.clone(), who(3), any::<bool>())
            .prop_map(|(req, by, corrected)| Act::Record { req, by, corrected }),
        3 => (req.clone(), who(3), prop::bool::weighted(0.85))
            .prop_map(|(req, by, agree)| Act::Sign { req, by, agree }),
        1 => (who(3), prop::bool::weighted(0.2))
            .prop_map(|(by, miscounted)| Act::Report { by, miscounted }),
        2 => (req.clone(), who(3), prop::bool::weighted(0.8))
            .prop_map(|(req, by, agree)| Act::Recheck { req, by, agree }),
        1 => (0..PEOPLE).prop_map(|person| Act::Revoke { person }),
        1 => Just(Act::Publish),
        1 => (1..80i64).prop_map(|hours| Act::Jump { hours }),
        30 => (req, who(24), any::<u8>())
            .prop_map(|(req, by, choice)| Act::Advance { req, by, choice }),
    ]
}

/// The person `who` names: the k-th of those `able` lets act (the first person when nobody
/// may), the filer, or that person.
fn choose(who: Who, filer: usize, able: impl Fn(usize) -> bool) -> usize {
    match who {
        Who::Holder(k) => {
            let able: Vec<usize> = (0..PEOPLE).filter(|p| able(*p)).collect();
            able.get(k % able.len().max(1)).copied().unwrap_or(0)
        }
        Who::Filer => filer,
        Who::Anyone(p) => p,
    }
}

/// The person `who` names for a deed on request `i`.
fn person(w: &World, who: Who, deed: Deed, i: usize) -> usize {
    let f = &w.filed[i];
    choose(who, f.filer, |p| w.may(p, deed, f))
}

/// The request `req` names: below `ANY_REQUEST`, the req-th of those someone may do `deed` on
/// now (so that sequences get somewhere); from it, or when nobody may, whichever of those
/// filed so far (a press on a request at another stage).
fn pick(w: &World, req: usize, deed: Deed) -> Option<usize> {
    let open: Vec<usize> = (0..w.filed.len())
        .filter(|i| (0..PEOPLE).any(|p| w.may(p, deed, &w.filed[*i])))
        .collect();
    match open.get(req % open.len().max(1)) {
        Some(i) if req < ANY_REQUEST => Some(*i),
        _ => req.checked_rem(w.filed.len()),
    }
}

const ANY_REQUEST: usize = 6;

/// `Advance` as the act its request's stage calls for (naming the request by its index, see
/// `pick`); any other act as it is.
fn resolve(w: &World, act: &Act) -> Act {
    let Act::Advance { req, by, choice } = *act else {
        return act.clone();
    };
    let open: Vec<usize> = (0..w.filed.len())
        .filter(|i| w.filed[*i].stand.open())
        .collect();
    let Some(&i) = open.get(req % open.len().max(1)) else {
        return act.clone();
    };
    let req = i + w.filed.len() * ANY_REQUEST;
    match w.filed[i].stand {
        Stand::Pending(_) => Act::Decide {
            req,
            by,
            action: if choice % 6 == 0 { "b" } else { "a" },
        },
        Stand::Returned => Act::Amend { req, by },
        Stand::Recording => Act::Record {
            req,
            by,
            corrected: choice % 2 == 0,
        },
        Stand::Confirming => Act::Sign {
            req,
            by,
            agree: choice % 8 != 0,
        },
        Stand::Reporting => Act::Report {
            by,
            miscounted: false,
        },
        Stand::Rechecking => Act::Recheck {
            req,
            by,
            agree: choice % 6 != 0,
        },
        Stand::Completed | Stand::Withdrawn => act.clone(),
    }
}

/// The app accepted a press exactly when the model allows it.
fn agree(press: Press, may: bool) -> Result<(), String> {
    match (press == Press::Accepted) == may {
        true => Ok(()),
        false => Err(format!("may {may}, the app said {press:?}")),
    }
}

/// What the app accepted, across all sequences, for the figures of RELIABILITY.md.
#[derive(Clone, Copy)]
enum Tally {
    Filed,
    Approved,
    Returned,
    Amended,
    Withdrawn,
    Recorded,
    Signed,
    Disputed,
    Reported,
    Agreed,
    SentBack,
    Completed,
    Corrected,
    Revoked,
    Published,
    Refused,
}

const TALLY_NAMES: [&str; 16] = [
    "filed",
    "approved",
    "returned",
    "amended",
    "withdrawn",
    "recorded",
    "signed",
    "disputed",
    "batches reported",
    "复审 agreed",
    "returned to the group",
    "completed",
    "scores corrected",
    "people revoked",
    "published again",
    "presses refused",
];

static TALLY: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

fn tally(t: Tally) {
    TALLY[t as usize].fetch_add(1, Ordering::Relaxed);
}

/// The model plays on SQLite files whatever the backend; the PostgreSQL pass of CI would only
/// repeat it.
fn on_postgres_pass() -> bool {
    std::env::var("TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_sequences_of_actions_keep_the_route_the_permissions_the_scores_and_the_announcements() {
    if on_postgres_pass() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prepared = rt.block_on(prepare());
    let sequences: u32 = env_number("MODEL_SEQUENCES", 16);
    let config = RunnerConfig {
        cases: sequences,
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let case = AtomicU64::new(0);
    // The same sequences every run (MODEL_SEED picks another set for a long run).
    let seed: u64 = env_number("MODEL_SEED", 0);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let result = TestRunner::new_with_rng(config, rng).run(
        &proptest::collection::vec(act(), 1..=40),
        |acts| {
            let case = case.fetch_add(1, Ordering::Relaxed);
            rt.block_on(play(&prepared, case, &acts))
                .map_err(TestCaseError::fail)
        },
    );
    let counts: Vec<String> = TALLY
        .iter()
        .zip(TALLY_NAMES)
        .map(|(n, name)| format!("{} {name}", n.load(Ordering::Relaxed)))
        .collect();
    println!("{sequences} sequences: {}", counts.join(", "));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Shrunk from the model's first failure: after the filing window had closed, 修改并重新提交
/// on a returned request was accepted, the filer typed the new reason and phone, and only the
/// submit said the window was closed. It is refused at the press now.
#[test]
fn a_returned_request_cannot_be_amended_once_the_window_has_closed() {
    if on_postgres_pass() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prepared = rt.block_on(prepare());
    let acts = [
        Act::File {
            pupil: 0,
            by: Who::Anyone(0),
        },
        Act::Decide {
            req: 0,
            by: Who::Holder(0),
            action: "b",
        },
        Act::Jump { hours: 96 },
        Act::Amend {
            req: 0,
            by: Who::Filer,
        },
    ];
    rt.block_on(play(&prepared, 0, &acts))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A whole review by the model's people: filed, approved at both school levels, corrected by
/// the group, disputed once and recorded again, signed by all three, sent up in the 上报,
/// returned once by the city and recorded and signed again, then agreed: the score changes
/// once, with its history, and the result reaches each of its chats once.
#[test]
fn a_corrected_result_signed_reported_and_agreed_changes_the_score_once() {
    if on_postgres_pass() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prepared = rt.block_on(prepare());
    let holder = Who::Holder(0);
    let sign_all = [
        Act::Sign {
            req: 0,
            by: holder,
            agree: true,
        },
        Act::Sign {
            req: 0,
            by: holder,
            agree: true,
        },
    ];
    let mut acts = vec![
        Act::File {
            pupil: 1,
            by: Who::Anyone(0),
        },
        Act::Decide {
            req: 0,
            by: holder,
            action: "a",
        },
        Act::Decide {
            req: 0,
            by: holder,
            action: "a",
        },
        Act::Record {
            req: 0,
            by: holder,
            corrected: true,
        },
        Act::Sign {
            req: 0,
            by: holder,
            agree: false,
        },
        Act::Record {
            req: 0,
            by: Who::Holder(1),
            corrected: true,
        },
    ];
    acts.extend(sign_all.clone());
    acts.extend([
        Act::Report {
            by: holder,
            miscounted: false,
        },
        Act::Recheck {
            req: 0,
            by: holder,
            agree: false,
        },
        Act::Record {
            req: 0,
            by: holder,
            corrected: true,
        },
    ]);
    acts.extend(sign_all);
    acts.extend([
        Act::Report {
            by: holder,
            miscounted: false,
        },
        Act::Recheck {
            req: 0,
            by: holder,
            agree: true,
        },
        Act::Publish,
    ]);
    let w = rt
        .block_on(play_world(&prepared, 0, &acts))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.filed[0].stand, Stand::Completed);
    assert_eq!(w.history.len(), 1, "{:?}", w.history);
}

/// One sequence on a fresh copy of the city; Err names the first step the app and the model
/// disagree at.
async fn play(p: &Prepared, case: u64, acts: &[Act]) -> Result<(), String> {
    play_world(p, case, acts).await.map(|_| ())
}

async fn play_world(p: &Prepared, case: u64, acts: &[Act]) -> Result<World, String> {
    let path = p.dir.path().join(format!("case-{case}.db"));
    std::fs::copy(&p.template, &path).unwrap();
    let clock = ManualClock::new(p.start);
    let app = App::new(
        Db::open(&sqlite_url(&path)).await.unwrap(),
        city::model_config(&sqlite_url(&path)),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let mut w = World {
        pupils: p.pupils.clone(),
        filed: Vec::new(),
        revoked: [false; PEOPLE],
        history: Vec::new(),
        noticed: [false; PEOPLE],
    };
    let mut outcome = Ok(());
    for (n, act) in acts.iter().enumerate() {
        let act = &resolve(&w, act);
        let at = |what: String| format!("step {n} ({act:?}): {what}");
        outcome = step(&app, &clock, p, act, &mut w)
            .await
            .map_err(|e| at(format!("{e:#}")));
        if outcome.is_ok() {
            outcome = check(&app, &w).await.map_err(at);
        }
        if outcome.is_err() {
            break;
        }
    }
    app.db.pool.close().await;
    std::fs::remove_file(&path).ok();
    outcome.map(|()| w)
}

/// A press's verdict against the model's, counted.
fn judge(press: Press, may: bool, accepted: Tally) -> anyhow::Result<()> {
    agree(press, may).map_err(|e| anyhow::anyhow!(e))?;
    tally(if may { accepted } else { Tally::Refused });
    Ok(())
}

/// One action, played on the app and on the model.
async fn step(
    app: &App,
    clock: &ManualClock,
    p: &Prepared,
    act: &Act,
    w: &mut World,
) -> anyhow::Result<()> {
    use exam_review_bot::clock::Clock;
    use exam_review_bot::domain::Role;
    use world::At;
    let now = clock.now();
    // The review's window: filing (and returns below the group) close a day before its end;
    // after its end nothing below the city acts.
    let filing_open = now < p.filing_closes;
    let window_open = now < p.deadline;
    match *act {
        Act::File { pupil, by } => {
            let pu = &w.pupils[pupil];
            let school = At::School(pu.school);
            let files = |p: usize| {
                w.holds(p, Role::SchoolContact, school, None)
                    || w.holds(p, Role::HomeroomTeacher, school, Some(pu.class))
            };
            let by = choose(by, 0, files);
            let may = filing_open
                && files(by)
                && !w
                    .filed
                    .iter()
                    .any(|f| f.pupil == pupil && (f.stand.open() || f.stand == Stand::Completed));
            // A 班主任 filing for their own class gives the 班主任's opinion by filing.
            let signs = w.holds(by, Role::HomeroomTeacher, school, Some(pu.class));
            let id = file(app, user(by), &pu.exam_no).await;
            match (may, id) {
                (false, None) => tally(Tally::Refused),
                (true, Some(id)) => {
                    tally(Tally::Filed);
                    w.filed.push(Filed {
                        id,
                        pupil,
                        filer: by,
                        stand: Stand::Pending(if signs { 1 } else { 0 }),
                        round: 1,
                        approvals: if signs { vec![(by, 0)] } else { Vec::new() },
                        by_filing: i64::from(signs),
                        recorder: None,
                        signers: Vec::new(),
                        rechecked: Vec::new(),
                        outcome: None,
                        told: 0,
                        returned_at: None,
                    });
                }
                (may, id) => anyhow::bail!("may file {may}, filed {id:?}"),
            }
        }
        Act::Decide { req, by, action } => {
            let Some(i) = pick(w, req, Deed::Decide) else {
                return Ok(());
            };
            let by = person(w, by, Deed::Decide, i);
            let f = &w.filed[i];
            // No level below the group may reject (附件4 二.3), nor return once filing has
            // closed; nothing is decided after the window's end.
            let may = w.may(by, Deed::Decide, f)
                && action != "r"
                && window_open
                && (action != "b" || filing_open);
            let step = match f.stand {
                Stand::Pending(s) => s,
                _ => 0,
            };
            let stage = Stage::Level {
                step,
                round: f.round,
            };
            let choice = Choice::parse(action).expect("the model's presses are the bot's");
            let u = user(by);
            let press = app.review_button(u, u, f.id, stage, choice).await?;
            let accepted = if action == "a" {
                Tally::Approved
            } else {
                Tally::Returned
            };
            judge(press, may, accepted)?;
            if may {
                let f = &mut w.filed[i];
                if action == "a" {
                    f.approvals.push((by, step));
                    f.stand = match step {
                        0 => Stand::Pending(1),
                        _ => Stand::Recording,
                    };
                } else {
                    app.dialogue_text(u, u, "请补充主实验的扣分依据").await?;
                    f.stand = Stand::Returned;
                    f.returned_at = Some(now);
                }
            }
        }
        Act::Amend { req, by } => {
            let Some(i) = pick(w, req, Deed::Amend) else {
                return Ok(());
            };
            let by = person(w, by, Deed::Amend, i);
            let f = &w.filed[i];
            // Until filing closes, or a day after the return (review.amend_hours) if later,
            // never past the window's end.
            let until = f
                .returned_at
                .map_or(p.filing_closes, |r| r + chrono::Duration::hours(24))
                .max(p.filing_closes)
                .min(p.deadline);
            let may = w.may(by, Deed::Amend, f) && now < until;
            let u = user(by);
            let stage = Stage::Returned { round: f.round };
            let press = app.review_button(u, u, f.id, stage, Choice::Amend).await?;
            judge(press, may, Tally::Amended)?;
            if may {
                for text in ["副实验二第2项漏评", "13800001234"] {
                    app.dialogue_text(u, u, text).await?;
                }
                app.dialogue_button(u, u, "confirm", "submit", "").await?;
                let pu = &w.pupils[w.filed[i].pupil];
                let signs = w.holds(
                    by,
                    Role::HomeroomTeacher,
                    At::School(pu.school),
                    Some(pu.class),
                );
                let f = &mut w.filed[i];
                f.stand = Stand::Pending(if signs { 1 } else { 0 });
                if signs {
                    f.approvals.push((by, 0));
                    f.by_filing += 1;
                }
                f.round += 1;
            }
        }
        Act::Withdraw { req, by } => {
            let Some(i) = pick(w, req, Deed::Withdraw) else {
                return Ok(());
            };
            let by = person(w, by, Deed::Withdraw, i);
            let may = w.may(by, Deed::Withdraw, &w.filed[i]);
            let u = user(by);
            let press = app
                .review_button(u, u, w.filed[i].id, Stage::Withdraw, Choice::Withdraw)
                .await?;
            judge(press, may, Tally::Withdrawn)?;
            if may {
                w.filed[i].stand = Stand::Withdrawn;
            }
        }
        Act::Record { req, by, corrected } => {
            let Some(i) = pick(w, req, Deed::Record) else {
                return Ok(());
            };
            let by = person(w, by, Deed::Record, i);
            let f = &w.filed[i];
            let may = w.may(by, Deed::Record, f) && window_open;
            let u = user(by);
            let stage = Stage::Record { round: f.round };
            let action = if corrected {
                Choice::Correct
            } else {
                Choice::Keep
            };
            let press = app.review_button(u, u, f.id, stage, action).await?;
            judge(press, may, Tally::Recorded)?;
            if may {
                let now = w.pupils[f.pupil].mark;
                let to = corrected.then(|| correction(now));
                record(app, by, to).await?;
                let f = &mut w.filed[i];
                f.stand = Stand::Confirming;
                f.recorder = Some(by);
                f.signers.clear();
                f.outcome = Some(Outcome {
                    corrected,
                    mark: to.unwrap_or(now),
                });
                // A group with nobody else to sign is done (or stuck) at once.
                if w.members(&w.filed[i]).iter().all(|m| *m == by) && w.group_signed(&w.filed[i]) {
                    w.filed[i].stand = Stand::Reporting;
                }
            }
        }
        Act::Sign { req, by, agree } => {
            let Some(i) = pick(w, req, Deed::Sign) else {
                return Ok(());
            };
            let by = person(w, by, Deed::Sign, i);
            let f = &w.filed[i];
            let may = w.may(by, Deed::Sign, f) && window_open;
            let u = user(by);
            let stage = Stage::Confirm { round: f.round };
            let press = app
                .review_button(
                    u,
                    u,
                    f.id,
                    stage,
                    if agree { Choice::Sign } else { Choice::Dispute },
                )
                .await?;
            judge(
                press,
                may,
                if agree {
                    Tally::Signed
                } else {
                    Tally::Disputed
                },
            )?;
            if may {
                if agree {
                    w.filed[i].signers.push(by);
                    if w.group_signed(&w.filed[i]) {
                        w.filed[i].stand = Stand::Reporting;
                    }
                } else {
                    app.dialogue_text(u, u, "总分与四项之和不符，请重新核对")
                        .await?;
                    let f = &mut w.filed[i];
                    f.stand = Stand::Recording;
                    f.round += 1;
                    f.signers.clear();
                    f.rechecked.clear();
                }
            }
        }
        Act::Report { by, miscounted } => {
            let by = choose(by, 0, |p| w.may_report(p));
            let waiting = w
                .filed
                .iter()
                .filter(|f| f.stand == Stand::Reporting)
                .count();
            let shown = waiting + usize::from(miscounted);
            // A card that showed another count is only brought up to date.
            let may = w.may_report(by) && waiting > 0 && !miscounted && window_open;
            let u = user(by);
            let district = sample::district_code(0);
            let press = app.send_up(u, u, Purpose::Review, &district, shown).await?;
            judge(press, may, Tally::Reported)?;
            if may {
                for f in w.filed.iter_mut().filter(|f| f.stand == Stand::Reporting) {
                    f.stand = Stand::Rechecking;
                }
            }
        }
        Act::Recheck { req, by, agree } => {
            let Some(i) = pick(w, req, Deed::Recheck) else {
                return Ok(());
            };
            let by = person(w, by, Deed::Recheck, i);
            let f = &w.filed[i];
            // The city sends a result back to its group only while the group can still act.
            let may = w.may(by, Deed::Recheck, f) && (agree || window_open);
            let u = user(by);
            let stage = Stage::Recheck { round: f.round };
            let press = app
                .review_button(
                    u,
                    u,
                    f.id,
                    stage,
                    if agree {
                        Choice::Agree
                    } else {
                        Choice::SendBack
                    },
                )
                .await?;
            judge(
                press,
                may,
                if agree {
                    Tally::Agreed
                } else {
                    Tally::SentBack
                },
            )?;
            if may {
                if agree {
                    // One city signature is enough on the default route.
                    w.filed[i].rechecked.push(by);
                    tally(Tally::Completed);
                    if w.filed[i].outcome.is_some_and(|o| o.corrected) {
                        tally(Tally::Corrected);
                    }
                    w.complete(i);
                } else {
                    app.dialogue_text(u, u, "更正类别应为合分错误，请复核小组重新记录")
                        .await?;
                    let f = &mut w.filed[i];
                    f.stand = Stand::Recording;
                    f.round += 1;
                    f.signers.clear();
                    f.rechecked.clear();
                }
            }
        }
        Act::Revoke { person } => {
            let n = app.revoke(user(person), None, None).await?;
            anyhow::ensure!(
                (n > 0) != w.revoked[person],
                "revoked {n} bindings of a person revoked before: {}",
                w.revoked[person]
            );
            if n > 0 {
                tally(Tally::Revoked);
            }
            w.revoke(person);
        }
        Act::Publish => {
            app.publish(Actor::Cli, None).await?;
            tally(Tally::Published);
            for p in 0..PEOPLE {
                for s in 0..2 {
                    if w.holds(p, Role::SchoolContact, At::School(s), None) {
                        w.noticed[p] = true;
                    }
                }
            }
        }
        Act::Jump { hours } => clock.advance(chrono::Duration::hours(hours)),
        // No open request to advance.
        Act::Advance { .. } => {}
    }
    Ok(())
}
