//! `exam-review-bot demo`: the whole publication story offline. A fictional city (10 districts,
//! 40 schools, one city-direct, 3,000 candidates), the real app and bot against the in-process
//! fake Telegram, people joining by invite links, the city admin publishing with a button, and
//! every chat printed as its owner saw it.

use crate::app::App;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::domain::Role;
use crate::fakeapi::{FakeTelegram, FakeUser};
use crate::sample;
use crate::store::{Db, outbox};
use anyhow::{Context, bail};
use chrono::{NaiveDate, TimeZone};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const DISTRICTS: usize = 10;
const SCHOOLS: usize = 40;
const CANDIDATES: usize = 3000;

/// A person of the demo: their Telegram identity and what they are.
struct Person {
    user: FakeUser,
    label: String,
}

pub async fn run(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let db_path = out.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db_path.display());
        if Path::new(&p).exists() {
            std::fs::remove_file(&p)?;
        }
    }
    let fake = FakeTelegram::start().await?;
    let mut config = Config {
        database_url: format!("sqlite://{}", db_path.display()),
        bot_username: Some(crate::fakeapi::BOT_USERNAME.into()),
        ..Config::default()
    };
    config.telegram.polling_timeout_secs = 1;
    // The day after the last exam day, 10:00 in the city: within the 2-day window.
    let clock = ManualClock::new(
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2023, 4, 29, 10, 0, 0)
            .unwrap()
            .to_utc(),
    );
    let db = Db::open(&config.database_url).await?;
    let app = App::new(db, config, Arc::new(clock))?;

    println!("== 1. 城市、学校与成绩（虚构数据）");
    let units = sample::units(DISTRICTS, SCHOOLS);
    let units_file = out.join("units.csv");
    std::fs::write(&units_file, sample::units_csv(&units))?;
    app.import_units(&units_file).await?;
    app.set_season(
        2023,
        NaiveDate::from_ymd_opt(2023, 4, 28).unwrap(),
        chrono_tz::Asia::Shanghai,
        30,
    )
    .await?;
    let scores_file = out.join("scores.csv");
    std::fs::write(&scores_file, sample::scores_csv(CANDIDATES, SCHOOLS, 2023))?;
    let summary = app.import_scores(&scores_file).await?;
    println!(
        "导入 {} 个单位，{} 名考生（{} 所学校）；文件在 {}",
        units.len(),
        summary.total,
        summary.per_school.len(),
        out.display()
    );

    let bot = crate::telegram::build_bot(&app, "demo-token", Some(fake.api_url().parse()?));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(crate::telegram::run(app.clone(), bot, stop_rx));

    println!("== 2. 工作人员通过邀请链接加入");
    let mut people: Vec<Person> = Vec::new();
    let mut next_id = 1001;
    let mut join = |role: Role, unit: &sample::SampleUnit, name: String| {
        let id = next_id;
        next_id += 1;
        (role, unit.clone(), name, id)
    };
    let mut joins = vec![join(Role::CityAdmin, &units[0], "市装备中心 周主任".into())];
    for d in &units[1..=DISTRICTS] {
        joins.push(join(
            Role::DistrictOfficer,
            d,
            format!("{} 装备管理员", d.name),
        ));
    }
    for s in &units[DISTRICTS + 1..] {
        joins.push(join(Role::SchoolContact, s, format!("{} 联系人", s.name)));
    }
    for (role, unit, name, id) in joins {
        let link = app.invite(role, &unit.code, &name, None).await?;
        let code = link.rsplit('=').next().unwrap_or_default().to_string();
        let user = fake.user(id, &name);
        user.send(&format!("/start {code}"));
        people.push(Person {
            user,
            label: format!("{name}（{}）", unit.name),
        });
    }
    let all_joined = fake
        .wait_until(Duration::from_secs(60), |f| {
            people.iter().all(|p| !f.messages_to(p.user.id).is_empty())
        })
        .await;
    if !all_joined {
        bail!("not everyone got a welcome from the bot");
    }
    println!("{} 人已加入", people.len());

    println!("== 3. 市级管理员发送 /publish 并确认");
    let admin = people[0].user.clone();
    admin.send("/publish");
    fake.wait_until(Duration::from_secs(30), |f| {
        f.messages_to(admin.id)
            .iter()
            .any(|m| !m.buttons().is_empty())
    })
    .await;
    admin.press("✅ 确认公布");
    let delivered = fake
        .wait_until(Duration::from_secs(300), |f| {
            f.messages_to(admin.id)
                .iter()
                .any(|m| m.text.contains("成绩通知发送完毕：") || m.text.contains("系统暂时出错"))
        })
        .await;
    // The tally is the last message; its own row is marked sent a moment after Telegram has it.
    let mut open = 1;
    for _ in 0..100 {
        let mut conn = app.db.pool.acquire().await?;
        open = outbox::open_count(&mut conn).await?;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).ok();
    runner.await??;
    fake.stop();
    if !delivered || open > 0 {
        bail!(
            "delivery did not finish ({open} messages still queued); the city admin saw:\n{}",
            fake.transcript(admin.id)
        );
    }

    println!("== 4. 每个人收到的消息");
    let files = out.join("notices");
    std::fs::create_dir_all(&files)?;
    let mut notices = 0;
    for p in &people {
        println!("\n──── {} · chat {}", p.label, p.user.id);
        print!("{}", fake.transcript(p.user.id));
        for m in fake.messages_to(p.user.id) {
            if let Some((name, bytes)) = &m.document {
                std::fs::write(files.join(name), bytes)?;
                notices += 1;
            }
        }
    }
    println!(
        "\n== 完成：{notices} 所学校收到成绩通知；学校收到的表格已写入 {}",
        files.display()
    );
    Ok(())
}
