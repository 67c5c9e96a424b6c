//! Section 2b of the demo: before the exam, two 免考 applications (附件2) of one class of
//! 东湖区第4中学, filed by its 班主任. One climbs every level — the school's 审核小组组长 and 校长,
//! three of 东湖区's officers, 东湖区's 上报 of its 附件3, the city — and is approved; the other
//! is refused at the county. At the close 东湖区 receives the city's final list; after the exam
//! the approved candidate's score is the configured share of the full score.

use super::chats::{Chats, Chatter, invite_code};
use super::{DISTRICTS, Person};
use crate::app::App;
use crate::app::records::FileKind;
use crate::clock::ManualClock;
use crate::domain::Role;
use crate::sample;
use anyhow::Context;
use chrono::TimeZone;
use std::path::Path;
use std::time::Duration;

/// Applications close on 2023-04-10 at 18:00; the exam runs 04-26 to 04-28.
pub(super) fn closes() -> chrono::DateTime<chrono::Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2023, 4, 10, 18, 0, 0)
        .unwrap()
        .to_utc()
}

/// The school whose class applies (东湖区第4中学: none of section 5's schools) and the two
/// candidates of one class there, by their sample numbers.
const SCHOOL: usize = 30;
const APPROVED: usize = 30;
const REFUSED: usize = 150;

pub(super) fn exam_no(n: usize) -> String {
    format!("2023{:08}", n + 1)
}

