//! The real binary as a process: a published city waiting for `run`, and `run` itself.

use crate::support::*;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::SystemClock;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use fake_telegram::FakeTelegram;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// `exam-review-bot run` on the test's database against the fake Telegram, its log piped.
pub fn run_command(db: &TestDb, fake: &FakeTelegram) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("run")
        .env("DATABASE_URL", &db.url)
        .env("TELOXIDE_TOKEN", "123:secret-token-never-logged")
        .env("TELOXIDE_API_URL", fake.api_url())
        .env("RUST_LOG", "info")
        .current_dir(db.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The app on the test's database as the shell's commands see it (wall clock), and the config
/// file `run` will read beside it: short Telegram time-outs, then `extra` TOML.
pub async fn process_app(db: &TestDb, extra: &str) -> App {
    let mut config = test_config(&db.url);
    config.bot_username = Some("ExamReviewBot".into());
    std::fs::write(
        db.dir.path().join("exam-review-bot.toml"),
        format!("[telegram]\nrequest_timeout_secs = 3\npolling_timeout_secs = 1\n{extra}"),
    )
    .unwrap();
    App::new(
        Db::open(&db.url).await.unwrap(),
        config,
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// A city of `schools` schools with one bound contact each (users `first_user`…), its scores
/// published: the notices wait in the outbox for `run`. The bot's own config has short
/// time-outs and a lease far longer than any test waits, so that a dead instance's claims come
/// back only because it is known to be dead.
pub async fn published_city(db: &TestDb, schools: usize, first_user: i64) -> (App, Vec<i64>) {
    let app = process_app(db, "[delivery]\nlease_secs = 600\n").await;
    let dir = db.dir.path();
    let units = dir.join("units.csv");
    std::fs::write(&units, sample::units_csv(&sample::units(5, schools))).unwrap();
    app.import_units(&units).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    app.set_season(2023, today, SHANGHAI, 30).await.unwrap();
    let scores = dir.join("scores.csv");
    std::fs::write(&scores, sample::scores_csv(schools * 2, schools, 5)).unwrap();
    app.import_scores(&scores).await.unwrap();
    // One contact per school, bound straight through the use case (as /start does).
    let mut chats = Vec::new();
    for s in 0..schools {
        let link = app
            .invite(Role::SchoolContact, &sample::school_code(s), "联系人", None)
            .await
            .unwrap();
        let code = link.rsplit('=').next().unwrap();
        let user = first_user + s as i64;
        app.start(user, user, Some(code)).await.unwrap();
        chats.push(user);
    }
    app.publish(Actor::Cli, None).await.unwrap();
    (app, chats)
}
