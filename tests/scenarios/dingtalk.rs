//! What only DingTalk's adapter has to get right: the Stream connection dropped or the process
//! killed mid-season loses nothing and doubles no decision (an unacknowledged frame is pushed
//! again), a bad day at DingTalk is waited out, an expired token is renewed, a wrong secret
//! stops the start, a card pressed by someone it was not sent to is refused, and a file larger
//! than the bot reads is not read whole.

use crate::messengers::{Person, SchoolRoute};
use crate::processes::process_app;
use crate::support::*;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::outbox;
use fake_dingtalk::{Chaos, FakeDingTalk, FakeDingUser, Sent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How many requests the kill loop carries, and how many times it kills the bot.
const REQUESTS: usize = 6;

fn kills() -> usize {
    std::env::var("KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// `run --platform dingtalk` on the test's database, against the fake.
fn run_on_dingtalk(db: &TestDb) -> Command {
    let mut command = Command::new(binary());
    command
        .args(["run", "--platform", "dingtalk"])
        .env("DATABASE_URL", &db.url)
        .env("DINGTALK_CLIENT_ID", fake_dingtalk::CLIENT_ID)
        .env("DINGTALK_CLIENT_SECRET", fake_dingtalk::CLIENT_SECRET)
        .env("RUST_LOG", "info")
        .current_dir(db.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The bot's own configuration file: DingTalk at the fake, the route with a district level
/// and one city-wide group, no signed form asked for (a filing is one message and a press).
fn dingtalk_config(ding: &FakeDingTalk) -> String {
    let route = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/city-wide-group.toml"
    ))
    .unwrap()
    .replace("[review]\n", "[review]\nrequire_signed_form = false\n");
    format!(
        "[dingtalk]\napi_url = \"{url}\"\noapi_url = \"{url}\"\nrequest_timeout_secs = 3\n{route}",
        url = ding.api_url()
    )
}

/// A queued message still open, as the kill loop names it when it gives up.
#[derive(Debug, sqlx::FromRow)]
#[allow(dead_code)]
struct OpenRow {
    id: i64,
    chat_id: i64,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    bot_id: Option<i64>,
}

fn kill(mut bot: Child) {
    bot.kill().unwrap();
    bot.wait().unwrap();
}

/// Someone joins through the running bot: the invite's code, sent in their chat.
async fn joins(
    app: &App,
    ding: &FakeDingTalk,
    staff: &str,
    role: Role,
    unit: &str,
    class: Option<&str>,
) -> FakeDingUser {
    let user = ding.user(staff, staff);
    let link = app.invite(role, unit, staff, class).await.unwrap();
    user.send(&format!("/start {}", link.rsplit('=').next().unwrap()));
    ding.expect(staff, "绑定成功", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    user
}

/// Presses every button labelled `label` it has not pressed yet, on each card once.
fn press_new(ding: &FakeDingTalk, user: &FakeDingUser, label: &str, pressed: &mut HashSet<String>) {
    for card in ding.messages_to(&user.staff_id) {
        if let Some((_, id)) = card.buttons().into_iter().find(|(l, _)| l == label)
            && pressed.insert(card.id.clone())
        {
            user.press_id(&card, &id);
        }
    }
}

/// Drops the Stream connection; how long the bot took to open another.
async fn dropped_and_back(ding: &FakeDingTalk) -> Duration {
    let opened = ding.connections_opened();
    let dropped = Instant::now();
    ding.drop_connection();
    let back = ding
        .wait_until(Duration::from_secs(60), |d| d.connections_opened() > opened)
        .await;
    assert!(back, "the bot never opened another connection");
    dropped.elapsed()
}

async fn count(app: &App, sql: &str) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_again_and_again_on_dingtalk_nothing_is_lost_and_no_decision_doubled() {
    let db = TestDb::new().await;
    let ding = FakeDingTalk::start().await.unwrap();
    let app = process_app(&db, &dingtalk_config(&ding)).await;
    let dir = db.dir.path();
    let units = dir.join("units.csv");
    std::fs::write(&units, sample::units_csv(&sample::units(2, 3))).unwrap();
    app.import_units(&units).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    app.set_season(2023, today, SHANGHAI, 30).await.unwrap();
    let scores = dir.join("scores.csv");
    std::fs::write(&scores, sample::scores_csv(90, 3, 5)).unwrap();
    app.import_scores(&scores).await.unwrap();
    app.publish(Actor::Cli, None).await.unwrap();
    let school = sample::school_code(0);
    let everyone = h_candidates(&app, &school).await;
    let class = everyone[0].class_name.clone();
    let pupils: Vec<_> = everyone
        .into_iter()
        .filter(|c| c.class_name == class)
        .take(REQUESTS)
        .collect();
    assert_eq!(pupils.len(), REQUESTS);

    let mut bot = run_on_dingtalk(&db).spawn().unwrap();
    let contact = joins(&app, &ding, "contact", Role::SchoolContact, &school, None).await;
    let teacher = joins(
        &app,
        &ding,
        "teacher",
        Role::HomeroomTeacher,
        &school,
        Some(&class),
    )
    .await;
    let principal = joins(&app, &ding, "principal", Role::Principal, &school, None).await;
    let district = sample::district_code(0);
    let officer = joins(
        &app,
        &ding,
        "officer",
        Role::DistrictOfficer,
        &district,
        None,
    )
    .await;

    let mut pressed = HashSet::new();
    let mut asked: Vec<Option<Instant>> = vec![None; REQUESTS];
    let mut rng = StdRng::seed_from_u64(37);
    let mut slowest_back = Duration::ZERO;
    let tick = Duration::from_millis(50);
    // Each round: the people act as they see cards, until the bot is killed at a random moment.
    let act =
        |pressed: &mut HashSet<String>, asked: &mut [Option<Instant>], filed: &HashSet<String>| {
            for (i, pupil) in pupils.iter().enumerate() {
                let due = asked[i].is_none_or(|at| at.elapsed() > Duration::from_secs(5));
                if !filed.contains(&pupil.exam_no) && due {
                    contact.send(&format!("/review {} 13800001234 漏评", pupil.exam_no));
                    asked[i] = Some(Instant::now());
                    break;
                }
            }
            press_new(&ding, &contact, "✅ 提交", pressed);
            for approver in [&teacher, &principal, &officer] {
                press_new(&ding, approver, "✅ 同意", pressed);
            }
        };
    let filed_now = |app: App| async move {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT c.exam_no FROM review_requests r JOIN candidates c ON c.id = r.candidate_id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        rows.into_iter().map(|(e,)| e).collect::<HashSet<String>>()
    };
    for _ in 0..kills() {
        let until = Instant::now() + Duration::from_millis(rng.random_range(500..3000));
        while Instant::now() < until {
            let filed = filed_now(app.clone()).await;
            act(&mut pressed, &mut asked, &filed);
            tokio::time::sleep(tick).await;
        }
        kill(bot);
        let opened = ding.connections_opened();
        let started = Instant::now();
        bot = run_on_dingtalk(&db).spawn().unwrap();
        // How long the new process takes to be connected again (printed, for RELIABILITY.md).
        let back = ding
            .wait_until(Duration::from_secs(60), |d| d.connections_opened() > opened)
            .await;
        assert!(back, "the restarted bot never opened a connection");
        slowest_back = slowest_back.max(started.elapsed());
    }

    // The last life: everyone finishes; every request reaches the city's group.
    // Generous: on PostgreSQL a new process waits out the killed one's claims (about 10 s).
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let filed = filed_now(app.clone()).await;
        act(&mut pressed, &mut asked, &filed);
        let at_group = count(
            &app,
            "SELECT COUNT(*) FROM review_requests WHERE state = 'recording'",
        )
        .await;
        let open = {
            let mut conn = app.db.pool.acquire().await.unwrap();
            outbox::open_count(&mut conn).await.unwrap()
        };
        if at_group == REQUESTS as i64 && ding.pending_frames() == 0 && open == 0 {
            break;
        }
        if Instant::now() >= deadline {
            let mut conn = app.db.pool.acquire().await.unwrap();
            let rows: Vec<OpenRow> = sqlx::query_as(
                "SELECT id, chat_id, status, attempts, last_error, bot_id FROM outbox
                 WHERE status IN ('pending', 'sending')",
            )
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            panic!(
                "the requests did not all reach the group: {at_group} of {REQUESTS}; {} frames \
                 pending; open rows {rows:?}\n{}",
                ding.pending_frames(),
                ding.transcript("teacher")
            );
        }
        tokio::time::sleep(tick).await;
    }
    kill(bot);

    // Each candidate filed once, each request approved once at each of its three levels.
    let mut conn = app.db.pool.acquire().await.unwrap();
    let trails: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT r.id,
                SUM(CASE WHEN e.action = 'file' THEN 1 ELSE 0 END),
                SUM(CASE WHEN e.action = 'approve' THEN 1 ELSE 0 END)
         FROM review_requests r JOIN review_events e ON e.request_id = r.id
         GROUP BY r.id ORDER BY r.id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(trails.len(), REQUESTS, "one request per candidate");
    for (id, filed, approved) in trails {
        assert_eq!((filed, approved), (1, 3), "request {id}");
    }
    eprintln!(
        "{} kills survived on DingTalk: {REQUESTS} requests, each filed once and approved once \
         at each level; {} frames pushed again; the slowest restart connected again in {:?}",
        kills(),
        ding.redelivered(),
        slowest_back
    );
    ding.stop();
}

async fn h_candidates(
    app: &App,
    school: &str,
) -> Vec<exam_review_bot::store::candidates::Candidate> {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let season = app.cli_season().await.unwrap().unwrap();
    exam_review_bot::store::candidates::of_school(&mut conn, season.id, school)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_through_a_bad_day_at_dingtalk_loses_nothing_and_the_stream_comes_back() {
    let mut h = Harness::start_on(Platform::Dingtalk, |c| {
        city_wide_group(c);
        c.review.require_signed_form = false;
    })
    .await;
    h.patience = Duration::from_secs(90);
    let SchoolRoute {
        pupil,
        contact,
        teacher,
        principal,
        officer,
    } = h.school_route().await;
    let ding = h.ding.clone().unwrap();
    // One call in ten refused or failed; the connection dropped right after each press, while
    // its frame may be on the wire or in hand.
    ding.chaos(Some(Chaos {
        seed: 7,
        fault_rate: 0.1,
        drop_every: None,
    }));

    contact.send(&format!("/review {} 13800001234 漏评", pupil.exam_no));
    h.hears(&contact, "请核对申请内容").await;
    contact.press("✅ 提交");
    let mut slowest_back = dropped_and_back(&ding).await;
    h.hears(&contact, "已提交").await;
    for approver in [&teacher, &principal, &officer] {
        h.hears(approver, "待您审核").await;
        approver.press("✅ 同意");
        slowest_back = slowest_back.max(dropped_and_back(&ding).await);
    }
    eprintln!("the Stream connection was back within {slowest_back:?} of each drop");
    h.hears(&contact, "市级复核小组").await;
    let counts = ding.chaos_counts();
    assert!(
        counts.throttled + counts.too_many + counts.server_error > 0,
        "{counts:?}"
    );
    ding.chaos(None);
    h.settle().await;
    assert_eq!(
        crate::support::approvals(&h.app, 1).await,
        3,
        "one approval a level"
    );
    // Each of the four drops was followed by a connection of the bot's own, opened again.
    let came_back = ding
        .wait_until(Duration::from_secs(30), |d| d.live_connection())
        .await;
    assert!(came_back && ding.connections_opened() >= 5);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_and_a_card_pressed_by_another_is_refused() {
    let mut h =
        Harness::start_on(Platform::Dingtalk, |c| c.review.require_signed_form = false).await;
    let SchoolRoute {
        pupil,
        contact,
        teacher,
        ..
    } = h.school_route().await;
    let ding = h.ding.clone().unwrap();
    let tokens = ding.tokens_issued();
    ding.expire_tokens();
    contact.send(&format!("/review {} 13800001234 漏评", pupil.exam_no));
    h.hears(&contact, "请核对申请内容").await;
    assert!(ding.tokens_issued() > tokens, "a new token was asked for");
    contact.press("✅ 提交");
    h.hears(&teacher, "待您审核").await;

    // The teacher's card, pressed by the contact (as a forwarded card would be): refused.
    let Person::DingTalk(teacher_user) = &teacher else {
        unreachable!()
    };
    let Person::DingTalk(contact_user) = &contact else {
        unreachable!()
    };
    let (card, id): (Sent, String) = teacher_user.button("✅ 同意");
    contact_user.press_id(&card, &id);
    h.hears(&contact, "此按钮不适用于您").await;
    assert_eq!(crate::support::approvals(&h.app, 1).await, 0);
    teacher.press("✅ 同意");
    h.settle().await;
    assert_eq!(crate::support::approvals(&h.app, 1).await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_stops_the_start_and_is_never_printed() {
    let db = TestDb::new().await;
    let ding = FakeDingTalk::start().await.unwrap();
    let _app = process_app(&db, &dingtalk_config(&ding)).await;
    let out = run_on_dingtalk(&db)
        .env("DINGTALK_CLIENT_SECRET", "a-wrong-secret-never-printed")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("DingTalk did not accept the app's keys"),
        "{said}"
    );
    assert!(!said.contains("a-wrong-secret-never-printed"), "{said}");
    ding.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sheet_larger_than_the_bot_reads_is_refused_without_being_read_whole() {
    let mut h = Harness::start_on(Platform::Dingtalk, |_| {}).await;
    h.sample_city().await;
    let admin = h
        .person(Role::CityAdmin, sample::CITY_CODE, None, "周主任")
        .await;
    let Person::DingTalk(user) = &admin else {
        unreachable!()
    };
    // DingTalk's message does not say a file's size; its download does, and is stopped there.
    let size = 60 * 1024 * 1024;
    user.send_big_file("报名名单.xlsx", size);
    let said = h.hears(&admin, "机器人只能下载 20 MB 以内的文件").await;
    assert!(said.contains("这个文件约 60 MB"), "{said}");
    let ding = h.ding.clone().unwrap();
    assert!(
        ding.bytes_served() < 22 * 1024 * 1024,
        "{} bytes were read of {size}",
        ding.bytes_served()
    );
    h.stop().await;
}

/// A province's two bureaus, each with its own internal app, on one database: each process is
/// checked against its own app's secret, and each answers its own people only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_one_database_each_answer_their_own_people() {
    let mut h = Harness::start_on(Platform::Dingtalk, |_| {}).await;
    h.sample_city().await;
    let ding = h.ding.clone().unwrap();
    let (second, secret) = ("dingsecondbureau", "second-secret");
    ding.app(second, secret);
    // The second bureau's process: an app of its own on the same database, its own keys.
    let store = exam_review_bot::store::Db::open(&h.db.url).await.unwrap();
    let config = (*h.app.config).clone();
    let clock = std::sync::Arc::new(h.clock.clone());
    let mut other = App::new(store, config, clock).unwrap();
    other.pace = h.app.pace;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let keys = exam_review_bot::dingtalk::Keys::new(second, secret);
    let runner = tokio::spawn(exam_review_bot::dingtalk::run(other, keys, stop_rx, None));

    let first = h
        .person(
            Role::SchoolContact,
            &sample::school_code(0),
            None,
            "一中 联系人",
        )
        .await;
    let theirs = ding.user_of(second, "bureau2-officer", "二局 科长");
    let link = h
        .app
        .invite(
            Role::DistrictOfficer,
            &sample::district_code(1),
            "二局 科长",
            None,
        )
        .await
        .unwrap();
    theirs.send(&link);
    let welcome = ding
        .expect("bureau2-officer", "绑定成功", h.patience)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(welcome.contains("二局 科长"), "{welcome}");
    theirs.send("/whoami");
    ding.expect("bureau2-officer", "县区", h.patience)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    first.send("/whoami");
    h.hears(&first, "学校联系人").await;
    // Each person was answered by the robot of their own app: the fake refuses a robot
    // writing to another app's people, so nothing went astray and nothing was refused.
    h.settle().await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (astray,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox WHERE status NOT IN ('sent', 'pending', 'sending')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        astray, 0,
        "no message failed or found its person unreachable"
    );
    drop(conn);
    stop.send(true).ok();
    runner.await.unwrap().unwrap();
    h.stop().await;
}
