//! `exam-review-bot demo`: the season's story offline. A fictional city (10 districts, 40
//! schools, one city-direct, 3,000 candidates), the real app and bot against the in-process
//! fake Telegram, people joining from the roster the city admin sends in chat and by /invite,
//! 免考 applications before the exam, the city
//! admin publishing the scores with a button, reviews, reminders, records and the seal; every
//! chat printed as its owner saw it.

mod board;
mod entry;
mod exemption;
mod onboarding;
mod progress;
mod reviews;

use crate::app::App;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::sample;
use crate::store::{Db, outbox};
use anyhow::{Context, bail};
use chrono::TimeZone;
use fake_telegram::{FakeTelegram, FakeUser};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use progress::{Act, Progress};

/// How much faster than the wall clock the demo's Telegram counts its limits (one message a
/// second to a chat, thirty in all), and its bot paces itself: the season's clock is simulated,
/// and nobody waits through its seconds.
const PACE: u32 = 20;

const DISTRICTS: usize = 10;
const SCHOOLS: usize = 40;
const CANDIDATES: usize = 3000;

/// A person of the demo: their Telegram identity and what they are.
/// The demo bot's token: the fake Telegram accepts any, and the live board checks with it.
const TOKEN: &str = "demo-token";

struct Person {
    user: FakeUser,
    label: String,
}

/// What the demo is about to show, before it shows it.
const SUMMARY: &str = "\
== 演示：一个虚构城市的中招实验考试，从考前到封存，全部在（模拟的）Telegram 聊天中完成
   1. 导入城市、县区、学校；免考申请开放。
   2. 工作人员加入：服务器只邀请市级管理员，其余逐级在聊天中 /invite。
   2b. 免考申请（附件2）：班主任填写，逐级审核，县区上报附件3，市级决定。
   2c. 登分（附件7）：每个半天两人分别录入，四人在场，比对、更正、上报；逾期批次视为缺考。
   3. 市级管理员 /publish 并确认：每所学校收到成绩通知与本校成绩表。
   4. 每个人收到的消息。
   5. 成绩复核（附件5）：四份申请走完 班主任 → 校长 → 县区复核小组 → 上报附件6 → 市级复审。
   6. 模拟时钟走完复核期：提醒按时发出，逾期未报的申请列为逾期未报；各人的看板快照。
   7. 记录与封存：结束复核，附件6、附件5，成绩库加密封存。
   每段聊天记录中，“→ 姓名: 内容”是此人发出的消息，“→ [按钮]”是此人按下的按钮，其余是机器人的消息。
";

