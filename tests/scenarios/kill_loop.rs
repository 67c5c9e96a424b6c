//! The real binary SIGKILLed again and again at seeded random moments while school contacts
//! file review requests and 班主任 and 校长 approve them; each time it is started again. At the
//! end every request is filed once and approved once at each level, each approval announced
//! once, every school has its publication notice (twice at most where a kill fell between
//! Telegram accepting it and the bot marking it), and the audit chain verifies.
//! `KILLS=200 cargo test kill_loop` is the long run of RELIABILITY.md; `cargo test` kills 3
//! times.

use crate::processes::{process_app, run_command};
use crate::support::*;
use exam_review_bot::app::App;
use exam_review_bot::fakeapi::FakeTelegram;
use exam_review_bot::simulate::{self, Driver};
use exam_review_bot::store::outbox;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::process::Child;
use std::time::{Duration, Instant};

const SCHOOLS: usize = 8;

fn kills() -> usize {
    std::env::var("KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

async fn open_rows(app: &App) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    outbox::open_count(&mut conn).await.unwrap()
}

fn kill(mut bot: Child) {
    bot.kill().unwrap();
    bot.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_again_and_again_mid_season_nothing_is_lost_and_no_decision_doubled() {
    let db = TestDb::new().await;
    let dir = db.dir.path();
    let app = process_app(&db, "").await;
    // Enough candidates that the season is still going at the last kill.
    let kills = kills();
    let pupils = (kills / 4).max(3);
    let city = simulate::prepare(&app, dir, SCHOOLS, pupils, 20_000)
        .await
        .unwrap();
    let fake = FakeTelegram::start().await.unwrap();
    let mut people = Driver::new(&fake, &city);
    let mut rng = StdRng::seed_from_u64(15);
    let tick = Duration::from_millis(50);

    for _ in 0..kills {
        let bot = run_command(&db, &fake).spawn().unwrap();
        let until = Instant::now() + Duration::from_millis(rng.random_range(300..4000));
        while Instant::now() < until {
            if people.filing() < SCHOOLS {
                people.start_request();
            }
            people.tick();
            tokio::time::sleep(tick).await;
        }
        kill(bot);
    }

    // The last life: everyone finishes.
    let bot = run_command(&db, &fake).spawn().unwrap();
    // About seven seconds a request for each contact (six answers, each a second apart in its
    // chat), with room to spare.
    let left = people.remaining() + people.filing();
    let deadline = Instant::now() + Duration::from_secs(60 + 10 * left.div_ceil(SCHOOLS) as u64);
    let mut quiet_since = Instant::now();
    let mut last = (0, 0);
    let mut done_since: Option<Instant> = None;
    loop {
        while people.start_request() {}
        people.tick();
        let progress = (people.seen.filed, people.seen.approvals);
        if progress != last {
            last = progress;
            quiet_since = Instant::now();
        }
        let done = people.filing() == 0 && people.remaining() == 0 && people.cards_open() == 0;
        // Done for a moment could be a tap taken and not yet handled: done for 1.5 s is done.
        if done && fake.pending_updates() == 0 && open_rows(&app).await == 0 {
            if done_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_millis(1500) {
                break;
            }
        } else {
            done_since = None;
        }
        // Caught up and nothing moving: what is still waiting was lost with a killed process
        // (taken from Telegram, not yet handled); the people send it again, as they would.
        if quiet_since.elapsed() > Duration::from_secs(3)
            && fake.pending_updates() == 0
            && open_rows(&app).await == 0
        {
            people.resend_stalled(Duration::from_secs(3));
            quiet_since = Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the season did not finish: {} filed, {} taps, {} resent, {} left",
            people.seen.filed,
            people.seen.approvals,
            people.seen.resent,
            people.remaining() + people.filing()
        );
        tokio::time::sleep(tick).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    kill(bot);
    eprintln!(
        "{kills} kills survived: {} requests filed, {} taps, {} inputs sent again",
        people.seen.filed, people.seen.approvals, people.seen.resent
    );

    let mut conn = app.db.pool.acquire().await.unwrap();
    // Every candidate filed for once, each request approved once at each of its two levels.
    let per_request: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT r.id, (SELECT COUNT(*) FROM review_events e
                       WHERE e.request_id = r.id AND e.action = 'approve')
         FROM review_requests r ORDER BY r.id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        per_request.len(),
        SCHOOLS * pupils,
        "one request per candidate"
    );
    for (id, approvals) in &per_request {
        assert_eq!(*approvals, 2, "request {id}");
    }
    drop(conn);
    // Each approval told to its filer: none lost, repeated only by a kill's at-least-once send.
    let parts: Vec<String> = city
        .schools
        .iter()
        .flat_map(|s| fake.messages_to(s.contact))
        .flat_map(|m| {
            let text = m.visible_text();
            let parts: Vec<String> = text
                .split(outbox::MERGED_SEPARATOR.trim())
                .map(str::to_string)
                .collect();
            parts
        })
        .collect();
    for (id, _) in &per_request {
        let told: Vec<&String> = parts
            .iter()
            .filter(|p| p.contains(&format!("申请 #{id}（")) && p.contains("已同意"))
            .collect();
        let levels =
            ["班主任", "校长"].map(|l| told.iter().any(|p| p.contains(&format!("：{l} "))));
        assert!(
            levels == [true, true] && told.len() <= 2 + kills,
            "request {id}'s approvals told: {told:?}"
        );
    }
    // Publication notices: one per school, two where a kill fell in the at-least-once window.
    for school in &city.schools {
        let notices = fake
            .messages_to(school.contact)
            .iter()
            .filter(|m| m.document.is_some())
            .count();
        assert!(
            (1..=2).contains(&notices),
            "school {}: {notices}",
            school.code
        );
    }
    let verify = std::process::Command::new(binary())
        .args(["audit", "verify"])
        .env("DATABASE_URL", &db.url)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "the audit chain: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
