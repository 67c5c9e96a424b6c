//! 附件6 注2: 区属考生以区为单位、市直属学校考生以学校为单位统一报送. A district's signed results
//! wait in its batch; one member of its group sends the batch to the city with its 附件6, and
//! the 上报 carries exactly that district's signed requests: not another district's, not a
//! city-direct school's, not one the group is still reviewing.

use crate::cast::{Cast, cast_with, file, state_of};
use crate::fidelity::{keep_and_sign, up_to_the_group};
use crate::support::*;
use exam_review_bot::export::review_summary::{COLUMNS, stamp_line, title};
use exam_review_bot::sample;
use exam_review_bot::store::candidates::Candidate;
use fake_telegram::{FakeUser, Sent};

/// Pupils of the cast's class of school 0 (district 0) besides the cast's own.
async fn classmates(c: &Cast) -> Vec<Candidate> {
    let school = sample::school_code(0);
    c.h.school_candidates(&school)
        .await
        .into_iter()
        .filter(|p| p.class_name == c.pupil.class_name && p.id != c.pupil.id)
        .collect()
}

/// Files for `pupil`, the school's levels agree, and the district's group keeps the score and
/// signs; returns the request.
async fn signed_in_district(c: &Cast, pupil: &Candidate) -> i64 {
    let h = &c.h;
    let id = file(h, &c.contact, &pupil.exam_no, "申请复核").await;
    up_to_the_group(c).await;
    keep_and_sign(
        h,
        &c.proctor,
        "核对无误",
        [&c.district_inspector, &c.equipment],
    )
    .await;
    h.wait_for_text(&c.proctor, &format!("#{id} {}", pupil.name))
        .await;
    id
}

/// The newest message in the chat with a button whose data starts with `prefix`.
fn card_with(h: &Harness, user: &FakeUser, prefix: &str) -> Sent {
    h.fake
        .messages_to(user.id)
        .into_iter()
        .rev()
        .find(|m| m.buttons().iter().any(|(_, d)| d.starts_with(prefix)))
        .unwrap_or_else(|| panic!("no {prefix} button:\n{}", h.fake.transcript(user.id)))
}

