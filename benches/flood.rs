//! Flood benchmark (issue: trust boundary). Run with
//!
//!     cargo bench --bench flood
//!
//! 20 unbound accounts send 300 messages each (6,000 updates, pushed at once, so they sit in
//! Telegram's queue ahead of everything that follows) while a school contact files a review
//! through the whole dialogue. The real bot runs against the fake Bot API on SQLite (the
//! single-writer backend, the harder case), with the configuration's default limits.
//!
//! Reported, per round (BENCH_ROUNDS, default 5, each with new strangers and a new candidate):
//! the latency of each of the contact's replies (from pushing the contact's update to Telegram
//! recording the bot's answer), the 班主任's card (from pushing the 提交 press to the card
//! arriving), and how many messages the strangers got.

#[path = "support/city.rs"]
mod city;
use chrono::TimeZone;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::ManualClock;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::{Db, candidates};
use fake_telegram::{FakeTelegram, FakeUser};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STRANGERS: i64 = 20;
const MESSAGES_EACH: usize = 300;

/// Waits for the first message to `chat` after index `from` that contains `needle`; returns
/// when Telegram recorded it and the index after it.
async fn arrival(fake: &FakeTelegram, chat: i64, from: usize, needle: &str) -> (Instant, usize) {
    let limit = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some((i, m)) = fake
            .messages_to(chat)
            .into_iter()
            .enumerate()
            .skip(from)
            .find(|(_, m)| m.visible_text().contains(needle))
        {
            return (m.at, i + 1);
        }
        assert!(
            Instant::now() < limit,
            "no {needle:?}:\n{}",
            fake.transcript(chat)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn bind(app: &App, user: i64, role: Role, unit: &str, class: Option<&str>) {
    let link = app.invite(role, unit, "某老师", class).await.unwrap();
    app.start(user, user, Some(link.rsplit('=').next().unwrap()))
        .await
        .unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("flood.db").display());
    let config = city::city_file_config(&url);
    let clock = ManualClock::new(
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2023, 4, 29, 10, 0, 0)
            .unwrap()
            .to_utc(),
    );
    let app = App::new(Db::open(&url).await.unwrap(), config, Arc::new(clock)).unwrap();
    sample::load_city(&app, dir.path(), 10, 40, 2000, 9)
        .await
        .unwrap();
    let school = sample::school_code(0);
    let pupils = {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let season = app.cli_season().await.unwrap().unwrap();
        candidates::of_school(&mut conn, season.id, &school)
            .await
            .unwrap()
    };
    let contact_id = 1_000_000;
    bind(&app, contact_id, Role::SchoolContact, &school, None).await;
    let classes: std::collections::BTreeSet<&str> =
        pupils.iter().map(|p| p.class_name.as_str()).collect();
    let teacher_of =
        |class: &str| 2_000_000 + classes.iter().position(|c| *c == class).unwrap() as i64;
    for class in &classes {
        bind(
            &app,
            teacher_of(class),
            Role::HomeroomTeacher,
            &school,
            Some(class),
        )
        .await;
    }
    app.publish(Actor::Cli, None).await.unwrap();

    let fake = FakeTelegram::start().await.unwrap();
    let bot = exam_review_bot::telegram::build_bot(
        &app,
        "1:flood",
        Some(fake.api_url().parse().unwrap()),
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(exam_review_bot::telegram::run(app.clone(), bot, stop_rx));
    let contact = fake.user(contact_id, "联系人");

    println!(
        "flood: {STRANGERS} unbound accounts × {MESSAGES_EACH} messages, SQLite, {rounds} rounds"
    );
    let mut worst_reply = Duration::ZERO;
    let mut worst_card = Duration::ZERO;
    for (round, pupil) in pupils.iter().take(rounds).enumerate() {
        let teacher = teacher_of(&pupil.class_name);
        let strangers: Vec<FakeUser> = (0..STRANGERS)
            .map(|i| fake.user(90_000 + round as i64 * 100 + i, "路人"))
            .collect();
        let mut from = fake.messages_to(contact_id).len();
        let teacher_from = fake.messages_to(teacher).len();
        let mut pushed = Instant::now();
        for n in 0..MESSAGES_EACH {
            for s in &strangers {
                s.send(&format!("刷屏 {n}"));
            }
            if n == 10 {
                pushed = Instant::now();
                contact.send("/review");
            }
        }
        let mut replies = Vec::new();
        let steps: [(&str, Option<&str>); 6] = [
            ("准考证号", Some(pupil.exam_no.as_str())),
            ("的照片或 PDF", Some("")),
            ("申请理由", Some("主实验漏评")),
            ("联系方式", Some("13800001234")),
            ("请核对申请内容", None),
            ("已提交", None),
        ];
        let mut submitted = pushed;
        for (needle, answer) in steps {
            let (at, next) = arrival(&fake, contact_id, from, needle).await;
            replies.push(at.saturating_duration_since(pushed));
            from = next;
            pushed = Instant::now();
            match answer {
                // The signed form's photo.
                Some("") => contact.send_photo("signed-form"),
                Some(text) => contact.send(text),
                None if needle == "请核对申请内容" => {
                    submitted = Instant::now();
                    contact.press("✅ 提交");
                }
                None => {}
            }
        }
        let (card_at, _) = arrival(&fake, teacher, teacher_from, "待您审核").await;
        let card = card_at.saturating_duration_since(submitted);
        let drained = fake
            .wait_until(Duration::from_secs(600), |f| f.pending_updates() == 0)
            .await;
        assert!(drained, "the flood was never drained");
        let to_strangers: Vec<usize> = strangers
            .iter()
            .map(|s| fake.messages_to(s.id).len())
            .collect();
        let slowest = replies.iter().max().copied().unwrap_or_default();
        worst_reply = worst_reply.max(slowest);
        worst_card = worst_card.max(card);
        println!(
            "round {}: contact replies {} ms (slowest {} ms); 班主任 card {} ms; \
             messages to each stranger: min {} max {}",
            round + 1,
            replies
                .iter()
                .map(|d| d.as_millis().to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            slowest.as_millis(),
            card.as_millis(),
            to_strangers.iter().min().unwrap(),
            to_strangers.iter().max().unwrap(),
        );
    }
    println!(
        "worst over {rounds} rounds: contact reply {} ms, 班主任 card {} ms (target: 5,000 ms each)",
        worst_reply.as_millis(),
        worst_card.as_millis()
    );
    stop.send(true).unwrap();
    let _ = runner.await;
    fake.stop();
}
