//! Webhook mode (`run --webhook URL --listen ADDR`): Telegram pushes updates with a secret; the
//! bot takes only those that show it, records each before answering 200, and handles each once,
//! even when Telegram sends it again or the bot died between recording and handling.

use crate::processes::run_command;
use crate::support::*;
use exam_review_bot::app::App;
use exam_review_bot::clock::SystemClock;
use exam_review_bot::store::{Db, inbox};
use fake_telegram::FakeTelegram;
use serde_json::Value;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "the-webhook-secret_42-of-32-chars";

struct Bot {
    child: Child,
    base: String,
}

impl Bot {
    /// The real binary in webhook mode on a free loopback port.
    async fn start(db: &TestDb, fake: &FakeTelegram) -> Bot {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let child = run_command(db, fake)
            .args(["--webhook", &format!("{base}/telegram")])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("WEBHOOK_SECRET", SECRET)
            .spawn()
            .unwrap();
        let bot = Bot { child, base };
        let ready = fake
            .wait_until(Duration::from_secs(60), |f| f.webhook_url().is_some())
            .await;
        assert!(ready, "the bot did not set its webhook");
        for _ in 0..200 {
            if bot.get("/readyz").await.0 == 200 {
                return bot;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the bot never became ready");
    }

    /// Posts an update as Telegram would, with `secret` in Telegram's header (None: no header).
    async fn post(&self, update: &Value, secret: Option<&str>) -> u16 {
        let mut request = reqwest::Client::new()
            .post(format!("{}/telegram", self.base))
            .header("content-type", "application/json")
            .body(update.to_string());
        if let Some(secret) = secret {
            request = request.header("x-telegram-bot-api-secret-token", secret);
        }
        request.send().await.unwrap().status().as_u16()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        match reqwest::get(format!("{}{path}", self.base)).await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                (status, answer.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    /// SIGTERM, as a service manager stops it; returns its log.
    fn stop(self) -> String {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let output = self.child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(
            output.status.success(),
            "SIGTERM stops the bot cleanly:\n{log}"
        );
        log
    }
}

async fn app_on(db: &TestDb) -> App {
    App::new(
        Db::open(&db.url).await.unwrap(),
        test_config(&db.url),
        Arc::new(SystemClock),
    )
    .unwrap()
}

async fn inbox_rows(app: &App) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_takes_only_updates_with_its_secret_and_handles_each_once() {
    let db = TestDb::new().await;
    let app = app_on(&db).await;
    let fake = FakeTelegram::start().await.unwrap();
    let bot = Bot::start(&db, &fake).await;
    let teacher = fake.user(7001, "王老师");

    // Someone who is not Telegram: no secret, or a wrong one. Nothing is recorded or answered.
    let forged = teacher.text_update("/help");
    assert_eq!(bot.post(&forged, None).await, 401);
    assert_eq!(bot.post(&forged, Some("guess")).await, 401);
    assert_eq!(
        bot.post(&forged, Some(&SECRET[..SECRET.len() - 1])).await,
        401
    );
    assert_eq!(inbox_rows(&app).await, 0);

    // Telegram itself: the fake pushes what the teacher types to the webhook it was given.
    teacher.send("/help");
    let answered = fake
        .wait_until(Duration::from_secs(30), |f| !f.messages_to(7001).is_empty())
        .await;
    assert!(
        answered,
        "the teacher's /help was not answered through the webhook"
    );
    assert_eq!(fake.webhook_acknowledged(), 1);

    // Telegram sends an update again when it heard no 200: it is handled once. (Another
    // person: someone who has not joined gets one answer a minute.)
    let principal = fake.user(7004, "赵校长");
    let again = principal.text_update("/whoami");
    assert_eq!(bot.post(&again, Some(SECRET)).await, 200);
    assert_eq!(bot.post(&again, Some(SECRET)).await, 200);
    let answered = fake
        .wait_until(Duration::from_secs(30), |f| !f.messages_to(7004).is_empty())
        .await;
    assert!(answered, "the posted /whoami was not answered");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        fake.messages_to(7004).len(),
        1,
        "handled once, however often it came"
    );
    assert_eq!(inbox_rows(&app).await, 2);

    // What an operator and the load balancer see.
    assert_eq!(bot.get("/healthz").await.0, 200);
    let (status, metrics) = bot.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("exam_bot_webhook_refused_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("exam_bot_update_seconds_count 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains("exam_bot_inbox_depth 0\n"), "{metrics}");

    let log = bot.stop();
    assert!(
        !log.contains(SECRET),
        "the webhook secret leaked into the log"
    );
    assert!(
        !log.contains("secret-token-never-logged"),
        "the token leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_recorded_before_a_crash_is_handled_once_after_the_restart() {
    let db = TestDb::new().await;
    let app = app_on(&db).await;
    let fake = FakeTelegram::start().await.unwrap();
    let teacher = fake.user(7002, "李老师");
    let update = teacher.text_update("/help");

    // What a process killed after recording the update, and before its handler committed,
    // leaves behind: the update taken by an instance that no longer beats, with a lease far
    // longer than this test waits, and Telegram still without its 200.
    {
        let now = chrono::Utc::now();
        let mut conn = app.db.pool.acquire().await.unwrap();
        let id = update["update_id"].as_i64().unwrap();
        // The bot's token is "123:…": its updates are bot 123's.
        inbox::record(&mut conn, 123, id, 7002, &update.to_string(), now)
            .await
            .unwrap();
        let lease = now + chrono::Duration::hours(1);
        let taken = inbox::claim(&mut conn, 123, id, now, lease, "gone-host:1:0:0").await;
        assert!(taken.unwrap().is_some());
    }

    let bot = Bot::start(&db, &fake).await;
    // Telegram, having heard no 200, sends it again.
    assert_eq!(bot.post(&update, Some(SECRET)).await, 200);
    let answered = fake
        .wait_until(Duration::from_secs(60), |f| !f.messages_to(7002).is_empty())
        .await;
    assert!(
        answered,
        "the update the dead instance had taken was never handled"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.messages_to(7002).len(), 1, "handled once");
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (waiting, _) = inbox::backlog(&mut conn, chrono::Utc::now()).await.unwrap();
    assert_eq!(waiting, 0);
    drop(conn);
    bot.stop();
}

/// Update ids are a bot's own: two bots of one deployment push the same numbers, and each is
/// recorded and handed to its own bot's instances only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_updates_with_the_same_id_are_each_recorded() {
    let db = TestDb::new().await;
    let app = app_on(&db).await;
    let now = chrono::Utc::now();
    let mut conn = app.db.pool.acquire().await.unwrap();
    assert!(
        inbox::record(&mut conn, 123, 1, 7002, "{}", now)
            .await
            .unwrap()
    );
    assert!(
        inbox::record(&mut conn, 456, 1, 7003, "{}", now)
            .await
            .unwrap()
    );
    // Telegram sending bot 456's update again records nothing new.
    assert!(
        !inbox::record(&mut conn, 456, 1, 7003, "{}", now)
            .await
            .unwrap()
    );
    let heads = inbox::due_heads(&mut conn, now, 10, 123).await.unwrap();
    assert_eq!(heads, vec![1]);
    let lease = now + chrono::Duration::minutes(1);
    let body = inbox::claim(&mut conn, 456, 1, now, lease, "me")
        .await
        .unwrap();
    assert_eq!(body.as_deref(), Some("{}"));
    // Bot 456 taking its update left bot 123's waiting.
    assert_eq!(
        inbox::due_heads(&mut conn, now, 10, 123).await.unwrap(),
        vec![1]
    );
    assert!(
        inbox::due_heads(&mut conn, now, 10, 456)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_back_to_polling_removes_the_webhook() {
    let db = TestDb::new().await;
    let fake = FakeTelegram::start().await.unwrap();
    let bot = Bot::start(&db, &fake).await;
    bot.stop();
    assert!(
        fake.webhook_url().is_some(),
        "a stopped instance leaves the webhook to the others"
    );

    // Logging for a collector, this time: one JSON object a line.
    let polling = run_command(&db, &fake)
        .env("LOG_FORMAT", "json")
        .spawn()
        .unwrap();
    let teacher = fake.user(7003, "张老师");
    teacher.send("/help");
    let answered = fake
        .wait_until(Duration::from_secs(60), |f| !f.messages_to(7003).is_empty())
        .await;
    let log = Bot {
        child: polling,
        base: String::new(),
    }
    .stop();
    assert!(fake.webhook_url().is_none(), "polling deleted the webhook");
    assert!(answered, "the bot polls again");
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["fields"].is_object(),
            "{line}"
        );
    }
}

/// The same unreadable message in webhook mode: it is recorded (Telegram hears 200, and does
/// not send it again for ever ahead of everyone else's), skipped when handled, and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_the_bot_cannot_read_is_acknowledged_skipped_and_counted() {
    let db = TestDb::new().await;
    let fake = FakeTelegram::start().await.unwrap();
    let bot = Bot::start(&db, &fake).await;
    let sender = fake.user(7011, "乱码");
    let neighbour = fake.user(7012, "路人");
    sender.send_unreadable();
    neighbour.send("/help");
    let answered = fake
        .wait_until(Duration::from_secs(30), |f| !f.messages_to(7012).is_empty())
        .await;
    assert!(
        answered,
        "the message after the unreadable one was not answered"
    );
    assert_eq!(fake.webhook_acknowledged(), 2);
    let (_, metrics) = bot.get("/metrics").await;
    assert!(
        metrics.contains("exam_bot_updates_skipped_total 1\n"),
        "{metrics}"
    );
    assert!(fake.messages_to(7011).is_empty());
    let log = bot.stop();
    assert!(
        !log.contains("unreadable"),
        "the message's text reached the log"
    );
}
