//! Batch cards: Telegram sends one message a second to a chat,
//! so someone with many cards waiting gets them as one message, a page at a time, with each
//! card's own buttons and 本页全部同意, instead of a card each.

use crate::cast::{Cast, cast_with, file, state_of};
use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::domain::Role;
use exam_review_bot::domain::stage::{Choice, Stage};
use exam_review_bot::sample;
use fake_telegram::{FakeUser, Sent};

/// A batch card, with cards on it or done.
fn is_batch_card(m: &Sent) -> bool {
    m.text.contains("份待您处理") || m.text.contains("都已处理")
}

/// The newest message of the chat that shows the batch card.
fn batch_card(h: &Harness, user: &FakeUser) -> Sent {
    h.fake
        .messages_to(user.id)
        .into_iter()
        .rev()
        .find(is_batch_card)
        .unwrap_or_else(|| panic!("no batch card:\n{}", h.fake.transcript(user.id)))
}

fn shows(card: &Sent, id: i64) -> bool {
    card.visible_text().contains(&format!("复核申请 #{id}（"))
}

fn answers_containing(h: &Harness, needle: &str) -> usize {
    h.fake
        .callback_answers()
        .iter()
        .filter(|(_, text, _)| text.contains(needle))
        .count()
}

/// The sample city, published; school 0, its first class and `n` of that class's pupils.
async fn published_class(
    h: &Harness,
    n: usize,
) -> (
    String,
    String,
    Vec<exam_review_bot::store::candidates::Candidate>,
) {
    h.sample_city().await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    let school = sample::school_code(0);
    let everyone = h.school_candidates(&school).await;
    let class = everyone[0].class_name.clone();
    let pupils: Vec<_> = everyone
        .into_iter()
        .filter(|c| c.class_name == class)
        .take(n)
        .collect();
    assert_eq!(pupils.len(), n, "the sample class has {n} pupils");
    (school, class, pupils)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_with_seven_requests_waiting_gets_one_batch_card_and_works_through_it() {
    let mut h = Harness::start().await;
    let (school, class, pupils) = published_class(&h, 7).await;
    let mut ids = Vec::new();
    for pupil in &pupils {
        ids.push(filed_by_user_1(&h, pupil).await);
    }
    // The class's 班主任 joins after the seven were filed: their cards all wait at once.
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &class, "班主任 王老师")
        .await;
    h.settle().await;

    // One message, not seven cards: the oldest three in full, each button marked with its
    // request's number.
    let sent = h.fake.messages_to(teacher.id);
    let cards = sent
        .iter()
        .filter(|m| m.buttons().iter().any(|(_, d)| d.starts_with("rv:")))
        .count();
    assert_eq!(cards, 1, "{}", h.fake.transcript(teacher.id));
    let list = batch_card(&h, &teacher);
    let text = list.visible_text();
    assert!(text.contains("7 份待您处理（第 1–3 份）"), "{text}");
    for id in &ids[..3] {
        assert!(shows(&list, *id), "#{id} on page 1:\n{text}");
        let own = (format!("#{id} ✅ 同意"), format!("rv:{id}:s0r1:a"));
        assert!(list.buttons().contains(&own), "{:?}", list.buttons());
    }
    for id in &ids[3..] {
        assert!(!shows(&list, *id), "#{id} is not on page 1:\n{text}");
    }

    // A crafted press on a card no page has shown moves nothing.
    teacher.press_data(&list, &format!("rv:{}:s0r1:a", ids[6]));
    h.fake
        .wait_until(std::time::Duration::from_secs(30), |f| {
            !f.callback_answers().is_empty()
        })
        .await;
    h.settle().await;
    assert_eq!(answers_containing(&h, "不适用"), 1);
    assert_eq!(approvals(&h.app, ids[6]).await, 0);

    // The first card's own 同意: that one request moves, and leaves the list.
    teacher.press(&format!("#{} ✅ 同意", ids[0]));
    h.settle().await;
    assert_eq!(approvals(&h.app, ids[0]).await, 1);
    let list = batch_card(&h, &teacher);
    assert!(
        list.visible_text().contains("6 份待您处理（第 1–3 份）"),
        "{}",
        list.visible_text()
    );
    assert!(!shows(&list, ids[0]) && shows(&list, ids[3]));

    // The next page, and 本页全部同意 there: exactly the three it shows.
    teacher.press("下一页 ▶️");
    h.settle().await;
    let page2 = batch_card(&h, &teacher);
    assert!(
        page2.visible_text().contains("6 份待您处理（第 4–6 份）"),
        "{}",
        page2.visible_text()
    );
    for id in &ids[4..] {
        assert!(shows(&page2, *id));
    }
    let old_all = page2
        .buttons()
        .into_iter()
        .find(|(l, _)| l == "✅ 本页 3 份全部同意")
        .expect("本页全部同意 on page 2")
        .1;
    teacher.press("✅ 本页 3 份全部同意");
    h.settle().await;
    for id in &ids[4..] {
        assert_eq!(approvals(&h.app, *id).await, 1, "#{id}");
    }
    for id in &ids[1..4] {
        assert_eq!(approvals(&h.app, *id).await, 0, "#{id} was not on page 2");
    }
    let list = batch_card(&h, &teacher);
    assert!(
        list.visible_text().contains("3 份待您处理") && !list.visible_text().contains("（第"),
        "{}",
        list.visible_text()
    );

    // The old page's 全部同意 again: its items are decided, so it is only told it is stale.
    teacher.press_data(&list, &old_all);
    h.fake
        .wait_until(std::time::Duration::from_secs(30), |f| {
            f.callback_answers()
                .iter()
                .any(|(_, t, _)| t.contains("已被处理"))
        })
        .await;
    h.settle().await;
    for id in &ids[1..4] {
        assert_eq!(approvals(&h.app, *id).await, 0);
    }

    // The rest, and the list says it is done, without buttons.
    teacher.press("✅ 本页 3 份全部同意");
    h.settle().await;
    for id in &ids {
        assert_eq!(approvals(&h.app, *id).await, 1, "#{id}");
    }
    let done = batch_card(&h, &teacher);
    assert!(done.visible_text().contains("都已处理"), "{}", done.text);
    assert!(done.buttons().is_empty());
    assert_eq!(
        h.fake
            .messages_to(teacher.id)
            .iter()
            .filter(|m| m.buttons().iter().any(|(_, d)| d.starts_with("rv:")))
            .count(),
        0,
        "no button left to press:\n{}",
        h.fake.transcript(teacher.id)
    );
    h.stop().await;
}

