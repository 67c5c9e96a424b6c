//! `exam-review-bot demo`: the season's story offline. A fictional city (10 districts, 40
//! schools, one city-direct, 3,000 candidates), the real app and bot against the in-process
//! fake Telegram or fake DingTalk (`--platform`), people joining from the roster the city
//! admin sends in chat and by /invite, 免考 applications before the exam, the city
//! admin publishing the scores with a button, reviews, reminders, records and the seal; every
//! chat printed as its owner saw it.

mod board;
mod chats;
mod entry;
mod exemption;
mod onboarding;
mod progress;
mod reminders;
mod reviews;

use crate::app::App;
use crate::clock::ManualClock;
use crate::config::{Config, Platform};
use crate::sample;
use crate::store::{Db, outbox};
use anyhow::{Context, bail};
use chats::{Chats, Chatter};
use chrono::TimeZone;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use progress::{Act, Progress};

/// How much faster than the wall clock the demo's messenger counts its limits (on Telegram one
/// message a second to a chat, thirty in all; on DingTalk twenty calls), and its bot paces itself: the season's clock is simulated,
/// and nobody waits through its seconds.
const PACE: u32 = 20;

const DISTRICTS: usize = 10;
const SCHOOLS: usize = 40;
const CANDIDATES: usize = 3000;

/// A person of the demo: their chat with the bot and what they are.
struct Person {
    user: Chatter,
    label: String,
}

/// What the demo is about to show, before it shows it: `{messenger}` is the messenger's name,
/// `{press}` how a press shows in a chat.
const SUMMARY: &str = "\
== 演示：一个虚构城市的中招实验考试，从考前到封存，全部在（模拟的）{messenger} 聊天中完成
   1. 导入城市、县区、学校；免考申请开放。
   2. 工作人员加入：服务器只邀请市级管理员，其余逐级在聊天中 /invite。
   2b. 免考申请（附件2）：班主任填写，逐级审核，县区上报附件3，市级决定。
   2c. 登分（附件7）：每个半天两人分别录入，四人在场，比对、更正、上报；逾期批次视为缺考。
   3. 市级管理员 /publish 并确认：每所学校收到成绩通知与本校成绩表。
   4. 每个人收到的消息。
   5. 成绩复核（附件5）：四份申请走完 班主任 → 校长 → 县区复核小组 → 上报附件6 → 市级复审。
   6. 模拟时钟走完复核期：提醒按时发出，逾期未报的申请列为逾期未报；各人的看板快照。
   7. 记录与封存：结束复核，附件6、附件5，成绩库加密封存。
   每段聊天记录中，“→ 姓名: 内容”是此人发出的消息，“{press}”是此人按下的按钮，其余是机器人的消息。
";

