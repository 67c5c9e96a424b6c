//! The review as 附件4 二 and 附件5/6 prescribe it: the levels below the review group sign and
//! pass a request on (or return it to be amended) but do not end it; a city whose 实施细则
//! differ gives a level its veto back in configuration; and a candidate is reviewed once.

use crate::cast::{Cast, cards_closed, cast_with, file, state_of};
use crate::support::*;
use exam_review_bot::config::Config;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_telegram::{FakeUser, Sent};

/// The latest card in a chat that has buttons.
fn card_of(h: &Harness, user: &FakeUser) -> Sent {
    h.fake
        .messages_to(user.id)
        .into_iter()
        .rev()
        .find(|m| !m.buttons().is_empty())
        .unwrap_or_else(|| panic!("no card:\n{}", h.fake.transcript(user.id)))
}

fn labels(card: &Sent) -> Vec<String> {
    card.buttons().into_iter().map(|(label, _)| label).collect()
}

/// The card's decisions: its buttons but the signed form and the full opinions.
fn decisions(card: &Sent) -> Vec<String> {
    labels(card)
        .into_iter()
        .filter(|l| !l.starts_with('📎') && !l.starts_with('📄'))
        .collect()
}

/// 班主任 and 校长 each tap 同意; the district's group has the request.
pub(crate) async fn up_to_the_group(c: &Cast) {
    for level in [&c.teacher, &c.principal] {
        c.h.expect(level, "待您审核").await;
        level.press("✅ 同意");
    }
    c.h.expect(&c.proctor, "东湖区复核小组").await;
}

/// `recorder` records 维持原成绩 with `note` on the card in front of them; `signers` sign.
pub(crate) async fn keep_and_sign(
    h: &Harness,
    recorder: &FakeUser,
    note: &str,
    signers: [&FakeUser; 2],
) {
    recorder.press("维持原成绩");
    h.expect(recorder, "备注").await;
    recorder.send(note);
    h.expect(recorder, "请核对复核结果").await;
    recorder.press("✅ 确认记录");
    for signer in signers {
        h.expect(signer, "请签字确认").await;
        signer.press("✅ 确认");
    }
}

/// A member of the group sends its unit's batch of `count` signed results to the city (上报),
/// from the batch card.
pub(crate) async fn report(h: &Harness, member: &FakeUser, count: usize) {
    h.wait_for_text(member, &format!("待上报 {count} 件")).await;
    member.press(&format!("📤 上报（{count} 件）"));
    h.wait_for_text(member, &format!("已上报 {count} 件")).await;
}

