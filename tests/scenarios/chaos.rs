//! A bad day at Telegram (the fake's chaos mode: 429s, 5xx, time-outs, lost answers, slow
//! answers, repeated and reordered updates) while a city publishes and a school files a review:
//! every expected message arrives, nothing is decided twice, and a message arrives twice only
//! where Telegram delivered it and its answer was lost (the at-least-once window).

use crate::delivery::assert_within_limits;
use crate::review::{file, state_of};
use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::domain::Role;
use exam_review_bot::fakeapi::Chaos;
use exam_review_bot::sample;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Seeds to run (`CHAOS_SEEDS=20` for the long run of RELIABILITY.md); one in `cargo test`.
fn seeds() -> u64 {
    std::env::var("CHAOS_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_season_through_a_bad_day_at_telegram_loses_nothing_and_doubles_only_lost_answers() {
    for seed in 0..seeds() {
        season_through_chaos(seed).await;
    }
}

async fn season_through_chaos(seed: u64) {
    let mut h = Harness::start().await;
    // Longer than the client's 3 s request time-out: a hung call is given up and tried again.
    h.fake
        .chaos(Some(Chaos::bad_day(seed, Duration::from_secs(4))));
    h.sample_city().await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let mut contacts = Vec::new();
    for s in 0..SCHOOLS {
        let code = sample::school_code(s);
        contacts.push(
            h.join(Role::SchoolContact, &code, &format!("联系人{s}"))
                .await,
        );
    }
    let school = sample::school_code(0);
    let pupil = h.school_candidates(&school).await.remove(0);
    let teacher = h
        .join_class(
            Role::HomeroomTeacher,
            &school,
            &pupil.class_name,
            "班主任 王老师",
        )
        .await;
    let principal = h.join(Role::Principal, &school, "校长 李校长").await;

    let published_at = Instant::now();
    h.app.publish(Actor::Cli, None).await.unwrap();
    h.wait_for_text(&admin, "成绩通知发送完毕").await;

    // A school contact files a review through the dialogue; two levels approve by button.
    let id = file(&h, &contacts[0], &pupil.exam_no, "主实验漏评").await;
    h.expect(&teacher, "待您审核").await;
    teacher.press("✅ 同意");
    h.expect(&principal, "待您审核").await;
    principal.press("✅ 同意");
    h.expect(&contacts[0], "校长 李校长 已同意").await;
    h.settle().await;

    let counts = h.fake.chaos_counts();
    println!("chaos seed {seed}: {counts:?}");
    let lost = |chat: i64| counts.lost_sends.get(&chat).copied().unwrap_or(0);

    // Every school has its notice, once unless its answer was lost; none before publication.
    for c in &contacts {
        let docs: Vec<_> = h
            .fake
            .messages_to(c.id)
            .into_iter()
            .filter(|m| m.document.is_some())
            .collect();
        assert!(
            (1..=1 + lost(c.id)).contains(&docs.len()),
            "seed {seed}: chat {} got {} notices, {} answers lost",
            c.id,
            docs.len(),
            lost(c.id)
        );
        assert!(docs.iter().all(|d| d.at >= published_at));
    }
    // Nothing else arrives twice beyond the lost answers of its chat.
    let mut chats: Vec<i64> = contacts.iter().map(|c| c.id).collect();
    chats.extend([admin.id, teacher.id, principal.id]);
    for chat in chats {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for m in h.fake.messages_to(chat) {
            let name = m.document.as_ref().map(|d| d.0.clone()).unwrap_or_default();
            *seen.entry(format!("{name}\n{}", m.text)).or_default() += 1;
        }
        let repeats: usize = seen.values().map(|n| n - 1).sum();
        assert!(
            repeats <= lost(chat),
            "seed {seed}: chat {chat} got {repeats} repeated messages, {} answers lost:\n{}",
            lost(chat),
            h.fake.transcript(chat)
        );
    }
    // Each decision once, though its button press may have come twice.
    assert_eq!(approvals(&h.app, id).await, 2, "seed {seed}");
    assert_ne!(state_of(&h, id).await, "pending", "seed {seed}");
    assert!(counts.too_many > 0 && counts.server_error > 0, "{counts:?}");
    assert_within_limits(&h);
    h.stop().await;
}
