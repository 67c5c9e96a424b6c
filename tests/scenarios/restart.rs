//! The process dies mid-fan-out (SIGKILL, no goodbye) and comes back: every school chat holds
//! exactly one notice.

use crate::processes::{published_city, run_command};
use crate::support::*;
use exam_review_bot::store::outbox;
use fake_telegram::FakeTelegram;
use std::process::{Child, Command};
use std::time::Duration;

const SCHOOL_COUNT: usize = 240;

fn spawn_run(db: &TestDb, fake: &FakeTelegram) -> Child {
    run_command(db, fake).spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_fan_out_and_restarted_every_school_has_exactly_one_notice() {
    let db = TestDb::new().await;
    let (app, chats) = published_city(&db, SCHOOL_COUNT, 10_000).await;
    let fake = FakeTelegram::start().await.unwrap();
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