/// Waits until the person's batch card, as it stands now, contains `needle`.
async fn batch_card_shows(h: &Harness, user: &FakeUser, needle: &str) {
    let id = user.id;
    let shown = h
        .fake
        .wait_until(h.patience, |f| {
            f.messages_to(id)
                .iter()
                .rev()
                .find(|m| is_batch_card(m))
                .is_some_and(|m| m.visible_text().contains(needle))
        })
        .await;
    assert!(
        shown,
        "no batch card showing {needle:?}:\n{}",
        h.fake.transcript(id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_signs_on_the_batch_card_sees_it_leave_while_the_group_still_signs() {
    // Every card folds at once here, so one request walks the whole group stage on batch cards.
    let c = cast_with(|config| config.delivery.fold_cards_at = 1).await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "副实验漏评").await;
    for level in [&c.teacher, &c.principal] {
        batch_card_shows(h, level, "1 份待您处理").await;
        level.press(&format!("#{id} ✅ 同意"));
        batch_card_shows(h, level, "都已处理").await;
    }
    // The group's 主监考代表 records from the batch card.
    batch_card_shows(h, &c.proctor, "维持原成绩").await;
    c.proctor.press(&format!("#{id} 维持原成绩"));
    h.expect(&c.proctor, "备注").await;
    c.proctor.send("逐项核对，成绩无误");
    h.expect(&c.proctor, "请核对复核结果").await;
    c.proctor.press("✅ 确认记录");

    // The first signer signs with 本页全部同意: it leaves their batch card at once, though the
    // group still waits for the other signature.
    batch_card_shows(h, &c.district_inspector, "请签字确认").await;
    c.district_inspector.press("✅ 本页 1 份全部同意");
    batch_card_shows(h, &c.district_inspector, "都已处理").await;
    assert_eq!(state_of(h, id).await, "confirming");
    // The second signature completes it.
    batch_card_shows(h, &c.equipment, "请签字确认").await;
    c.equipment.press("✅ 本页 1 份全部同意");
    batch_card_shows(h, &c.equipment, "都已处理").await;
    h.settle().await;
    assert_eq!(state_of(h, id).await, "reporting");
    c.h.stop().await;
}

/// The outbox status of `user`'s card of (request, stage).
async fn card_status(h: &Harness, request: i64, stage: &str, user: i64) -> String {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (status,): (String,) = sqlx::query_as(
        "SELECT o.status FROM review_cards c JOIN outbox o ON o.id = c.outbox_id
         WHERE c.request_id = $1 AND c.stage = $2 AND c.user_id = $3",
    )
    .bind(request)
    .bind(stage)
    .bind(user)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_closed_while_they_waited_are_never_folded_and_the_chat_keeps_moving() {
    let mut h = Harness::start_with(|config| config.delivery.fold_cards_at = 4).await;
    let (school, class, pupils) = published_class(&h, 6).await;
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &class, "班主任 王老师")
        .await;
    let principal = h.join(Role::Principal, &school, "校长 李校长").await;
    let mut ids = Vec::new();
    for pupil in &pupils {
        ids.push(filed_by_user_1(&h, pupil).await);
    }
    let approve = |user: i64, id: i64, stage: &'static str| {
        let app = h.app.clone();
        async move {
            let stage = Stage::parse(stage).unwrap();
            let press = app
                .review_button(user, user, id, stage, Choice::Approve)
                .await
                .unwrap();
            assert_eq!(
                press,
                exam_review_bot::app::callback::Press::Accepted,
                "#{id}"
            );
        }
    };
    // Telegram stops answering: the principal's first card is being sent, the second waits.
    h.fake.hold_sends();
    approve(teacher.id, ids[0], "s0r1").await;
    h.fake.wait_until(h.patience, |f| f.held() > 0).await;
    let mut sending = false;
    for _ in 0..1500 {
        if card_status(&h, ids[0], "s1r1", principal.id).await == "sending" {
            sending = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(sending, "the principal's first card is on its way");
    approve(teacher.id, ids[1], "s0r1").await;
    assert_eq!(
        card_status(&h, ids[1], "s1r1", principal.id).await,
        "pending"
    );
    // The principal decides both (from /request, say): both cards are closed while waiting.
    approve(principal.id, ids[0], "s1r1").await;
    approve(principal.id, ids[1], "s1r1").await;
    // The held send fails, so the first card waits again, with its closing edit behind it.
    h.fake.drop_held();
    // Four more cards: they fold; the two closed ones do not.
    for id in &ids[2..] {
        approve(teacher.id, *id, "s0r1").await;
    }
    h.settle().await;
    for id in &ids[..2] {
        assert_ne!(card_status(&h, *id, "s1r1", principal.id).await, "folded");
    }
    let list = batch_card(&h, &principal);
    assert!(
        list.visible_text().contains("4 份待您处理"),
        "{}",
        list.visible_text()
    );
    for id in &ids[..2] {
        assert!(!shows(&list, *id), "closed #{id} is not on the list");
    }
    h.stop().await;
}

/// Four requests of one class approved by both school levels on batch cards, so that the
/// district group's recorder has four record cards folded: its batch card, the data of its
/// 本页 3 份全部维持原成绩, and the requests.
async fn four_results_to_record(c: &Cast) -> (Sent, String, Vec<i64>) {
    let h = &c.h;
    let class: Vec<_> = h
        .school_candidates(&sample::school_code(0))
        .await
        .into_iter()
        .filter(|p| p.class_name == c.pupil.class_name)
        .take(4)
        .collect();
    assert_eq!(class.len(), 4);
    let mut ids = Vec::new();
    for pupil in &class {
        ids.push(file(h, &c.contact, &pupil.exam_no, "漏评").await);
    }
    for level in [&c.teacher, &c.principal] {
        for id in &ids {
            batch_card_shows(h, level, &format!("复核申请 #{id}（")).await;
            level.press(&format!("#{id} ✅ 同意"));
        }
        batch_card_shows(h, level, "都已处理").await;
    }
    batch_card_shows(h, &c.proctor, "4 份待您处理").await;
    let page = batch_card(h, &c.proctor);
    let (_, keep) = page
        .buttons()
        .into_iter()
        .find(|(label, _)| label == "📝 本页 3 份全部维持原成绩")
        .unwrap_or_else(|| panic!("{}", page.visible_text()));
    (page, keep, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_keeps_a_whole_page_with_one_press_and_only_that_page() {
    let c = cast_with(|config| config.delivery.fold_cards_at = 1).await;
    let h = &c.h;
    // The group's recorder has four record cards; the first page shows three, and one press
    // records those three 维持原成绩.
    let (page, keep, ids) = four_results_to_record(&c).await;
    c.proctor.press_data(&page, &keep);
    batch_card_shows(h, &c.proctor, "1 份待您处理").await;
    h.settle().await;
    for id in &ids[..3] {
        assert_eq!(state_of(h, *id).await, "confirming");
    }
    assert_eq!(state_of(h, ids[3]).await, "recording");
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (note, by): (Option<String>, Option<i64>) =
        sqlx::query_as("SELECT result_note, recorded_by FROM review_requests WHERE id = $1")
            .bind(ids[0])
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    assert_eq!(
        note.as_deref(),
        Some("逐项核对，无漏评，合分无误（本页全部维持原成绩）")
    );
    assert_eq!(by, Some(c.proctor.id));

    // The same press again acts on that page's three, which are recorded: stale, and the
    // fourth card, which the page never showed, is untouched.
    c.proctor.press_data(&page, &keep);
    h.settle().await;
    let answers = h.fake.callback_answers();
    assert!(answers.last().unwrap().1.contains("已失效"), "{answers:?}");
    assert_eq!(state_of(h, ids[3]).await, "recording");

    // The signers get the three results to sign, and the fourth is kept on its own page.
    batch_card_shows(h, &c.district_inspector, "请签字确认").await;
    c.proctor.press("📝 本页 1 份全部维持原成绩");
    batch_card_shows(h, &c.proctor, "都已处理").await;
    h.settle().await;
    assert_eq!(state_of(h, ids[3]).await, "confirming");
    c.h.stop().await;
}

/// After the review's window nothing below the city moves (附件6 注2: 逾期不予受理): a page of
/// results kept with one press on the batch card records none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_window_a_page_kept_with_one_press_records_nothing() {
    let c = cast_with(|config| config.delivery.fold_cards_at = 1).await;
    let (page, keep, ids) = four_results_to_record(&c).await;
    let h = &c.h;
    h.clock.set(shanghai(2023, 5, 3, 0, 0));
    c.proctor.press_data(&page, &keep);
    h.settle().await;
    for id in &ids {
        assert_eq!(state_of(h, *id).await, "recording");
    }
    let told = h
        .fake
        .callback_answers()
        .iter()
        .any(|(_, text, _)| text.contains("逾期不予受理"))
        || h.fake
            .messages_to(c.proctor.id)
            .iter()
            .any(|m| m.text.contains("逾期不予受理"));
    assert!(told, "{:?}", h.fake.callback_answers());
    c.h.stop().await;
}