pub async fn run(
    out: &Path,
    live_board: Option<std::net::SocketAddr>,
    platform: Platform,
) -> anyhow::Result<()> {
    if platform == Platform::Dingtalk && live_board.is_some() {
        bail!("the season board signs in through Telegram; run the demo on Telegram to serve it");
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // A run's records start afresh: the 免考 section and the reviews write into it.
    let records = out.join("records");
    if records.exists() {
        std::fs::remove_dir_all(&records)?;
    }
    let db_path = out.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db_path.display());
        if Path::new(&p).exists() {
            std::fs::remove_file(&p)?;
        }
    }
    let progress = Progress::start();
    let chats = Chats::start(platform, PACE).await?;
    let mut config = Config {
        database_url: format!("sqlite://{}", db_path.display()),
        bot_username: Some(fake_telegram::BOT_USERNAME.into()),
        ..Config::default()
    };
    config.telegram.polling_timeout_secs = 1;
    chats.configure(&mut config);
    // Three weeks before the exam, 10:00 in the city: 免考 applications are open.
    let clock = ManualClock::new(
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2023, 4, 1, 10, 0, 0)
            .unwrap()
            .to_utc(),
    );
    let db = Db::open(&config.database_url).await?;
    let mut app = App::new(db, config, Arc::new(clock.clone()))?;
    app.pace = crate::clock::Pace::faster(PACE);

    let press = match platform {
        Platform::Telegram => "→ [按钮]",
        Platform::Dingtalk => "→ 姓名: [按钮]",
    };
    let summary = SUMMARY
        .replace("{messenger}", chats.name())
        .replace("{press}", press);
    println!("{summary}");
    progress.begin(Act::City);
    println!("== 1. 城市、学校（虚构数据），考前");
    sample::load_units_and_season(&app, out, DISTRICTS, SCHOOLS).await?;
    let first_day = chrono::NaiveDate::from_ymd_opt(2023, 4, 26);
    app.set_exemption_window(Some(exemption::closes()), first_day)
        .await?;
    let units = sample::units(DISTRICTS, SCHOOLS);
    println!(
        "导入 {} 个单位；免考申请截止 2023年4月10日 18:00；文件在 {}",
        units.len(),
        out.display()
    );

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let runner = chats.spawn_bot(&app, stop_rx)?;

    let roster = sample::roster_csv(CANDIDATES, SCHOOLS, 2023);
    progress.begin(Act::Onboarding);
    let mut people = match onboarding::onboarding(&app, &chats, out, &units, &roster).await {
        Ok(people) => people,
        Err(e) => {
            stop.send(true).ok();
            runner.await??;
            return Err(e);
        }
    };

    progress.begin(Act::Exemption);
    if let Err(e) = exemption::exemptions(&app, &chats, &clock, out, &people).await {
        stop.send(true).ok();
        runner.await??;
        return Err(e);
    }
    let scores = exemption::scores_text(SCHOOLS, CANDIDATES);
    progress.begin(Act::Entry);
    match entry::exam_days(&app, &chats, &clock, out, &people, &scores).await {
        Ok(inspectors) => people.extend(inspectors),
        Err(e) => {
            stop.send(true).ok();
            runner.await??;
            return Err(e);
        }
    }
    // The day after the last exam day, 10:00 in the city: every batch is in, within the 2-day
    // window for publishing them.
    clock.set(
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2023, 4, 29, 10, 0, 0)
            .unwrap()
            .to_utc(),
    );

    progress.begin(Act::Publication);
    println!("== 3. 市级管理员发送 /publish 并确认");
    let admin = people[0].user.clone();
    admin.send("/publish");
    chats
        .wait_until(Duration::from_secs(30), |c| {
            c.has_button(&admin, "✅ 确认公布")
        })
        .await;
    admin.press("✅ 确认公布");
    let delivered = chats
        .wait_until(Duration::from_secs(300), |c| {
            c.has_text(&admin, "成绩通知发送完毕：") || c.has_text(&admin, "系统暂时出错")
        })
        .await;
    // The tally is the last message; its own row is marked sent a moment after the messenger
    // has it.
    let mut open = 1;
    for _ in 0..100 {
        let mut conn = app.db.pool.acquire().await?;
        open = outbox::open_count(&mut conn).await?;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !delivered || open > 0 {
        stop.send(true).ok();
        runner.await??;
        bail!(
            "delivery did not finish ({open} messages still queued); the city admin saw:\n{}",
            chats.transcript(&admin)
        );
    }

    println!("{}", exemption::exempt_line(&app).await?);

    progress.begin(Act::Notices);
    println!("== 4. 每个人收到的消息");
    let files = out.join("notices");
    std::fs::create_dir_all(&files)?;
    let mut notices = 0;
    for p in &people {
        println!("\n──── {} · chat {}", p.label, p.user.id);
        print!("{}", chats.transcript(&p.user));
        // The schools' score sheets (the 免考 section's lists went to officers and the city).
        for (name, bytes) in chats.documents(&p.user) {
            if name.contains("中招实验考试成绩_") {
                crate::store::write_private(&files.join(&name), &bytes)?;
                notices += 1;
            }
        }
        chats.skip_read(&p.user);
    }
    println!(
        "\n== 完成：{notices} 所学校收到成绩通知；学校收到的表格已写入 {}",
        files.display()
    );

    progress.begin(Act::Reviews);
    let mut result = reviews::reviews(&app, &chats, out, &units, &people).await;
    if result.is_ok() {
        progress.begin(Act::Reminders);
        result = reminders::season_clock(&app, &chats, &clock, &people).await;
    }
    if result.is_ok() {
        result = board::snapshots(&app, &chats, out, &people, live_board).await;
    }
    if result.is_ok() {
        progress.begin(Act::Records);
        result = records_and_seal(&app, &chats, &people[0].user, out).await;
    }
    stop.send(true).ok();
    runner.await??;
    chats.stop();
    progress.end(&chats, PACE);
    result
}