pub async fn run(out: &Path, live_board: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
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
    let fake = FakeTelegram::start().await?;
    fake.enforce_limits(PACE);
    let mut config = Config {
        database_url: format!("sqlite://{}", db_path.display()),
        bot_username: Some(fake_telegram::BOT_USERNAME.into()),
        ..Config::default()
    };
    config.telegram.polling_timeout_secs = 1;
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

    println!("{SUMMARY}");
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

    let bot = crate::telegram::build_bot(&app, TOKEN, Some(fake.api_url().parse()?));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(crate::telegram::run(app.clone(), bot, stop_rx));

    let roster = sample::roster_csv(CANDIDATES, SCHOOLS, 2023);
    progress.begin(Act::Onboarding);
    let mut people = match onboarding::onboarding(&app, &fake, out, &units, &roster).await {
        Ok(people) => people,
        Err(e) => {
            stop.send(true).ok();
            runner.await??;
            return Err(e);
        }
    };

    progress.begin(Act::Exemption);
    if let Err(e) = exemption::exemptions(&app, &fake, &clock, out, &people).await {
        stop.send(true).ok();
        runner.await??;
        return Err(e);
    }
    let scores = exemption::scores_text(SCHOOLS, CANDIDATES);
    progress.begin(Act::Entry);
    match entry::exam_days(&app, &fake, &clock, out, &people, &scores).await {
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
    fake.wait_until(Duration::from_secs(30), |f| {
        f.messages_to(admin.id)
            .iter()
            .any(|m| m.buttons().iter().any(|(label, _)| label == "✅ 确认公布"))
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
    if !delivered || open > 0 {
        stop.send(true).ok();
        runner.await??;
        bail!(
            "delivery did not finish ({open} messages still queued); the city admin saw:\n{}",
            fake.transcript(admin.id)
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
        print!("{}", fake.transcript(p.user.id));
        // The schools' score sheets (the 免考 section's lists went to officers and the city).
        for m in fake.messages_to(p.user.id) {
            if let Some((name, bytes)) = &m.document
                && name.contains("中招实验考试成绩_")
            {
                crate::store::write_private(&files.join(name), bytes)?;
                notices += 1;
            }
        }
        fake.skip_read(p.user.id);
    }
    println!(
        "\n== 完成：{notices} 所学校收到成绩通知；学校收到的表格已写入 {}",
        files.display()
    );

    progress.begin(Act::Reviews);
    let mut result = reviews::reviews(&app, &fake, out, &units, &people).await;
    if result.is_ok() {
        progress.begin(Act::Reminders);
        result = season_clock(&app, &fake, &clock, &people).await;
    }
    if result.is_ok() {
        result = board::snapshots(&app, out, &people, live_board).await;
    }
    if result.is_ok() {
        progress.begin(Act::Records);
        result = records_and_seal(&app, &fake, &people[0].user, out).await;
    }
    stop.send(true).ok();
    runner.await??;
    fake.stop();
    progress.end(&fake, PACE);
    result
}

/// Section 7: the review closed, the offices' records are written (every unit's 附件6, the
/// city's, the four requests' 附件5) and the 纪检监督 seals the season with a passphrase the demo
/// prints (a real one is typed without echo and kept by the inspector alone); the season's
/// personal data and scores then leave the database, and the bot says the season is sealed.
async fn records_and_seal(
    app: &App,
    fake: &FakeTelegram,
    admin: &FakeUser,
    out: &Path,
) -> anyhow::Result<()> {
    use crate::app::records::FileKind;
    use crate::domain::UnitKind;
    println!("\n== 7. 记录与封存：结束复核，附件6、附件5，成绩库加密封存");
    // The window has passed; the request left at the 班主任 is 逾期未报, so nothing is open and
    // the review closed by itself, every office receiving its 附件6. /close says so.
    let from = fake.messages_to(admin.id).len();
    admin.send("/close");
    fake.expect(admin.id, "本季成绩复核已经结束", Duration::from_secs(60))
        .await
        .map_err(anyhow::Error::msg)?;
    print!("{}", fake.transcript_from(admin.id, from));
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
    let from = fake.messages_to(admin.id).len();
    admin.send("/status");
    fake.expect(
        admin.id,
        "考生信息与成绩已移出机器人",
        Duration::from_secs(60),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    print!("{}", fake.transcript_from(admin.id, from));
    println!("\n== 完成：记录已写入 {}，成绩库已封存", dir.display());
    Ok(())
}

/// Section 6: one more request is left waiting at the homeroom teacher, and the clock runs
/// through the rest of the review window hour by hour; every reminder prints as it fires.
async fn season_clock(
    app: &App,
    fake: &FakeTelegram,
    clock: &ManualClock,
    people: &[Person],
) -> anyhow::Result<()> {
    println!("\n== 6. 模拟时钟走完复核期：提醒按时发出");
    let contact = people[DISTRICTS + 1].user.clone();
    let (exam_no, class) = {
        let mut conn = app.db.pool.acquire().await?;
        let season = app.cli_season().await?.context("season")?;
        let list =
            crate::store::candidates::of_school(&mut conn, season.id, &sample::school_code(0))
                .await?;
        let first_class = list[0].class_name.clone();
        let c = list
            .iter()
            .skip(1)
            .find(|c| c.class_name == first_class)
            .context("a classmate")?;
        (c.exam_no.clone(), c.class_name.clone())
    };
    let limit = Duration::from_secs(60);
    for (text, reply) in [
        ("/review", "准考证号"),
        (exam_no.as_str(), "的照片或 PDF"),
        ("", "申请理由"),
        ("分数合计有误", "联系方式"),
        ("13800001234", "请核对申请内容"),
    ] {
        // The empty step is the signed form's photo.
        if text.is_empty() {
            contact.send_photo("signed-form-late");
        } else {
            contact.send(text);
        }
        fake.expect(contact.id, reply, limit)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    contact.press("✅ 提交");
    fake.expect(contact.id, "已提交", limit)
        .await
        .map_err(anyhow::Error::msg)?;
    println!("（{class} 的一份申请停在班主任处，无人处理）");

    let tz = chrono_tz::Asia::Shanghai;
    let mut t = clock.now_utc_hour();
    let end = tz.with_ymd_and_hms(2023, 5, 3, 9, 0, 0).unwrap().to_utc();
    while t <= end {
        clock.set(t);
        app.sweep(t).await?;
        // The running bot's own ticker may have swept this moment first: read what was sent.
        let mut conn = app.db.pool.acquire().await?;
        let fired: Vec<(String, i64)> = sqlx::query_as(
            "SELECT key, recipients FROM reminders_sent WHERE sent_at = $1 ORDER BY key",
        )
        .bind(crate::store::to_ms(t))
        .fetch_all(&mut *conn)
        .await?;
        for (key, n) in fired {
            let sample: Option<(i64, i64)> = sqlx::query_as(
                "SELECT id, chat_id FROM outbox WHERE dedupe_key LIKE $1 ORDER BY id LIMIT 1",
            )
            .bind(format!("reminder:{key}:%"))
            .fetch_optional(&mut *conn)
            .await?;
            println!(
                "\n[{}] {key} → {n} 人",
                crate::domain::deadline::display(t, tz)
            );
            // The outbox forgets a text once it is delivered: show it as Telegram got it.
            if let Some((row, chat)) = sample {
                let mut shown = None;
                for _ in 0..600 {
                    let sent: Option<(Option<i64>,)> =
                        sqlx::query_as("SELECT telegram_message_id FROM outbox WHERE id = $1")
                            .bind(row)
                            .fetch_optional(&mut *conn)
                            .await?;
                    if let Some((Some(message_id),)) = sent {
                        shown = fake
                            .messages_to(chat)
                            .into_iter()
                            .find(|m| m.message_id == message_id);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if let Some(m) = shown {
                    println!("{}", m.visible_text());
                }
            }
        }
        t += chrono::Duration::hours(1);
    }
    println!("\n== 完成：复核期结束，未在截止前上报市级的申请列为逾期未报，不予受理");
    Ok(())
}
