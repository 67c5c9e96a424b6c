//! The real binary SIGKILLed again and again at seeded random moments through a season's
//! whole review route: school contacts file review requests, 班主任 and 校长 approve them,
//! each district's 复核小组 records 维持原成绩 and signs, sends its batch up (上报), and the
//! city's 复审 agrees; each time the binary is started again. At the end every request is
//! filed once, approved once at each level, recorded once, signed once by each other member,
//! reported once, agreed once and completed once, with no score moved; each approval and each
//! result told to its school (again only where a kill fell between Telegram accepting a
//! message and the bot marking it), every school has its publication notice (likewise), and
//! the audit chain verifies. `KILLS=200 cargo test kill_loop` is the long run of
//! RELIABILITY.md; `cargo test` kills 3 times.

use crate::processes::{process_app, run_command};
use crate::support::*;
use exam_review_bot::app::App;
use exam_review_bot::simulate::{self, Driver, Reach};
use exam_review_bot::store::outbox;
use fake_telegram::FakeTelegram;
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

async fn completed(app: &App) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM review_requests WHERE state = 'completed'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    n
}

/// One request's events, counted by kind.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Trail {
    id: i64,
    state: String,
    filed: i64,
    approved: i64,
    recorded: i64,
    signed: i64,
    reported: i64,
    rechecked: i64,
    completed: i64,
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
    // Enough candidates that the season is still going at the last kill (the group stages and
    // the city's 复审 run on long after the last filing).
    let kills = kills();
    let pupils = (kills / 8).max(3);
    let city = simulate::prepare(&app, dir, SCHOOLS, pupils, 20_000, Reach::WholeRoute)
        .await
        .unwrap();
    let requests = (SCHOOLS * pupils) as i64;
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
    // About seven seconds a request for each contact still filing (six answers, each a second
    // apart in its chat), as many for each group's recorder with results still to record (a
    // card, two prompts, a receipt, the card's closing edit), and two for the city's one 复审
    // (a card and its closing edit), with room to spare.
    let left = people.remaining() + people.filing();
    let behind = (requests - completed(&app).await) as usize;
    let groups = city.groups.len();
    let deadline = Instant::now()
        + Duration::from_secs(
            120 + 20 * left.div_ceil(SCHOOLS) as u64
                + 15 * behind.div_ceil(groups) as u64
                + 3 * behind as u64,
        );
    let mut quiet_since = Instant::now();
    let mut last = (0, 0, 0, 0);
    let mut done_since: Option<Instant> = None;
    loop {
        while people.start_request() {}
        people.tick();
        let seen = &people.seen;
        let progress = (seen.filed, seen.approvals, seen.recorded, seen.reported);
        if progress != last {
            last = progress;
            quiet_since = Instant::now();
        }
        // Every request completed is the season's end. (Not "no card shows a button": a card
        // delivered twice by a kill's at-least-once send keeps the buttons of its first copy,
        // which a press only answers with "already handled".)
        let done =
            people.filing() == 0 && people.remaining() == 0 && completed(&app).await == requests;
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
            "the season did not finish: {} filed, {} taps, {} recorded, {} 上报, {} resent, \
             {} left to file, {} completed",
            people.seen.filed,
            people.seen.approvals,
            people.seen.recorded,
            people.seen.reported,
            people.seen.resent,
            people.remaining() + people.filing(),
            completed(&app).await
        );
        tokio::time::sleep(tick).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    kill(bot);
    eprintln!(
        "{kills} kills survived: {} requests filed, {} taps, {} recorded, {} 上报, {} inputs \
         sent again",
        people.seen.filed,
        people.seen.approvals,
        people.seen.recorded,
        people.seen.reported,
        people.seen.resent
    );

    let mut conn = app.db.pool.acquire().await.unwrap();
    // Every candidate filed for once, each request carried once through every level.
    let trails: Vec<Trail> = sqlx::query_as(
        "SELECT r.id, r.state,
                SUM(CASE WHEN e.action = 'file' THEN 1 ELSE 0 END) AS filed,
                SUM(CASE WHEN e.action = 'approve' THEN 1 ELSE 0 END) AS approved,
                SUM(CASE WHEN e.action = 'record' THEN 1 ELSE 0 END) AS recorded,
                SUM(CASE WHEN e.action = 'confirm' THEN 1 ELSE 0 END) AS signed,
                SUM(CASE WHEN e.action = 'report' THEN 1 ELSE 0 END) AS reported,
                SUM(CASE WHEN e.action = 'recheck' THEN 1 ELSE 0 END) AS rechecked,
                SUM(CASE WHEN e.action = 'complete' THEN 1 ELSE 0 END) AS completed
         FROM review_requests r JOIN review_events e ON e.request_id = r.id
         GROUP BY r.id, r.state ORDER BY r.id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(trails.len(), SCHOOLS * pupils, "one request per candidate");
    for t in &trails {
        let once = Trail {
            id: t.id,
            state: "completed".into(),
            filed: 1,
            approved: 2,
            recorded: 1,
            signed: 2,
            reported: 1,
            rechecked: 1,
            completed: 1,
        };
        assert_eq!(t, &once);
    }
    // 维持原成绩 everywhere: no score moved.
    let (moved,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM score_history")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(moved, 0, "scores changed");
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
    for Trail { id, .. } in &trails {
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
        let results = parts
            .iter()
            .filter(|p| p.contains(&format!("成绩复核结果（申请 #{id}）")))
            .count();
        assert!(
            (1..=1 + kills).contains(&results),
            "request {id}'s result told {results} times"
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