/// The district's group keeps the score (with `note`), all three sign, one reports it, and the
/// city's 复审 agrees; returns the result the filer is told.
pub(crate) async fn kept_signed_and_agreed(c: &Cast, note: &str) -> String {
    let h = &c.h;
    keep_and_sign(h, &c.proctor, note, [&c.district_inspector, &c.equipment]).await;
    report(h, &c.equipment, 1).await;
    h.expect(&c.reviewer1, "市级复审：复核申请").await;
    c.reviewer1.press("✅ 同意复核结果");
    h.expect(&c.contact, "成绩复核结果").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_level_below_the_review_group_can_end_a_request() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "认为评分过严").await;
    for (step, level) in [&c.teacher, &c.principal].into_iter().enumerate() {
        let heading = h.expect(level, "待您审核").await;
        assert!(heading.contains("本级不驳回"), "{heading}");
        let card = card_of(h, level);
        assert_eq!(decisions(&card), ["✅ 同意", "↩️ 退回修改"]);
        // A crafted 驳回 is refused, with the reason.
        level.press_data(&card, &format!("rv:{id}:s{step}r1:r"));
        h.settle().await;
        assert!(
            h.fake
                .callback_answers()
                .iter()
                .any(|(_, text, alert)| *alert && text.contains("本级审核不能驳回")),
            "{:?}",
            h.fake.callback_answers()
        );
        assert_eq!(state_of(h, id).await, "pending");
        level.press("✅ 同意");
    }
    // Only the group ends it, by its result.
    h.expect(&c.proctor, "复核小组").await;
    assert_eq!(state_of(h, id).await, "recording");
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_whose_rules_give_the_principal_a_veto_has_the_reject_button_back() {
    // This city's 实施细则 let the school end a request (附件4 二, last paragraph).
    let c = cast_with(|config| config.review.steps[1].may_reject = true).await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "合分有误").await;
    h.expect(&c.teacher, "待您审核").await;
    assert_eq!(
        decisions(&card_of(h, &c.teacher)),
        ["✅ 同意", "↩️ 退回修改"]
    );
    c.teacher.press("✅ 同意");
    h.expect(&c.principal, "待您审核").await;
    assert_eq!(
        decisions(&card_of(h, &c.principal)),
        ["✅ 同意", "⛔ 驳回", "↩️ 退回修改"]
    );
    c.principal.press("⛔ 驳回");
    h.expect(&c.principal, "驳回").await;
    c.principal.send("经核对，成绩无误");
    let told = h.expect(&c.contact, "被 校长 校长 李校长 驳回").await;
    assert!(told.contains("经核对，成绩无误"));
    h.settle().await;
    assert_eq!(state_of(h, id).await, "rejected");
    assert!(
        h.fake
            .messages_to(c.officer.id)
            .iter()
            .all(|m| !m.text.contains("待您审核")),
        "no district card"
    );
    cards_closed(h, &[&c.teacher, &c.principal], id);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_with_a_result_is_not_reviewed_again_and_the_result_is_shown() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "主实验漏评").await;
    up_to_the_group(&c).await;
    kept_signed_and_agreed(&c, "逐项核对，无漏评，合分无误").await;
    assert_eq!(state_of(h, id).await, "completed");

    // The school contact tries again: the result is shown, nothing is filed.
    c.contact.send("/review");
    h.expect(&c.contact, "准考证号").await;
    c.contact.send(&c.pupil.exam_no);
    let answer = h.expect(&c.contact, "已有结果").await;
    assert!(
        answer.contains(&format!("#{id}")) && answer.contains("维持原成绩"),
        "{answer}"
    );
    // So does the 班主任, who may file for their class too.
    c.teacher.send("/review");
    h.expect(&c.teacher, "准考证号").await;
    c.teacher.send(&c.pupil.exam_no);
    h.expect(&c.teacher, "已有结果").await;
    h.settle().await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (requests,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM review_requests WHERE candidate_id = $1")
            .bind(c.pupil.id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    assert_eq!(requests, 1);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_takes_the_candidates_signed_form_and_approvers_see_it_with_one_tap() {
    let mut c = cast_with(|_| {}).await;
    let stranger =
        c.h.join(Role::Principal, &sample::school_code(2), "别校校长")
            .await;
    let h = &c.h;
    c.contact.send("/review");
    h.expect(&c.contact, "准考证号").await;
    c.contact.send(&c.pupil.exam_no);
    let prompt = h.expect(&c.contact, "的照片或 PDF").await;
    assert!(
        prompt.contains("第2步，共5步") && prompt.contains("由考生自己负责"),
        "{prompt}"
    );
    // Without the form there is no way on: text, a sticker, a spreadsheet are each refused.
    c.contact.send("表格稍后补交");
    h.expect(&c.contact, "请发送考生签字的申请表").await;
    c.contact.send_sticker();
    h.expect(&c.contact, "请发送考生签字的申请表").await;
    c.contact
        .send_file("xls-1", "申请表.xlsx", "application/vnd.ms-excel");
    h.expect(&c.contact, "请发送考生签字的申请表").await;
    c.contact.send_photo("signed-form-1");
    h.expect(&c.contact, "申请理由").await;
    c.contact.send("主实验漏评");
    h.expect(&c.contact, "联系方式").await;
    c.contact.send("13800001234");
    let confirm = h.expect(&c.contact, "请核对申请内容").await;
    assert!(
        confirm.contains("申请表已附上") && confirm.contains("附件6 注1"),
        "{confirm}"
    );
    c.contact.press("✅ 提交");
    let filed = h.expect(&c.contact, "已提交").await;
    let id: i64 = filed
        .split('#')
        .nth(1)
        .and_then(|t| t.split(|ch: char| !ch.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap();

    // The 班主任 opens it from the card.
    let card_text = h.expect(&c.teacher, "待您审核").await;
    assert!(card_text.contains("📎 已附"), "{card_text}");
    let card = card_of(h, &c.teacher);
    assert!(labels(&card).contains(&"📎 考生申请表".to_string()));
    c.teacher.press("📎 考生申请表");
    h.wait_for_text(&c.teacher, "的考生申请表").await;
    // Another school's principal crafting the same button gets nothing.
    let form_button = card
        .buttons()
        .into_iter()
        .find(|(label, _)| label == "📎 考生申请表")
        .unwrap()
        .1;
    assert_eq!(form_button, format!("sf:{id}"));
    let own = h.fake.messages_to(stranger.id).last().unwrap().clone();
    stranger.press_data(&own, &form_button);
    h.settle().await;
    // Over everything Telegram carried: the form went to the 班主任 and to nobody else.
    let with_form: Vec<i64> = h
        .fake
        .all_sent()
        .iter()
        .filter(|m| m.file_id.as_deref() == Some("signed-form-1"))
        .map(|m| m.chat_id)
        .collect();
    assert_eq!(with_form, vec![c.teacher.id]);
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_that_does_not_ask_for_the_form_files_in_four_steps() {
    let c = cast_with(|config| config.review.require_signed_form = false).await;
    let h = &c.h;
    c.contact.send("/review");
    h.expect(&c.contact, "准考证号").await;
    c.contact.send(&c.pupil.exam_no);
    let reason = h.expect(&c.contact, "申请理由").await;
    assert!(reason.contains("第2步，共4步"), "{reason}");
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_on_the_route_it_was_filed_on() {
    // The city ran the route with a district level and one city-wide group ...
    let mut c = cast_with(city_wide_group).await;
    let classmate =
        c.h.school_candidates(&c.pupil.school_code)
            .await
            .into_iter()
            .find(|p| p.class_name == c.pupil.class_name && p.id != c.pupil.id)
            .unwrap();
    let id = file(&c.h, &c.contact, &c.pupil.exam_no, "漏评").await;
    c.h.expect(&c.teacher, "待您审核").await;
    // ... and mid-season adopts the documents' route and restarts.
    c.h.restart_with(|config| config.review = Config::default().review)
        .await;
    let h = &c.h;
    c.teacher.press("✅ 同意");
    h.expect(&c.principal, "待您审核").await;
    c.principal.press("✅ 同意");
    // Filed on three levels, it still climbs the third, then goes to the city-wide group.
    h.expect(&c.officer, "待您审核").await;
    c.officer.press("✅ 同意");
    h.expect(&c.reviewer1, "市级复核小组").await;
    assert_eq!(state_of(h, id).await, "recording");

    // A request filed now takes the new route: from the principal to the district's group.
    let new = file(h, &c.contact, &classmate.exam_no, "合分有误").await;
    for level in [&c.teacher, &c.principal] {
        h.expect(level, &format!("#{new}")).await;
        level.press("✅ 同意");
    }
    h.expect(&c.proctor, &format!("#{new}")).await;
    h.settle().await;
    assert_eq!(state_of(h, new).await, "recording");
    assert!(
        h.fake
            .messages_to(c.proctor.id)
            .iter()
            .all(|m| !m.text.contains(&format!("#{id}"))),
        "the old request never reaches the district's group"
    );
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_typed_after_another_holder_returned_the_request_changes_nothing() {
    let mut c = cast_with(|_| {}).await;
    let deputy =
        c.h.join_class(
            Role::HomeroomTeacher,
            &c.pupil.school_code,
            &c.pupil.class_name,
            "副班主任",
        )
        .await;
    let h = &c.h;
    let id = file(h, &c.contact, &c.pupil.exam_no, "漏评").await;
    h.expect(&c.teacher, "待您审核").await;
    h.expect(&deputy, "待您审核").await;
    // Both tap 退回修改; the deputy types the reason first.
    c.teacher.press("↩️ 退回修改");
    h.expect(&c.teacher, "的理由").await;
    deputy.press("↩️ 退回修改");
    h.expect(&deputy, "的理由").await;
    deputy.send("请补充考生签字");
    h.expect(&c.contact, "被 班主任 副班主任 退回修改").await;
    c.teacher.send("理由晚到了");
    h.expect(&c.teacher, "本次操作未生效").await;
    h.settle().await;
    assert_eq!(state_of(h, id).await, "returned");
    let told = h
        .fake
        .messages_to(c.contact.id)
        .iter()
        .filter(|m| m.visible_text().contains("退回修改。理由"))
        .count();
    assert_eq!(told, 1, "{}", h.fake.transcript(c.contact.id));
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_returned_for_an_unreadable_form_takes_a_new_one() {
    let c = cast_with(|_| {}).await;
    let h = &c.h;
    file(h, &c.contact, &c.pupil.exam_no, "主实验漏评").await;
    h.expect(&c.teacher, "待您审核").await;
    c.teacher.press("↩️ 退回修改");
    h.expect(&c.teacher, "的理由").await;
    c.teacher.send("申请表照片看不清签字，请重拍");
    h.expect(&c.contact, "退回修改。理由").await;
    c.contact.press("✏️ 修改并重新提交");
    h.expect(&c.contact, "修改后的").await;
    c.contact.send("主实验漏评");
    h.expect(&c.contact, "联系方式").await;
    c.contact.send("13800001234");
    h.expect(&c.contact, "请核对修改后的申请").await;
    c.contact.press("📎 更换申请表");
    h.expect(&c.contact, "不更换请点").await;
    c.contact.send("稍后再拍");
    h.expect(&c.contact, "请发送考生签字的申请表").await;
    c.contact.send_photo("signed-form-retaken");
    h.expect(&c.contact, "将换成新发送的这一份").await;
    c.contact.press("✅ 重新提交");
    h.expect(&c.teacher, "待您审核").await;
    c.teacher.press("📎 考生申请表");
    h.wait_for_text(&c.teacher, "的考生申请表").await;
    let sent: Vec<String> = h
        .fake
        .messages_to(c.teacher.id)
        .iter()
        .filter_map(|m| m.file_id.clone())
        .collect();
    assert_eq!(sent, ["signed-form-retaken"]);
    c.h.stop().await;
}

/// 附件4 末: each 县（市）区 may set 实施细则. One district runs its own route (its schools'
/// requests start at the 校长); its neighbour runs the city's (from the 班主任).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_with_rules_of_its_own_runs_its_route_and_its_neighbour_the_citys() {
    let own: exam_review_bot::config::UnitRules =
        toml::from_str("[[review.steps]]\nname = \"校长\"\nrole = \"principal\"\nunit = \"school\"\nrule = \"any\"")
            .unwrap();
    let d1 = sample::district_code(1);
    let mut h = Harness::start_with(|c| {
        c.units.insert(d1.clone(), own);
    })
    .await;
    h.sample_city().await;
    h.app
        .publish(exam_review_bot::app::Actor::Cli, None)
        .await
        .unwrap();
    let school_of = |district: &str| {
        sample::units(DISTRICTS, SCHOOLS)
            .into_iter()
            .find(|u| u.kind == "学校" && u.parent == district && !u.city_direct)
            .unwrap()
            .code
    };
    for (district, first) in [(sample::district_code(0), "班主任"), (d1.clone(), "校长")] {
        let school = school_of(&district);
        let pupil = h.school_candidates(&school).await.remove(0);
        let contact = h
            .join(Role::SchoolContact, &school, &format!("{district} 联系人"))
            .await;
        let id = file(&h, &contact, &pupil.exam_no, "漏评").await;
        let (route,): (String,) = sqlx::query_as("SELECT route FROM review_requests WHERE id = $1")
            .bind(id)
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
        let route: exam_review_bot::domain::workflow::Route = serde_json::from_str(&route).unwrap();
        assert_eq!(route.steps[0].name, first, "{district}");
    }
    h.stop().await;
}

/// `docs/fidelity.md` holds every duty of 附件1–7 with the test that shows it: a renamed or
/// removed test fails here, as does a row that names neither a test nor why it has none.
#[test]
fn the_traceability_table_names_only_tests_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/fidelity.md")).unwrap();
    let exists = |name: &str| -> bool {
        let Some((file, test)) = name.rsplit_once("::") else {
            return false;
        };
        let path = if file.ends_with(".rs") {
            root.join(file)
        } else {
            root.join(format!("tests/scenarios/{file}.rs"))
        };
        std::fs::read_to_string(path).is_ok_and(|text| text.contains(&format!("fn {test}(")))
    };
    let mut duties = 0;
    let mut missing = Vec::new();
    let mut section = "";
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading;
            continue;
        }
        let is_row =
            line.starts_with("| ") && !line.starts_with("| #") && !line.starts_with("|---");
        if !is_row || !matches!(section, "The duties" | "Departures removed") {
            continue;
        }
        if line.starts_with("| clause") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        let shown_by = cells.last().unwrap().trim();
        let named: Vec<&str> = shown_by
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| n.contains("::"))
            .collect();
        if section == "The duties" {
            duties += 1;
            let explained =
                shown_by.starts_with("out of scope:") || shown_by.starts_with("departure");
            assert!(
                explained || !named.is_empty(),
                "a duty with neither a test nor a reason: {line}"
            );
        } else {
            assert!(
                !named.is_empty(),
                "a removed departure without its test: {line}"
            );
        }
        missing.extend(named.into_iter().filter(|n| !exists(n)).map(String::from));
    }
    assert!(duties >= 70, "{duties} duties in the table");
    assert!(
        missing.is_empty(),
        "tests named in docs/fidelity.md that do not exist: {missing:?}"
    );
}
