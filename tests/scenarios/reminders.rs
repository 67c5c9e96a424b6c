//! Deadlines nobody can miss: reminders at their moments, once; quiet nights; the deadline's
//! escalation; and two bot processes sending each reminder once.

use crate::support::*;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::SystemClock;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use fake_telegram::{FakeTelegram, FakeUser};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn count(h: &Harness, user: &FakeUser, needle: &str) -> usize {
    h.fake
        .messages_to(user.id)
        .iter()
        .filter(|m| m.visible_text().contains(needle))
        .count()
}

/// Moves the clock and runs a sweep, as the ticker would.
async fn at(h: &Harness, when: chrono::DateTime<chrono::Utc>) {
    h.clock.set(when);
    h.sweep(when).await;
    h.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publication_reminders_fire_once_at_their_moments_even_across_a_restart() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    // The deadline is 24:00 on April 30. At 00:00 the 24-hour reminder is due, but it is night.
    at(&h, shanghai(2023, 4, 30, 0, 0)).await;
    assert_eq!(count(&h, &admin, "成绩公布提醒"), 0, "quiet hours");
    at(&h, shanghai(2023, 4, 30, 7, 0)).await;
    assert_eq!(count(&h, &admin, "还剩约 24 小时"), 1);
    at(&h, shanghai(2023, 4, 30, 7, 30)).await;
    h.restart().await;
    at(&h, shanghai(2023, 4, 30, 8, 0)).await;
    assert_eq!(count(&h, &admin, "成绩公布提醒"), 1, "once, restart or not");
    at(&h, shanghai(2023, 4, 30, 20, 0)).await;
    assert_eq!(count(&h, &admin, "还剩约 4 小时"), 1);
    // 23:00 is quiet, but it is the last hour before the deadline.
    at(&h, shanghai(2023, 4, 30, 23, 0)).await;
    assert_eq!(count(&h, &admin, "还剩约 1 小时"), 1);
    // Past the deadline, at night: the alert waits for the morning.
    at(&h, shanghai(2023, 5, 1, 0, 1)).await;
    assert_eq!(count(&h, &admin, "已逾期"), 0);
    at(&h, shanghai(2023, 5, 1, 7, 0)).await;
    assert_eq!(count(&h, &admin, "成绩公布已逾期"), 1);
    at(&h, shanghai(2023, 5, 1, 9, 0)).await;
    assert_eq!(count(&h, &admin, "成绩公布已逾期"), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_get_digests_urgent_reminders_and_lapse_unreported_at_the_windows_end() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let school = sample::school_code(0);
    let contact = h.join(Role::SchoolContact, &school, "联系人").await;
    let pupil = {
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        let season = h.app.cli_season().await.unwrap().unwrap();
        exam_review_bot::store::candidates::of_school(&mut conn, season.id, &school)
            .await
            .unwrap()
            .remove(0)
    };
    let teacher = h
        .join_class(Role::HomeroomTeacher, &school, &pupil.class_name, "王老师")
        .await;
    let other = h
        .join(Role::SchoolContact, &sample::school_code(2), "别校联系人")
        .await;

    contact.send("/review");
    h.expect(&contact, "准考证号").await;
    contact.send(&pupil.exam_no);
    h.expect(&contact, "的照片或 PDF").await;
    contact.send_photo("signed-form");
    h.expect(&contact, "申请理由").await;
    contact.send("漏评");
    h.expect(&contact, "联系方式").await;
    contact.send("13800001234");
    h.expect(&contact, "请核对申请内容").await;
    contact.press("✅ 提交");
    h.expect(&contact, "已提交").await;
    h.expect(&teacher, "待您审核").await;

    // Day 2, 08:00: a digest for whoever has something waiting (the teacher), nobody else.
    at(&h, shanghai(2023, 4, 30, 8, 0)).await;
    let digest = h.expect(&teacher, "待您处理的复核申请：1 件").await;
    assert!(digest.contains("2023年5月2日 24:00"), "{digest}");
    assert_eq!(count(&h, &other, "待您处理"), 0);
    h.expect(&admin, "复核每日情况").await;

    // Another school's contact is halfway through filing when filing closes, a day before
    // the window's end (review.filing_closes_hours: 24).
    h.clock.set(shanghai(2023, 5, 1, 20, 0));
    other.send("/review");
    h.expect(&other, "准考证号").await;
    at(&h, shanghai(2023, 5, 2, 0, 0)).await;
    h.expect(&other, "未能提交").await;
    other.send("/review");
    h.expect(&other, "逾期不予受理").await;
    // 12 hours before the window's end: urgent, for items still below the city level.
    at(&h, shanghai(2023, 5, 2, 12, 0)).await;
    h.expect(&teacher, "紧急提醒").await;

    // The window ends with the request still at the 班主任: it is 逾期未报, the filer told.
    at(&h, shanghai(2023, 5, 3, 0, 0)).await;
    h.expect(&contact, "逾期未报").await;
    // The unit's list goes to the city at once; the city's note of the close waits.
    h.expect(&admin, "有 1 件复核申请未上报市级").await;
    assert_eq!(
        count(&h, &admin, "复核工作已结束"),
        0,
        "the city's note waits for the morning"
    );
    at(&h, shanghai(2023, 5, 3, 7, 0)).await;
    let closed = h.expect(&admin, "复核工作已结束").await;
    assert!(closed.contains("1 件已列为逾期未报"), "{closed}");
    // The clock decides now: the teacher's card is closed, with nothing left to press.
    let card = h
        .fake
        .messages_to(teacher.id)
        .into_iter()
        .find(|m| m.text.contains("成绩复核申请表 #1"))
        .expect("the teacher's card");
    assert!(
        card.text.contains("逾期未报") && card.buttons().is_empty(),
        "{}",
        card.text
    );
    admin.send("/status");
    let board = h.expect(&admin, "考试季").await;
    assert!(
        board.contains("逾期未报（复核截止前未上报市级，不予受理）：1 件"),
        "{board}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bot_processes_on_postgresql_send_each_reminder_once() {
    let db = TestDb::new().await;
    if !db.is_postgres() {
        eprintln!("two instances need PostgreSQL (TEST_POSTGRES_URL); a SQLite file has one bot");
        return;
    }
    let app = App::new(
        Db::open(&db.url).await.unwrap(),
        test_config(&db.url),
        Arc::new(SystemClock),
    )
    .unwrap();
    let dir = db.dir.path();
    std::fs::write(
        dir.join("units.csv"),
        sample::units_csv(&sample::units(2, 5)),
    )
    .unwrap();
    app.import_units(&dir.join("units.csv")).await.unwrap();
    app.set_season(
        2023,
        chrono::NaiveDate::from_ymd_opt(2023, 4, 28).unwrap(),
        SHANGHAI,
        30,
    )
    .await
    .unwrap();
    let fake = FakeTelegram::start().await.unwrap();
    let mut admins = Vec::new();
    for i in 0..3 {
        let link = app
            .invite(Role::CityAdmin, sample::CITY_CODE, "管理员", None)
            .await
            .unwrap();
        let id = 900 + i;
        app.start(id, id, Some(link.rsplit('=').next().unwrap()))
            .await
            .unwrap();
        admins.push(id);
    }
    // Both start at 07:00 on April 30, when the 24-hour reminder is due; each sweeps at start.
    let spawn = || {
        Command::new(binary())
            .arg("run")
            .env("DATABASE_URL", &db.url)
            .env("TELOXIDE_TOKEN", "1:two")
            .env("TELOXIDE_API_URL", fake.api_url())
            .env("EXAM_REVIEW_BOT_CLOCK", "2023-04-30T07:00:00+08:00")
            .env("RUST_LOG", "warn")
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut one = spawn();
    let mut two = spawn();
    // The admins also hear that the invites were used (in one digest each); only the
    // reminders count here.
    let reminders = |f: &FakeTelegram, a: i64| {
        f.messages_to(a)
            .into_iter()
            .filter(|m| !m.text.contains("邀请已被使用"))
            .count()
    };
    let all = fake
        .wait_until(Duration::from_secs(60), |f| {
            admins.iter().all(|a| reminders(f, *a) > 0)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    one.kill().ok();
    two.kill().ok();
    one.wait().ok();
    two.wait().ok();
    assert!(all, "every admin got the reminder");
    for a in admins {
        assert_eq!(reminders(&fake, a), 1, "admin {a}: {}", fake.transcript(a));
    }
}
