//! 免考 (附件2, 附件3): before the exam a candidate who cannot sit the lab exam applies through
//! their 班主任 or the school's contact; the application climbs the school (审核小组组长 and 校长),
//! the county (at least three officers' signatures) and the city; an approved candidate is given
//! the configured share of the full score, and each county reports its 免考汇总表.

use crate::support::*;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::{candidates, roster};
use fake_telegram::FakeUser;

/// Applications close at 2023-04-10 18:00 Beijing time; the exam runs 04-26 to 04-28.
fn closes() -> chrono::DateTime<chrono::Utc> {
    shanghai(2023, 4, 10, 18, 0)
}

/// A city three weeks before its exam: units, the season, the roster; no scores yet.
struct Before {
    h: Harness,
    pupil: roster::Row,
    teacher: FakeUser,
    contact: FakeUser,
    leader: FakeUser,
    principal: FakeUser,
    officers: Vec<FakeUser>,
    admin: FakeUser,
}

async fn before_the_exam() -> Before {
    let mut h = Harness::start().await;
    h.clock.set(shanghai(2023, 4, 1, 10, 0));
    let units = h.write(
        "units.csv",
        sample::units_csv(&sample::units(DISTRICTS, SCHOOLS)).as_bytes(),
    );
    h.app.import_units(&units).await.unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2023, 4, 28).unwrap();
    h.app
        .set_season(2023, last, chrono_tz::Asia::Shanghai, 30)
        .await
        .unwrap();
    h.app
        .set_exemption_window(Some(closes()), chrono::NaiveDate::from_ymd_opt(2023, 4, 26))
        .await
        .unwrap();
    let file = h.write(
        "roster.csv",
        sample::roster_csv(CANDIDATES, SCHOOLS, 7).as_bytes(),
    );
    h.app.import_candidates(&file).await.unwrap();
    let school = sample::school_code(0);
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    let pupil = roster::by_exam_no(&mut conn, season.id, "202300000001")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert_eq!(pupil.school_code, school);
    let teacher = h
        .join_class(
            Role::HomeroomTeacher,
            &school,
            &pupil.class_name,
            "班主任 王老师",
        )
        .await;
    let contact = h.join(Role::SchoolContact, &school, "一中 联系人").await;
    let leader = h
        .join(Role::SchoolReviewLeader, &school, "审核组长 孙老师")
        .await;
    let principal = h.join(Role::Principal, &school, "校长 李校长").await;
    let mut officers = Vec::new();
    for name in [
        "东湖区 赵科长",
        "东湖区 钱科员",
        "东湖区 孙科员",
        "东湖区 李科员",
    ] {
        officers.push(
            h.join(Role::DistrictOfficer, &sample::district_code(0), name)
                .await,
        );
    }
    let admin = h
        .join(Role::CityAdmin, sample::CITY_CODE, "市装备中心 周主任")
        .await;
    Before {
        h,
        pupil,
        teacher,
        contact,
        leader,
        principal,
        officers,
        admin,
    }
}

/// `filer` fills 附件2 for the candidate and submits it; returns the application's number.
async fn apply(h: &Harness, filer: &FakeUser, exam_no: &str) -> i64 {
    apply_because(h, filer, exam_no, "右臂骨折，无法完成实验操作").await
}

