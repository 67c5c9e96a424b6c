//! Telegram pushes back (429, 5xx, time-outs, blocked chats); every notice still arrives once,
//! never early, never above the limits.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_telegram::{FakeUser, Fault};
use std::time::Duration;

async fn contacts_for_all_schools(h: &mut Harness) -> Vec<FakeUser> {
    let mut out = Vec::new();
    for s in 0..SCHOOLS {
        out.push(
            h.join(
                Role::SchoolContact,
                &sample::school_code(s),
                &format!("联系人{s}"),
            )
            .await,
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_wait_out_429_retry_after_and_all_arrive() {
    let mut h = Harness::start_in_real_time().await;
    h.sample_city().await;
    let contacts = contacts_for_all_schools(&mut h).await;
    // Telegram answers the first notice to three schools with 429, retry after 1 s.
    for c in &contacts[..3] {
        h.fake
            .inject(Some("sendDocument"), Some(c.id), 1, Fault::RetryAfter(1));
    }
    h.app.publish(Actor::Cli, None).await.unwrap();
    h.settle().await;

    let calls = h.fake.calls();
    for c in &contacts {
        let docs: Vec<_> = h
            .fake
            .messages_to(c.id)
            .into_iter()
            .filter(|m| m.document.is_some())
            .collect();
        assert_eq!(docs.len(), 1, "chat {}", c.id);
    }
    for c in &contacts[..3] {
        let refused = calls
            .iter()
            .find(|k| k.chat_id == Some(c.id) && k.status == 429)
            .expect("the 429 was served");
        let delivered = h
            .fake
            .messages_to(c.id)
            .into_iter()
            .find(|m| m.document.is_some())
            .unwrap();
        assert!(
            delivered.at >= refused.at + Duration::from_secs(1),
            "chat {} was sent to {:?} after a 429 asking for 1 s",
            c.id,
            delivered.at - refused.at
        );
    }
    assert_within_limits(&h);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_time_outs_are_retried_and_blocked_chats_reported() {
    let mut h = Harness::start_in_real_time().await;
    h.sample_city().await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let contacts = contacts_for_all_schools(&mut h).await;
    h.fake.inject(
        Some("sendDocument"),
        Some(contacts[0].id),
        1,
        Fault::ServerError,
    );
    // Longer than the client's 3 s time-out: the request is abandoned and tried again.
    h.fake.inject(
        Some("sendDocument"),
        Some(contacts[1].id),
        1,
        Fault::Timeout(Duration::from_secs(5)),
    );
    h.fake.inject(
        Some("sendDocument"),
        Some(contacts[2].id),
        1,
        Fault::Blocked,
    );
    h.app.publish(Actor::Cli, None).await.unwrap();
    h.wait_for_text(&admin, "成绩通知发送完毕").await;
    h.settle().await;

    for c in [&contacts[0], &contacts[1], &contacts[3], &contacts[4]] {
        let docs = h
            .fake
            .messages_to(c.id)
            .into_iter()
            .filter(|m| m.document.is_some())
            .count();
        assert_eq!(docs, 1, "chat {}", c.id);
    }
    assert_eq!(
        h.fake.messages_to(contacts[2].id).len(),
        1,
        "only the welcome reached the blocked chat"
    );
    let admin_saw = h.fake.transcript(admin.id);
    assert!(
        admin_saw.contains("联系人2") && admin_saw.contains("不可达"),
        "{admin_saw}"
    );
    assert!(admin_saw.contains("成功 4 条，失败 1 条"), "{admin_saw}");

    // Later messages to the blocked chat are not attempted; writing to the bot again heals it.
    let calls_before = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.chat_id == Some(contacts[2].id))
        .count();
    contacts[2].send("/start");
    h.settle().await;
    let calls_after = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.chat_id == Some(contacts[2].id))
        .count();
    assert_eq!(calls_after, calls_before + 1, "the /start reply");
    h.stop().await;
}

/// No more than 30 sends in any second overall, and no chat more than once a second.
pub fn assert_within_limits(h: &Harness) {
    let sends: Vec<_> = h
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method.starts_with("send") && c.status == 200)
        .collect();
    for (i, a) in sends.iter().enumerate() {
        let in_window = sends[i..]
            .iter()
            .take_while(|b| b.at < a.at + Duration::from_secs(1))
            .count();
        assert!(in_window <= 30, "{in_window} sends within one second");
        let same_chat = sends[i + 1..].iter().find(|b| b.chat_id == a.chat_id);
        if let Some(b) = same_chat {
            assert!(
                b.at >= a.at + Duration::from_millis(950),
                "chat {:?} twice within a second",
                a.chat_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_does_not_wait_behind_a_queue_of_notices() {
    let h = Harness::start_in_real_time().await;
    // Two hundred notices to two hundred chats are queued: seven seconds at Telegram's rate.
    {
        let mut tx = h.app.db.begin().await.unwrap();
        for i in 0..200 {
            let notice = exam_review_bot::store::outbox::Outgoing {
                chat_id: 900_000 + i,
                body: format!("排队的通知 {i}"),
                ..Default::default()
            };
            exam_review_bot::store::outbox::enqueue(&mut tx, &notice, h.app.clock.now())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        h.app.outbox_wake.notify_one();
    }
    // Someone opens the bot meanwhile; the answer comes within the next few sends.
    let visitor = h.fake.user(800_001, "路人");
    visitor.send("/start");
    h.expect(&visitor, "仅供中招实验考试工作人员使用").await;
    let sent = h.fake.all_sent();
    let reply_at = sent.iter().position(|m| m.chat_id == visitor.id).unwrap();
    assert!(
        reply_at < 40,
        "the reply went out as message number {reply_at}, behind the queued notices"
    );
    h.settle().await;
    assert_eq!(h.fake.all_sent().len(), 201, "every notice still goes out");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_waiting_together_go_out_as_one_message_and_cards_stay_their_own() {
    use exam_review_bot::store::outbox::{self, Outgoing};
    let h = Harness::start_in_real_time().await;
    let filer = 4242;
    let notice = |text: &str| Outgoing {
        chat_id: filer,
        body: text.into(),
        mergeable: true,
        ..Outgoing::default()
    };
    let card = Outgoing {
        chat_id: filer,
        body: "审核卡片".into(),
        buttons: Some(exam_review_bot::buttons::Buttons::rows(vec![vec![
            exam_review_bot::buttons::button("✅".into(), "x".into()),
        ]])),
        mergeable: true,
        ..Outgoing::default()
    };
    // Four progress notices and a card, queued while the filer's chat was busy.
    {
        let mut tx = h.app.db.begin().await.unwrap();
        let now = chrono::Utc::now();
        for msg in [
            notice("已提交"),
            notice("班主任已同意"),
            card,
            notice("校长已同意"),
        ] {
            outbox::enqueue(&mut tx, &msg, now).await.unwrap();
        }
        outbox::enqueue(&mut tx, &notice("复核小组已受理"), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    h.app.outbox_wake.notify_one();
    h.settle().await;

    let texts: Vec<String> = h
        .fake
        .messages_to(filer)
        .into_iter()
        .map(|m| m.text)
        .collect();
    let together = |a: &str, b: &str| format!("{a}{}{b}", outbox::MERGED_SEPARATOR);
    assert_eq!(
        texts,
        [
            together("已提交", "班主任已同意"),
            "审核卡片".into(),
            together("校长已同意", "复核小组已受理")
        ],
        "the notices before the card in one message, the card alone (its buttons kept), then the rest"
    );
    let card = &h.fake.messages_to(filer)[1];
    assert!(
        card.reply_markup.is_some(),
        "a card is never merged away from its buttons"
    );
    h.stop().await;
}

/// Two instances deliver from one database. Each new notice to a chat is queued the moment the
/// last one went out, so either instance may take it: the chat still gets one a second
/// (Telegram counts per bot, not per process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_keep_a_chats_one_message_a_second_for_notices_queued_after_a_send() {
    use exam_review_bot::app::App;
    use exam_review_bot::clock::SystemClock;
    use exam_review_bot::store::Db;
    use exam_review_bot::store::outbox::{self, Outgoing};
    use fake_telegram::FakeTelegram;
    use std::sync::Arc;

    let db = TestDb::new().await;
    let fake = FakeTelegram::start().await.unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut apps = Vec::new();
    let mut runners = Vec::new();
    for _ in 0..2 {
        let app = App::new(
            Db::open(&db.url).await.unwrap(),
            test_config(&db.url),
            Arc::new(SystemClock),
        )
        .unwrap();
        let bot = exam_review_bot::telegram::build_bot(
            &app,
            "1:test",
            Some(fake.api_url().parse().unwrap()),
        );
        runners.push(tokio::spawn(exam_review_bot::delivery::run(
            app.clone(),
            Arc::new(exam_review_bot::telegram::sender::TelegramSender(bot)),
            exam_review_bot::store::chat_bots::BotScope::deployment(1),
            stop_rx.clone(),
        )));
        apps.push(app);
    }
    const CHAT: i64 = 4242;
    const NOTICES: usize = 8;
    for n in 0..NOTICES {
        // Alternate which instance queues it; both are woken, as a handler wakes its own.
        let app = &apps[n % 2];
        let mut conn = app.db.pool.acquire().await.unwrap();
        let msg = Outgoing {
            chat_id: CHAT,
            body: format!("通知 {n}"),
            ..Outgoing::default()
        };
        outbox::enqueue(&mut conn, &msg, chrono::Utc::now())
            .await
            .unwrap();
        drop(conn);
        for app in &apps {
            app.outbox_wake.notify_one();
        }
        let sent = fake
            .wait_until(Duration::from_secs(10), |f| f.messages_to(CHAT).len() > n)
            .await;
        assert!(sent, "notice {n} was not sent");
    }
    let over = fake.over_limits();
    assert_eq!(over.per_chat, 0, "{over:?}");
    assert_eq!(fake.messages_to(CHAT).len(), NOTICES);
    stop.send(true).unwrap();
    for runner in runners {
        runner.await.unwrap().unwrap();
    }
}