/// Section 7: the review closed, the offices' records are written (every unit's 附件6, the
/// city's, the four requests' 附件5) and the 纪检监督 seals the season with a passphrase the demo
/// prints (a real one is typed without echo and kept by the inspector alone); the season's
/// personal data and scores then leave the database, and the bot says the season is sealed.
async fn records_and_seal(
    app: &App,
    chats: &Chats,
    admin: &Chatter,
    out: &Path,
) -> anyhow::Result<()> {
    use crate::app::records::FileKind;
    use crate::domain::UnitKind;
    println!("\n== 7. 记录与封存：结束复核，附件6、附件5，成绩库加密封存");
    // The window has passed; the request left at the 班主任 is 逾期未报, so nothing is open and
    // the review closed by itself, every office receiving its 附件6. /close says so.
    let from = chats.count_to(admin);
    admin.send("/close");
    chats
        .expect(admin, "本季成绩复核已经结束", Duration::from_secs(60))
        .await?;
    print!("{}", chats.transcript_from(admin, from));
    let dir = out.join("records");
    let all = {
        let mut conn = app.db.pool.acquire().await?;
        crate::store::units::all(&mut conn).await?
    };
    let reporting = all.iter().filter(|u| {
        u.kind == UnitKind::City
            || u.kind == UnitKind::District
            || (u.kind == UnitKind::School && u.city_direct)
    });
    for unit in reporting {
        let record = app
            .export_review_summary(&unit.code, FileKind::Xlsx)
            .await?;
        if record.lines == 0 {
            continue;
        }
        let path = dir.join(&record.name);
        crate::store::write_private(&path, &record.bytes)?;
        println!(
            "   附件6 {}（{} 人）→ {}",
            unit.name,
            record.lines,
            path.display()
        );
    }
    let reviews: Vec<(i64,)> = {
        let mut conn = app.db.pool.acquire().await?;
        sqlx::query_as("SELECT id FROM review_requests WHERE kind = 'review' ORDER BY id LIMIT 4")
            .fetch_all(&mut *conn)
            .await?
    };
    for (id,) in reviews {
        let record = app.export_review_form(id).await?;
        let path = dir.join(&record.name);
        crate::store::write_private(&path, &record.bytes)?;
        println!("   附件5 #{id} → {}", path.display());
    }
    let archive = out.join("season-2023.age");
    if archive.exists() {
        std::fs::remove_file(&archive)?;
    }
    let passphrase = "demo-青山市-2023-封存口令";
    let sealed = app
        .seal(
            &archive,
            "东湖区 纪检 周",
            &age::secrecy::SecretString::from(passphrase.to_string()),
        )
        .await?;
    println!(
        "   🔒 已加密封存 {} 名考生的成绩库 → {}（{} 字节）\n   演示口令：{passphrase}\n   存档 SHA-256：{}\n   打开：cargo run --release -- seal open {} --out opened/",
        sealed.candidates,
        archive.display(),
        sealed.bytes,
        sealed.sha256,
        archive.display()
    );
    let removed: u64 = sealed.purged.values().sum();
    println!(
        "   🧹 数据库中已清除本季考生个人信息与成绩 {removed} 行（考生 {}、名册 {}、登分 {}、申请 {}）：封存存档为唯一记录",
        sealed.purged.get("candidates").copied().unwrap_or(0),
        sealed.purged.get("roster").copied().unwrap_or(0),
        sealed.purged.get("entry_rows").copied().unwrap_or(0),
        sealed.purged.get("review_requests").copied().unwrap_or(0),
    );
    // Asked afterwards, the bot says the season is sealed.
    let from = chats.count_to(admin);
    admin.send("/status");
    chats
        .expect(admin, "考生信息与成绩已移出机器人", Duration::from_secs(60))
        .await?;
    print!("{}", chats.transcript_from(admin, from));
    println!("\n== 完成：记录已写入 {}，成绩库已封存", dir.display());
    Ok(())
}