fn mentions(h: &Harness, user: &FakeUser, id: i64) -> bool {
    h.fake
        .messages_to(user.id)
        .iter()
        .any(|m| m.text.contains(&format!("#{id}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_districts_report_carries_exactly_its_signed_requests_with_their_summary() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    let mates = classmates(&c).await;
    assert!(mates.len() >= 2, "the sample class has pupils enough");
    let d0 = sample::district_code(0);

    // Two of district 0's requests are signed; the batch card counts them as they come.
    let first = signed_in_district(&c, &c.pupil).await;
    h.wait_for_text(&c.equipment, "待上报 1 件").await;
    let old_card = card_with(h, &c.equipment, "up:");
    let second = signed_in_district(&c, &mates[0]).await;
    h.wait_for_text(&c.equipment, "待上报 2 件").await;
    // A third is still with the group; a city-direct school's is signed in its own batch.
    let working = file(h, &c.contact, &mates[1].exam_no, "申请复核").await;
    up_to_the_group(&c).await;
    let direct = file(h, &c.direct_contact, &c.direct_pupil.exam_no, "申请复核").await;
    for level in [&c.direct_teacher, &c.direct_principal] {
        h.expect(level, "待您审核").await;
        level.press("✅ 同意");
    }
    h.expect(&c.direct_head, "市直学校复核小组").await;
    keep_and_sign(
        h,
        &c.direct_head,
        "核对无误",
        [&c.city_proctor, &c.inspector],
    )
    .await;
    h.wait_for_text(&c.direct_head, "待上报 1 件").await;
    assert!(
        !mentions(h, &c.reviewer1, first),
        "nothing reaches the city yet"
    );

    // A card that showed another count is old: nothing goes, and the card is brought up to
    // date, with what the group is still reviewing (each a tap away).
    c.equipment.press_data(&old_card, &format!("up:{d0}:1"));
    h.settle().await;
    assert_eq!(state_of(h, first).await, "reporting");
    let card = h
        .fake
        .messages_to(c.equipment.id)
        .into_iter()
        .find(|m| m.message_id == old_card.message_id)
        .unwrap()
        .visible_text();
    assert!(
        card.contains("东湖区 · 复核申请上报批次")
            && card.contains("待上报 2 件")
            && card.contains(&format!("/request_{first}"))
            && card.contains(&format!("/request_{second}"))
            && card.contains("复核小组处理中 1 件")
            && card.contains(&format!("/request_{working}"))
            && !card.contains(&format!("#{direct}")),
        "{card}"
    );
    // The city-direct schools' group may not send a district's batch.
    let theirs = card_with(h, &c.direct_head, "up:");
    c.direct_head.press_data(&theirs, &format!("up:{d0}:2"));
    h.settle().await;
    assert_eq!(state_of(h, first).await, "reporting");
    // Nor may a member send part of it as a school's batch: a district school reports with its
    // district.
    let school0 = sample::school_code(0);
    c.equipment
        .press_data(&old_card, &format!("up:{school0}:2"));
    h.settle().await;
    assert_eq!(state_of(h, first).await, "reporting");
    let refusals = h
        .fake
        .callback_answers()
        .iter()
        .filter(|(_, text, alert)| *alert && text.contains("此按钮不适用于您"))
        .count();
    assert_eq!(refusals, 2, "{:?}", h.fake.callback_answers());

    // 上报: exactly the two signed requests of district 0 go to the 复审, with their 附件6.
    c.equipment.press("📤 上报（2 件）");
    let sent = h.expect(&c.reviewer1, "东湖区上报复核申请 2 件").await;
    assert!(sent.contains("装备管理 吴"), "{sent}");
    h.expect(&c.reviewer1, "市级复审：复核申请").await;
    h.settle().await;
    assert_eq!(state_of(h, first).await, "rechecking");
    assert_eq!(state_of(h, second).await, "rechecking");
    assert_eq!(state_of(h, working).await, "recording");
    assert_eq!(state_of(h, direct).await, "reporting");
    for id in [first, second] {
        assert!(mentions(h, &c.reviewer1, id), "{id} reached the 复审");
    }
    for id in [working, direct] {
        assert!(!mentions(h, &c.reviewer1, id), "{id} did not");
    }
    // Every member's batch card says it went, and has no button left.
    for member in [&c.proctor, &c.district_inspector, &c.equipment] {
        h.wait_for_text(member, "已上报 2 件").await;
        assert!(
            h.fake
                .messages_to(member.id)
                .iter()
                .all(|m| m.buttons().iter().all(|(_, d)| !d.starts_with("up:"))),
            "{}",
            h.fake.transcript(member.id)
        );
    }

    // The 附件6 the city and the reporter receive: the form's header and exactly the batch.
    let summary = h
        .fake
        .messages_to(c.reviewer1.id)
        .into_iter()
        .find_map(|m| m.document)
        .expect("the 附件6 reached the city");
    assert!(
        summary.0.starts_with("附件6_复核汇总表_东湖区"),
        "{}",
        summary.0
    );
    let rows = h.cells(&summary.1);
    assert_eq!(rows[0][0], title(2023, sample::CITY_NAME));
    assert_eq!(rows[0][0], "2023年青山市中招实验考试成绩复核汇总表");
    assert_eq!(rows[1][0], stamp_line("东湖区"));
    assert_eq!(rows[2], COLUMNS.map(String::from).to_vec());
    assert_eq!(rows.len(), 5, "the header rows and two lines: {rows:?}");
    for (n, (row, pupil)) in rows[3..].iter().zip([&c.pupil, &mates[0]]).enumerate() {
        let points = (pupil.score as f64 / 10.0).to_string();
        assert_eq!(row[0], (n + 1).to_string());
        assert!(!row[1].is_empty(), "the school: {row:?}");
        assert_eq!(
            row[2..9],
            [
                pupil.name.clone(),
                pupil.reg_no.clone(),
                pupil.exam_no.clone(),
                pupil.sitting(),
                points.clone(),
                points,
                "维持原成绩；核对无误".to_string(),
            ]
        );
    }
    assert!(
        h.fake
            .messages_to(c.equipment.id)
            .iter()
            .any(|m| m.document.as_ref().is_some_and(|d| d.1 == summary.1)),
        "the reporter has the same table to stamp"
    );

    // The city-direct school's batch goes by itself, later.
    c.city_proctor.press("📤 上报（1 件）");
    h.expect(&c.reviewer1, "上报复核申请 1 件").await;
    h.settle().await;
    assert_eq!(state_of(h, direct).await, "rechecking");
    assert_eq!(state_of(h, working).await, "recording");

    // /batch brings a member the district's card afresh: nothing to send, one still with the
    // group. A school's contact sends no batch.
    c.proctor.send("/batch");
    let card = h.expect(&c.proctor, "复核申请上报批次").await;
    assert!(
        card.contains("目前没有待上报的申请")
            && card.contains(&format!("/request_{working}"))
            && !card.contains(&format!("/request_{first}")),
        "{card}"
    );
    // Each item is one tap away.
    c.proctor.send(&format!("/request_{working}"));
    h.expect(&c.proctor, &format!("成绩复核申请表 #{working}"))
        .await;
    c.contact.send("/batch");
    h.expect(&c.contact, "没有需要您上报").await;
    c.h.stop().await;
}