pub(super) async fn exemptions(
    app: &App,
    chats: &Chats,
    clock: &ManualClock,
    out: &Path,
    people: &[Person],
) -> anyhow::Result<()> {
    println!("\n== 2b. 考前免考申请（附件2）：一份各级同意，一份县级三人签署不同意");
    let limit = Duration::from_secs(60);
    let expect = |user: &Chatter, needle: String| {
        let (chats, user) = (chats.clone(), user.clone());
        async move { chats.expect(&user, &needle, limit).await }
    };
    let units = sample::units(DISTRICTS, super::SCHOOLS);
    let school = &units[DISTRICTS + 1 + SCHOOL];
    let d0 = sample::district_code(0);
    let mut cast: Vec<Person> = Vec::new();
    let joins = [
        (
            Role::HomeroomTeacher,
            school.code.as_str(),
            Some("九年级1班"),
            format!("{} 九年级1班 班主任", school.name),
        ),
        (
            Role::SchoolReviewLeader,
            &school.code,
            None,
            format!("{} 审核小组组长", school.name),
        ),
        (
            Role::Principal,
            &school.code,
            None,
            format!("{} 校长", school.name),
        ),
        (
            Role::DistrictOfficer,
            &d0,
            None,
            "东湖区 副科长 钱".to_string(),
        ),
        (
            Role::DistrictOfficer,
            &d0,
            None,
            "东湖区 科员 孙".to_string(),
        ),
    ];
    for (id, (role, unit, class, name)) in (1501..).zip(joins) {
        let link = app.invite(role, unit, &name, class).await?;
        let user = chats.user(id, &name);
        user.send(&format!("/start {}", invite_code(&link)?));
        expect(&user, "绑定成功".into()).await?;
        cast.push(Person { user, label: name });
    }
    let [teacher, leader, principal, officer2, officer3] =
        std::array::from_fn(|i| cast[i].user.clone());
    let officer1 = people[1].user.clone();
    let admin = people[0].user.clone();
    let contact = people
        .iter()
        .find(|p| p.label.contains(&format!("（{}）", school.name)))
        .context("the school's contact")?
        .user
        .clone();
    let from: Vec<(i64, usize)> = [&officer1, &admin, &contact]
        .iter()
        .map(|u| (u.id, chats.count_to(u)))
        .collect();

    let apply = |n: usize, reason: &'static str| {
        let teacher = teacher.clone();
        async move {
            teacher.send("/exempt");
            expect(&teacher, "准考证号".into()).await?;
            teacher.send(&exam_no(n));
            expect(&teacher, "年龄".into()).await?;
            teacher.press("✅ 年龄无误");
            expect(&teacher, "联系人".into()).await?;
            teacher.send("考生家长");
            expect(&teacher, "联系方式".into()).await?;
            teacher.send("13800001234");
            expect(&teacher, "证明材料的种类".into()).await?;
            teacher.press("医院诊断证明");
            expect(&teacher, "申请事由".into()).await?;
            teacher.send(reason);
            expect(&teacher, "一寸照片".into()).await?;
            teacher.send_photo(&format!("photo-{n}"));
            expect(&teacher, "证明材料".into()).await?;
            teacher.send_pdf(&format!("proof-{n}"), "诊断证明.pdf");
            expect(&teacher, "已收到 1 份".into()).await?;
            teacher.press("✅ 证明已发完");
            expect(&teacher, "签字的申请页".into()).await?;
            teacher.send_photo(&format!("page-{n}"));
            expect(&teacher, "请核对免考申请内容".into()).await?;
            teacher.press("✅ 提交");
            expect(&teacher, "已由".into()).await?;
            anyhow::Ok(())
        }
    };
    // The first: right forearm fractured; every level agrees.
    apply(APPROVED, "右前臂骨折，石膏固定至五月，无法完成实验操作").await?;
    for u in [&leader, &principal, &officer1, &officer2, &officer3] {
        expect(u, "待您审核：免考申请".into()).await?;
        u.press("✅ 同意");
        // The next level's card comes once this one is recorded.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // 附件3: the county sends its list up with the application; only then does the city decide.
    expect(&officer1, "免考申请上报市级（附件3）".into()).await?;
    officer1.press("📤 上报附件3（1 份）");
    expect(&admin, "已上报免考汇总表（附件3）".into()).await?;
    expect(&admin, "待您审核：免考申请".into()).await?;
    admin.press("✅ 同意");
    expect(&teacher, "该考生免考".into()).await?;
    // The second: the county does not agree.
    apply(REFUSED, "左手腕扭伤").await?;
    for u in [&leader, &principal] {
        expect(u, "待您审核：免考申请 #2".into()).await?;
        u.press("✅ 同意");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The county's 不同意 is its opinion with three signatures, as its 同意 (附件2).
    let reasons = [
        "扭伤已愈，不影响实验操作，请参加考试",
        "诊断证明未写明不能操作",
        "同意以上意见：请参加考试",
    ];
    for (n, (u, why)) in [&officer1, &officer2, &officer3]
        .into_iter()
        .zip(reasons)
        .enumerate()
    {
        expect(u, "待您审核：免考申请 #2".into()).await?;
        u.press("⛔ 不同意");
        expect(u, "不同意".into()).await?;
        u.send(why);
        if n < 2 {
            expect(u, format!("已有 {} 人不同意", n + 1)).await?;
        }
    }
    expect(&teacher, "不同意".into()).await?;

    // The window closes: 东湖区 receives the city's final list, the city what is still open.
    clock.set(closes());
    app.sweep(closes()).await?;
    expect(&officer1, "市级审核免考名单".into()).await?;

    let mut involved: Vec<(String, Chatter, usize)> = cast
        .iter()
        .map(|p| (p.label.clone(), p.user.clone(), 0))
        .collect();
    for ((id, start), label) in
        from.iter()
            .zip(["东湖区 装备管理员", "市装备中心 周主任", "学校联系人"])
    {
        let user = [&officer1, &admin, &contact]
            .into_iter()
            .find(|u| u.id == *id)
            .expect("listed")
            .clone();
        involved.push((label.to_string(), user, *start));
    }
    for (label, user, start) in involved {
        println!("\n──── {label} · chat {}", user.id);
        print!("{}", chats.transcript_from(&user, start));
        chats.skip_read(&user);
    }
    let dir = out.join("records");
    std::fs::create_dir_all(&dir)?;
    let summary = app.export_exemption_summary(&d0, FileKind::Xlsx).await?;
    crate::store::write_private(&dir.join(&summary.name), &summary.bytes)?;
    let form = app.export_review_form(1).await?;
    crate::store::write_private(&dir.join(&form.name), &form.bytes)?;
    println!(
        "\n== 完成：免考申请 2 份（同意 1、县级不同意 1）；{} 与 {} 已写入 {}",
        summary.name,
        form.name,
        dir.display()
    );
    Ok(())
}

/// The scores as the paper 登分表 have them after the exam: the approved candidate's row says
/// 免考 instead of a score (they are given the configured share of the full score).
pub(super) fn scores_text(schools: usize, candidates: usize) -> String {
    let mut text = String::new();
    for (i, line) in sample::scores_csv(candidates, schools, 2023)
        .lines()
        .enumerate()
    {
        let mut cells: Vec<&str> = line.split(',').collect();
        if i == APPROVED + 1 {
            for c in cells.iter_mut().skip(13) {
                *c = "";
            }
            cells[13] = crate::import::scores::EXEMPT_MARK;
        }
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    text
}

/// The approved candidate's published score.
pub(super) async fn exempt_line(app: &App) -> anyhow::Result<String> {
    let mut conn = app.db.pool.acquire().await?;
    let season = app.cli_season().await?.context("season")?;
    let c = crate::store::candidates::by_exam_no(&mut conn, season.id, &exam_no(APPROVED))
        .await?
        .context("the exempt candidate")?;
    Ok(format!(
        "免考考生 {}（{}）的成绩：{}（{}）",
        c.name,
        c.exam_no,
        c.score(),
        c.sitting()
    ))
}
