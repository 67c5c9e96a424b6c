//! Section 5: four review requests walk the route, from filing to the city's 复审, printed chat
//! by chat.

use super::chats::{Chats, Chatter, invite_code};
use super::{DISTRICTS, Person};
use crate::app::App;
use crate::domain::Role;
use crate::sample;
use anyhow::Context;
use std::path::Path;
use std::time::Duration;

/// Section 5: four review requests walk the route — a corrected score, a rejection, a return
/// with resubmission, and a city-direct school — printed chat by chat.
pub(super) async fn reviews(
    app: &App,
    chats: &Chats,
    out: &Path,
    units: &[sample::SampleUnit],
    people: &[Person],
) -> anyhow::Result<()> {
    println!("\n== 5. 成绩复核：四份申请走完各级");
    let limit = Duration::from_secs(60);
    let expect = |user: &Chatter, needle: &'static str| {
        let (chats, user) = (chats.clone(), user.clone());
        async move { chats.expect(&user, needle, limit).await }
    };
    let schools = &units[DISTRICTS + 1..];
    let contact_of = |code: &str| {
        people
            .iter()
            .find(|p| {
                p.label.contains(&format!(
                    "（{}）",
                    units
                        .iter()
                        .find(|u| u.code == code)
                        .map_or("", |u| u.name.as_str())
                )) && p.label.contains("联系人")
            })
            .map(|p| p.user.clone())
    };
    let officer = people[1].user.clone(); // 东湖区: the district of schools 1, 11, 21, 31
    let mut cast: Vec<Person> = Vec::new();
    let mut next_id = 2001;
    let mut join = |role: Role, unit: &str, class: Option<&str>, name: &str| {
        let (app, chats) = (app.clone(), chats.clone());
        let (unit, class, name) = (
            unit.to_string(),
            class.map(str::to_string),
            name.to_string(),
        );
        next_id += 1;
        let id = next_id;
        async move {
            let link = app.invite(role, &unit, &name, class.as_deref()).await?;
            let user = chats.user(id, &name);
            user.send(&format!("/start {}", invite_code(&link)?));
            chats.expect(&user, "绑定成功", limit).await?;
            anyhow::Ok(Person { user, label: name })
        }
    };
    // 市级复审, and the two review groups of 附件4 二.4: 东湖区's, and the city-direct schools'
    // (bound at the city).
    let r1 = join(Role::CityReviewer, sample::CITY_CODE, None, "市级复审 甲").await?;
    let r2 = join(Role::CityReviewer, sample::CITY_CODE, None, "市级复审 乙").await?;
    let d0 = sample::district_code(0);
    let proctor = join(Role::ChiefProctorRep, &d0, None, "东湖区 主监考代表 孙").await?;
    // The 纪检监督 who sealed the county's 登分 (section 2c) sits in its review group too.
    let d_inspector = already(people, "东湖区 纪检 周")?;
    let equipment = join(Role::EquipmentOfficer, &d0, None, "东湖区 装备管理 吴").await?;
    let head = join(
        Role::DirectSchoolHead,
        sample::CITY_CODE,
        None,
        "市直学校负责人 郑",
    )
    .await?;
    let c_proctor = join(
        Role::ChiefProctorRep,
        sample::CITY_CODE,
        None,
        "市 主监考代表 冯",
    )
    .await?;
    let inspector = already(people, "市纪检 丙")?;
    let city_people = [
        &r1,
        &r2,
        &proctor,
        &d_inspector,
        &equipment,
        &head,
        &c_proctor,
        &inspector,
    ];

    // Four candidates: schools 1, 11 and 21 of 东湖区, and the city-direct school.
    let picks = [
        &schools[0],
        &schools[10],
        &schools[20],
        &schools[schools.len() - 1],
    ];
    let mut pupils = Vec::new();
    let mut conn = app.db.pool.acquire().await?;
    let season = app.cli_season().await?.context("season")?;
    for s in picks {
        let c = crate::store::candidates::of_school(&mut conn, season.id, &s.code)
            .await?
            .remove(0);
        pupils.push(c);
    }
    drop(conn);
    let mut staff = Vec::new();
    for (s, c) in picks.iter().zip(&pupils) {
        let teacher = join(
            Role::HomeroomTeacher,
            &s.code,
            Some(&c.class_name),
            &format!("{} 班主任", s.name),
        )
        .await?;
        let principal = join(Role::Principal, &s.code, None, &format!("{} 校长", s.name)).await?;
        let contact = contact_of(&s.code).context("contact")?;
        staff.push((contact, teacher.user.clone(), principal.user.clone()));
        cast.push(teacher);
        cast.push(principal);
    }
    for p in city_people {
        chats.skip_read(&p.user);
    }

    let file = |filer: Chatter, exam_no: String, reason: &'static str| async move {
        filer.send("/review");
        expect(&filer, "准考证号").await?;
        filer.send(&exam_no);
        expect(&filer, "的照片或 PDF").await?;
        filer.send_photo(&format!("signed-form-{exam_no}"));
        expect(&filer, "申请理由").await?;
        filer.send(reason);
        expect(&filer, "联系方式").await?;
        filer.send("13800001234");
        expect(&filer, "请核对申请内容").await?;
        filer.press("✅ 提交");
        expect(&filer, "已提交").await?;
        anyhow::Ok(())
    };
    let approve = |u: Chatter| async move {
        expect(&u, "待您审核").await?;
        u.press("✅ 同意");
        anyhow::Ok(())
    };
    // The other members sign a recorded result.
    let sign = |signers: [Chatter; 2]| async move {
        for u in &signers {
            expect(u, "请签字确认").await?;
            u.press("✅ 确认");
        }
        anyhow::Ok(())
    };
    // A member records 维持原成绩 with a note; the others sign.
    let keep = |recorder: Chatter, note: &'static str, signers: [Chatter; 2]| async move {
        expect(&recorder, "复核小组：复核申请").await?;
        recorder.press("维持原成绩");
        expect(&recorder, "备注").await?;
        recorder.send(note);
        expect(&recorder, "请核对复核结果").await?;
        recorder.press("✅ 确认记录");
        sign(signers).await
    };
    // A member records one item one point higher (漏评); the others sign.
    let correct = |recorder: Chatter, p: crate::store::candidates::Candidate, signers| async move {
        expect(&recorder, "复核小组：复核申请").await?;
        recorder.press("更正成绩");
        expect(&recorder, "更正后的总分").await?;
        let mut items = [
            p.item_main.unwrap_or(0),
            p.item_sec1.unwrap_or(0),
            p.item_sec2.unwrap_or(0),
            p.item_tidy.unwrap_or(0),
        ];
        let room = [160, 60, 60, 20];
        let i = (0..4).find(|i| items[*i] < room[*i]).unwrap_or(0);
        items[i] += 10;
        recorder.send(&((p.score + 10) / 10).to_string());
        expect(&recorder, "四项得分").await?;
        let items: Vec<String> = items.iter().map(|v| (v / 10).to_string()).collect();
        recorder.send(&items.join(" "));
        expect(&recorder, "错误类别").await?;
        recorder.press("漏评");
        expect(&recorder, "备注").await?;
        recorder.send("漏评1分，已补评");
        expect(&recorder, "请核对复核结果").await?;
        recorder.press("✅ 确认记录");
        sign(signers).await
    };
    // 市级复审: 同意.
    let agree = |reviewer: Chatter| async move {
        expect(&reviewer, "市级复审：复核申请").await?;
        reviewer.press("✅ 同意复核结果");
        anyhow::Ok(())
    };
    // A member of the group sends its unit's batch of `n` signed results to the city (上报,
    // 附件6 注2); the 附件6 that comes back to them, to stamp, is written to demo-output.
    let records = out.join("records");
    std::fs::create_dir_all(&records)?;
    let report = |member: Chatter, n: usize| {
        let (chats, records) = (chats.clone(), records.clone());
        async move {
            let label = format!("📤 上报（{n} 件）");
            let has_button = |c: &Chats| c.has_button(&member, &label);
            if !chats.wait_until(limit, has_button).await {
                anyhow::bail!("{} never had {label}", member.id);
            }
            let before = chats.documents(&member).len();
            member.press(&label);
            let came = |c: &Chats| c.documents(&member).len() > before;
            if !chats.wait_until(limit, came).await {
                anyhow::bail!("no 附件6 came back to {}", member.id);
            }
            let (name, bytes) = chats.documents(&member).pop().context("the 附件6")?;
            // Numbered: the demo's clock stands still, so two batches share a minute.
            let seq = std::fs::read_dir(&records)?.count() + 1;
            let path = records.join(format!("{seq}_{name}"));
            crate::store::write_private(&path, &bytes)?;
            println!("   📤 上报 {n} 件；附件6 已写入 {}", path.display());
            anyhow::Ok(())
        }
    };
    let group = || [d_inspector.user.clone(), equipment.user.clone()];

    // 1. A corrected score: the school passes it on, 东湖区's group corrects it and all three
    //    sign; it waits in 东湖区's batch.
    let (contact, teacher, principal) = staff[0].clone();
    file(
        contact.clone(),
        pupils[0].exam_no.clone(),
        "主实验第3项漏评",
    )
    .await?;
    approve(teacher).await?;
    approve(principal).await?;
    correct(proctor.user.clone(), pupils[0].clone(), group()).await?;
    let first_contact = contact;

    // 2. A complaint about leniency. No level below the group may end a request (附件4 二):
    //    each passes it on, and the group keeps the score, saying why. 东湖区 then reports
    //    both signed results at once, with their 附件6, and the city agrees to each.
    let (contact, teacher, principal) = staff[1].clone();
    file(contact.clone(), pupils[1].exam_no.clone(), "认为评分过严").await?;
    approve(teacher).await?;
    approve(principal).await?;
    keep(
        proctor.user.clone(),
        "不属于复核范围：复核只查漏评和合分，不复查评分宽严",
        group(),
    )
    .await?;
    report(equipment.user.clone(), 2).await?;
    agree(r1.user.clone()).await?;
    agree(r1.user.clone()).await?;
    expect(&first_contact, "成绩复核结果").await?;
    expect(&contact, "成绩复核结果").await?;

    // 3. Returned for amendment and resubmitted; the group keeps the score, the city returns
    //    it to the group, which finds the missed point, corrects and signs again; the city
    //    agrees.
    let (contact, teacher, principal) = staff[2].clone();
    file(contact.clone(), pupils[2].exam_no.clone(), "分数不对").await?;
    expect(&teacher, "待您审核").await?;
    teacher.press("↩️ 退回修改");
    expect(&teacher, "退回修改").await?;
    teacher.send("请写明哪一项漏评或合分有误");
    expect(&contact, "退回修改").await?;
    contact.press("✏️ 修改并重新提交");
    expect(&contact, "修改后的").await?;
    contact.send("副实验二疑似漏评");
    expect(&contact, "联系方式").await?;
    contact.send("0391-1234567");
    expect(&contact, "请核对修改后的申请").await?;
    contact.press("✅ 重新提交");
    approve(teacher).await?;
    approve(principal).await?;
    keep(proctor.user.clone(), "逐项核对，合分无误", group()).await?;
    report(proctor.user.clone(), 1).await?;
    expect(&r2.user, "市级复审：复核申请").await?;
    r2.user.press("↩️ 退回复核小组");
    expect(&r2.user, "退回复核小组的理由").await?;
    r2.user.send("副实验二评分表第2项未见评分，请重新核对");
    correct(
        equipment.user.clone(),
        pupils[2].clone(),
        [proctor.user.clone(), d_inspector.user.clone()],
    )
    .await?;
    report(proctor.user.clone(), 1).await?;
    agree(r2.user.clone()).await?;
    expect(&contact, "成绩复核结果").await?;

    // 4. A city-direct school: no district; the city-direct schools' group reviews it.
    let (contact, teacher, principal) = staff[3].clone();
    file(contact.clone(), pupils[3].exam_no.clone(), "整理器材项漏评").await?;
    approve(teacher.clone()).await?;
    approve(principal).await?;
    keep(
        head.user.clone(),
        "整理器材已评分，成绩无误",
        [c_proctor.user.clone(), inspector.user.clone()],
    )
    .await?;
    // A city-direct school's requests go up as the school's own batch (附件6 注2).
    report(head.user.clone(), 1).await?;
    agree(r1.user.clone()).await?;
    // The result reaches the school's contact and the 班主任 before their chats are printed.
    expect(&contact, "成绩复核结果").await?;
    expect(&teacher, "成绩复核结果").await?;

    // Everyone involved, chat by chat: only what came after publication.
    let mut involved: Vec<(String, Chatter)> = staff
        .iter()
        .map(|(c, _, _)| ("学校联系人".to_string(), c.clone()))
        .collect();
    involved.push(("东湖区 装备管理员".into(), officer));
    for p in cast.iter().chain(city_people) {
        involved.push((p.label.clone(), p.user.clone()));
    }
    for (label, user) in involved {
        println!("\n──── {label} · chat {}", user.id);
        let seen = people.iter().any(|p| p.user.id == user.id);
        // Where the publication section stopped reading the chat: its welcome, what came
        // before the exam, and its notice.
        let from = if seen {
            chats.read_through(&user, "成绩已公布")
        } else {
            0
        };
        print!("{}", chats.transcript_from(&user, from));
    }
    println!(
        "\n== 完成：4 份复核申请（更正 2：其中市级复审退回复核小组后更正 1；维持 2：不属于复核范围 1、市直属 1）"
    );
    Ok(())
}

/// Someone who joined in an earlier section, by their name.
fn already(people: &[Person], name: &str) -> anyhow::Result<Person> {
    people
        .iter()
        .find(|p| p.label == name)
        .map(|p| Person {
            user: p.user.clone(),
            label: p.label.clone(),
        })
        .with_context(|| format!("{name} joined earlier"))
}