/// The same with `reason` as 申请事由.
async fn apply_because(h: &Harness, filer: &FakeUser, exam_no: &str, reason: &str) -> i64 {
    filer.send("/exempt");
    h.expect(filer, "准考证号").await;
    filer.send(exam_no);
    h.expect(filer, "年龄").await;
    filer.press("✅ 年龄无误");
    h.expect(filer, "联系人").await;
    filer.send("王父");
    h.expect(filer, "联系方式").await;
    filer.send("13800001234");
    h.expect(filer, "证明材料的种类").await;
    filer.press("残疾证");
    h.expect(filer, "申请事由").await;
    filer.send(reason);
    h.expect(filer, "一寸照片").await;
    filer.send_photo(&format!("photo-{exam_no}"));
    h.expect(filer, "证明材料").await;
    filer.send_photo(&format!("proof1-{exam_no}"));
    h.expect(filer, "已收到 1 份").await;
    filer.send_file(
        &format!("proof2-{exam_no}"),
        "诊断证明.pdf",
        "application/pdf",
    );
    h.expect(filer, "已收到 2 份").await;
    filer.press("✅ 证明已发完");
    h.expect(filer, "签字的申请页").await;
    filer.send_photo(&format!("page-{exam_no}"));
    let form = h.expect(filer, "请核对免考申请内容").await;
    assert!(
        form.contains("联系人：王父　联系方式：13800001234"),
        "{form}"
    );
    assert!(
        form.contains(&format!("申请事由：{reason}（证明：残疾证）")),
        "{form}"
    );
    filer.press("✅ 提交");
    let filed = h.expect(filer, "已由").await;
    filed
        .split('#')
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The level an application stands at on `who`'s season board, once its line there says
/// `signed`; the board's level filter keeps it at that level and drops it at any other.
async fn county_on_the_board(h: &Harness, who: &FakeUser, id: i64, signed: &str) -> String {
    let base = crate::board::serve_board(h).await;
    let mut board = crate::board::Browser::new(&base);
    let now = h.app.clock.now().timestamp();
    assert_eq!(
        board.sign_in(who.init_data(crate::board::TOKEN, now)).await,
        204
    );
    let row_of = |page: &str| -> String {
        page.split(&format!("<tr data-id=\"{id}\">"))
            .nth(1)
            .map(|r| r.split("</tr>").next().unwrap().to_string())
            .unwrap_or_default()
    };
    let list = "/board/requests?purpose=exemption";
    let page =
        crate::board_tabs::page_becomes(h, &board, list, |p| row_of(p).contains(signed)).await;
    // The level is the line's 当前环节, before the signatures under it.
    let row = row_of(&page);
    let cells: Vec<&str> = row.split("<td>").collect();
    let level = cells[6].split("<br>").next().unwrap().to_string();
    let kept = board.get(&format!("{list}&level={level}")).await.1;
    assert!(!row_of(&kept).is_empty(), "{kept}");
    let dropped = board.get(&format!("{list}&level=校长")).await.1;
    assert!(row_of(&dropped).is_empty(), "{dropped}");
    level
}

async fn state_of(h: &Harness, id: i64) -> (String, i64) {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query_as("SELECT state, step FROM review_requests WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

fn has_card(h: &Harness, user: &FakeUser, id: i64) -> bool {
    h.fake
        .messages_to(user.id)
        .iter()
        .any(|m| m.text.contains(&format!("免考申请 #{id}")) && !m.buttons().is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_climbs_every_level_and_the_candidate_is_given_eighteen_of_thirty() {
    let Before {
        mut h,
        pupil,
        teacher,
        contact,
        leader,
        principal,
        officers,
        admin,
    } = before_the_exam().await;
    // Age on the first exam day, from the 身份证号 (born 2008-02-01 by the sample's rule).
    teacher.send("/exempt");
    h.expect(&teacher, "准考证号").await;
    teacher.send(&pupil.exam_no);
    let age = h.expect(&teacher, "年龄为").await;
    assert!(age.contains(&pupil.name), "{age}");
    teacher.send("/cancel");
    h.expect(&teacher, "已取消").await;

    let id = apply(&h, &teacher, &pupil.exam_no).await;
    // The 班主任 filed it: their level is signed; the school's 审核小组组长 has it, and the
    // contact heard of it.
    let card = h.expect(&leader, &format!("免考申请 #{id}")).await;
    assert!(card.contains("班主任 班主任 王老师：同意"), "{card}");
    assert!(card.contains("年龄：15"), "{card}");
    h.expect(&contact, &format!("免考申请 #{id}")).await;
    assert!(
        !has_card(&h, &principal, id),
        "the 校长 comes after the 组长"
    );

    // One tap shows the photo, both proofs and the signed page.
    leader.press("📎 照片与证明");
    h.expect(&leader, "学生与家长签字的申请页").await;
    let files: Vec<String> = h
        .fake
        .messages_to(leader.id)
        .iter()
        .filter_map(|m| m.file_id.clone())
        .collect();
    let exam_no = &pupil.exam_no;
    for f in ["photo", "proof1", "proof2", "page"] {
        assert!(files.contains(&format!("{f}-{exam_no}")), "{f}: {files:?}");
    }

    // The school's level needs both: the 组长, then the 校长.
    leader.press("✅ 同意");
    h.expect(&principal, &format!("免考申请 #{id}")).await;
    h.expect(&contact, "审核小组组长").await;
    assert!(officers.iter().all(|o| !has_card(&h, o, id)));
    principal.press("✅ 同意");
    for o in &officers {
        h.expect(o, &format!("免考申请 #{id}")).await;
    }

    // The county: the same officer twice counts once; three distinct officers sign.
    officers[0].press("✅ 同意");
    h.expect(&officers[0], "本级已有 1 人同意").await;
    officers[0].press("✅ 同意");
    h.settle().await;
    assert_eq!(state_of(&h, id).await, ("pending".into(), 3));
    officers[1].press("✅ 同意");
    h.expect(&officers[1], "本级已有 2 人同意").await;
    assert_eq!(state_of(&h, id).await, ("pending".into(), 3));
    // The county's season board: the application at its level, with the signatures so far.
    let level = county_on_the_board(&h, &officers[2], id, "已签 2 人").await;
    assert!(!level.is_empty());
    assert!(
        !has_card(&h, &admin, id),
        "two signatures do not pass the county"
    );
    officers[2].press("✅ 同意");
    // 附件3: agreed by the county, it waits for the county's 上报 before the city decides.
    let card = h.expect(&officers[3], "免考申请上报市级（附件3）").await;
    assert!(card.contains(&format!("#{id}")), "{card}");
    assert_eq!(state_of(&h, id).await, ("reporting".into(), 4));
    assert!(
        !has_card(&h, &admin, id),
        "the city waits for the county's list"
    );
    // Waiting to be sent up, it is the county officers' to remind, not a review group's.
    let group_member = h
        .join(Role::Inspector, &sample::district_code(0), "东湖区 纪检 周")
        .await;
    h.sweep(closes() - chrono::Duration::minutes(150)).await;
    let urgent = h.expect(&officers[3], "紧急提醒").await;
    assert!(
        urgent.contains(&format!("#{id}")) && urgent.contains("待上报附件3"),
        "{urgent}"
    );
    h.settle().await;
    assert!(
        h.fake
            .messages_to(group_member.id)
            .iter()
            .all(|m| !m.text.contains(&format!("#{id}"))),
        "{}",
        h.fake.transcript(group_member.id)
    );
    officers[3].press("📤 上报附件3（1 份）");
    let sent = h.expect(&admin, "已上报免考汇总表（附件3）").await;
    assert!(sent.contains("1 份"), "{sent}");
    let list = h
        .fake
        .messages_to(admin.id)
        .into_iter()
        .find_map(|m| m.document)
        .expect("the county's 附件3 reaches the city");
    assert!(
        list.0.starts_with("附件3_免考汇总表_东湖区_上报"),
        "{}",
        list.0
    );
    let rows = h.cells(&list.1);
    assert_eq!(rows[1][0], "县市区盖章：东湖区");
    assert_eq!(rows[3][6], "13800001234");
    assert!(
        rows[3][7].starts_with("县级同意：") && rows[3][7].contains("东湖区 孙科员"),
        "the county's opinion and its signers: {:?}",
        rows[3]
    );
    h.expect(&admin, &format!("免考申请 #{id}")).await;
    assert_eq!(state_of(&h, id).await, ("pending".into(), 4));
    admin.press("✅ 同意");
    for side in [&teacher, &contact] {
        let done = h.expect(side, "该考生免考").await;
        assert!(done.contains("18"), "{done}");
    }
    assert_eq!(state_of(&h, id).await.0, "completed");

    // 附件2 with every level's opinion, names and times.
    let form = h.app.export_review_form(id).await.unwrap();
    assert!(form.name.starts_with("附件2_免考申请表"), "{}", form.name);
    // With the bot running, the 一寸 photo is fetched from Telegram and printed in its box.
    let has_picture = form.bytes.windows(14).any(|w| w == b"xl/media/image");
    assert!(has_picture, "the photo is in the form");
    let text = h.cells(&form.bytes).concat().join("\n");
    for who in [
        "王老师",
        "孙老师",
        "李校长",
        "赵科长",
        "钱科员",
        "孙科员",
        "周主任",
    ] {
        assert!(text.contains(who), "{who} in:\n{text}");
    }

    // At the close each county gets its 附件3; the city admins what is still open.
    h.sweep(closes()).await;
    let sent = h.expect(&officers[3], "市级审核免考名单").await;
    assert!(sent.contains("已批准 1 人"), "{sent}");
    h.expect(&admin, "免考申请受理已截止").await;

    // After the exam: a scores file that gives the exempt candidate an exam score is refused,
    // one that leaves their score blank gives them exactly 18.
    h.clock.set(shanghai(2023, 4, 29, 10, 0));
    let scores = sample::scores_csv(CANDIDATES, SCHOOLS, 7);
    let file = h.write("scores.csv", scores.as_bytes());
    let err = h.app.import_scores(&file).await.unwrap_err();
    let refused = err
        .downcast_ref::<exam_review_bot::import::Refused>()
        .unwrap();
    assert_eq!(refused.problems.len(), 1, "{refused:?}");
    assert_eq!(
        (refused.problems[0].row, refused.problems[0].column.as_str()),
        (2, "成绩")
    );
    assert!(refused.problems[0].reason.contains("免考"), "{refused:?}");
    let mut lines: Vec<String> = scores.lines().map(String::from).collect();
    let mut cells: Vec<&str> = lines[1].split(',').collect();
    for c in cells.iter_mut().skip(13) {
        *c = "";
    }
    cells[13] = "免考";
    lines[1] = cells.join(",");
    let file = h.write("scores.csv", (lines.join("\n") + "\n").as_bytes());
    h.app.import_scores(&file).await.unwrap();
    let stored = h
        .school_candidates(&pupil.school_code)
        .await
        .into_iter()
        .find(|c| c.exam_no == pupil.exam_no)
        .unwrap();
    assert_eq!((stored.score, stored.is_exempt()), (180, true));
    assert_eq!(stored.sitting(), "免考");
    // The school's sheet says so.
    let list = h.school_candidates(&pupil.school_code).await;
    let sheet = exam_review_bot::export::school_scores("东湖区第1中学", &list).unwrap();
    let row = h
        .cells(&sheet)
        .into_iter()
        .find(|r| r.get(4) == Some(&pupil.exam_no))
        .unwrap();
    assert_eq!((row[5].as_str(), row[6].as_str()), ("免考", "18"));
    // Published: an exempt candidate sat no exam, so there is no exam score to review.
    h.app
        .publish(exam_review_bot::app::Actor::Cli, None)
        .await
        .unwrap();
    contact.send("/review");
    h.expect(&contact, "准考证号").await;
    contact.send(&pupil.exam_no);
    h.expect(&contact, "已批准免考").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_is_amended_a_county_refusal_ends_it_and_the_window_closes_to_the_second() {
    let Before {
        mut h,
        pupil,
        teacher,
        contact,
        leader,
        principal,
        officers,
        ..
    } = before_the_exam().await;
    // A homeroom teacher cannot apply for another class: it looks like an unknown number.
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    let other_class = sqlx::query_as::<_, (String,)>(
        "SELECT exam_no FROM roster WHERE season_id = $1 AND school_code = $2 AND class_name <> $3
         LIMIT 1",
    )
    .bind(season.id)
    .bind(&pupil.school_code)
    .bind(&pupil.class_name)
    .fetch_one(&mut *conn)
    .await
    .unwrap()
    .0;
    drop(conn);
    teacher.send("/exempt");
    h.expect(&teacher, "准考证号").await;
    teacher.send(&other_class);
    h.expect(&teacher, "未找到本校报名名单中").await;
    teacher.press("取消");
    h.expect(&teacher, "已取消").await;

    // The contact applies; the class's 班主任 is its first level, and returns it.
    let id = apply(&h, &contact, &pupil.exam_no).await;
    h.expect(&teacher, &format!("免考申请 #{id}")).await;
    teacher.press("↩️ 退回修改");
    h.expect(&teacher, "退回修改").await;
    teacher.send("请补充医院诊断证明的日期");
    let returned = h.expect(&contact, "退回修改").await;
    assert!(returned.contains("请补充医院诊断证明的日期"), "{returned}");
    contact.press("✏️ 修改并重新提交");
    h.expect(&contact, "修改退回的申请").await;
    contact.press("✏️ 修改");
    h.expect(&contact, "联系人").await;
    // The bot restarts in the middle: the dialogue goes on where it was.
    h.restart().await;
    contact.send("王母");
    h.expect(&contact, "联系方式").await;
    contact.press("⬅️ 上一步");
    h.expect(&contact, "联系人").await;
    contact.send("王母");
    h.expect(&contact, "联系方式").await;
    contact.send("13900001234");
    h.expect(&contact, "证明材料的种类").await;
    contact.press("医院诊断证明");
    h.expect(&contact, "申请事由").await;
    contact.send("右臂骨折（2023年3月20日诊断）");
    h.expect(&contact, "一寸照片").await;
    contact.send_photo("photo-2");
    // The proofs filed before can be replaced whole: a wrong document does not stay.
    let proofs = h.expect(&contact, "证明材料").await;
    assert!(proofs.contains("已收到 2 份"), "{proofs}");
    contact.press("🗑 重新上传证明");
    let proofs = h.expect(&contact, "证明材料").await;
    assert!(!proofs.contains("已收到"), "{proofs}");
    contact.send_file(
        "proof-2",
        "诊断证明（2023年3月20日）.pdf",
        "application/pdf",
    );
    h.expect(&contact, "已收到 1 份").await;
    contact.press("✅ 证明已发完");
    h.expect(&contact, "签字的申请页").await;
    contact.send_photo("page-2");
    let form = h.expect(&contact, "请核对免考申请内容").await;
    assert!(
        form.contains("联系人：王母　联系方式：13900001234"),
        "{form}"
    );
    contact.press("✅ 提交");
    h.expect(&contact, "已重新提交").await;
    let card = h.expect(&teacher, &format!("免考申请 #{id}")).await;
    assert!(
        card.contains("医院诊断证明") && card.contains("证明 1 份"),
        "{card}"
    );
    teacher.press("✅ 同意");
    h.expect(&leader, &format!("免考申请 #{id}")).await;
    leader.press("✅ 同意");
    h.expect(&principal, &format!("免考申请 #{id}")).await;
    principal.press("✅ 同意");
    h.expect(&officers[0], &format!("免考申请 #{id}")).await;

    // The county's opinion carries three signatures whichever way it goes (附件2: 签名（至少
    // 三人）): one officer's 不同意 is recorded and counted, and the application waits.
    officers[0].press("⛔ 不同意");
    h.expect(&officers[0], "不同意").await;
    officers[0].send("证明材料不足以说明无法参加实验操作");
    h.expect(&officers[0], "已有 1 人不同意").await;
    assert_eq!(state_of(&h, id).await.0, "pending");
    // Who refused does not also agree.
    officers[0].press("✅ 同意");
    h.settle().await;
    assert!(
        h.fake
            .callback_answers()
            .iter()
            .any(|(_, t, alert)| *alert && t.contains("同一人在一级只签一次")),
        "{:?}",
        h.fake.callback_answers()
    );
    assert_eq!(state_of(&h, id).await.0, "pending");
    officers[1].press("⛔ 不同意");
    h.expect(&officers[1], "不同意").await;
    officers[1].send("诊断证明未写明不能操作");
    h.expect(&officers[1], "已有 2 人不同意").await;
    assert_eq!(state_of(&h, id).await.0, "pending");
    // The third 不同意 is the county's: it ends the application, and the applicant (here the
    // school's contact) hears why.
    officers[2].press("⛔ 不同意");
    h.expect(&officers[2], "不同意").await;
    officers[2].send("证明材料不足");
    let told = h.expect(&contact, "不同意").await;
    assert!(told.contains("证明材料不足"), "{told}");
    assert_eq!(state_of(&h, id).await.0, "rejected");
    // A refused application is not the last word while the window is open: the school may
    // apply again with better proof (as a review ended without a result may be filed again).
    contact.send("/exempt");
    h.expect(&contact, "准考证号").await;
    contact.send(&pupil.exam_no);
    h.expect(&contact, "年龄为").await;
    contact.send("/cancel");
    h.expect(&contact, "已取消").await;

    // The window: open until the second before the close, closed at it.
    let second = chrono::Duration::seconds(1);
    h.clock.set(closes() - second);
    contact.send("/exempt");
    h.expect(&contact, "准考证号").await;
    h.clock.set(closes());
    contact.send("/exempt");
    h.expect(&contact, "已于").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_outside_the_school_its_county_and_the_city_sees_an_application() {
    let Before {
        mut h,
        pupil,
        teacher,
        leader,
        officers,
        admin,
        ..
    } = before_the_exam().await;
    let id = apply(&h, &teacher, &pupil.exam_no).await;
    let other_school = h
        .join(Role::SchoolContact, &sample::school_code(1), "二中 联系人")
        .await;
    let other_county = h
        .join(
            Role::DistrictOfficer,
            &sample::district_code(1),
            "西山区 吴科长",
        )
        .await;
    // The county's 纪检监督 sits in its review group, not on the 免考 route: the medical proofs
    // are not theirs to see either.
    let group_member = h
        .join(Role::Inspector, &sample::district_code(0), "东湖区 纪检 周")
        .await;
    for stranger in [&other_school, &other_county, &group_member] {
        stranger.send(&format!("/request {id}"));
        h.expect(stranger, "找不到").await;
        // Crafted presses from a message in their own chat reach the permission model.
        let own = h.fake.messages_to(stranger.id).pop().unwrap();
        stranger.press_data(&own, &format!("ex:{id}"));
        stranger.press_data(&own, &format!("f5:{id}"));
    }
    h.settle().await;
    for stranger in [&other_school, &other_county, &group_member] {
        assert!(
            h.fake
                .messages_to(stranger.id)
                .iter()
                .all(|m| m.file_id.is_none() && m.document.is_none()),
            "{}",
            h.fake.transcript(stranger.id)
        );
    }
    // Its school, its county and the city see it.
    for insider in [&teacher, &officers[0], &admin] {
        insider.send(&format!("/request {id}"));
        h.expect(insider, "免考申请表").await;
    }
    // The scheduler's reminders know the window: 3 hours before the close, whoever has the
    // application waiting (the school's 审核小组组长) is told how long is left.
    h.sweep(closes() - chrono::Duration::minutes(150)).await;
    let urgent = h.expect(&leader, "紧急提醒").await;
    assert!(
        urgent.contains("免考申请截止") && urgent.contains(&format!("#{id}")),
        "{urgent}"
    );
    // Still undecided when the exam begins, it lapses: the candidate sits the exam.
    let old_card = leader.button("✅ 同意");
    let exam = shanghai(2023, 4, 26, 0, 0);
    h.clock.set(exam);
    h.sweep(exam).await;
    h.expect(&teacher, "已失效").await;
    assert_eq!(state_of(&h, id).await.0, "withdrawn");
    leader.press_data(&old_card.0, &old_card.1);
    h.settle().await;
    assert_eq!(
        state_of(&h, id).await.0,
        "withdrawn",
        "an old card decides nothing"
    );
    h.stop().await;
}

/// The import's view: the roster, the approved candidate, the stored score.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_of_a_county_reads_as_the_paper_form() {
    let Before {
        h,
        pupil,
        teacher,
        leader,
        principal,
        officers,
        admin,
        ..
    } = before_the_exam().await;
    // A name with the characters that break naive exports.
    let strange = "<王&\"小\"明😀>";
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query("UPDATE roster SET name = $1 WHERE id = $2")
        .bind(strange)
        .bind(pupil.id)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let id = apply(&h, &teacher, &pupil.exam_no).await;
    for who in [
        &leader,
        &principal,
        &officers[0],
        &officers[1],
        &officers[2],
    ] {
        h.expect(who, &format!("免考申请 #{id}")).await;
        who.press("✅ 同意");
    }
    h.expect(&officers[0], "免考申请上报市级（附件3）").await;
    officers[0].press("📤 上报附件3（1 份）");
    h.expect(&admin, &format!("免考申请 #{id}")).await;
    admin.press("✅ 同意");
    h.expect(&teacher, "该考生免考").await;
    let record = h
        .app
        .export_exemption_summary(
            &sample::district_code(0),
            exam_review_bot::app::records::FileKind::Xlsx,
        )
        .await
        .unwrap();
    let cells = h.cells(&record.bytes);
    assert_eq!(
        cells[0][0],
        format!(
            "2023年{}中招实验考试免考名单（市级审核同意）",
            sample::CITY_NAME
        )
    );
    assert_eq!(cells[1][0], "县市区盖章：东湖区");
    assert_eq!(
        cells[2],
        [
            "序号",
            "学校",
            "姓名",
            "班级",
            "报名序号",
            "准考证号",
            "联系方式",
            "备注"
        ]
    );
    assert_eq!(
        cells[3],
        [
            "1",
            "东湖区第1中学",
            strange,
            pupil.class_name.as_str(),
            pupil.reg_no.as_str(),
            pupil.exam_no.as_str(),
            "13800001234",
            "残疾证"
        ]
    );
    // The roster can no longer be replaced: the application names it.
    let roster = h.dir().join("roster.csv");
    let err = h.app.import_candidates(&roster).await.unwrap_err();
    assert!(err.to_string().contains("exemption application"), "{err}");
    let csv = h
        .app
        .export_exemption_summary(
            &sample::district_code(0),
            exam_review_bot::app::records::FileKind::Csv,
        )
        .await
        .unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&csv.bytes[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(&rows[3][2], strange, "{rows:?}");
    assert_eq!(&rows[2][7], "备注");
    // The other county's table is empty but still says whose it is.
    let other = h
        .app
        .export_exemption_summary(
            &sample::district_code(1),
            exam_review_bot::app::records::FileKind::Xlsx,
        )
        .await
        .unwrap();
    assert_eq!(other.lines, 0);
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    assert_eq!(
        candidates::count(&mut conn, season.id).await.unwrap(),
        0,
        "no scores yet"
    );
    drop(conn);
    h.stop().await;
}

/// The longest 申请事由 the form takes (500 characters) and opinions of the longest kind: every
/// message of the application fits Telegram's 4,096, its card keeps its buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_application_fits_every_message_it_makes() {
    let Before {
        h,
        pupil,
        contact,
        teacher,
        leader,
        ..
    } = before_the_exam().await;
    let reason = "右臂骨折无法完成实验操作。".repeat(38) + "止于此";
    assert_eq!(reason.chars().count(), 497);
    let id = apply_because(&h, &contact, &pupil.exam_no, &reason).await;
    // Each level returns it with the longest reason it takes, and it is sent up again.
    let long_no = "证明材料的日期与病历不一致，请核对。".repeat(28);
    let long_no: String = long_no.chars().take(500).collect();
    h.expect(&teacher, "待您审核").await;
    teacher.press("↩️ 退回修改");
    h.expect(&teacher, "理由").await;
    teacher.send(&long_no);
    h.expect(&contact, "退回").await;
    contact.send(&format!("/request {id}"));
    h.expect(&contact, "免考申请表").await;
    h.settle().await;
    for who in [&contact, &teacher, &leader] {
        for m in h.fake.messages_to(who.id) {
            let shown = m.visible_text().encode_utf16().count();
            let bound = if m.document.is_some() || m.file_id.is_some() {
                1024
            } else {
                4096
            };
            assert!(
                shown <= bound,
                "{shown} characters to {}:\n{}",
                who.id,
                m.text
            );
        }
    }
    let card = h
        .fake
        .messages_to(teacher.id)
        .into_iter()
        .find(|m| m.text.contains(&format!("#{id}")) && !m.buttons().is_empty());
    assert!(card.is_some(), "the 班主任's card kept its buttons");
    h.stop().await;
}

/// The photo and proofs of an application are medical papers: a 班主任 of another class of the
/// same school, and a 审核小组组长 whose binding was revoked, press 📎 (forged, or on the old
/// card) and get nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proofs_reach_neither_another_class_nor_a_revoked_member() {
    let Before {
        mut h,
        pupil,
        teacher,
        leader,
        ..
    } = before_the_exam().await;
    let id = apply(&h, &teacher, &pupil.exam_no).await;
    h.expect(&leader, "待您审核").await;
    let school = sample::school_code(0);
    let classes = {
        let season = h.app.cli_season().await.unwrap().unwrap();
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        roster::classes(&mut conn, season.id, &school)
            .await
            .unwrap()
    };
    let other_class = classes
        .into_iter()
        .find(|c| *c != pupil.class_name)
        .expect("a second class");
    let neighbour = h
        .join_class(
            Role::HomeroomTeacher,
            &school,
            &other_class,
            "隔壁班 陈老师",
        )
        .await;
    neighbour.send(&format!("/request {id}"));
    h.expect(&neighbour, "找不到").await;
    let own = h.fake.messages_to(neighbour.id).pop().unwrap();
    neighbour.press_data(&own, &format!("ex:{id}"));
    let card = h
        .fake
        .messages_to(leader.id)
        .into_iter()
        .rfind(|m| m.text.contains(&format!("#{id}")))
        .unwrap();
    h.app.revoke(leader.id, None, None).await.unwrap();
    leader.press_data(&card, &format!("ex:{id}"));
    h.settle().await;
    for who in [&neighbour, &leader] {
        assert!(
            h.fake
                .messages_to(who.id)
                .iter()
                .all(|m| m.file_id.is_none() && m.document.is_none()),
            "{}",
            h.fake.transcript(who.id)
        );
    }
    h.stop().await;
}

/// A city-direct school has no county: its applications' 县级 opinion is signed by three of
/// the city's 装备管理 officers, as a county's would be (附件2: 签名（至少三人）), a lone dissent
/// recorded but not the end; then the city decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_direct_schools_county_opinion_is_signed_by_three_of_the_citys_officers() {
    let Before {
        mut h,
        officers,
        admin,
        ..
    } = before_the_exam().await;
    let school = sample::school_code(SCHOOLS - 1);
    let season = h.app.cli_season().await.unwrap().unwrap();
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (exam_no, class): (String, String) = sqlx::query_as(
        "SELECT exam_no, class_name FROM roster WHERE season_id = $1 AND school_code = $2
         ORDER BY exam_no LIMIT 1",
    )
    .bind(season.id)
    .bind(&school)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &class, "市直 班主任")
        .await;
    let contact = h.join(Role::SchoolContact, &school, "市直 联系人").await;
    let leader = h
        .join(Role::SchoolReviewLeader, &school, "市直 审核组长")
        .await;
    let principal = h.join(Role::Principal, &school, "市直 校长").await;
    let mut city = Vec::new();
    for name in ["市装备 甲", "市装备 乙", "市装备 丙", "市装备 丁"] {
        city.push(
            h.join(Role::EquipmentOfficer, sample::CITY_CODE, name)
                .await,
        );
    }
    let id = apply(&h, &contact, &exam_no).await;
    for level in [&teacher, &leader, &principal] {
        h.expect(level, &format!("免考申请 #{id}")).await;
        level.press("✅ 同意");
    }
    // The city's officers hold the county level; no district's officer does.
    for officer in &city {
        h.expect(officer, &format!("免考申请 #{id}")).await;
    }
    assert!(
        !has_card(&h, &officers[0], id),
        "no county holds a city-direct school"
    );
    city[0].press("⛔ 不同意");
    h.expect(&city[0], "不同意").await;
    city[0].send("诊断证明未写明不能操作");
    h.expect(&city[0], "已有 1 人不同意").await;
    assert_eq!(state_of(&h, id).await, ("pending".to_string(), 3));
    for officer in &city[1..3] {
        officer.press("✅ 同意");
        h.settle().await;
        assert_eq!(state_of(&h, id).await, ("pending".to_string(), 3));
    }
    city[3].press("✅ 同意");
    // Sent up by the city's officers who hold the level, with its 附件3.
    h.expect(&city[0], "免考申请上报市级（附件3）").await;
    assert_eq!(state_of(&h, id).await, ("reporting".to_string(), 4));
    // A district's officer's crafted 上报 of the school's list sends nothing.
    let own = h.fake.messages_to(officers[0].id).pop().unwrap();
    officers[0].press_data(&own, &format!("ux:{school}:1"));
    h.settle().await;
    assert_eq!(state_of(&h, id).await, ("reporting".to_string(), 4));
    city[0].press("📤 上报附件3（1 份）");
    h.expect(&admin, "已上报免考汇总表（附件3）").await;
    h.expect(&admin, &format!("免考申请 #{id}")).await;
    assert_eq!(state_of(&h, id).await, ("pending".to_string(), 4));
    admin.press("✅ 同意");
    h.expect(&contact, "同意").await;
    h.settle().await;
    assert_eq!(state_of(&h, id).await.0, "completed");
    h.stop().await;
}
