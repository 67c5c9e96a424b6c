//! The city admin publishes; every school hears once, districts get summaries, the admin a report.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;

fn documents_to(h: &Harness, chat: i64) -> Vec<(String, Vec<u8>)> {
    h.fake
        .messages_to(chat)
        .into_iter()
        .filter_map(|m| m.document)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_school_contact_gets_its_own_scores_exactly_once() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    // School 1 (the one without a contact) lies in the second district, 西山区.
    let officer = h
        .join(
            Role::DistrictOfficer,
            &sample::district_code(1),
            "西山区 李科长",
        )
        .await;
    // Every school but the second has a contact; the first has two.
    let mut contacts = Vec::new();
    for s in (0..SCHOOLS).filter(|s| *s != 1) {
        let code = sample::school_code(s);
        contacts.push((
            code.clone(),
            h.join(Role::SchoolContact, &code, &format!("联系人{s}"))
                .await,
        ));
    }
    let second = h
        .join(
            Role::SchoolContact,
            &sample::school_code(0),
            "一中 副联系人",
        )
        .await;
    contacts.push((sample::school_code(0), second));

    // The city admin asks in chat; the bot shows what will happen and waits for the tap.
    admin.send("/publish");
    h.wait_for_text(&admin, "确认公布").await;
    admin.press("✅ 确认公布");
    h.wait_for_text(&admin, "成绩通知发送完毕").await;
    h.settle().await;

    for (code, user) in &contacts {
        let docs = documents_to(&h, user.id);
        assert_eq!(docs.len(), 1, "{code} contact got {} notices", docs.len());
        let notice = &h.fake.messages_to(user.id)[1];
        let text = notice.visible_text();
        assert!(
            text.contains("2023年5月2日 24:00"),
            "review deadline shown absolutely:\n{text}"
        );
        assert!(text.contains("复核"), "{text}");
        assert!(!text.contains("晚于规定期限"), "published in time:\n{text}");
        // The spreadsheet holds exactly this school's candidates.
        let (name, bytes) = &docs[0];
        assert!(name.ends_with(".xlsx"));
        let path = h.write("got.xlsx", bytes);
        let mut book = calamine::open_workbook_auto(&path).unwrap();
        use calamine::Reader;
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        let header: Vec<String> = sheet
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            header[..7],
            [
                "序号",
                "学校",
                "姓名",
                "报名序号",
                "准考证号",
                "考试时间、批次、场次、座号",
                "成绩"
            ]
        );
        assert_eq!(sheet.height() - 1, CANDIDATES / SCHOOLS, "{code}");
    }
    let report = h
        .fake
        .messages_to(admin.id)
        .iter()
        .map(|m| m.visible_text())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(report.contains("按期"), "{report}");
    assert!(
        report.contains(&sample::school_code(1)),
        "the school without a contact is named:\n{report}"
    );
    assert!(report.contains("成功 6 条"), "{report}");
    // The summary's text (its chart and workbook follow it).
    let summary = h
        .fake
        .messages_to(officer.id)
        .iter()
        .map(|m| m.visible_text())
        .find(|t| t.contains("成绩已公布"))
        .unwrap();
    assert!(
        summary.contains("西山区") && summary.contains("无学校联系人"),
        "{summary}"
    );

    // Publishing again sends nothing twice; a contact bound since then gets theirs.
    let sent_before = h.fake.all_sent().len();
    let outcome = h.app.publish(Actor::Cli, None).await.unwrap();
    assert!(!outcome.first_time);
    assert_eq!(outcome.new_notices, 0);
    h.settle().await;
    let new_docs: usize = h.fake.all_sent()[sent_before..]
        .iter()
        .filter(|m| m.document.is_some())
        .count();
    assert_eq!(new_docs, 0);
    let late_comer = h
        .join(Role::SchoolContact, &sample::school_code(1), "二中 联系人")
        .await;
    let outcome = h.app.publish(Actor::Cli, None).await.unwrap();
    assert_eq!(outcome.new_notices, 1);
    h.settle().await;
    assert_eq!(documents_to(&h, late_comer.id).len(), 1);
    for (_, user) in &contacts {
        assert_eq!(documents_to(&h, user.id).len(), 1);
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_after_the_two_day_deadline_works_and_says_it_is_late() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let contact = h
        .join(Role::SchoolContact, &sample::school_code(0), "王老师")
        .await;
    // 24:00 of April 30 has passed: it is May 1, 00:00:01.
    h.clock
        .set(shanghai(2023, 5, 1, 0, 0) + chrono::Duration::seconds(1));
    admin.send("/publish");
    h.wait_for_text(&admin, "现已逾期").await;
    admin.press("✅ 确认公布");
    h.wait_for_text(&contact, "晚于规定期限（2023年4月30日 24:00）")
        .await;
    h.wait_for_text(&admin, "已逾期公布").await;
    // The review window counts from the real publication day.
    h.wait_for_text(&contact, "2023年5月4日 24:00").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_confirmation_publishes_nothing() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let contact = h
        .join(Role::SchoolContact, &sample::school_code(0), "王老师")
        .await;
    admin.send("/publish");
    h.wait_for_text(&admin, "确认公布").await;
    admin.press("取消");
    h.wait_for_text(&admin, "已取消").await;
    h.settle().await;
    assert_eq!(h.fake.messages_to(contact.id).len(), 1, "only the welcome");
    // The card lost its buttons.
    assert!(
        h.fake
            .messages_to(admin.id)
            .iter()
            .all(|m| m.buttons().is_empty())
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_menu_is_registered_in_chinese() {
    let h = Harness::start().await;
    let ok = h
        .fake
        .wait_until(std::time::Duration::from_secs(10), |f| {
            f.menu(None).is_some()
        })
        .await;
    assert!(ok);
    let described = h.app.render.command_menu().unwrap();
    assert!(
        described
            .iter()
            .any(|(c, d)| c == "publish" && d.contains("公布"))
    );
    h.stop().await;
}
