//! 附件1's directory (`/contacts`): the organizing group and office — the people the roster
//! gives a 职务 — of one's own unit and every unit above it, with their phone numbers. Never
//! another school's or district's, never anyone without a 职务, nothing to someone who has not
//! joined; and a directory longer than a Telegram message arrives whole, in several.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::app::Origin;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;

/// Invites the people of a roster (name, role, unit, class, phone, title), as a city admin
/// sending it does; nobody needs to join for their entry to be listed.
async fn roster(h: &Harness, rows: &[[&str; 6]]) {
    let mut text = String::from("姓名,角色,单位代码,班级,手机,职务\n");
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    let path = h.write("people.csv", text.as_bytes());
    let origin = Origin {
        actor: Actor::Cli,
        name: "people.csv",
    };
    h.app.invite_roster(origin, &path).await.unwrap();
}

/// Everything the bot said to a person in answer to their last `/contacts`.
async fn directory_of(h: &Harness, who: &fake_telegram::FakeUser) -> String {
    who.send("/contacts");
    h.expect(who, "组织机构与联系人").await;
    h.settle().await;
    let all = h.fake.messages_to(who.id);
    let from = all
        .iter()
        .rposition(|m| m.text.contains("组织机构与联系人"))
        .unwrap();
    all[from..]
        .iter()
        .map(|m| m.visible_text())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_person_sees_the_phones_of_their_own_units_organizing_group_and_those_above() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let units = sample::units(DISTRICTS, SCHOOLS);
    let school = units
        .iter()
        .find(|u| u.kind == "学校" && !u.city_direct)
        .unwrap();
    let district = school.parent.clone();
    let other_district = sample::district_code(1);
    assert_ne!(district, other_district);
    let other_school = units
        .iter()
        .find(|u| u.kind == "学校" && u.code != school.code)
        .unwrap();
    let pupil = h.school_candidates(&school.code).await.remove(0);
    roster(
        &h,
        &[
            [
                "周主任",
                "市级管理员",
                sample::CITY_CODE,
                "",
                "13900000001",
                "组长",
            ],
            [
                "吴科长",
                "县区装备管理",
                &district,
                "",
                "13900000002",
                "副组长",
            ],
            [
                "郑科长",
                "县区装备管理",
                &other_district,
                "",
                "13900000003",
                "副组长",
            ],
            ["钱校长", "校长", &school.code, "", "13900000004", "组长"],
            [
                "孙校长",
                "校长",
                &other_school.code,
                "",
                "13900000005",
                "组长",
            ],
            [
                "李老师",
                "班主任",
                &school.code,
                &pupil.class_name,
                "13900000006",
                "",
            ],
        ],
    )
    .await;

    // A 班主任 sees their school's group, their district's and the city's: not another school's
    // or district's, and not a colleague without a 职务.
    let teacher = h
        .join_class(
            Role::HomeroomTeacher,
            &school.code,
            &pupil.class_name,
            "王老师",
        )
        .await;
    let seen = directory_of(&h, &teacher).await;
    for phone in ["13900000001", "13900000002", "13900000004"] {
        assert!(seen.contains(phone), "{phone} missing from:\n{seen}");
    }
    for phone in ["13900000003", "13900000005", "13900000006"] {
        assert!(!seen.contains(phone), "{phone} shown to a 班主任:\n{seen}");
    }

    // Another district's officer sees their district and the city, none of the schools.
    let officer = h
        .join(Role::DistrictOfficer, &other_district, "冯科长")
        .await;
    let seen = directory_of(&h, &officer).await;
    for phone in ["13900000001", "13900000003"] {
        assert!(seen.contains(phone), "{phone} missing from:\n{seen}");
    }
    for phone in ["13900000002", "13900000004", "13900000005", "13900000006"] {
        assert!(
            !seen.contains(phone),
            "{phone} shown to another district:\n{seen}"
        );
    }

    // Someone who has not joined learns nothing.
    let stranger = h.fake.user(9_900_001, "路人");
    stranger.send("/contacts");
    h.settle().await;
    let said: String = h
        .fake
        .messages_to(stranger.id)
        .iter()
        .map(|m| m.visible_text())
        .collect();
    assert!(!said.contains("139000000"), "{said}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_longer_than_a_message_arrives_whole_in_several() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let names: Vec<String> = (0..160).map(|i| format!("成员{i:03}号")).collect();
    let phones: Vec<String> = (0..160).map(|i| format!("139{i:08}")).collect();
    let rows: Vec<[&str; 6]> = names
        .iter()
        .zip(&phones)
        .map(|(n, p)| {
            [
                n.as_str(),
                "市级管理员",
                sample::CITY_CODE,
                "",
                p.as_str(),
                "成员",
            ]
        })
        .collect();
    roster(&h, &rows).await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;
    let seen = directory_of(&h, &admin).await;
    for name in &names {
        assert!(
            seen.contains(name.as_str()),
            "{name} lost from the directory"
        );
    }
    let messages = h.fake.messages_to(admin.id);
    assert!(
        messages.len() >= 3,
        "one directory of 160 people in one message?"
    );
    for m in &messages {
        assert!(m.visible_text().encode_utf16().count() <= 4096);
    }
    h.stop().await;
}
