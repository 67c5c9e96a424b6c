//! The review's window (附件4 二(一): 成绩公布3日内进行复核; 附件6 注2: the units' summaries reach
//! the city in time, 逾期不予受理). Published on 29 April, the window ends at 24:00 on 2 May;
//! filing closes a day earlier (review.filing_closes_hours: 24).

use crate::cast::{cast_with, file, state_of};
use crate::fidelity::{keep_and_sign, up_to_the_group};
use crate::support::*;
use exam_review_bot::app::records::FileKind;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_report_is_refused_and_the_unreported_requests_are_listed_as_late() {
    let mut c = cast_with(|_| {}).await;
    let admin =
        c.h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员 周")
            .await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "副实验漏评").await;
    up_to_the_group(&c).await;
    keep_and_sign(
        h,
        &c.proctor,
        "复查无误",
        [&c.district_inspector, &c.equipment],
    )
    .await;
    h.wait_for_text(&c.equipment, "待上报 1 件").await;
    // 12 hours before the window's end, the group holding the unreported result is urged.
    h.clock.set(shanghai(2023, 5, 2, 12, 0));
    h.sweep(shanghai(2023, 5, 2, 12, 0)).await;
    let urged = h.expect(&c.equipment, "紧急提醒").await;
    assert!(
        urged.contains(&format!("#{id}")) && urged.contains("待上报"),
        "{urged}"
    );

    // The window has ended before the district's 上报: refused, the reporter and the city told.
    h.clock.set(shanghai(2023, 5, 3, 0, 0));
    c.equipment.press("📤 上报（1 件）");
    let refused = h.expect(&c.equipment, "逾期不予受理").await;
    assert!(refused.contains("东湖区"), "{refused}");
    h.expect(&admin, "试图上报复核汇总表").await;
    h.settle().await;
    // Not at the city (the bot's own ticker may already have listed it as 逾期未报).
    assert!(["reporting", "lapsed"].contains(&state_of(h, id).await.as_str()));
    assert!(
        h.fake
            .messages_to(c.reviewer1.id)
            .iter()
            .all(|m| !m.text.contains(&format!("#{id}"))),
        "nothing reached the city's 复审"
    );

    // The sweep lists it as 逾期未报: the filer, the district's group and the city told, and
    // /status counts it.
    h.sweep(shanghai(2023, 5, 3, 0, 0)).await;
    assert_eq!(state_of(h, id).await, "lapsed");
    h.expect(&c.contact, "列为逾期未报").await;
    let listed = h.expect(&admin, "有 1 件复核申请未上报市级").await;
    assert!(listed.contains(&format!("#{id}")), "{listed}");
    h.expect(&c.proctor, "有 1 件复核申请未上报市级").await;
    admin.send("/status");
    let board = h.expect(&admin, "考试季").await;
    assert!(
        board.contains("逾期未报（复核截止前未上报市级，不予受理）：1 件"),
        "{board}"
    );
    let refusals: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_chain WHERE action = 'review-report-late'")
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
    assert_eq!(refusals.0, 1);
    // The district's 附件6 record lists it so.
    let record = h
        .app
        .export_review_summary(&sample::district_code(0), FileKind::Xlsx)
        .await
        .unwrap();
    let rows = h.cells(&record.bytes);
    assert!(
        rows.iter()
            .any(|r| r.iter().any(|cell| cell == "逾期未报，不予受理")),
        "{rows:?}"
    );
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_filing_closes_no_level_returns_and_a_return_is_amended_within_its_time() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    // Returned at noon on 1 May, half a day before filing closes: the filer may amend until a
    // day after the return (review.amend_hours: 24), past the filing close.
    h.clock.set(shanghai(2023, 5, 1, 12, 0));
    let id = file(h, &c.contact, &c.pupil.exam_no, "分数不对").await;
    h.expect(&c.teacher, "待您审核").await;
    c.teacher.press("↩️ 退回修改");
    h.expect(&c.teacher, "退回修改").await;
    c.teacher.send("请写明哪一项漏评");
    h.expect(&c.contact, "退回修改").await;
    h.clock.set(shanghai(2023, 5, 2, 6, 0));
    c.contact.press("✏️ 修改并重新提交");
    h.expect(&c.contact, "修改后的").await;
    // Filing's close, swept while the filer amends, leaves the amendment alone.
    h.sweep(shanghai(2023, 5, 2, 6, 0)).await;
    c.contact.send("副实验二第2项漏评");
    h.expect(&c.contact, "联系方式").await;
    c.contact.send("0391-1234567");
    h.expect(&c.contact, "请核对修改后的申请").await;
    c.contact.press("✅ 重新提交");
    h.expect(&c.contact, "已重新提交").await;

    // Filing has closed: the 班主任 can no longer return it, only pass it on.
    h.expect(&c.teacher, "副实验二第2项漏评").await;
    c.teacher.press("↩️ 退回修改");
    h.expect_alert("本级不能再退回修改").await;
    assert_eq!(state_of(h, id).await, "pending");
    c.teacher.press("✅ 同意");
    h.expect(&c.principal, "待您审核").await;

    // A city-direct school's request returned just before filing closed: its time to amend
    // ends a day after the return; a minute later the press says so before anything is typed.
    h.clock.set(shanghai(2023, 5, 1, 23, 0));
    let late = file(h, &c.direct_contact, &c.direct_pupil.exam_no, "分数不对").await;
    h.expect(&c.direct_teacher, "待您审核").await;
    c.direct_teacher.press("↩️ 退回修改");
    h.expect(&c.direct_teacher, "退回修改").await;
    c.direct_teacher.send("请附上成绩单");
    h.expect(&c.direct_contact, "退回修改").await;
    h.clock.set(shanghai(2023, 5, 2, 23, 1));
    c.direct_contact.press("✏️ 修改并重新提交");
    h.expect_alert("修改期限已过").await;
    assert_eq!(state_of(h, late).await, "returned");
    c.h.stop().await;
}
