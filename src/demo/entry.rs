//! Section 2c of the demo, the exam days' 登分 (附件7): every county's clerks enter each
//! half-day twice with their roles swapped, its 纪检监督 seals it, its officer reports the day
//! to the city. Two counties are shown in chat: the first finds a misread score between the
//! two entries and corrects it; the second seals its morning at 21:30 but misses the 22:00 上报,
//! so the batch is 缺考 until the city, seeing it was sealed in time, accepts it with a reason. The other batches go through the same use cases
//! without chat, as `entry upload` would take them.

use super::Person;
use super::chats::{Chats, Chatter, invite_code};
use crate::app::entry::Upload;
use crate::app::{Actor, App};
use crate::clock::ManualClock;
use crate::domain::Role;
use crate::domain::entry::{Crew, Pair};
use crate::sample;
use crate::store::entry::Batch;
use anyhow::{Context, bail};
use chrono::TimeZone;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// A county's entry people: three clerks and the 纪检监督 (the officer is a `Person` already).
/// An entry takes four (附件7 二): 甲 enters, 乙 reads out, 丙 watches the reading and the
/// 纪检监督 the entering.
struct County {
    code: String,
    clerks: [Chatter; 3],
    inspector: Chatter,
    officer: Chatter,
    /// The bot's numbers for the three clerks and the 纪检监督, then for the officer.
    numbers: [i64; 5],
}

fn at(d: u32, h: u32, m: u32) -> chrono::DateTime<chrono::Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2023, 4, d, h, m, 0)
        .unwrap()
        .to_utc()
}

/// The schools a county enters: its district's, or the city-direct ones for the city.
fn schools_of(units: &[sample::SampleUnit], county: &str) -> Vec<String> {
    units
        .iter()
        .filter(|u| u.kind == "学校")
        .filter(|u| match county == sample::CITY_CODE {
            true => u.city_direct,
            false => u.parent == county && !u.city_direct,
        })
        .map(|u| u.code.clone())
        .collect()
}

async fn wait_for(chats: &Chats, user: &Chatter, needle: &str) -> anyhow::Result<()> {
    chats
        .expect(user, needle, Duration::from_secs(120))
        .await
        .map(|_| ())
}

