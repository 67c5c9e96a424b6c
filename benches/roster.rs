//! The roster before the exam (issue: exemptions). Run with
//!
//!     cargo bench --bench roster
//!
//! Environment: BENCH_ROWS (default 1500000), BENCH_SCHOOLS (default 4500), BENCH_ROUNDS (default
//! 3, the median reported), BENCH_POSTGRES_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres; "" skips PostgreSQL). Writes its data under
//! target/bench-data-roster and prints a Markdown table for BENCHMARKS.md.
//!
//! Each round, on a fresh database of each backend, times the real binary's
//! 1. `import scores` with no roster (the import as before),
//! 2. `import candidates` of the same candidates (the roster),
//! 3. `import scores` again, now matched row by row against that roster,
//!
//! and the peak resident memory of each (from /usr/bin/time).

#[path = "support/timed.rs"]
mod support;

use exam_review_bot::sample;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_exam-review-bot");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the binary under /usr/bin/time: (seconds, peak resident MiB); it must succeed.
fn timed(db_url: &str, dir: &Path, args: &[&str]) -> (f64, f64) {
    let (secs, mib, out) = support::timed(BIN, db_url, dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    (secs, mib)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("{min:.2}–{max:.2}")
}

fn remove_sqlite(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", file.display())).ok();
    }
}

const STEPS: [(&str, &[&str]); 3] = [
    (
        "import scores, no roster",
        &["import", "scores", "scores.csv"],
    ),
    (
        "import candidates (the roster)",
        &["import", "candidates", "roster.csv"],
    ),
    (
        "import scores matched to the roster",
        &["import", "scores", "scores.csv"],
    ),
];

/// One round on a fresh database: the season and units, then each step, timed.
fn round(url: &str, dir: &Path, fresh: &dyn Fn()) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    // 1 alone on a fresh database; 2 and 3 on another, in order.
    for (i, (_, args)) in STEPS.iter().enumerate() {
        if i < 2 {
            fresh();
            timed(
                url,
                dir,
                &["season", "--year", "2023", "--last-exam-day", "2023-04-28"],
            );
            timed(url, dir, &["import", "units", "units.csv"]);
        }
        out.push(timed(url, dir, args));
    }
    out
}

fn main() {
    let rows = env_usize("BENCH_ROWS", 1_500_000);
    let schools = env_usize("BENCH_SCHOOLS", 4_500);
    let rounds = env_usize("BENCH_ROUNDS", 3).max(1);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data-roster");
    std::fs::create_dir_all(&dir).unwrap();
    // The city's own files are larger than what an office may send in chat.
    std::fs::write(
        dir.join("exam-review-bot.toml"),
        "[limits]\nmax_file_mb = 2000\n",
    )
    .unwrap();
    let units = sample::units((schools / 45).max(1), schools);
    std::fs::write(dir.join("units.csv"), sample::units_csv(&units)).unwrap();
    std::fs::write(
        dir.join("scores.csv"),
        sample::scores_csv(rows, schools, 2023),
    )
    .unwrap();
    std::fs::write(
        dir.join("roster.csv"),
        sample::roster_csv(rows, schools, 2023),
    )
    .unwrap();
    let mb = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len() / 1_000_000;
    let mut table = vec![
        format!(
            "| {rows} candidates (scores {} MB, roster {} MB CSV), median of {rounds} (min–max) | seconds | peak MiB |",
            mb("scores.csv"),
            mb("roster.csv")
        ),
        "|---|---|---|".to_string(),
    ];
    let mut report = |backend: &str, runs: Vec<Vec<(f64, f64)>>| {
        for (i, (label, _)) in STEPS.iter().enumerate() {
            let secs: Vec<f64> = runs.iter().map(|r| r[i].0).collect();
            let mem: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
            table.push(format!(
                "| {backend}: {label} | {:.2} ({}) | {:.0} |",
                median(&secs),
                spread(&secs),
                median(&mem)
            ));
        }
    };

    let db_file = dir.join("bench.db");
    let sqlite_url = format!("sqlite://{}", db_file.display());
    let fresh_sqlite = || remove_sqlite(&db_file);
    let runs: Vec<_> = (0..rounds)
        .map(|_| round(&sqlite_url, &dir, &fresh_sqlite))
        .collect();
    remove_sqlite(&db_file);
    report("SQLite", runs);

    let pg_admin = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if !pg_admin.is_empty() {
        let base = pg_admin.rsplit_once('/').unwrap().0.to_string();
        let psql = |sql: &str| {
            let out = Command::new("psql")
                .args([pg_admin.as_str(), "-qc", sql])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let fresh_pg = || {
            psql("DROP DATABASE IF EXISTS erb_roster_bench WITH (FORCE)");
            psql("CREATE DATABASE erb_roster_bench");
        };
        let url = format!("{base}/erb_roster_bench");
        let runs: Vec<_> = (0..rounds).map(|_| round(&url, &dir, &fresh_pg)).collect();
        psql("DROP DATABASE erb_roster_bench WITH (FORCE)");
        report("PostgreSQL", runs);
    }
    println!("{}", table.join("\n"));
}
