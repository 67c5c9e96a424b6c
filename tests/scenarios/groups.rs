//! The review as 附件4 二.4–二.5 and 附件5 have it: the district's 复核小组 (主监考代表, 纪检监督,
//! 装备管理) records the result and every member signs, whether the score changes or not; the
//! city's 复审 agrees or returns it to the group; the city-direct schools have a group of their
//! own at the city.

use crate::cast::{Cast, cards_closed, cast_with, file, score_of, state_of};
use crate::fidelity::{keep_and_sign, report, up_to_the_group};
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_telegram::FakeUser;

/// `recorder` records a correction of one item by one point; returns the new total in tenths.
async fn record_one_point_more(c: &Cast, recorder: &FakeUser) -> i64 {
    let h = &c.h;
    let p = &c.pupil;
    recorder.press("更正成绩");
    h.expect(recorder, "更正后的总分").await;
    let mut items = [
        p.item_main.unwrap(),
        p.item_sec1.unwrap(),
        p.item_sec2.unwrap(),
        p.item_tidy.unwrap(),
    ];
    let limits = [160, 60, 60, 20];
    let i = (0..4).find(|i| items[*i] < limits[*i]).unwrap();
    items[i] += 10;
    let total = p.score + 10;
    recorder.send(&(total / 10).to_string());
    h.expect(recorder, "四项得分").await;
    let text: Vec<String> = items.iter().map(|v| (v / 10).to_string()).collect();
    recorder.send(&text.join(" "));
    h.expect(recorder, "错误类别").await;
    recorder.press("漏评");
    h.expect(recorder, "备注").await;
    recorder.send("副实验第2项漏评1分，已更正");
    h.expect(recorder, "请核对复核结果").await;
    recorder.press("✅ 确认记录");
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_districts_group_corrects_a_score_all_sign_and_the_city_agrees() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "副实验漏评").await;
    up_to_the_group(&c).await;
    // The district's group has it, not the city's people.
    let card = h.expect(&c.equipment, "东湖区复核小组").await;
    assert!(card.contains("复核小组复核中"), "{card}");
    for city in [&c.reviewer1, &c.inspector, &c.direct_head] {
        assert!(
            h.fake
                .messages_to(city.id)
                .iter()
                .all(|m| !m.text.contains(&format!("#{id}"))),
            "{}",
            h.fake.transcript(city.id)
        );
    }
    let total = record_one_point_more(&c, &c.proctor).await;
    h.expect(&c.district_inspector, "请签字确认").await;
    c.district_inspector.press("✅ 确认");
    let partial = h.expect(&c.district_inspector, "已签字确认").await;
    assert!(partial.contains("2/3"), "{partial}");
    h.expect(&c.equipment, "请签字确认").await;
    c.equipment.press("✅ 确认");
    // Signed, it waits for the district's 上报; nothing reaches the city before it.
    h.wait_for_text(&c.proctor, "待上报 1 件").await;
    assert_eq!(state_of(h, id).await, "reporting");
    assert!(
        h.fake
            .messages_to(c.reviewer1.id)
            .iter()
            .all(|m| !m.text.contains(&format!("#{id}"))),
        "the city sees nothing before the 上报"
    );
    report(h, &c.district_inspector, 1).await;

    // 市级复审: the reviewer sees the group's result and the whole file.
    let recheck = h.expect(&c.reviewer1, "市级复审：复核申请").await;
    assert!(
        recheck.contains("东湖区复核小组复核结果") && recheck.contains("漏评"),
        "{recheck}"
    );
    assert_eq!(state_of(h, id).await, "rechecking");
    assert_eq!(
        score_of(h, c.pupil.id).await,
        c.pupil.score,
        "nothing changes before the 复审"
    );
    c.reviewer1.press("✅ 同意复核结果");

    // Down to the filer, the school, the 班主任 and the district, with every signatory.
    for u in [&c.contact, &c.teacher, &c.officer] {
        let result = h.expect(u, "成绩复核结果").await;
        assert!(
            result.contains(&format!("复核后成绩：{}", total / 10))
                && result.contains("东湖区复核小组签字：主监考代表 孙、区纪检 周、装备管理 吴")
                && result.contains("市级复审：复核组 甲"),
            "{result}"
        );
    }
    h.settle().await;
    assert_eq!(state_of(h, id).await, "completed");
    assert_eq!(score_of(h, c.pupil.id).await, total);
    cards_closed(
        h,
        &[
            &c.proctor,
            &c.district_inspector,
            &c.equipment,
            &c.reviewer1,
            &c.reviewer2,
        ],
        id,
    );

    // Its 附件5: every level's opinion, in order, in the paper form's boxes.
    let form = h.app.export_review_form(id).await.unwrap();
    let rows = h.cells(&form.bytes);
    let text_of = |label: &str| -> String {
        let row = rows.iter().find(|r| r[0] == label).unwrap();
        row[1].clone()
    };
    let in_order = |text: &str, parts: &[&str]| {
        let at: Vec<usize> = parts
            .iter()
            .map(|p| text.find(p).unwrap_or_else(|| panic!("{p} in {text}")))
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "{parts:?} in order: {text}"
        );
    };
    in_order(
        &text_of("所在学校意见"),
        &["班主任 班主任 王老师：同意", "校长 校长 李校长：同意"],
    );
    in_order(
        &text_of("所在城区意见"),
        &[
            "主监考代表 孙：记录复核结果",
            "区纪检 周：签字确认",
            "装备管理 吴：签字确认",
            "区纪检 周：上报",
            "东湖区复核小组复核结果：更正",
        ],
    );
    in_order(&text_of("市级复审结果"), &["市级复审 复核组 甲：复审同意"]);
    assert!(text_of("本人申请理由").contains("副实验漏评"));
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_its_discipline_inspector_cannot_complete_and_says_who_is_missing() {
    let mut c = cast_with(|_| {}).await;
    // The district's 纪检 leaves; a second 主监考代表 keeps the group at three.
    c.h.app
        .revoke(c.district_inspector.id, None, None)
        .await
        .unwrap();
    let proctor2 =
        c.h.join(
            Role::ChiefProctorRep,
            &sample::district_code(0),
            "主监考代表 二",
        )
        .await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "合分有误").await;
    // Filing already says so, to the filer and the city's admins.
    let warned = h.expect(&c.contact, "缺人").await;
    assert!(
        warned.contains("东湖区复核小组中还没有 纪检监督"),
        "{warned}"
    );
    up_to_the_group(&c).await;
    c.proctor.press("维持原成绩");
    h.expect(&c.proctor, "备注").await;
    c.proctor.send("合分无误");
    h.expect(&c.proctor, "请核对复核结果").await;
    c.proctor.press("✅ 确认记录");
    // One after the other, so that the second is the last to sign.
    for signer in [&c.equipment, &proctor2] {
        h.expect(signer, "请签字确认").await;
        signer.press("✅ 确认");
        h.expect(signer, "已签字确认").await;
    }
    let told = h
        .fake
        .messages_to(proctor2.id)
        .last()
        .unwrap()
        .visible_text();
    assert!(told.contains("签字人中还缺少"), "{told}");
    assert!(told.contains("纪检监督") && told.contains("3/3"), "{told}");
    h.settle().await;
    assert_eq!(state_of(h, id).await, "confirming");
    assert!(
        h.fake
            .messages_to(c.reviewer1.id)
            .iter()
            .all(|m| !m.text.contains(&format!("#{id}"))),
        "nothing reaches the city"
    );
    // The district's new 纪检 joins and finds the result waiting for their signature.
    let inspector =
        c.h.join(Role::Inspector, &sample::district_code(0), "区纪检 新")
            .await;
    let h = &c.h;
    // (The card may arrive before or after the welcome.)
    h.wait_for_text(&inspector, "请签字确认").await;
    inspector.press("✅ 确认");
    report(h, &inspector, 1).await;
    h.expect(&c.reviewer1, "市级复审：复核申请").await;
    assert_eq!(state_of(h, id).await, "rechecking");
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_city_returns_a_result_to_the_group_which_records_and_signs_again() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "副实验漏评").await;
    up_to_the_group(&c).await;
    let signers = [&c.district_inspector, &c.equipment];
    keep_and_sign(h, &c.proctor, "无漏评", signers).await;
    report(h, &c.proctor, 1).await;
    h.expect(&c.reviewer1, "市级复审：复核申请").await;
    c.reviewer1.press("↩️ 退回复核小组");
    h.expect(&c.reviewer1, "退回复核小组的理由").await;
    c.reviewer1.send("副实验第2项评分表漏计，请重新核对");
    // The recorder hears why; the whole group has the request again, the reason on its card.
    let told = h.expect(&c.proctor, "退回复核小组").await;
    assert!(told.contains("请重新核对"), "{told}");
    let card = h.expect(&c.equipment, "东湖区复核小组：复核申请").await;
    assert!(
        card.contains("市级复审 复核组 甲：退回复核小组（副实验第2项评分表漏计"),
        "{card}"
    );
    assert_eq!(state_of(h, id).await, "recording");

    // The group records again (a correction now), everyone signs again, and the city agrees.
    let total = record_one_point_more(&c, &c.equipment).await;
    h.expect(&c.proctor, "请签字确认").await;
    c.proctor.press("✅ 确认");
    h.expect(&c.proctor, "已签字确认").await;
    h.expect(&c.district_inspector, "请签字确认").await;
    c.district_inspector.press("✅ 确认");
    // Signed again, it goes up again with the district's next 上报.
    report(h, &c.proctor, 1).await;
    h.expect(&c.reviewer2, "市级复审：复核申请").await;
    c.reviewer2.press("✅ 同意复核结果");
    let result = h.expect(&c.contact, "成绩复核结果").await;
    assert!(
        result.contains(&format!("复核后成绩：{}", total / 10))
            && result.contains("装备管理 吴、主监考代表 孙、区纪检 周")
            && result.contains("市级复审：复核组 乙"),
        "{result}"
    );
    h.settle().await;
    assert_eq!(score_of(h, c.pupil.id).await, total);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_direct_school_goes_from_its_principal_to_the_city_direct_group() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    let id = file(h, &c.direct_contact, &c.direct_pupil.exam_no, "主实验漏评").await;
    for level in [&c.direct_teacher, &c.direct_principal] {
        h.expect(level, "待您审核").await;
        level.press("✅ 同意");
    }
    h.expect(&c.direct_head, "市直学校复核小组").await;
    let signers = [&c.city_proctor, &c.inspector];
    keep_and_sign(h, &c.direct_head, "逐项核对无误", signers).await;
    // A city-direct school's requests go up as the school's batch (附件6 注2).
    let card = h.expect(&c.direct_head, "复核申请上报批次").await;
    assert!(card.contains("（市直学校复核小组）"), "{card}");
    report(h, &c.city_proctor, 1).await;
    h.expect(&c.reviewer1, "市级复审：复核申请").await;
    c.reviewer1.press("✅ 同意复核结果");
    let result = h.expect(&c.direct_contact, "成绩复核结果").await;
    assert!(
        result.contains("市直学校复核小组签字：市直学校负责人 郑"),
        "{result}"
    );
    h.settle().await;
    assert_eq!(state_of(h, id).await, "completed");
    // No district saw it: neither the officer nor the district's group.
    for u in [&c.officer, &c.proctor, &c.district_inspector, &c.equipment] {
        assert!(
            h.fake
                .messages_to(u.id)
                .iter()
                .all(|m| !m.text.contains(&format!("#{id}"))),
            "{}",
            h.fake.transcript(u.id)
        );
    }
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_who_also_sits_in_the_citys_recheck_does_not_recheck_their_own_result() {
    let c = cast_with(|_| {}).await;
    // 孙 is also one of the city's 复审 people; the only other one is 甲.
    c.h.app.revoke(c.reviewer2.id, None, None).await.unwrap();
    let both = c.proctor.id;
    let link =
        c.h.app
            .invite(Role::CityReviewer, sample::CITY_CODE, "孙（市级）", None)
            .await
            .unwrap();
    c.proctor
        .send(&format!("/start {}", link.rsplit('=').next().unwrap()));
    c.h.wait_for_text(&c.proctor, "绑定成功").await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "漏评").await;
    up_to_the_group(&c).await;
    record_one_point_more(&c, &c.proctor).await;
    for signer in [&c.district_inspector, &c.equipment] {
        h.expect(signer, "请签字确认").await;
        signer.press("✅ 确认");
    }
    report(h, &c.district_inspector, 1).await;
    h.expect(&c.reviewer1, "市级复审：复核申请").await;
    h.settle().await;
    let stage = format!("rv:{id}:rc1:ok");
    let last = h.fake.messages_to(both).last().unwrap().clone();
    assert!(
        h.fake
            .messages_to(both)
            .iter()
            .all(|m| m.buttons().iter().all(|(_, d)| d != &stage)),
        "no 复审 card for the recorder"
    );
    c.proctor.press_data(&last, &stage);
    h.settle().await;
    assert_eq!(state_of(h, id).await, "rechecking");
    c.h.stop().await;
}
