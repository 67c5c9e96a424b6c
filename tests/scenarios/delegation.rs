//! Invitations delegated down the unit tree: a district's officer invites its schools' people
//! and its own review group, a school's contact its principal, 审核小组组长 and homeroom
//! teachers, each with buttons, getting a link and a QR code; `/people` shows who joined, with
//! revoke buttons where the viewer may revoke.

use crate::support::*;
use exam_review_bot::app::invites::chat::seat;
use exam_review_bot::app::policy::{self, Denied};
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::{people, units};
use fake_telegram::FakeUser;

/// The labels of the buttons on the newest message to `user`.
fn buttons(h: &Harness, user: &FakeUser) -> Vec<String> {
    h.fake
        .messages_to(user.id)
        .last()
        .map(|m| m.buttons().into_iter().map(|(l, _)| l).collect())
        .unwrap_or_default()
}

/// Decodes the QR code PNG of the newest document sent to `user`.
fn scanned(h: &Harness, user: &FakeUser) -> String {
    let (_, png) = h
        .fake
        .messages_to(user.id)
        .into_iter()
        .rev()
        .find_map(|m| m.document)
        .expect("a QR code was sent");
    crate::onboarding::scan(&png)
}

/// The link in the bot's answer.
fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("https://t.me/"))
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_invites_its_schools_people_and_a_school_its_teachers() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let (d1, s1, s_other) = (
        sample::district_code(0),
        sample::school_code(0),
        sample::school_code(1),
    );
    let names = {
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        units::all(&mut conn).await.unwrap()
    };
    let name_of = |code: &str| names.iter().find(|u| u.code == code).unwrap().name.clone();
    let officer = h.join(Role::DistrictOfficer, &d1, "县区李").await;

    // The officer may give the school roles and the district's review group, nothing else.
    officer.send("/invite");
    h.expect(&officer, "请选择要邀请的角色").await;
    let offered = buttons(&h, &officer);
    for label in [
        "学校联系人",
        "校长",
        "班主任",
        "主监考代表",
        "纪检监督",
        "装备管理人员",
    ] {
        assert!(offered.iter().any(|l| l == label), "{label} in {offered:?}");
    }
    for label in ["市级管理员", "市级复审", "县区装备管理", "市直学校负责人"]
    {
        assert!(
            !offered.iter().any(|l| l == label),
            "{label} offered: {offered:?}"
        );
    }
    officer.press("学校联系人");
    h.expect(&officer, "请选择单位").await;
    let schools = buttons(&h, &officer);
    assert!(schools.contains(&name_of(&s1)), "{schools:?}");
    assert!(
        !schools.contains(&name_of(&s_other)),
        "another district's school is not offered: {schools:?}"
    );
    // ⬅️ goes back a step, and the choice can be made again.
    officer.press("⬅️ 上一步");
    h.expect(&officer, "请选择要邀请的角色").await;
    officer.press("学校联系人");
    h.expect(&officer, "请选择单位").await;
    officer.press(&name_of(&s1));
    h.expect(&officer, "请输入被邀请人的姓名").await;
    officer.send("张联系人");
    h.expect(&officer, "职务").await;
    officer.press("不填职务");
    let made = h.expect(&officer, "生成一次性邀请链接").await;
    let link = link_in(&made);
    h.settle().await;
    assert_eq!(scanned(&h, &officer), link, "the QR code is the link");

    // The contact joins by it; the officer hears so.
    let contact = h.fake.user(8001, "张联系人");
    contact.send(&format!("/start {}", link.rsplit('=').next().unwrap()));
    h.wait_for_text(&contact, "绑定成功").await;
    h.expect(&officer, "张联系人").await;

    // The contact invites a homeroom teacher: their own school, a class of its roster.
    contact.send("/invite");
    h.expect(&contact, "请选择要邀请的角色").await;
    assert_eq!(
        buttons(&h, &contact)[..3],
        ["校长", "学校审核小组组长", "班主任"]
    );
    contact.press("班主任");
    h.expect(&contact, "请选择班级").await;
    let class = buttons(&h, &contact)[0].clone();
    contact.press(&class);
    h.expect(&contact, "请输入被邀请人的姓名").await;
    contact.send("赵老师");
    h.expect(&contact, "职务").await;
    // A title of one's own, typed (附件1's directory shows it).
    contact.send("教研组长");
    let made = h.expect(&contact, "生成一次性邀请链接").await;
    let teacher = h.fake.user(8002, "赵老师");
    teacher.send(&format!(
        "/start {}",
        link_in(&made).rsplit('=').next().unwrap()
    ));
    h.wait_for_text(&teacher, "绑定成功").await;
    let bound = {
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        people::of_user(&mut conn, teacher.id).await.unwrap()
    };
    assert_eq!(bound[0].role, Role::HomeroomTeacher);
    assert_eq!(bound[0].unit_code, s1);
    assert_eq!(bound[0].class_name.as_deref(), Some(class.as_str()));

    contact.send("/contacts");
    let directory = h.expect(&contact, "组织机构与联系人").await;
    assert!(directory.contains("教研组长：赵老师"), "{directory}");

    // /people: who joined, with a revoke button for the teacher and none for oneself.
    contact.send("/people");
    let list = h.expect(&contact, "已加入的人员").await;
    assert!(
        list.contains("赵老师") && list.contains("张联系人"),
        "{list}"
    );
    let revokes = buttons(&h, &contact);
    assert_eq!(revokes, ["🚫 撤销 赵老师（班主任）"]);
    contact.press("🚫 撤销 赵老师（班主任）");
    h.expect(&contact, "已撤销 赵老师").await;
    h.expect(&teacher, "已被撤销").await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    assert!(
        people::of_user(&mut conn, teacher.id)
            .await
            .unwrap()
            .is_empty()
    );
    drop(conn);

    // Another district's school is not theirs to look at.
    contact.send(&format!("/people_{s_other}"));
    h.expect(&contact, "没有权限").await;
    officer.send(&format!("/people_{s1}"));
    h.expect(&officer, "张联系人").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_invites_beyond_their_unit_or_above_their_level() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let (d1, d2) = (sample::district_code(0), sample::district_code(1));
    let (s1, s_other) = (sample::school_code(0), sample::school_code(1));
    let officer = h.join(Role::DistrictOfficer, &d1, "县区李").await;
    let contact = h.join(Role::SchoolContact, &s1, "学校王").await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let all = units::all(&mut conn).await.unwrap();
    let unit = |code: &str| all.iter().find(|u| u.code == code).unwrap().clone();
    let groups = h.app.config.review_route(sample::CITY_CODE).group.roles;
    let officer_b = people::of_user(&mut conn, officer.id).await.unwrap();
    let contact_b = people::of_user(&mut conn, contact.id).await.unwrap();
    let verdict = |b: &[people::Binding], role: Role, code: &str| {
        let u = unit(code);
        policy::may_invite(b, role, seat(sample::CITY_CODE, &u), &groups).map(|_| ())
    };
    assert_eq!(verdict(&officer_b, Role::Principal, &s1), Ok(()));
    assert_eq!(verdict(&officer_b, Role::Inspector, &d1), Ok(()));
    assert_eq!(
        verdict(&officer_b, Role::Principal, &s_other),
        Err(Denied::OtherDistrict),
        "another district's school"
    );
    assert_eq!(
        verdict(&officer_b, Role::Inspector, &d2),
        Err(Denied::OtherDistrict)
    );
    assert_eq!(
        verdict(&officer_b, Role::CityAdmin, sample::CITY_CODE),
        Err(Denied::NoRole),
        "a city role"
    );
    assert_eq!(
        verdict(&officer_b, Role::DistrictOfficer, &d1),
        Err(Denied::NoRole)
    );
    assert_eq!(verdict(&contact_b, Role::HomeroomTeacher, &s1), Ok(()));
    assert_eq!(
        verdict(&contact_b, Role::HomeroomTeacher, &s_other),
        Err(Denied::OtherSchool),
        "outside the school"
    );
    assert_eq!(
        verdict(&contact_b, Role::SchoolContact, &s1),
        Err(Denied::NoRole)
    );
    drop(conn);

    // A crafted press for a choice the prompt never showed does nothing.
    contact.send("/invite");
    h.expect(&contact, "请选择要邀请的角色").await;
    let prompt = h.fake.messages_to(contact.id).last().unwrap().clone();
    contact.press_data(&prompt, "d:vrole:c9");
    h.settle().await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (invites,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM invites WHERE issued_by = $1")
        .bind(contact.id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(invites, 0);
    drop(conn);
    // An invite is for someone else, and only as good as its issuer's right to give it.
    contact.send("/invite");
    h.expect(&contact, "请选择要邀请的角色").await;
    contact.press("校长");
    h.expect(&contact, "请输入被邀请人的姓名").await;
    contact.send("钱校长");
    h.expect(&contact, "职务").await;
    contact.press("不填职务");
    let made = h.expect(&contact, "生成一次性邀请链接").await;
    let code = link_in(&made).rsplit('=').next().unwrap().to_string();
    contact.send(&format!("/start {code}"));
    h.expect(&contact, "您自己发出的邀请链接").await;
    officer.send(&format!("/people_{s1}"));
    h.expect(&officer, "已加入的人员").await;
    officer.press("🚫 撤销 学校王（学校联系人）");
    h.expect(&officer, "已撤销 学校王").await;
    let principal = h.fake.user(8101, "钱校长");
    principal.send(&format!("/start {code}"));
    h.expect(&principal, "该邀请链接无效").await;

    // An entry clerk invites nobody.
    let clerk = h.join(Role::EntryClerk, &d1, "登分员").await;
    clerk.send("/invite");
    h.expect(&clerk, "没有权限").await;
    h.stop().await;
}
