//! Several `run` instances on one PostgreSQL (long polling): one polls, all deliver. One is
//! killed mid-fan-out (SIGKILL); every school still gets exactly one notice, Telegram's limits
//! hold for the bot as a whole, and the survivor takes over polling.
//!
//! PostgreSQL only: a SQLite file has one process.

use crate::processes::{published_city, run_command};
use crate::support::*;
use exam_review_bot::store::outbox;
use fake_telegram::{FakeTelegram, OverLimits};
use std::process::{Child, Stdio};
use std::time::Duration;

const SCHOOL_COUNT: usize = 150;

fn spawn_run(db: &TestDb, fake: &FakeTelegram) -> Child {
    run_command(db, fake).stderr(Stdio::null()).spawn().unwrap()
}

async fn killed_mid_fan_out(instances: usize) {
    let db = TestDb::new().await;
    if !db.is_postgres() {
        return;
    }
    let (app, chats) = published_city(&db, SCHOOL_COUNT, 20_000).await;
    let fake = FakeTelegram::start().await.unwrap();
    let mut bots: Vec<Child> = (0..instances).map(|_| spawn_run(&db, &fake)).collect();

    let started = fake
        .wait_until(Duration::from_secs(60), |f| f.all_sent().len() >= 30)
        .await;
    assert!(started, "the instances did not start delivering");
    // Freeze Telegram so the kill lands while sends are in flight; the held sends fail.
    fake.hold_sends();
    fake.wait_until(Duration::from_secs(30), |f| f.held() >= 4)
        .await;
    let mut victim = bots.remove(0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    fake.drop_held();
    let before = fake.all_sent().len();
    assert!(
        before < SCHOOL_COUNT,
        "the kill came mid-fan-out ({before} sent)"
    );

    let done = fake
        .wait_until(Duration::from_secs(120), |f| {
            chats.iter().all(|c| !f.messages_to(*c).is_empty())
        })
        .await;
    assert!(
        done,
        "not every school got its notice after one instance was killed"
    );
    // The survivors poll in turn: someone who writes now is answered.
    let late = fake.user(29_999, "迟到的老师");
    late.send("/help");
    let answered = fake
        .wait_until(Duration::from_secs(30), |f| {
            !f.messages_to(29_999).is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for mut bot in bots {
        bot.kill().unwrap();
        bot.wait().unwrap();
    }
    assert!(answered, "nobody polls after the poller was killed");
    for chat in &chats {
        let n = fake.messages_to(*chat).len();
        assert_eq!(n, 1, "chat {chat} holds {n} notices");
    }
    assert_eq!(
        fake.over_limits(),
        OverLimits::default(),
        "{instances} instances together kept Telegram's limits"
    );
    assert_eq!(
        fake.poll_conflicts(),
        0,
        "only one instance polled at a time"
    );
    let mut conn = app.db.pool.acquire().await.unwrap();
    assert_eq!(outbox::open_count(&mut conn).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_killed_every_school_has_one_notice_within_telegrams_limits() {
    killed_mid_fan_out(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_one_killed_every_school_has_one_notice_within_telegrams_limits() {
    killed_mid_fan_out(3).await;
}
