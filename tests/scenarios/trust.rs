//! The trust boundary, told as the stories that used to go wrong: a teacher looking beyond
//! their class, an inspector beyond their district, a filer approving their own request,
//! a flood of strangers, cards too long for Telegram, a second tap, a revoked person, an old
//! card. Each now gets the refusal or the bounded behaviour, and nothing of another class,
//! school or district reaches anyone (checked over everything the fake Telegram recorded).

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::clock::Clock;
use exam_review_bot::config::Config;
use exam_review_bot::domain::Role;
use exam_review_bot::domain::ids::mask;
use exam_review_bot::sample;
use exam_review_bot::store::candidates::Candidate;
use exam_review_bot::store::reviews::{self, NewEvent};
use fake_telegram::FakeUser;
use std::time::Duration;

/// Files through the dialogue and returns the request's number.
async fn file(h: &Harness, filer: &FakeUser, exam_no: &str) -> i64 {
    file_because(h, filer, exam_no, "主实验漏评").await
}

/// The same with `reason` as 本人申请理由.
async fn file_because(h: &Harness, filer: &FakeUser, exam_no: &str, reason: &str) -> i64 {
    filer.send("/review");
    h.expect(filer, "准考证号").await;
    filer.send(exam_no);
    h.expect(filer, "的照片或 PDF").await;
    filer.send_photo(&format!("form-{exam_no}"));
    h.expect(filer, "申请理由").await;
    filer.send(reason);
    h.expect(filer, "联系方式").await;
    filer.send("13800001234");
    h.expect(filer, "请核对申请内容").await;
    filer.press("✅ 提交");
    let filed = h.expect(filer, "已提交").await;
    let after = filed.split('#').nth(1).unwrap();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

fn all_text_to(h: &Harness, user: &FakeUser) -> String {
    h.fake
        .messages_to(user.id)
        .iter()
        .map(|m| m.visible_text())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn published_city() -> Harness {
    published_city_with(|_| {}).await
}

async fn published_city_with(tune: impl FnOnce(&mut Config)) -> Harness {
    let h = Harness::start_with(tune).await;
    h.sample_city().await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    h
}

/// The first candidate of the first school, with the school's contact and the candidate's
/// 班主任, both bound.
async fn a_class_with_its_contact_and_teacher(h: &mut Harness) -> (Candidate, FakeUser, FakeUser) {
    let school = sample::school_code(0);
    let pupil = h.school_candidates(&school).await.remove(0);
    let contact = h.join(Role::SchoolContact, &school, "联系人").await;
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &pupil.class_name, "王老师")
        .await;
    (pupil, contact, teacher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_homeroom_teacher_reaches_only_their_own_class_and_sees_ids_masked() {
    let mut h = published_city().await;
    let school = sample::school_code(0);
    let pupils = h.school_candidates(&school).await;
    let mine = pupils[0].clone();
    let other = pupils
        .iter()
        .find(|c| c.class_name != mine.class_name)
        .unwrap()
        .clone();
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &mine.class_name, "王老师")
        .await;

    // Another class's 准考证号 (they are sequential) answers as an unknown number.
    teacher.send("/review");
    h.expect(&teacher, "准考证号").await;
    teacher.send(&other.exam_no);
    h.expect(&teacher, "未找到本校准考证号").await;
    // Their own pupil: the form shows 身份证号 and 学籍号 masked.
    teacher.send(&mine.exam_no);
    h.expect(&teacher, "的照片或 PDF").await;
    teacher.send_photo("form-mine");
    h.expect(&teacher, "申请理由").await;
    teacher.send("漏评");
    h.expect(&teacher, "联系方式").await;
    teacher.send("13800001234");
    let form = h.expect(&teacher, "请核对申请内容").await;
    assert!(form.contains(&mask(&mine.id_card)), "{form}");
    teacher.send("/cancel");
    h.settle().await;
    let seen = all_text_to(&h, &teacher);
    for secret in [&other.name, &other.id_card, &mine.id_card, &mine.student_no] {
        assert!(
            !seen.contains(secret.as_str()),
            "the teacher saw {secret}:\n{seen}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_of_one_district_reads_only_that_districts_requests() {
    let mut h = published_city().await;
    let school = sample::school_code(0);
    let pupil = h.school_candidates(&school).await.remove(0);
    let contact = h.join(Role::SchoolContact, &school, "联系人").await;
    let here = h
        .join(Role::Inspector, &sample::district_code(0), "本区纪检")
        .await;
    let there = h
        .join(Role::Inspector, &sample::district_code(1), "邻区纪检")
        .await;
    let id = file(&h, &contact, &pupil.exam_no).await;
    there.send(&format!("/request {id}"));
    h.expect(&there, "找不到复核申请").await;
    here.send(&format!("/request {id}"));
    h.expect(&here, "处理记录").await;
    h.settle().await;
    assert!(!all_text_to(&h, &there).contains(&pupil.name));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filer_cannot_approve_and_one_person_cannot_sign_two_levels() {
    // A route with a district level above the school's (config/city-wide-group.toml).
    let mut h = published_city_with(city_wide_group).await;
    let school = sample::school_code(0);
    let pupil = h.school_candidates(&school).await.remove(0);
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &pupil.class_name, "王老师")
        .await;
    let second_teacher = h
        .join_class(
            Role::HomeroomTeacher,
            &school,
            &pupil.class_name,
            "副班主任",
        )
        .await;
    // The principal is also the district's officer; a second officer exists.
    let both = h.join(Role::Principal, &school, "李校长").await;
    let link = h
        .app
        .invite(
            Role::DistrictOfficer,
            &sample::district_code(0),
            "李校长",
            None,
        )
        .await
        .unwrap();
    both.send(&format!("/start {}", link.rsplit('=').next().unwrap()));
    h.wait_for_text(&both, "绑定成功").await;
    let officer = h
        .join(Role::DistrictOfficer, &sample::district_code(0), "赵科长")
        .await;

    let id = file(&h, &teacher, &pupil.exam_no).await;
    // The filer is not sent a card; a crafted press is refused with the reason.
    h.expect(&second_teacher, "待您审核").await;
    let own = h.fake.messages_to(teacher.id).last().unwrap().clone();
    teacher.press_data(&own, &format!("rv:{id}:s0r1:a"));
    h.settle().await;
    let answers = h.fake.callback_answers();
    assert!(
        answers
            .iter()
            .any(|(_, t, alert)| *alert && t.contains("本人不审本人")),
        "{answers:?}"
    );
    second_teacher.press("✅ 同意");
    h.expect(&both, "待您审核").await;
    both.press("✅ 同意");
    // The district level goes to the other officer only.
    h.expect(&officer, "待您审核").await;
    h.settle().await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (cards_to_both,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM review_cards WHERE user_id = $1")
            .bind(both.id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    assert_eq!(
        cards_to_both,
        1,
        "only the 校长 card: {}",
        h.fake.transcript(both.id)
    );
    let card = h.fake.messages_to(both.id).last().unwrap().clone();
    both.press_data(&card, &format!("rv:{id}:s2r1:a"));
    h.settle().await;
    assert!(
        h.fake
            .callback_answers()
            .iter()
            .any(|(_, t, alert)| *alert && t.contains("另一级签过意见")),
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_strangers_does_not_delay_a_school_contacts_review() {
    let mut h = published_city().await;
    let (pupil, contact, teacher) = a_class_with_its_contact_and_teacher(&mut h).await;
    let strangers: Vec<FakeUser> = (0..20).map(|i| h.fake.user(80_000 + i, "路人")).collect();
    for round in 0..300 {
        for s in &strangers {
            s.send(&format!("刷屏 {round}"));
        }
        if round == 10 {
            contact.send("/review");
        }
    }
    h.expect(&contact, "准考证号").await;
    contact.send(&pupil.exam_no);
    h.expect(&contact, "的照片或 PDF").await;
    contact.send_photo("form");
    h.expect(&contact, "申请理由").await;
    contact.send("漏评");
    h.expect(&contact, "联系方式").await;
    contact.send("13800001234");
    h.expect(&contact, "请核对申请内容").await;
    contact.press("✅ 提交");
    h.expect(&contact, "已提交").await;
    h.expect(&teacher, "待您审核").await;
    h.settle().await;
    // Each stranger got one refusal for their 300 messages.
    for s in &strangers {
        assert_eq!(
            h.fake.messages_to(s.id).len(),
            1,
            "{}",
            h.fake.transcript(s.id)
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_and_lists_always_fit_in_a_message_and_the_whole_text_is_a_tap_away() {
    let mut h = published_city().await;
    let school = sample::school_code(0);
    let pupils = h.school_candidates(&school).await;
    let contact = h.join(Role::SchoolContact, &school, "联系人").await;
    let teacher = h
        .join_class(
            Role::HomeroomTeacher,
            &school,
            &pupils[0].class_name,
            "王老师",
        )
        .await;
    let principal = h.join(Role::Principal, &school, "李校长").await;
    let id = file(&h, &contact, &pupils[0].exam_no).await;
    h.expect(&teacher, "待您审核").await;
    // Twelve long opinions from earlier rounds (returns are 500 characters at most each).
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    for i in 0..12 {
        let long = format!("第{i}轮意见：{}", "理由很长".repeat(124));
        let event = NewEvent {
            request_id: id,
            user_id: 5,
            actor_name: "前任班主任",
            actor_role: "homeroom-teacher",
            step: Some(0),
            round: 1,
            action: "return",
            comment: &long,
        };
        reviews::add_event(&mut conn, &event, h.clock.now())
            .await
            .unwrap();
    }
    drop(conn);
    teacher.press("✅ 同意");
    let card = h.expect(&principal, "待您审核").await;
    assert!(card.chars().count() <= 4096, "{}", card.chars().count());
    let sent = h.fake.messages_to(principal.id).last().unwrap().clone();
    let labels: Vec<String> = sent.buttons().into_iter().map(|(l, _)| l).collect();
    assert!(labels.iter().any(|l| l.contains("同意")), "{labels:?}");
    principal.press("📄 全部意见");
    h.expect(&principal, "第11轮意见").await;
    h.settle().await;
    for m in h.fake.messages_to(principal.id) {
        assert!(m.visible_text().chars().count() <= 4096);
    }

    // 25 requests waiting for the principal: /pending comes in pages.
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    for (n, p) in pupils.iter().skip(1).take(25).enumerate() {
        sqlx::query(
            "INSERT INTO review_requests (season_id, candidate_id, school_code, filer_user_id,
                filer_chat_id, filer_name, reason, contact, state, step, original_score,
                created_at, updated_at)
             VALUES (1, $1, $2, $3, $3, '联系人', '漏评', '13800001234', 'pending', 1, $4, $5, $5)",
        )
        .bind(p.id)
        .bind(&school)
        .bind(contact.id)
        .bind(p.score)
        .bind(n as i64)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    drop(conn);
    principal.send("/pending");
    let first = h.expect(&principal, "待您处理的申请（26）").await;
    assert!(first.contains("第 1/3 页"), "{first}");
    principal.press("下一页 ▶️");
    h.expect(&principal, "第 2/3 页").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_people_leave_no_power_behind_and_invites_are_kept_as_hashes() {
    let mut h = published_city().await;
    let school = sample::school_code(0);
    let pupil = h.school_candidates(&school).await.remove(0);
    let contact = h.join(Role::SchoolContact, &school, "老联系人").await;
    let successor = h.join(Role::SchoolContact, &school, "新联系人").await;
    let id = file(&h, &contact, &pupil.exam_no).await;
    h.app.revoke(contact.id, None, None).await.unwrap();
    h.expect(&successor, &format!("#{id} 已转由您跟进")).await;
    successor.send(&format!("/request {id}"));
    h.expect(&successor, "处理记录").await;
    let detail = h.fake.messages_to(successor.id).last().unwrap().clone();
    assert!(detail.buttons().iter().any(|(l, _)| l.contains("撤回申请")));

    // An invite nobody used yet is revoked; its link then fails.
    let link = h
        .app
        .invite(Role::Principal, &school, "未到任校长", None)
        .await
        .unwrap();
    let code = link.rsplit('=').next().unwrap().to_string();
    assert!(h.app.revoke_invite(&link).await.unwrap());
    let late = h.fake.user(4242, "未到任校长");
    late.send(&format!("/start {code}"));
    h.expect(&late, "链接无效").await;
    // No code is stored in clear; the admins hear who joined.
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let stored: Vec<(String,)> = sqlx::query_as("SELECT code FROM invites")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|(c,)| c.starts_with("sha256:") && !c.contains(&code))
    );
    drop(conn);
    if !h.db.is_postgres() {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let path = h.dir().join(format!("test.db{suffix}"));
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_on_a_card_too_old_to_show_is_judged_by_the_pressers_rights() {
    let mut h = published_city().await;
    let (pupil, contact, teacher) = a_class_with_its_contact_and_teacher(&mut h).await;
    let principal = h
        .join(Role::Principal, &sample::school_code(0), "李校长")
        .await;
    let id = file(&h, &contact, &pupil.exam_no).await;
    h.expect(&teacher, "待您审核").await;
    let card = h.fake.messages_to(teacher.id).last().unwrap().clone();
    let approve = card.buttons()[0].1.clone();
    // The principal presses it as an old card in their own chat: not theirs to press.
    principal.press_inaccessible(&card, &approve);
    h.settle().await;
    teacher.press_inaccessible(&card, &approve);
    h.expect(&principal, "待您审核").await;
    let answers = h.fake.callback_answers();
    assert_eq!(
        answers.iter().filter(|(_, _, alert)| *alert).count(),
        1,
        "{answers:?}"
    );
    let _ = id;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_boards_and_lists_are_read_while_a_long_write_holds_the_gate() {
    let mut h = published_city().await;
    let (pupil, contact, teacher) = a_class_with_its_contact_and_teacher(&mut h).await;
    let officer = h
        .join(Role::DistrictOfficer, &sample::district_code(0), "区考务")
        .await;
    let id = file(&h, &contact, &pupil.exam_no).await;
    // Something holds this process's SQLite write gate, as a long import does. The reads
    // behind /status, /pending and /myrequests go on; only queueing their reply would wait.
    let gate = h.app.db.write_gate().await;
    let reads = async {
        let board = h.app.status_board(officer.id).await.unwrap();
        let (pending, _) = h.app.pending_page(teacher.id, 0).await.unwrap();
        let (mine, _) = h.app.my_requests_page(contact.id, 0).await.unwrap();
        (board, pending, mine)
    };
    // Not a timing assertion: a read that waited for the gate would wait for ever.
    let (board, pending, mine) = tokio::time::timeout(Duration::from_secs(120), reads)
        .await
        .expect("a read-only command waited for the write gate");
    drop(gate);
    assert!(board.contains("班主任"), "{board}");
    assert!(pending.contains(&format!("#{id}")), "{pending}");
    assert!(mine.contains(&format!("#{id}")), "{mine}");
    h.stop().await;
}

/// The only 班主任 of a class files for their own pupil: the filing is the 班主任's opinion,
/// as on 附件2, and the request goes on to the 校长 instead of waiting at a level only its
/// filer holds. A principal who is also the school's contact files: the 校长's level has
/// nobody else, and the message says that (not that nobody is bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lone_homeroom_teachers_filing_reaches_the_principal() {
    let mut h = published_city().await;
    let school = sample::school_code(0);
    let (pupil, _contact, teacher) = a_class_with_its_contact_and_teacher(&mut h).await;
    let principal = h.join(Role::Principal, &school, "李校长").await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;

    let id = file(&h, &teacher, &pupil.exam_no).await;
    h.expect(&principal, "待您审核").await;
    for who in [&teacher, &admin] {
        let said = all_text_to(&h, who);
        assert!(
            !said.contains("班主任 尚无人绑定") && !said.contains("已绑定的人都不能审核"),
            "{said}"
        );
    }
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (approvals,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM review_events
         WHERE request_id = $1 AND action = 'approve' AND step = 0 AND user_id = $2",
    )
    .bind(id)
    .bind(teacher.id)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    assert_eq!(
        approvals, 1,
        "the filing is recorded as the 班主任's opinion"
    );

    let link = h
        .app
        .invite(Role::SchoolContact, &school, "李校长", None)
        .await
        .unwrap();
    principal.send(&format!("/start {}", link.rsplit('=').next().unwrap()));
    h.wait_for_text(&principal, "绑定成功").await;
    let other = h
        .school_candidates(&school)
        .await
        .into_iter()
        .find(|c| c.class_name == pupil.class_name && c.exam_no != pupil.exam_no)
        .expect("a classmate");
    file(&h, &principal, &other.exam_no).await;
    h.expect(&principal, "校长 已绑定的人都不能审核本申请")
        .await;
    h.expect(&admin, "校长 已绑定的人都不能审核本申请").await;
    h.stop().await;
}

/// The longest 理由 the form takes (500 characters): the filer's preview, the 班主任's card and
/// the 📄 full text each fit a Telegram message, and the card keeps its buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_reason_fits_every_message_of_its_request() {
    let mut h = published_city().await;
    let (pupil, contact, teacher) = a_class_with_its_contact_and_teacher(&mut h).await;
    let reason: String = "主实验第三步的操作得分没有计入总分，副实验一的器材整理分也未见记录。"
        .repeat(20)
        .chars()
        .take(500)
        .collect();
    let id = file_because(&h, &contact, &pupil.exam_no, &reason).await;
    h.expect(&teacher, "待您审核").await;
    teacher.send(&format!("/request {id}"));
    h.expect(&teacher, "成绩复核申请表").await;
    h.settle().await;
    for who in [&contact, &teacher] {
        for m in h.fake.messages_to(who.id) {
            let shown = m.visible_text().encode_utf16().count();
            assert!(shown <= 4096, "{shown} characters to {}", who.id);
        }
    }
    let card = h
        .fake
        .messages_to(teacher.id)
        .into_iter()
        .find(|m| m.text.contains(&format!("#{id}")) && !m.buttons().is_empty())
        .expect("the 班主任's card with its buttons");
    assert!(card.visible_text().contains(&reason[..30]), "{}", card.text);
    h.stop().await;
}

/// 附件5 as a file carries 身份证号 and 学籍号 in full for exactly the units that stamp and file
/// it (the school's contact and 校长, the district's officer, the city admins), masked for
/// everyone else who may see it; each copy is audited, and the form names the candidate as 申请人
/// and the school's staff as 经办人.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_form_goes_to_the_units_that_stamp_it_and_a_masked_one_to_the_rest() {
    let mut h = published_city().await;
    let school = sample::school_code(0);
    let pupil = h.school_candidates(&school).await.remove(0);
    let d0 = sample::district_code(0);
    let contact = h.join(Role::SchoolContact, &school, "联系人 刘").await;
    let principal = h.join(Role::Principal, &school, "李校长").await;
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &pupil.class_name, "王老师")
        .await;
    let officer = h.join(Role::DistrictOfficer, &d0, "赵科长").await;
    let proctor = h.join(Role::ChiefProctorRep, &d0, "主监考代表 孙").await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let id = file(&h, &contact, &pupil.exam_no).await;
    for (who, full) in [
        (&contact, true),
        (&principal, true),
        (&officer, true),
        (&admin, true),
        (&teacher, false),
        (&proctor, false),
    ] {
        h.app.review_form_button(who.id, who.id, id).await.unwrap();
        h.settle().await;
        let sent = h
            .fake
            .messages_to(who.id)
            .into_iter()
            .rev()
            .find_map(|m| m.document)
            .unwrap_or_else(|| panic!("no form to {}", who.id));
        let text: String = h.cells(&sent.1).concat().join(" ");
        let shown = |id: &str| if full { id.to_string() } else { mask(id) };
        assert!(
            text.contains(&shown(&pupil.id_card)) && text.contains(&shown(&pupil.student_no)),
            "{} (full {full}): {text}",
            who.id
        );
        if !full {
            assert!(!text.contains(&pupil.id_card), "{text}");
        }
        assert!(
            text.contains(&format!("申请人：{}", pupil.name)) && text.contains("经办人：联系人 刘"),
            "{text}"
        );
    }
    let (full, masked): (i64, i64) = sqlx::query_as(
        "SELECT SUM(CASE WHEN detail LIKE '%in full' THEN 1 ELSE 0 END),
                SUM(CASE WHEN detail LIKE '%masked' THEN 1 ELSE 0 END)
         FROM audit_chain WHERE action = 'export-review-form'",
    )
    .fetch_one(&h.app.db.pool)
    .await
    .unwrap();
    assert_eq!((full, masked), (4, 2));
    h.stop().await;
}