pub(super) async fn exam_days(
    app: &App,
    chats: &Chats,
    clock: &ManualClock,
    out: &Path,
    people: &[Person],
    scores: &str,
) -> anyhow::Result<Vec<Person>> {
    clock.set(at(26, 12, 0));
    let units = sample::units(super::DISTRICTS, super::SCHOOLS);
    println!(
        "\n== 2c. 考试三天：各考区每半天两次录入（交叉轮换）、纪检监督封存、当天上报（附件7）"
    );
    let counties = join_counties(app, chats, &units, people).await?;
    let batches = app.entry_batches().await?;
    let dir = out.join("entry");
    std::fs::create_dir_all(&dir)?;
    let sheet = |b: &Batch| {
        sample::batch_csv(
            scores,
            &schools_of(&units, &b.county_code),
            &b.exam_date,
            &b.half_day,
        )
    };
    let find = |county: &str| {
        batches
            .iter()
            .find(|(b, _)| {
                b.county_code == county && b.exam_date == "2023-04-26" && b.half_day == "上午"
            })
            .cloned()
            .context("the county's first morning")
    };
    let (first, second) = (&counties[0], &counties[1]);
    let shown = [find(&first.code)?, find(&second.code)?];

    // Every other batch: both entries, then the seal.
    for (b, _) in &batches {
        if shown.iter().any(|(s, _)| s.id == b.id) {
            continue;
        }
        let c = counties
            .iter()
            .find(|c| c.code == b.county_code)
            .context("county")?;
        let path = dir.join(format!("batch-{}.csv", b.id));
        crate::store::write_private(&path, sheet(b).as_bytes())?;
        upload_both(app, b, &path, c.crew()).await?;
        let inspector = c.numbers[3];
        app.seal_batch(inspector, inspector, b.id).await?;
    }

    // The first county in chat: a misread score found between the two entries, corrected.
    let (b, county) = &shown[0];
    // The notices about this batch, among those the other batches caused.
    let about = format!("批次 #{}（{county} {}", b.id, b.half_day_label());
    let text = sheet(b);
    let [jia, yi, bing] = &first.clerks;
    // The county's only batch still open: the bot asks straight for the reader, then the two
    // who watch.
    let four = |clerk: &Chatter, reader: &Chatter| {
        let (clerk, reader) = (clerk.clone(), reader.clone());
        let (bing, inspector) = (bing.clone(), first.inspector.clone());
        async move {
            wait_for(chats, &clerk, "请选择本次报分的登分员").await?;
            clerk.press(&reader.name);
            wait_for(chats, &clerk, "监督报分").await?;
            clerk.press(&bing.name);
            wait_for(chats, &clerk, "监督录入").await?;
            clerk.press(&inspector.name);
            anyhow::Ok(())
        }
    };
    jia.send_sheet("登分表_上午.xlsx", sample::scores_xlsx(&text)?);
    four(jia, yi).await?;
    wait_for(chats, jia, &format!("{about}）第一次录入已收到")).await?;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    for c in [13, 14] {
        cells[c] = (cells[c].parse::<u32>()? - 1).to_string();
    }
    lines[1] = cells.join(",");
    let misread = lines.join("\n") + "\n";
    for (name, body) in [
        ("校对_上午.csv", sample::gb18030(&misread)),
        ("校对_上午_更正.csv", sample::gb18030(&text)),
    ] {
        yi.send_sheet(name, body);
        four(yi, jia).await?;
        wait_for(chats, yi, &format!("{about}）交叉校对录入已收到")).await?;
    }
    wait_for(chats, &first.inspector, &format!("{about}）两次录入一致")).await?;
    first.inspector.press("🔒 封存本半天数据");
    wait_for(chats, &first.officer, &format!("{about}，")).await?;
    first.officer.press("📤 上报当天已封存批次");
    wait_for(chats, &first.officer, "已上报 2023-04-26").await?;

    // Every county reports its days in time — but the second county's first morning.
    let mut days: BTreeSet<(String, String)> = BTreeSet::new();
    for (b, _) in &batches {
        if b.county_code == first.code && b.exam_date == "2023-04-26" {
            continue;
        }
        if days.insert((b.county_code.clone(), b.exam_date.clone())) {
            let c = counties
                .iter()
                .find(|c| c.code == b.county_code)
                .context("county")?;
            let officer = c.numbers[4];
            app.report_batches(officer, officer, b.id).await?;
        }
    }

    // The second county: both entries agree, the seal comes at 21:30, the 上报 is missed.
    let (b, county) = &shown[1];
    let about = format!("批次 #{}（{county} {}", b.id, b.half_day_label());
    let path = dir.join(format!("batch-{}.csv", b.id));
    crate::store::write_private(&path, sheet(b).as_bytes())?;
    upload_both(app, b, &path, second.crew()).await?;
    clock.set(at(26, 21, 30));
    wait_for(chats, &second.inspector, &format!("{about}）两次录入一致")).await?;
    second.inspector.press("🔒 封存本半天数据");
    wait_for(chats, &second.officer, &format!("{about}，")).await?;
    let swept = app.sweep(at(26, 22, 0)).await?;
    let absent = swept
        .sent
        .iter()
        .find(|(k, _)| k == "entry-absent")
        .map_or(0, |(_, n)| *n);
    let admin = &people[0].user;
    wait_for(chats, admin, "视为缺考").await?;
    clock.set(at(26, 22, 20));
    admin.send(&format!(
        "/lift {} 县区网络中断，数据 21:30 已封存，上报未成，经核实",
        b.id
    ));
    wait_for(chats, &second.officer, "按已上报处理").await?;
    for day in [27, 28] {
        app.sweep(at(day, 22, 0)).await?;
    }
    admin.send("/status");
    wait_for(chats, admin, "登分进度").await?;

    for (label, user) in [
        (format!("{} 登分员", shown[0].1), jia),
        (format!("{} 登分员", shown[0].1), yi),
        (format!("{} 纪检监督", shown[0].1), &first.inspector),
        (format!("{} 纪检监督", shown[1].1), &second.inspector),
    ] {
        println!("\n──── {label} · chat {}", user.id);
        print!("{}", chats.transcript(user));
        chats.skip_read(user);
    }
    let reported = app
        .entry_batches()
        .await?
        .iter()
        .filter(|(b, _)| b.reported_at.is_some())
        .count();
    if reported != batches.len() {
        bail!("{reported} of {} batches reported", batches.len());
    }
    println!(
        "\n== 完成：{} 个登分批次全部上报；1 处录入不一致已更正；{absent} 个批次逾期视为缺考，因截止前已封存，经市级管理员书面说明理由接受补报",
        batches.len()
    );
    // 东湖区's and the city's 纪检监督 also sit in their review groups (section 5).
    Ok([&counties[0], &counties[super::DISTRICTS]]
        .into_iter()
        .map(|c| Person {
            label: c.inspector.name.clone(),
            user: c.inspector.clone(),
        })
        .collect())
}

