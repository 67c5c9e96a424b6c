//! The test harness: a fresh database per test (a SQLite file, or a PostgreSQL database when
//! TEST_POSTGRES_URL is set), the real app and bot running in-process against the fake Bot API,
//! and a controlled clock.

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use exam_review_bot::app::App;
use exam_review_bot::clock::{ManualClock, Pace};
use exam_review_bot::config::Config;
pub use exam_review_bot::config::Platform;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::candidates::{self, Candidate};
use exam_review_bot::store::{Db, outbox};
use fake_telegram::{FakeTelegram, FakeUser};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// How much faster than the wall clock delivery's clock runs in the stories (Telegram's one
/// message a second to a chat takes a twentieth of a second), as the offline demo's does.
pub const PACE: u32 = 20;

pub const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

pub fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    SHANGHAI
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .to_utc()
}

/// A database of its own for one test; dropped PostgreSQL databases are removed.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match std::env::var("TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin) => {
                let name = format!("erb_test_{}", rand_suffix());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("TEST_POSTGRES_URL is set but PostgreSQL is not reachable: {e}")
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDb {
                    url: format!("{base}/{name}"),
                    dir,
                    pg_admin: Some((admin.clone(), name)),
                }
            }
            None => TestDb {
                url: format!("sqlite://{}", dir.path().join("test.db").display()),
                dir,
                pg_admin: None,
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg_admin.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Drop runs outside async; a short-lived runtime of its own removes the database.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await
                            .ok();
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

fn rand_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| (b'a' + rng.random_range(0..26)) as char)
        .collect()
}

/// Settings for tests: short time-outs and back-offs so that retries happen within seconds.
/// A city whose 实施细则 keep the route before the documents' one (config/city-wide-group.toml:
/// a district level, a veto at every level, one city-wide group, no 复审): its `[review]`
/// table, read from the file a city would copy.
pub fn city_wide_group(config: &mut Config) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/city-wide-group.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let city: Config = toml::from_str(&text).unwrap();
    config.review = city.review;
}

pub fn test_config(url: &str) -> Config {
    let mut config = Config {
        database_url: url.to_string(),
        bot_username: Some(fake_telegram::BOT_USERNAME.into()),
        // The scores come as one city file here, not as county batches.
        entry: exam_review_bot::config::Entry {
            mode: exam_review_bot::config::EntryMode::CityFile,
            ..Default::default()
        },
        ..Config::default()
    };
    config.telegram.polling_timeout_secs = 1;
    config.telegram.request_timeout_secs = 3;
    config.delivery.retry_base_ms = 200;
    config
}

/// The sample city of the tests: 2 districts, 5 schools (the last city-direct), 250 candidates.
pub const DISTRICTS: usize = 2;
pub const SCHOOLS: usize = 5;
pub const CANDIDATES: usize = 250;
/// The province `province_above_sample` puts above the sample city.
pub const PROVINCE: &str = "P41";

pub struct Harness {
    pub db: TestDb,
    pub app: App,
    pub clock: ManualClock,
    pub fake: FakeTelegram,
    /// The fake DingTalk, when the bot runs on DingTalk (`start_on`); the fake Telegram is
    /// then there but unused.
    pub ding: Option<fake_dingtalk::FakeDingTalk>,
    stop: watch::Sender<bool>,
    runner: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    next_user: i64,
    /// How long `expect` and `wait_for_text` wait for a message (longer when the fake has a
    /// bad day: several getUpdates failing running can keep a press unheard for tens of
    /// seconds).
    pub patience: Duration,
}

/// The bot's log goes into the output of the story whose runtime wrote it, shown when the story
/// fails: what the bot did, and what it could not do, beside the chat's transcript.
/// `RUST_LOG` chooses what is kept (by default the bot's own information and everyone's
/// warnings).
fn log_into_the_tests_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,exam_review_bot=info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

impl Harness {
    /// A running bot at 2023-04-29 10:00 Beijing time (the day after the last exam day).
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> Harness {
        Self::start_paced(tune, PACE).await
    }

    /// A running bot whose delivery keeps Telegram's own seconds: for the stories about
    /// Telegram's limits themselves, which count sends per real second.
    pub async fn start_in_real_time() -> Harness {
        Self::start_paced(|_| {}, 1).await
    }

    /// Delivery's clock runs `scale` times faster than the wall clock, and the fake Telegram
    /// refuses what goes over its limits on that clock, as in the offline demo.
    async fn start_paced(tune: impl FnOnce(&mut Config), scale: u32) -> Harness {
        Self::start_paced_on(tune, scale, Platform::Telegram).await
    }

    /// A running bot on `platform`'s messenger.
    pub async fn start_on(platform: Platform, tune: impl FnOnce(&mut Config)) -> Harness {
        Self::start_paced_on(tune, PACE, platform).await
    }

