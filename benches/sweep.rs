//! Sweep benchmark (issue: deadlines). Run with
//!
//!     cargo bench --bench sweep
//!
//! For 10,000 and 100,000 open review requests on SQLite (BENCH_OPEN overrides the larger), the
//! time of one `sweep` pass: when nothing is due (the common tick, every minute), and when the
//! 14:00 digest is due (which must list every open item for the people it waits for).

#[path = "support/city.rs"]
mod city;
use chrono::TimeZone;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::ManualClock;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use std::sync::Arc;
use std::time::Instant;

const SCHOOLS: usize = 40;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let big = std::env::var("BENCH_OPEN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!(
        "| open requests | sweep, nothing due (median of 9) | sweep, 14:00 digest due | digests queued |\n|---|---|---|---|"
    );
    for open in [10_000, big] {
        runtime.block_on(run(open));
    }
}

async fn run(open: usize) {
    let tz = chrono_tz::Asia::Shanghai;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sweep.db").display());
    let config = city::city_file_config(&url);
    let clock = ManualClock::new(tz.with_ymd_and_hms(2023, 4, 29, 10, 0, 0).unwrap().to_utc());
    let app = App::new(Db::open(&url).await.unwrap(), config, Arc::new(clock)).unwrap();
    sample::load_city(&app, dir.path(), 10, SCHOOLS, open, 4)
        .await
        .unwrap();
    // Homeroom teachers of every class: the people the digests go to.
    for s in 0..SCHOOLS {
        for class in 1..=6 {
            let link = app
                .invite(
                    Role::HomeroomTeacher,
                    &sample::school_code(s),
                    "老师",
                    Some(&format!("九年级{class}班")),
                )
                .await
                .unwrap();
            let user = 3_000_000 + (s * 10 + class) as i64;
            app.start(user, user, Some(link.rsplit('=').next().unwrap()))
                .await
                .unwrap();
        }
    }
    app.publish(Actor::Cli, None).await.unwrap();
    {
        let mut conn = app.db.pool.acquire().await.unwrap();
        sqlx::query(
            "INSERT INTO review_requests (season_id, candidate_id, school_code, filer_user_id,
                 filer_chat_id, filer_name, reason, contact, state, step, original_score,
                 created_at, updated_at)
             SELECT season_id, id, school_code, 1, 1, '联系人', '漏评', '13800001234', 'pending',
                    0, score, 0, 0 FROM candidates",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let quiet_tick = tz.with_ymd_and_hms(2023, 4, 29, 11, 0, 0).unwrap().to_utc();
    app.sweep(quiet_tick).await.unwrap();
    let mut times = Vec::new();
    for _ in 0..9 {
        let start = Instant::now();
        let report = app.sweep(quiet_tick).await.unwrap();
        times.push(start.elapsed());
        assert!(report.sent.is_empty());
    }
    times.sort();
    let digest_at = tz.with_ymd_and_hms(2023, 4, 29, 14, 0, 0).unwrap().to_utc();
    let start = Instant::now();
    let report = app.sweep(digest_at).await.unwrap();
    let digest = start.elapsed();
    let queued: usize = report.sent.iter().map(|(_, n)| n).sum();
    println!(
        "| {open} | {:.2} ms | {:.0} ms | {queued} |",
        times[4].as_secs_f64() * 1000.0,
        digest.as_secs_f64() * 1000.0
    );
}