impl County {
    fn crew(&self) -> Crew {
        Crew {
            pair: Pair {
                entered: self.numbers[0],
                read: self.numbers[1],
            },
            watched_reading: self.numbers[2],
            watched_entering: self.numbers[3],
        }
    }
}

/// Both entries of a batch, the reader and the enterer swapped the second time.
async fn upload_both(app: &App, b: &Batch, path: &Path, crew: Crew) -> anyhow::Result<()> {
    for p in [crew, crew.swapped()] {
        let outcome = app
            .upload_entry(Actor::Cli, b.id, path, "登分表.csv", p)
            .await?;
        if !matches!(outcome, Upload::Taken { .. }) {
            bail!("batch #{}: {outcome:?}", b.id);
        }
    }
    Ok(())
}

/// Each county's two clerks and its 纪检监督 join; the officer is the district's (the city
/// admin for the city's own 考区).
async fn join_counties(
    app: &App,
    chats: &Chats,
    units: &[sample::SampleUnit],
    people: &[Person],
) -> anyhow::Result<Vec<County>> {
    let mut out = Vec::new();
    let mut id = 3001;
    let mut joined = Vec::new();
    let mut counties: Vec<&sample::SampleUnit> = units[1..=super::DISTRICTS].iter().collect();
    counties.push(&units[0]);
    for (i, unit) in counties.into_iter().enumerate() {
        let mut users = Vec::new();
        // The names section 5 knows 东湖区's and the city's 纪检监督 by.
        let inspector = match i {
            0 => "东湖区 纪检 周".to_string(),
            _ if i == super::DISTRICTS => "市纪检 丙".to_string(),
            _ => format!("{} 纪检监督", unit.name),
        };
        for (role, name) in [
            (Role::EntryClerk, format!("{} 登分员甲", unit.name)),
            (Role::EntryClerk, format!("{} 登分员乙", unit.name)),
            (Role::EntryClerk, format!("{} 登分员丙", unit.name)),
            (Role::Inspector, inspector),
        ] {
            let link = app.invite(role, &unit.code, &name, None).await?;
            let code = invite_code(&link)?;
            let user = chats.user(id, &name);
            id += 1;
            user.send(&format!("/start {code}"));
            joined.push(user.clone());
            users.push(user);
        }
        let officer = match i < super::DISTRICTS {
            true => people[1 + i].user.clone(),
            false => people[0].user.clone(),
        };
        let [a, b, c, inspector]: [Chatter; 4] =
            users.try_into().map_err(|_| anyhow::anyhow!("four"))?;
        out.push(County {
            code: unit.code.clone(),
            clerks: [a, b, c],
            inspector,
            officer,
            numbers: [0; 5],
        });
    }
    let all = chats
        .wait_until(Duration::from_secs(60), |c| {
            joined.iter().all(|u| c.count_to(u) > 0)
        })
        .await;
    if !all {
        bail!("not every clerk and inspector got a welcome");
    }
    for u in &joined {
        chats.skip_read(u);
    }
    // Welcomed, each has the bot's number the app knows them by.
    for c in &mut out {
        let [a, b, d] = &c.clerks;
        let mut numbers = [0; 5];
        for (n, who) in [a, b, d, &c.inspector, &c.officer].into_iter().enumerate() {
            numbers[n] = chats.number(app, who).await?;
        }
        c.numbers = numbers;
    }
    println!("各考区登分员、纪检监督 {} 人已加入", joined.len());
    Ok(out)
}
