//! Section 6 of the demo: the review window on the simulated clock, hour by hour, with every
//! reminder printed as it fires.

use super::chats::Chats;
use super::{DISTRICTS, Person};
use crate::app::App;
use crate::clock::ManualClock;
use crate::sample;
use anyhow::Context;
use chrono::TimeZone;
use std::time::Duration;

/// Section 6: one more request is left waiting at the homeroom teacher, and the clock runs
/// through the rest of the review window hour by hour; every reminder prints as it fires.
pub(super) async fn season_clock(
    app: &App,
    chats: &Chats,
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
        chats.expect(&contact, reply, limit).await?;
    }
    contact.press("✅ 提交");
    chats.expect(&contact, "已提交", limit).await?;
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
            // The outbox forgets a text once it is delivered: show it as the messenger got it.
            if let Some((row, chat)) = sample {
                let mut shown = None;
                for _ in 0..600 {
                    let sent: Option<(Option<i64>,)> =
                        sqlx::query_as("SELECT telegram_message_id FROM outbox WHERE id = $1")
                            .bind(row)
                            .fetch_optional(&mut *conn)
                            .await?;
                    if let Some((Some(message_id),)) = sent {
                        shown = chats.delivered(chat, message_id);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if let Some(text) = shown {
                    println!("{text}");
                }
            }
        }
        t += chrono::Duration::hours(1);
    }
    println!("\n== 完成：复核期结束，未在截止前上报市级的申请列为逾期未报，不予受理");
    Ok(())
}
