//! Scores go to schools only: strangers and people of other schools get nothing of a school.

use crate::support::*;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::candidates;
use fake_telegram::FakeUser;

/// Everything that identifies a school's candidates: names are common, so exam and id numbers.
async fn secrets_of_school(h: &Harness, school: &str) -> Vec<String> {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    candidates::of_school(&mut conn, season.id, school)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| [c.exam_no, c.reg_no, c.id_card])
        .collect()
}

fn everything_seen_by(h: &Harness, user: &FakeUser) -> String {
    let mut seen = String::new();
    for m in h.fake.messages_to(user.id) {
        seen.push_str(&m.text);
        if let Some((name, bytes)) = &m.document {
            seen.push_str(name);
            // The spreadsheet's strings, uncompressed.
            let path = h.write(&format!("seen-{}.xlsx", m.message_id), bytes);
            let mut book = calamine::open_workbook_auto(&path).unwrap();
            use calamine::Reader;
            for row in book.worksheet_range_at(0).unwrap().unwrap().rows() {
                for c in row {
                    seen.push_str(&c.to_string());
                    seen.push('|');
                }
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_other_schools_cannot_obtain_a_schools_scores() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let school_a = sample::school_code(0);
    let school_b = sample::school_code(2);
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let contact_a = h.join(Role::SchoolContact, &school_a, "A校 联系人").await;
    let contact_b = h.join(Role::SchoolContact, &school_b, "B校 联系人").await;
    let stranger = h.fake.user(666, "路人");

    // The stranger tries everything a curious parent could.
    for text in [
        "/start",
        "/start not-a-code",
        "/whoami",
        "/publish",
        "/help",
        "成绩多少",
        "/request 1",
    ] {
        stranger.send(text);
    }
    stranger.send_sticker();
    h.settle().await;
    // Someone who has not joined is answered once a minute (the refusal), and an invite link
    // is answered on its own; the rest of the minute is dropped unread.
    let refusals = h.fake.messages_to(stranger.id);
    assert_eq!(refusals.len(), 2, "{}", h.fake.transcript(stranger.id));
    assert!(
        refusals
            .iter()
            .all(|m| m.text.contains("仅供") || m.text.contains("链接无效")),
        "{}",
        h.fake.transcript(stranger.id)
    );

    // School B's contact tries to publish, with the command and with a crafted button.
    contact_b.send("/publish");
    h.wait_for_text(&contact_b, "没有权限").await;

    // The admin publishes; then both the stranger and B press the admin's confirm button data.
    admin.send("/publish");
    h.wait_for_text(&admin, "确认公布").await;
    let card = h
        .fake
        .messages_to(admin.id)
        .into_iter()
        .find(|m| !m.buttons().is_empty())
        .unwrap();
    let (_, data) = card.buttons()[0].clone();
    stranger.press_data(&card, &data);
    contact_b.press_data(&card, &data);
    stranger.press_data(&h.fake.messages_to(stranger.id)[0], "pub:ok:1");
    contact_b.press_data(&h.fake.messages_to(contact_b.id)[0], "pub:ok:1");
    contact_b.press_data(
        &h.fake.messages_to(contact_b.id)[0],
        "x".repeat(64).as_str(),
    );
    h.settle().await;
    let alerts = h.fake.callback_answers();
    // Every press is answered; the stranger's are over their limit and answered silently.
    assert_eq!(alerts.len(), 5);
    let refused: Vec<_> = alerts.iter().filter(|(_, _, alert)| *alert).collect();
    assert_eq!(refused.len(), 3, "{alerts:?}");
    assert!(
        refused
            .iter()
            .all(|(_, text, _)| text.contains("不适用") || text.contains("没有权限")),
        "{alerts:?}"
    );
    assert!(
        h.fake
            .messages_to(contact_a.id)
            .iter()
            .all(|m| m.document.is_none()),
        "nothing published yet"
    );

    admin.press("✅ 确认公布");
    h.wait_for_text(&admin, "成绩通知发送完毕").await;
    h.settle().await;

    let secrets_a = secrets_of_school(&h, &school_a).await;
    assert!(!secrets_a.is_empty());
    let seen_by_a = everything_seen_by(&h, &contact_a);
    // A's sheet carries every 准考证号 and 报名序号 of A (身份证号 are never sent to anyone).
    let numbers_a: Vec<&String> = secrets_a.chunks(3).flat_map(|c| &c[..2]).collect();
    assert!(
        numbers_a.iter().all(|s| seen_by_a.contains(s.as_str())),
        "A sees all of A"
    );
    for outsider in [&stranger, &contact_b] {
        let seen = everything_seen_by(&h, outsider);
        let leaked: Vec<&String> = secrets_a
            .iter()
            .filter(|s| seen.contains(s.as_str()))
            .collect();
        assert!(leaked.is_empty(), "chat {} saw {leaked:?}", outsider.id);
        assert!(
            !seen.contains("A校"),
            "chat {} saw school A's name",
            outsider.id
        );
    }
    // Group chats are not served at all.
    contact_a.send_in_group(-100, "/whoami");
    h.settle().await;
    assert!(h.fake.messages_to(-100).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_binds_once_and_expires_after_seven_days() {
    let h = Harness::start().await;
    h.sample_city().await;
    let school = sample::school_code(0);
    let link = h
        .app
        .invite(Role::Principal, &school, "校长 <张> & \"李\" 🎓", None)
        .await
        .unwrap();
    let code = link.rsplit('=').next().unwrap().to_string();
    let principal = h.fake.user(501, "张");
    let impostor = h.fake.user(502, "冒名者");
    principal.send(&format!("/start {code}"));
    h.wait_for_text(&principal, "绑定成功").await;
    // The name shows exactly as typed.
    h.wait_for_text(&principal, "校长 <张> & \"李\" 🎓").await;
    impostor.send(&format!("/start {code}"));
    h.wait_for_text(&impostor, "已被使用").await;
    principal.send("/whoami");
    h.wait_for_text(&principal, "校长：").await;

    let late_link = h
        .app
        .invite(Role::SchoolContact, &school, "迟到者", None)
        .await
        .unwrap();
    h.clock
        .advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    let late = h.fake.user(503, "迟到者");
    late.send(&format!("/start {}", late_link.rsplit('=').next().unwrap()));
    h.wait_for_text(&late, "过期").await;
    late.send("/whoami");
    h.wait_for_text(&late, "仅供").await;

    // Revoking the principal's binding leaves them a stranger.
    assert_eq!(h.app.revoke(501, None, None).await.unwrap(), 1);
    principal.send("/whoami");
    h.settle().await;
    assert!(
        h.fake
            .messages_to(501)
            .last()
            .unwrap()
            .text
            .contains("仅供")
    );
    h.stop().await;
}