    async fn start_paced_on(
        tune: impl FnOnce(&mut Config),
        scale: u32,
        platform: Platform,
    ) -> Harness {
        log_into_the_tests_output();
        let db = TestDb::new().await;
        let mut config = test_config(&db.url);
        let ding = match platform {
            Platform::Telegram => None,
            Platform::Dingtalk => Some(fake_dingtalk::FakeDingTalk::start().await.unwrap()),
        };
        if let Some(ding) = &ding {
            config.platform = Platform::Dingtalk;
            config.dingtalk.api_url = ding.api_url().to_string();
            config.dingtalk.oapi_url = ding.api_url().to_string();
            config.dingtalk.request_timeout_secs = 3;
        }
        tune(&mut config);
        let clock = ManualClock::new(shanghai(2023, 4, 29, 10, 0));
        let store = Db::open(&config.database_url).await.unwrap();
        let mut app = App::new(store, config, Arc::new(clock.clone())).unwrap();
        app.pace = Pace::faster(scale);
        let fake = FakeTelegram::start().await.unwrap();
        if scale > 1 {
            fake.enforce_limits(scale);
        }
        let (stop, _) = watch::channel(false);
        let mut h = Harness {
            db,
            app,
            clock,
            fake,
            ding,
            stop,
            runner: None,
            next_user: 1000,
            patience: Duration::from_secs(30),
        };
        h.start_bot();
        h
    }

    /// Starts the bot on the harness's messenger, with the harness's app.
    fn start_bot(&mut self) {
        let (stop, stop_rx) = watch::channel(false);
        self.stop = stop;
        let app = self.app.clone();
        self.runner = Some(match &self.ding {
            None => {
                let bot = exam_review_bot::telegram::build_bot(
                    &app,
                    "123:test-token",
                    Some(self.fake.api_url().parse().unwrap()),
                );
                tokio::spawn(exam_review_bot::telegram::run(app, bot, stop_rx))
            }
            Some(_) => {
                let keys = exam_review_bot::dingtalk::Keys::new(
                    fake_dingtalk::CLIENT_ID,
                    fake_dingtalk::CLIENT_SECRET,
                );
                tokio::spawn(exam_review_bot::dingtalk::run(app, keys, stop_rx, None))
            }
        });
    }

    /// Stops the bot and starts a fresh one on the same database, as a restarted process would.
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    /// Restarts under a changed configuration (a city editing its settings mid-season).
    pub async fn restart_with(&mut self, tune: impl FnOnce(&mut Config)) {
        self.stop.send(true).ok();
        if let Some(r) = self.runner.take() {
            r.await.unwrap().unwrap();
        }
        let store = Db::open(&self.db.url).await.unwrap();
        let mut config = (*self.app.config).clone();
        tune(&mut config);
        let pace = self.app.pace;
        self.app = App::new(store, config, Arc::new(self.clock.clone())).unwrap();
        self.app.pace = pace;
        self.start_bot();
    }

