//! Score review requests (复核): the stories of the people who file, approve and sign, on the
//! route of a city whose 实施细则 keep a district level and one city-wide group
//! (config/city-wide-group.toml). The documents' route is in `groups` and `fidelity`.

use crate::cast::*;
use crate::support::*;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;

/// The cast on the route with a district level and one city-wide group.
async fn cast() -> Cast {
    cast_with(city_wide_group).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_score_travels_every_level_and_back_to_the_school() {
    let c = cast().await;
    let h = &c.h;
    let reason = "主实验第3项<漏评> & \"合分\"有误 😀";
    let id = file(h, &c.contact, &c.pupil.exam_no, reason).await;

    // 班主任 → 校长 → 城区, each tapping 同意 on their card.
    let card = h.expect(&c.teacher, "待您审核").await;
    assert!(
        card.contains(reason),
        "the reason shows exactly as typed:\n{card}"
    );
    // 身份证号 and 学籍号 are masked in chat: the county and the last four digits only.
    let masked = exam_review_bot::domain::ids::mask(&c.pupil.id_card);
    assert!(
        card.contains(&masked) && card.contains(&c.pupil.exam_no),
        "{card}"
    );
    assert!(!card.contains(&c.pupil.id_card) && !card.contains(&c.pupil.student_no));
    c.teacher.press("✅ 同意");
    h.expect(&c.contact, "班主任 班主任 王老师 已同意").await;
    h.expect(&c.principal, "待您审核").await;
    c.principal.press("✅ 同意");
    h.expect(&c.officer, "待您审核").await;
    c.officer.press("✅ 同意");
    h.expect(&c.contact, "市级复核小组").await;

    // The group: 甲 records a correction, 乙 and the inspector sign.
    h.expect(&c.reviewer1, "市级复核").await;
    c.reviewer1.press("更正成绩");
    h.expect(&c.reviewer1, "更正后的总分").await;
    let items = [
        c.pupil.item_main.unwrap(),
        c.pupil.item_sec1.unwrap(),
        c.pupil.item_sec2.unwrap(),
        c.pupil.item_tidy.unwrap(),
    ];
    let limits = [160, 60, 60, 20];
    let mut new_items = items;
    let i = (0..4).find(|i| items[*i] < limits[*i]).unwrap();
    new_items[i] += 10;
    let new_total = c.pupil.score + 10;
    c.reviewer1.send(&(new_total / 10).to_string());
    h.expect(&c.reviewer1, "四项得分").await;
    c.reviewer1.send("1 1 1 1");
    h.expect(&c.reviewer1, "合计为").await;
    let items_text: Vec<String> = new_items.iter().map(|v| (v / 10).to_string()).collect();
    c.reviewer1.send(&items_text.join(" "));
    h.expect(&c.reviewer1, "错误类别").await;
    c.reviewer1.press("合分错误");
    h.expect(&c.reviewer1, "备注").await;
    c.reviewer1.send("第3项漏记1分，已更正");
    h.expect(&c.reviewer1, "请核对复核结果").await;
    c.reviewer1.press("✅ 确认记录");
    h.expect(&c.reviewer2, "请签字确认").await;
    c.reviewer2.press("✅ 确认");
    h.expect(&c.reviewer2, "已签字确认").await;
    assert_eq!(
        state_of(h, id).await,
        "confirming",
        "one signature is not all of them"
    );
    h.expect(&c.inspector, "请签字确认").await;
    c.inspector.press("✅ 确认");

    // The result goes down: school contact, homeroom teacher, district officer.
    for u in [&c.contact, &c.teacher, &c.officer] {
        let result = h.expect(u, "成绩复核结果").await;
        assert!(
            result.contains(&format!("复核后成绩：{}", new_total / 10)),
            "{result}"
        );
        assert!(
            result.contains("复核组 甲")
                && result.contains("复核组 乙")
                && result.contains("纪检 丙"),
            "{result}"
        );
    }
    h.settle().await;
    assert_eq!(state_of(h, id).await, "completed");
    assert_eq!(score_of(h, c.pupil.id).await, new_total);
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (old,): (i64,) =
        sqlx::query_as("SELECT old_score FROM score_history WHERE candidate_id = $1")
            .bind(c.pupil.id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(old, c.pupil.score, "the original stays in history");
    drop(conn);
    cards_closed(
        h,
        &[
            &c.teacher,
            &c.principal,
            &c.officer,
            &c.reviewer1,
            &c.reviewer2,
            &c.inspector,
        ],
        id,
    );

    // The whole history, for those who may see it.
    c.contact.send(&format!("/request {id}"));
    let detail = h.expect(&c.contact, "处理记录").await;
    for step in ["提交申请", "同意", "记录复核结果", "签字确认", "复核完成"] {
        assert!(detail.contains(step), "{step} missing from:\n{detail}");
    }
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_request_is_amended_and_climbs_again() {
    let c = cast().await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "分数不对").await;
    h.expect(&c.teacher, "待您审核").await;
    c.teacher.press("↩️ 退回修改");
    h.expect(&c.teacher, "退回修改").await;
    // A sticker where a reason is expected: a hint, nothing lost.
    c.teacher.send_sticker();
    h.expect(&c.teacher, "请发送文字").await;
    c.teacher.send("请写明哪一项漏评");
    h.expect(&c.contact, "退回修改").await;
    assert_eq!(state_of(h, id).await, "returned");
    c.contact.press("✏️ 修改并重新提交");
    h.expect(&c.contact, "修改后的").await;
    c.contact.send("副实验二第2项漏评");
    h.expect(&c.contact, "联系方式").await;
    c.contact.send("0391-1234567");
    h.expect(&c.contact, "请核对修改后的申请").await;
    c.contact.press("✅ 重新提交");
    h.expect(&c.contact, "已重新提交").await;
    let card = h.expect(&c.teacher, "待您审核").await;
    assert!(
        card.contains("副实验二第2项漏评") && card.contains("0391-1234567"),
        "{card}"
    );
    c.teacher.press("✅ 同意");
    h.expect(&c.principal, "待您审核").await;
    h.settle().await;
    assert_eq!(state_of(h, id).await, "pending");
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_direct_school_skips_the_district() {
    let c = cast().await;
    let h = &c.h;
    let id = file(h, &c.direct_contact, &c.direct_pupil.exam_no, "漏评").await;
    h.expect(&c.direct_teacher, "待您审核").await;
    c.direct_teacher.press("✅ 同意");
    h.expect(&c.direct_principal, "待您审核").await;
    c.direct_principal.press("✅ 同意");
    h.expect(&c.reviewer1, "市级复核").await;
    h.settle().await;
    assert_eq!(state_of(h, id).await, "recording");
    assert!(
        h.fake
            .messages_to(c.officer.id)
            .iter()
            .all(|m| !m.text.contains(&format!("#{id}")))
    );
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filer_withdraws_and_everyone_involved_hears() {
    let c = cast().await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "漏评").await;
    h.expect(&c.teacher, "待您审核").await;
    c.teacher.press("✅ 同意");
    h.expect(&c.principal, "待您审核").await;
    c.contact.send(&format!("/request {id}"));
    h.expect(&c.contact, "处理记录").await;
    c.contact.press("🚫 撤回申请");
    h.expect(&c.contact, "已撤回").await;
    h.expect(&c.teacher, "已由申请人").await;
    h.expect(&c.principal, "已由申请人").await;
    h.settle().await;
    assert_eq!(state_of(h, id).await, "withdrawn");
    cards_closed(h, &[&c.principal], id);
    // A new request for the same candidate is possible again.
    let again = file(h, &c.contact, &c.pupil.exam_no, "再次申请").await;
    assert_ne!(again, id);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_closes_to_the_second_a_day_before_the_windows_end() {
    let c = cast().await;
    let h = &c.h;
    // Published 2023-04-29 → the review until 24:00 on May 2, filing until 24:00 on May 1.
    let deadline = shanghai(2023, 5, 2, 0, 0);
    h.clock.set(deadline + chrono::Duration::seconds(1));
    c.contact.send("/review");
    let refused = h.expect(&c.contact, "逾期不予受理").await;
    assert!(refused.contains("2023年5月1日 24:00"), "{refused}");
    h.clock.set(deadline - chrono::Duration::seconds(1));
    let id = file(h, &c.contact, &c.pupil.exam_no, "漏评").await;
    assert!(id > 0);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_dialogue_steps_continues_where_the_user_was() {
    let mut c = cast().await;
    c.contact.send("/review");
    c.h.expect(&c.contact, "准考证号").await;
    c.contact.send(&c.pupil.exam_no);
    c.h.expect(&c.contact, "的照片或 PDF").await;
    c.h.settle().await;
    c.h.restart().await;
    // The restarted bot still waits for the form: a scan sent as a PDF file will do.
    c.contact
        .send_file("scan-1", "申请表.pdf", "application/pdf");
    c.h.expect(&c.contact, "申请理由").await;
    c.contact.send("漏评");
    c.h.expect(&c.contact, "联系方式").await;
    c.contact.send("not a phone");
    c.h.expect(&c.contact, "联系方式无效").await;
    c.contact.press("⬅️ 上一步");
    c.h.expect(&c.contact, "申请理由").await;
    c.contact.send("漏评（改）");
    c.h.expect(&c.contact, "联系方式").await;
    c.contact.send("13900001111");
    c.h.expect(&c.contact, "请核对申请内容").await;
    c.contact.press("✅ 提交");
    c.h.expect(&c.contact, "已提交").await;
    let card = c.h.expect(&c.teacher, "待您审核").await;
    assert!(card.contains("漏评（改）"));
    c.h.stop().await;
}

/// The dialogue a person is in is stored in the layout of the build that wrote it. One written
/// before prompts kept their version reads on; one a later build wrote, which this build cannot
/// read, ends with an apology instead of being misread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialogue_an_older_build_wrote_goes_on_and_one_a_later_build_wrote_ends_politely() {
    let c = cast().await;
    c.contact.send("/review");
    c.h.expect(&c.contact, "准考证号").await;
    c.contact.send(&c.pupil.exam_no);
    c.h.expect(&c.contact, "的照片或 PDF").await;
    c.h.settle().await;
    let mut older = dialogue_data(&c.h, c.contact.id).await.unwrap();
    let fields = older.as_object_mut().unwrap();
    assert!(fields.remove("v").is_some() && fields.remove("shown").is_some());
    set_dialogue_data(&c.h, c.contact.id, &older).await;
    c.contact
        .send_file("scan-1", "申请表.pdf", "application/pdf");
    c.h.expect(&c.contact, "申请理由").await;
    c.h.settle().await;

    older["v"] = serde_json::json!(99);
    set_dialogue_data(&c.h, c.contact.id, &older).await;
    c.contact.send("漏评");
    c.h.expect(&c.contact, "已无法继续").await;
    c.h.settle().await;
    assert!(dialogue_data(&c.h, c.contact.id).await.is_none());
    c.h.stop().await;
}

async fn dialogue_data(h: &Harness, user: i64) -> Option<serde_json::Value> {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let row: Option<(String,)> = sqlx::query_as("SELECT data FROM dialogues WHERE user_id = $1")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .unwrap();
    row.map(|(data,)| serde_json::from_str(&data).unwrap())
}

async fn set_dialogue_data(h: &Harness, user: i64, data: &serde_json::Value) {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query("UPDATE dialogues SET data = $1 WHERE user_id = $2")
        .bind(data.to_string())
        .bind(user)
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_button_press_is_refused_and_recorded() {
    let mut c = cast().await;
    let other_principal =
        c.h.join(Role::Principal, &sample::school_code(2), "别校校长")
            .await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "漏评").await;
    h.expect(&c.teacher, "待您审核").await;
    let card = h
        .fake
        .messages_to(c.teacher.id)
        .into_iter()
        .rev()
        .find(|m| !m.buttons().is_empty())
        .unwrap();
    let approve = card.buttons()[0].1.clone();
    // A forwarded card, crafted data in one's own chat, and the principal jumping the queue.
    other_principal.press_data(&card, &approve);
    let own = h.fake.messages_to(other_principal.id)[0].clone();
    other_principal.press_data(&own, &approve);
    c.principal
        .press_data(&h.fake.messages_to(c.principal.id)[0].clone(), &approve);
    other_principal.press_data(&own, &format!("rv:{id}:cf1:y"));
    // Each press is answered once its handler has finished (after the queue is empty).
    let refusals = |f: &fake_telegram::FakeTelegram| {
        f.callback_answers()
            .iter()
            .filter(|(_, t, alert)| *alert && t.contains("不适用"))
            .count()
    };
    h.fake
        .wait_until(std::time::Duration::from_secs(30), |f| refusals(f) >= 4)
        .await;
    h.settle().await;
    assert_eq!(refusals(&h.fake), 4, "{:?}", h.fake.callback_answers());
    assert_eq!(state_of(h, id).await, "pending");
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_chain WHERE action = 'refused-press'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(n, 4);
    drop(conn);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_principals_tapping_at_once_give_one_decision() {
    let mut c = cast().await;
    let second =
        c.h.join(Role::Principal, &sample::school_code(0), "副校长")
            .await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "漏评").await;
    h.expect(&c.teacher, "待您审核").await;
    c.teacher.press("✅ 同意");
    c.teacher.press("✅ 同意"); // a double tap
    h.expect(&c.principal, "待您审核").await;
    h.expect(&second, "待您审核").await;
    c.principal.press("✅ 同意");
    second.press("✅ 同意");
    h.expect(&c.officer, "待您审核").await;
    h.settle().await;
    assert_eq!(
        approvals(&h.app, id).await,
        2,
        "one for the teacher, one for the school"
    );
    let district_cards = h
        .fake
        .messages_to(c.officer.id)
        .iter()
        .filter(|m| m.text.contains("待您审核"))
        .count();
    assert_eq!(district_cards, 1);
    let stale = h
        .fake
        .callback_answers()
        .iter()
        .filter(|(_, t, _)| t.contains("已失效"))
        .count();
    assert_eq!(
        stale, 2,
        "the second tap of each pair is told it came too late"
    );
    cards_closed(h, &[&c.principal, &second], id);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_inside_the_group_sends_the_result_back_to_recording() {
    let c = cast().await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "合分有误").await;
    for u in [&c.teacher, &c.principal, &c.officer] {
        h.expect(u, "待您审核").await;
        u.press("✅ 同意");
    }
    h.expect(&c.reviewer1, "市级复核").await;
    c.reviewer1.press("维持原成绩");
    h.expect(&c.reviewer1, "备注").await;
    c.reviewer1.send("核对无误");
    h.expect(&c.reviewer1, "请核对复核结果").await;
    c.reviewer1.press("✅ 确认记录");
    h.expect(&c.reviewer2, "请签字确认").await;
    // The inspector has the first round's card too; 乙's dispute takes it off the table.
    h.expect(&c.inspector, "请签字确认").await;
    c.reviewer2.press("❗ 有异议");
    h.expect(&c.reviewer2, "异议").await;
    c.reviewer2.send("副实验一未核对");
    h.expect(&c.reviewer1, "提出异议：副实验一未核对").await;
    h.settle().await;
    assert_eq!(state_of(h, id).await, "recording");
    // Recorded again, this time 乙 records and the others sign.
    h.expect(&c.reviewer2, "市级复核").await;
    c.reviewer2.press("维持原成绩");
    h.expect(&c.reviewer2, "备注").await;
    c.reviewer2.send("全部核对，成绩无误");
    h.expect(&c.reviewer2, "请核对复核结果").await;
    c.reviewer2.press("✅ 确认记录");
    for u in [&c.reviewer1, &c.inspector] {
        h.expect(u, "请签字确认").await;
        u.press("✅ 确认");
    }
    let result = h.expect(&c.contact, "成绩复核结果").await;
    assert!(result.contains("维持原成绩"), "{result}");
    h.settle().await;
    assert_eq!(state_of(h, id).await, "completed");
    assert_eq!(score_of(h, c.pupil.id).await, c.pupil.score);
    c.h.stop().await;
}
