//! 登分 benchmark (issue: score entry, 附件7). Run with
//!
//!     cargo bench --bench entry
//!
//! One half-day batch of BENCH_ROWS candidates (default 50,000: far more than any county's
//! half-day), on SQLite and on PostgreSQL (BENCH_POSTGRES_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; "" skips it). It times, through the app's
//! `upload_entry` (the path of `entry upload` and of a sheet sent in chat):
//! 1. the first entry (read, checked against the batch's roster, written);
//! 2. the proofreading entry, the two clerks swapped, one row in a thousand misread: its
//!    upload includes reconciling it with the first, field by field;
//! 3. the reconciliation alone (both entries read back and compared), median of 9.
//!
//! Prints a Markdown table for BENCHMARKS.md.

use chrono::TimeZone;
use exam_review_bot::app::entry::Upload;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::ManualClock;
use exam_review_bot::config::{Config, EntryMode};
use exam_review_bot::domain::Role;
use exam_review_bot::domain::entry::{Crew, Pair};
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Every candidate on one half-day in the one (city-direct) school: one batch of them all.
fn sheets(rows: usize) -> (String, String, String) {
    let scores = sample::scores_csv(rows, 1, 2023);
    let mut first = String::with_capacity(scores.len());
    let mut second = String::with_capacity(scores.len());
    let mut roster = String::with_capacity(scores.len());
    for (i, line) in scores.lines().enumerate() {
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        if i > 0 {
            cells[8] = "2023-04-26".into();
            cells[9] = "上午".into();
        }
        roster.push_str(&cells[..13].join(","));
        roster.push('\n');
        first.push_str(&cells.join(","));
        first.push('\n');
        // One row in a thousand misread in the proofreading entry (成绩 and 主实验 one lower).
        if i > 0 && i % 1000 == 0 {
            for c in [13, 14] {
                cells[c] = (cells[c].parse::<u32>().unwrap() - 1).to_string();
            }
        }
        second.push_str(&cells.join(","));
        second.push('\n');
    }
    (roster, first, second)
}

async fn run(backend: &str, url: &str, dir: &Path, rows: usize) -> String {
    let config = Config {
        database_url: url.to_string(),
        bot_username: Some("ExamReviewBot".into()),
        entry: exam_review_bot::config::Entry {
            mode: EntryMode::CountyBatches,
            ..Default::default()
        },
        ..Config::default()
    };
    let tz = chrono_tz::Asia::Shanghai;
    let clock = ManualClock::new(tz.with_ymd_and_hms(2023, 4, 26, 12, 0, 0).unwrap().to_utc());
    let app = App::new(Db::open(url).await.unwrap(), config, Arc::new(clock)).unwrap();
    let units = dir.join("units.csv");
    std::fs::write(&units, sample::units_csv(&sample::units(1, 1))).unwrap();
    app.import_units(&units).await.unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2023, 4, 28).unwrap();
    app.set_season(2023, last, tz, 30).await.unwrap();
    let (roster, first, second) = sheets(rows);
    let roster_file = dir.join("roster.csv");
    std::fs::write(&roster_file, roster).unwrap();
    app.import_candidates(&roster_file).await.unwrap();
    let mut clerks = Vec::new();
    // Four at each entry (附件7 二): 甲 enters, 乙 reads out, 丙 and 丁 watch.
    for (user, name) in [
        (1, "登分员甲"),
        (2, "登分员乙"),
        (3, "登分员丙"),
        (4, "登分员丁"),
    ] {
        let link = app
            .invite(Role::EntryClerk, sample::CITY_CODE, name, None)
            .await
            .unwrap();
        let code = link.rsplit('=').next().unwrap().to_string();
        app.start(user, user, Some(&code)).await.unwrap();
        clerks.push(user);
    }
    let batch = app.entry_batches().await.unwrap()[0].0.clone();
    assert_eq!(batch.candidates as usize, rows);
    let pair = Crew {
        pair: Pair {
            entered: clerks[0],
            read: clerks[1],
        },
        watched_reading: clerks[2],
        watched_entering: clerks[3],
    };
    let upload = |name: &str, text: String, pair: Crew| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let app = app.clone();
        let id = batch.id;
        let name = name.to_string();
        async move {
            let started = Instant::now();
            let outcome = app
                .upload_entry(Actor::Cli, id, &path, &name, pair)
                .await
                .unwrap();
            (started.elapsed().as_secs_f64(), outcome)
        }
    };
    let (t_first, outcome) = upload("first.csv", first, pair).await;
    assert!(matches!(outcome, Upload::Taken { .. }), "{outcome:?}");
    let (t_second, outcome) = upload("second.csv", second, pair.swapped()).await;
    let Upload::Taken {
        mismatches: Some(found),
        ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    let mut alone = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        let again = app.reconcile_entries(batch.id).await.unwrap().unwrap();
        alone.push(started.elapsed().as_secs_f64());
        assert_eq!(again.len(), found.len());
    }
    format!(
        "| {backend} | {t_first:.2} | {t_second:.2} | {:.3} | {} |",
        median(&mut alone),
        found.len()
    )
}

fn psql(admin: &str, sql: &str) {
    let out = Command::new("psql")
        .args([admin, "-qc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let rows = env_usize("BENCH_ROWS", 50_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut table = vec![
        format!(
            "| {rows} candidates, one half-day | first entry, s | proofreading entry with its reconciliation, s | reconciliation alone, s (median of 9) | mismatches listed |"
        ),
        "|---|---|---|---|---|".to_string(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("entry.db").display());
    table.push(runtime.block_on(run("SQLite", &url, dir.path(), rows)));

    let admin = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if !admin.is_empty() {
        psql(
            &admin,
            "DROP DATABASE IF EXISTS erb_entry_bench WITH (FORCE)",
        );
        psql(&admin, "CREATE DATABASE erb_entry_bench");
        let base = admin.rsplit_once('/').unwrap().0.to_string();
        let url = format!("{base}/erb_entry_bench");
        let dir = tempfile::tempdir().unwrap();
        table.push(runtime.block_on(run("PostgreSQL", &url, dir.path(), rows)));
        psql(&admin, "DROP DATABASE erb_entry_bench WITH (FORCE)");
    }
    println!("{}", table.join("\n"));
}
