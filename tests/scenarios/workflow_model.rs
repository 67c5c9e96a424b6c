//! The review route as a model, against the real app: random sequences of up to 40 actions —
//! file, approve, return (with its reason), reject, amend and resubmit, withdraw, and jumps of
//! the clock past the filing deadline — by random people of the city (the class's and another
//! class's 班主任, the principals, the contacts of two schools, a district officer, a city
//! admin). After every action the app agrees with the model: each request in the state and
//! step the route says, a press accepted exactly when the permission model allows it, every
//! approval announced once, and no score changed (no result is signed on this part of the
//! route). A failure is shrunk to its shortest sequence. `MODEL_SEQUENCES` sets how many (16 in
//! `cargo test`; 20,000 is the long run of RELIABILITY.md). SQLite files copied from one
//! prepared city, whatever the test backend (so it runs on the SQLite pass only).

use crate::support::*;
use exam_review_bot::app::review::Press;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::ManualClock;
use exam_review_bot::domain::Role;
use exam_review_bot::domain::attachment::Attachment;
use exam_review_bot::sample;
use exam_review_bot::store::{Db, seasons};
use proptest::prelude::*;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Who is who: (user id, role, school index or None, class index for 班主任).
const PEOPLE: [(i64, Role, Option<usize>, Option<usize>); 9] = [
    (1, Role::SchoolContact, Some(0), None),
    (2, Role::HomeroomTeacher, Some(0), Some(0)),
    (3, Role::HomeroomTeacher, Some(0), Some(1)),
    (4, Role::Principal, Some(0), None),
    (5, Role::SchoolContact, Some(1), None),
    (6, Role::HomeroomTeacher, Some(1), Some(0)),
    (7, Role::Principal, Some(1), None),
    (8, Role::DistrictOfficer, None, None),
    (9, Role::CityAdmin, None, None),
];

/// The candidates filed for: (school index, class index, 准考证号) — filled in at setup.
struct Pupil {
    school: usize,
    class: usize,
    exam_no: String,
}

/// Who acts: whoever the route wants now, the request's filer, or anyone of `PEOPLE`.
#[derive(Debug, Clone, Copy)]
enum Who {
    Holder,
    Filer,
    Anyone(usize),
}