    /// Waits for the next message to `user` (after the ones already read) that contains
    /// `needle`, and returns its visible text.
    pub async fn expect(&self, user: &FakeUser, needle: &str) -> String {
        self.fake
            .expect(user.id, needle, self.patience)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Someone joins with a role that needs a class (homeroom teachers).
    pub async fn join_class(
        &mut self,
        role: Role,
        unit: &str,
        class: &str,
        name: &str,
    ) -> FakeUser {
        self.next_user += 1;
        let user = self.fake.user(self.next_user, name);
        let link = self
            .app
            .invite(role, unit, name, Some(class))
            .await
            .unwrap();
        let code = link.rsplit('=').next().unwrap().to_string();
        user.send(&format!("/start {code}"));
        self.wait_for_text(&user, "绑定成功").await;
        user
    }

    /// A number for the next person a story brings in.
    pub fn next_person(&mut self) -> i64 {
        self.next_user += 1;
        self.next_user
    }

    pub fn dir(&self) -> &Path {
        self.db.dir.path()
    }

    /// The current season's candidates of a school, as stored.
    pub async fn school_candidates(&self, school: &str) -> Vec<Candidate> {
        let mut conn = self.app.db.pool.acquire().await.unwrap();
        let season = self.app.cli_season().await.unwrap().unwrap();
        candidates::of_school(&mut conn, season.id, school)
            .await
            .unwrap()
    }

    /// Units, the 2023 season and the scores of the sample city.
    pub async fn sample_city(&self) {
        sample::load_city(&self.app, self.dir(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
            .await
            .unwrap();
    }

    /// A 省 above the sample city: its tree becomes one city of a province.
    pub async fn province_above_sample(&self) {
        let file = format!(
            "{}\n{PROVINCE},河南省,省,,\n{},{},市,{PROVINCE},\n",
            sample::UNITS_HEADER.join(","),
            sample::CITY_CODE,
            sample::CITY_NAME
        );
        let path = self.write("province.csv", file.as_bytes());
        self.app.import_units(&path).await.unwrap();
    }

    /// Waits until the bot is idle, then checks that a button press was answered with an alert
    /// saying `needle` (every answer is shown when none was).
    pub async fn expect_alert(&self, needle: &str) {
        self.settle().await;
        let answers = self.fake.callback_answers();
        assert!(
            answers
                .iter()
                .any(|(_, text, alert)| *alert && text.contains(needle)),
            "no alert saying {needle:?}: {answers:?}"
        );
    }

    /// The cells of a workbook's first sheet (from A1), row by row, as text.
    pub fn cells(&self, bytes: &[u8]) -> Vec<Vec<String>> {
        use calamine::Reader;
        let path = self.write("cells.xlsx", bytes);
        let mut book = calamine::open_workbook_auto(&path).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(sheet.start(), Some((0, 0)), "the sheet starts at A1");
        sheet
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Someone receives an invite for `role` in `unit` and presses Start; returns them once the
    /// bot has welcomed them.
    pub async fn join(&mut self, role: Role, unit: &str, name: &str) -> FakeUser {
        self.next_user += 1;
        let user = self.fake.user(self.next_user, name);
        let link = self.app.invite(role, unit, name, None).await.unwrap();
        let code = link.rsplit('=').next().unwrap().to_string();
        user.send(&format!("/start {code}"));
        self.wait_for_text(&user, "绑定成功").await;
        user
    }

    /// Waits until `user` has received a message containing `needle`; fails the test with the
    /// chat's transcript otherwise.
    pub async fn wait_for_text(&self, user: &FakeUser, needle: &str) {
        let id = user.id;
        let found = self
            .fake
            .wait_until(self.patience, |f| {
                f.messages_to(id)
                    .iter()
                    .any(|m| m.visible_text().contains(needle))
            })
            .await;
        assert!(
            found,
            "chat {id} never showed {needle:?}:\n{}",
            self.fake.transcript(id)
        );
        self.fake.skip_read(id);
    }

    /// Runs a sweep at `when`, as the ticker would. On PostgreSQL a sweep the ticker is running
    /// at that moment makes this one skip; it is run again once the ticker's has ended, so that
    /// what the ticker queued is committed when this returns.
    pub async fn sweep(&self, when: DateTime<Utc>) -> exam_review_bot::app::sweep::SweepReport {
        loop {
            let report = self.app.sweep(when).await.unwrap();
            if !report.skipped {
                return report;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Waits until the bot has taken every update, answered each (the app's count of updates
    /// in hand is nought) and delivered every queued message. Asked again after each call
    /// the fake answers, and at least every 50 ms for what follows the last one (delivery
    /// marks a message sent after Telegram took it).
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let in_hand = self.app.counters.updates_in_hand.load(Ordering::Relaxed);
            let frames = self.ding.as_ref().map_or(0, |d| d.pending_frames());
            if self.fake.pending_updates() == 0 && frames == 0 && in_hand == 0 {
                let mut conn = self.app.db.pool.acquire().await.unwrap();
                if outbox::open_count(&mut conn).await.unwrap() == 0 {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not settle within 60 s"
            );
            match &self.ding {
                Some(ding) => ding.next_answer(Duration::from_millis(50)).await,
                None => self.fake.next_answer(Duration::from_millis(50)).await,
            }
        }
    }

    pub async fn stop(mut self) {
        self.stop.send(true).ok();
        if let Some(r) = self.runner.take() {
            r.await.unwrap().unwrap();
        }
        self.fake.stop();
        if let Some(ding) = &self.ding {
            ding.stop();
        }
    }
}

/// Path of the real binary, built by cargo for integration tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_exam-review-bot")
}

/// A request for `pupil` filed by user 1, at the first level.
pub async fn filed_by_user_1(h: &Harness, pupil: &Candidate) -> i64 {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season_id = h.app.cli_season().await.unwrap().unwrap().id;
    exam_review_bot::store::reviews::insert(
        &mut conn,
        &exam_review_bot::store::reviews::NewRequest {
            season_id,
            candidate_id: pupil.id,
            school_code: &pupil.school_code,
            filer_user_id: 1,
            filer_chat_id: 1,
            filer_name: "申请人",
            reason: "漏评",
            contact: "13800001234",
            step: 0,
            original_score: pupil.score,
            signed_form: None,
            route: &serde_json::to_string(&h.app.config.review_route(sample::CITY_CODE)).unwrap(),
            kind: "review",
            details: None,
        },
        exam_review_bot::clock::Clock::now(&h.clock),
    )
    .await
    .unwrap()
    .unwrap()
}

/// How many approvals a request has had, every round.
pub async fn approvals(app: &App, id: i64) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM review_events WHERE request_id = $1 AND action = 'approve'",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    n
}

/// A passphrase or password as a person types it.
pub fn secret(text: &str) -> age::secrecy::SecretString {
    age::secrecy::SecretString::from(text.to_string())
}
