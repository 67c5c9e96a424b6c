//! The process dies mid-fan-out (SIGKILL, no goodbye) and comes back: every school chat holds
//! exactly one notice.

use crate::support::*;
use exam_review_bot::app::App;
use exam_review_bot::clock::SystemClock;
use exam_review_bot::domain::Role;
use exam_review_bot::fakeapi::FakeTelegram;
use exam_review_bot::sample;
use exam_review_bot::store::{Db, outbox};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const SCHOOL_COUNT: usize = 240;

fn spawn_run(db: &TestDb, fake: &FakeTelegram) -> Child {
    Command::new(binary())
        .arg("run")
        .env("DATABASE_URL", &db.url)
        .env("TELOXIDE_TOKEN", "123:secret-token-never-logged")
        .env("TELOXIDE_API_URL", fake.api_url())
        .env("RUST_LOG", "info")
        .current_dir(db.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_fan_out_and_restarted_every_school_has_exactly_one_notice() {
    let db = TestDb::new().await;
    let mut config = test_config(&db.url);
    config.bot_username = Some("ExamReviewBot".into());
    let app = App::new(
        Db::open(&db.url).await.unwrap(),
        config,
        Arc::new(SystemClock),
    )
    .unwrap();
    let dir = db.dir.path();
    // The bot's own config: short time-outs, and a lease far longer than the test waits, so
    // that on PostgreSQL (no take-back of every lease at start: other instances may be
    // sending) the killed instance's claims come back only because it is known to be dead.
    std::fs::write(
        dir.join("exam-review-bot.toml"),
        "[telegram]\nrequest_timeout_secs = 3\npolling_timeout_secs = 1\n[delivery]\nlease_secs = 600\n",
    )
    .unwrap();
    let units_file = dir.join("units.csv");
    std::fs::write(
        &units_file,
        sample::units_csv(&sample::units(10, SCHOOL_COUNT)),
    )
    .unwrap();
    app.import_units(&units_file).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    app.set_season(2023, today, SHANGHAI, 30).await.unwrap();
    let scores = dir.join("scores.csv");
    std::fs::write(
        &scores,
        sample::scores_csv(SCHOOL_COUNT * 3, SCHOOL_COUNT, 5),
    )
    .unwrap();
    app.import_scores(&scores).await.unwrap();

    // Bind one contact per school, straight through the use case (as /start does).
    let fake = FakeTelegram::start().await.unwrap();
    let mut chats = Vec::new();
    for s in 0..SCHOOL_COUNT {
        let link = app
            .invite(Role::SchoolContact, &sample::school_code(s), "联系人", None)
            .await
            .unwrap();
        let code = link.rsplit('=').next().unwrap();
        let user = 10_000 + s as i64;
        app.start(user, user, Some(code)).await.unwrap();
        chats.push(user);
    }
    app.publish(exam_review_bot::app::Actor::Cli, None)
        .await
        .unwrap();

    let mut bot = spawn_run(&db, &fake);
    let started = fake
        .wait_until(Duration::from_secs(60), |f| f.all_sent().len() >= 40)
        .await;
    assert!(started, "the bot did not start delivering");
    // Freeze Telegram's side so the kill lands while sends are in flight, then kill.
    fake.hold_sends();
    fake.wait_until(Duration::from_secs(30), |f| f.held() >= 8)
        .await;
    bot.kill().unwrap();
    let status = bot.wait().unwrap();
    assert!(!status.success(), "killed, not exited");
    fake.drop_held();
    let before_restart = fake.all_sent().len();
    assert!(
        before_restart < SCHOOL_COUNT,
        "the kill came mid-fan-out ({before_restart} sent)"
    );

    let restarted = std::time::Instant::now();
    let bot = spawn_run(&db, &fake);
    let done = fake
        .wait_until(Duration::from_secs(120), |f| {
            chats.iter().all(|c| !f.messages_to(*c).is_empty())
        })
        .await;
    // A figure for the notes (`-- --nocapture`), never an assertion.
    eprintln!(
        "every school had its notice {:.1} s after the restart ({before_restart} before the kill)",
        restarted.elapsed().as_secs_f64()
    );
    // Give a duplicate, if the restart sent one, the time to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    unsafe_terminate(&bot);
    let output = bot.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(done, "not every school got its notice after the restart");
    for chat in &chats {
        let n = fake.messages_to(*chat).len();
        assert_eq!(n, 1, "chat {chat} holds {n} notices");
    }
    assert!(
        output.status.success(),
        "SIGTERM stops the bot cleanly:\n{log}"
    );
    assert!(
        !log.contains("secret-token"),
        "the token leaked into the log"
    );
    let mut conn = app.db.pool.acquire().await.unwrap();
    assert_eq!(outbox::open_count(&mut conn).await.unwrap(), 0);
}

/// Sends SIGTERM (what a service manager does) through the `kill` command.
fn unsafe_terminate(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}