#[derive(Debug, Clone)]
enum Act {
    File {
        pupil: usize,
        by: usize,
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
    Jump {
        hours: i64,
    },
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => Just(Who::Holder),
        1 => Just(Who::Filer),
        2 => (0..PEOPLE.len()).prop_map(Who::Anyone),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    let decision = prop_oneof![4 => Just("a"), 2 => Just("b"), 1 => Just("r")];
    prop_oneof![
        3 => (0..4usize, 0..PEOPLE.len()).prop_map(|(pupil, by)| Act::File { pupil, by }),
        8 => (0..8usize, who(), decision)
            .prop_map(|(req, by, action)| Act::Decide { req, by, action }),
        2 => (0..8usize, who()).prop_map(|(req, by)| Act::Amend { req, by }),
        1 => (0..8usize, who()).prop_map(|(req, by)| Act::Withdraw { req, by }),
        1 => (1..80i64).prop_map(|hours| Act::Jump { hours }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stand {
    Pending(i64),
    Returned,
    Recording,
    Withdrawn,
}

impl Stand {
    fn open(self) -> bool {
        matches!(self, Stand::Pending(_) | Stand::Returned | Stand::Recording)
    }
}

struct Filed {
    id: i64,
    pupil: usize,
    filer: usize,
    stand: Stand,
    round: i64,
    approvals: i64,
}

/// The person `who` names for request `f`: the holder is the pupil's 班主任 at the first
/// level and the principal at the second (at any other point, the school's contact).
fn person(who: Who, f: &Filed, pupils: &[Pupil]) -> usize {
    let pu = &pupils[f.pupil];
    let is = |i: &usize| {
        let (_, role, school, class) = PEOPLE[*i];
        school == Some(pu.school)
            && match f.stand {
                Stand::Pending(0) => role == Role::HomeroomTeacher && class == Some(pu.class),
                Stand::Pending(1) => role == Role::Principal,
                _ => role == Role::SchoolContact,
            }
    };
    match who {
        Who::Holder => (0..PEOPLE.len()).find(is).unwrap_or(0),
        Who::Filer => f.filer,
        Who::Anyone(i) => i,
    }
}

/// The request `req` names (whichever of those filed so far) and the person `who` names for it.
fn pick<'a>(
    filed: &'a mut [Filed],
    req: usize,
    who: Who,
    pupils: &[Pupil],
) -> Option<(&'a mut Filed, usize)> {
    let n = filed.len();
    let f = filed.get_mut(req.checked_rem(n)?)?;
    let by = person(who, f, pupils);
    Some((f, by))
}

/// The app accepted a press exactly when the model allows it.
fn agree(press: Press, may: bool) -> Result<(), String> {
    match (press == Press::Accepted) == may {
        true => Ok(()),
        false => Err(format!("may {may}, the app said {press:?}")),
    }
}

/// The city every sequence starts from, prepared once.
struct Prepared {
    dir: tempfile::TempDir,
    template: PathBuf,
    pupils: Vec<Pupil>,
    start: chrono::DateTime<chrono::Utc>,
    deadline: chrono::DateTime<chrono::Utc>,
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn prepare() -> Prepared {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.db");
    let start = shanghai(2023, 4, 29, 10, 0);
    let clock = ManualClock::new(start);
    let app = App::new(
        Db::open(&sqlite_url(&path)).await.unwrap(),
        test_config(&sqlite_url(&path)),
        Arc::new(clock),
    )
    .unwrap();
    sample::load_city(&app, dir.path(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
        .await
        .unwrap();
    app.publish(Actor::Cli, None).await.unwrap();
    let mut pupils = Vec::new();
    let mut classes: Vec<Vec<String>> = Vec::new();
    for school in 0..2 {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let season = seasons::current(&mut conn).await.unwrap().unwrap();
        let all = exam_review_bot::store::candidates::of_school(
            &mut conn,
            season.id,
            &sample::school_code(school),
        )
        .await
        .unwrap();
        let mut names: Vec<String> = all.iter().map(|c| c.class_name.clone()).collect();
        names.sort();
        names.dedup();
        for (class, name) in names.iter().take(2).enumerate() {
            let c = all.iter().find(|c| &c.class_name == name).unwrap();
            pupils.push(Pupil {
                school,
                class,
                exam_no: c.exam_no.clone(),
            });
        }
        classes.push(names);
    }
    for (user, role, school, class) in PEOPLE {
        let unit = match (role, school) {
            (_, Some(s)) => sample::school_code(s),
            (Role::DistrictOfficer, None) => sample::district_code(0),
            _ => sample::CITY_CODE.to_string(),
        };
        let class = class.map(|k| classes[school.unwrap()][k].clone());
        let link = app
            .invite(role, &unit, &format!("用户{user}"), class.as_deref())
            .await
            .unwrap();
        app.start(user, user, link.rsplit('=').next())
            .await
            .unwrap();
    }
    let mut conn = app.db.pool.acquire().await.unwrap();
    let season = seasons::current(&mut conn).await.unwrap().unwrap();
    let deadline = season.review_deadline.unwrap();
    let template = dir.path().join("template.db");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM INTO '{}'",
        template.display()
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    Prepared {
        dir,
        template,
        pupils,
        start,
        deadline,
    }
}

/// Actions the app accepted, across all sequences: filed, approved, returned, amended,
/// withdrawn (and the ones it refused), for the figures of RELIABILITY.md.
static ACCEPTED: [std::sync::atomic::AtomicUsize; 6] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 6];

fn count(kind: usize) {
    ACCEPTED[kind].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The model plays on SQLite files whatever the backend; the PostgreSQL pass of CI would only
/// repeat it.
fn on_postgres_pass() -> bool {
    std::env::var("TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty())
}

fn sequences() -> u32 {
    std::env::var("MODEL_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

#[test]
fn random_sequences_of_actions_keep_the_route_the_permissions_and_the_announcements() {
    if on_postgres_pass() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prepared = rt.block_on(prepare());
    let config = RunnerConfig {
        cases: sequences(),
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let case = std::sync::atomic::AtomicU64::new(0);
    // The same sequences every run (MODEL_SEED picks another set for a long run).
    let seed: u64 = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let result = TestRunner::new_with_rng(config, rng).run(
        &proptest::collection::vec(act(), 1..=40),
        |acts| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(play(&prepared, case, &acts))
                .map_err(TestCaseError::fail)
        },
    );
    let counts = ACCEPTED
        .each_ref()
        .map(|c| c.load(std::sync::atomic::Ordering::Relaxed));
    println!(
        "{} sequences: {} filed, {} approved, {} returned, {} amended, {} withdrawn; {} refused",
        sequences(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        counts[5]
    );
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
        Act::File { pupil: 0, by: 0 },
        Act::Decide {
            req: 0,
            by: Who::Holder,
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

/// One sequence on a fresh copy of the city; Err names the first step the app and the model
/// disagree at.
async fn play(p: &Prepared, case: u64, acts: &[Act]) -> Result<(), String> {
    let path = p.dir.path().join(format!("case-{case}.db"));
    std::fs::copy(&p.template, &path).unwrap();
    let clock = ManualClock::new(p.start);
    let app = App::new(
        Db::open(&sqlite_url(&path)).await.unwrap(),
        test_config(&sqlite_url(&path)),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let mut filed: Vec<Filed> = Vec::new();
    let outcome = run_acts(&app, &clock, p, acts, &mut filed).await;
    app.db.pool.close().await;
    std::fs::remove_file(&path).ok();
    outcome
}

async fn run_acts(
    app: &App,
    clock: &ManualClock,
    p: &Prepared,
    acts: &[Act],
    filed: &mut Vec<Filed>,
) -> Result<(), String> {
    use exam_review_bot::clock::Clock;
    for (n, act) in acts.iter().enumerate() {
        let at = |what: String| format!("step {n} ({act:?}): {what}");
        match *act {
            Act::File { pupil, by } => {
                let (user, role, school, class) = PEOPLE[by];
                let pu = &p.pupils[pupil];
                let may = clock.now() < p.deadline
                    && school == Some(pu.school)
                    && match role {
                        Role::SchoolContact => true,
                        Role::HomeroomTeacher => class == Some(pu.class),
                        _ => false,
                    }
                    && !filed.iter().any(|f| f.pupil == pupil && f.stand.open());
                let id = file(app, user, &pu.exam_no).await;
                match (may, id) {
                    (false, None) => count(5),
                    (true, Some(id)) => filed.push({
                        count(0);
                        Filed {
                            id,
                            pupil,
                            filer: by,
                            stand: Stand::Pending(0),
                            round: 1,
                            approvals: 0,
                        }
                    }),
                    (may, id) => return Err(at(format!("may file {may}, filed {id:?}"))),
                }
            }
            Act::Decide { req, by, action } => {
                let Some((f, by)) = pick(filed, req, by, &p.pupils) else {
                    continue;
                };
                let (user, role, school, class) = PEOPLE[by];
                let pu = &p.pupils[f.pupil];
                let holder = match f.stand {
                    Stand::Pending(0) => {
                        role == Role::HomeroomTeacher
                            && school == Some(pu.school)
                            && class == Some(pu.class)
                    }
                    Stand::Pending(1) => role == Role::Principal && school == Some(pu.school),
                    _ => false,
                };
                // The filer never decides on their own request; no level below the group
                // may reject.
                let may = holder && by != f.filer && action != "r";
                let step = match f.stand {
                    Stand::Pending(s) => s,
                    _ => 0,
                };
                let stage = format!("s{step}r{}", f.round);
                let press = app
                    .review_button(user, user, f.id, &stage, action)
                    .await
                    .map_err(|e| at(format!("{e:#}")))?;
                agree(press, may).map_err(at)?;
                if !may {
                    count(5);
                } else {
                    match action {
                        "a" => {
                            count(1);
                            f.approvals += 1;
                            f.stand = match f.stand {
                                Stand::Pending(0) => Stand::Pending(1),
                                _ => Stand::Recording,
                            };
                        }
                        _ => {
                            count(2);
                            // The reason, as the dialogue asks for it.
                            app.dialogue_text(user, user, "请补充主实验的扣分依据")
                                .await
                                .map_err(|e| at(format!("{e:#}")))?;
                            f.stand = Stand::Returned;
                        }
                    }
                }
            }
            Act::Amend { req, by } => {
                let Some((f, by)) = pick(filed, req, by, &p.pupils) else {
                    continue;
                };
                let user = PEOPLE[by].0;
                let may = by == f.filer && f.stand == Stand::Returned && clock.now() < p.deadline;
                let press = app
                    .review_button(user, user, f.id, &format!("ret{}", f.round), "am")
                    .await
                    .map_err(|e| at(format!("{e:#}")))?;
                agree(press, may).map_err(at)?;
                count(if may { 3 } else { 5 });
                if may {
                    for text in ["副实验二第2项漏评", "13800001234"] {
                        app.dialogue_text(user, user, text)
                            .await
                            .map_err(|e| at(format!("{e:#}")))?;
                    }
                    app.dialogue_button(user, user, "confirm", "submit")
                        .await
                        .map_err(|e| at(format!("{e:#}")))?;
                    f.stand = Stand::Pending(0);
                    f.round += 1;
                }
            }
            Act::Withdraw { req, by } => {
                let Some((f, by)) = pick(filed, req, by, &p.pupils) else {
                    continue;
                };
                let user = PEOPLE[by].0;
                let may = by == f.filer && f.stand.open();
                let press = app
                    .review_button(user, user, f.id, "wd", "w")
                    .await
                    .map_err(|e| at(format!("{e:#}")))?;
                agree(press, may).map_err(at)?;
                count(if may { 4 } else { 5 });
                if may {
                    f.stand = Stand::Withdrawn;
                }
            }
            Act::Jump { hours } => clock.advance(chrono::Duration::hours(hours)),
        }
        check(app, filed).await.map_err(at)?;
    }
    Ok(())
}

/// Files through the dialogue as the person would; the request's id when it was filed.
async fn file(app: &App, user: i64, exam_no: &str) -> Option<i64> {
    let newest = || async {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM review_requests")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        id
    };
    let before = newest().await;
    app.cancel(user, user).await.unwrap();
    app.review_command(user, user).await.unwrap();
    app.dialogue_text(user, user, exam_no).await.unwrap();
    let form = Attachment::Photo(format!("form-{exam_no}"));
    app.dialogue_non_text(user, user, Some(form)).await.unwrap();
    app.dialogue_text(user, user, "主实验漏评").await.unwrap();
    app.dialogue_text(user, user, "13800001234").await.unwrap();
    app.dialogue_button(user, user, "confirm", "submit")
        .await
        .unwrap();
    let after = newest().await;
    (after != before).then_some(after).flatten()
}

/// The app's requests agree with the model; every approval announced once; no score moved.
async fn check(app: &App, filed: &[Filed]) -> Result<(), String> {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM review_requests")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    if count as usize != filed.len() {
        return Err(format!("{count} requests, the model has {}", filed.len()));
    }
    for f in filed {
        let (state, step, round): (String, i64, i64) =
            sqlx::query_as("SELECT state, step, round FROM review_requests WHERE id = $1")
                .bind(f.id)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        let model = match f.stand {
            Stand::Pending(s) => ("pending", Some(s)),
            Stand::Returned => ("returned", None),
            Stand::Recording => ("recording", None),
            Stand::Withdrawn => ("withdrawn", None),
        };
        if state != model.0 || model.1.is_some_and(|s| s != step) || round != f.round {
            return Err(format!(
                "request {}: {state} step {step} round {round}, the model {:?} round {}",
                f.id, f.stand, f.round
            ));
        }
        let approvals = approvals(app, f.id).await;
        let (told,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM outbox WHERE body LIKE $1 AND body LIKE '%已同意%'",
        )
        .bind(format!("%申请 #{}（%", f.id))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if approvals != f.approvals || told != f.approvals {
            return Err(format!(
                "request {}: {approvals} approvals recorded and {told} announced, the model {}",
                f.id, f.approvals
            ));
        }
    }
    let (moved,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM score_history")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    if moved != 0 {
        return Err(format!("{moved} scores changed without a signed result"));
    }
    Ok(())
}
