//! Files made to take the bot down, at the size an office may send. Run with
//!
//!     cargo bench --bench bombs
//!
//! Environment: BENCH_CANDIDATES (default 30000, the city's roster the scores file is matched
//! against). Writes its data under target/bench-data-bombs and prints a Markdown table for
//! BENCHMARKS.md.
//!
//! A city before its exam (units, season, roster) on a fresh SQLite file; then each bomb of
//! `import::bombs` is sent to the real binary's `import scores` (the path a file sent in chat
//! takes too), timed, with the process's peak resident memory from /usr/bin/time. "Idle" is the
//! same command refusing a file of one header line.

#[path = "support/timed.rs"]
mod support;

use exam_review_bot::import::bombs::Bomb;
use exam_review_bot::sample;
use std::path::{Path, PathBuf};

const BIN: &str = env!("CARGO_BIN_EXE_exam-review-bot");

/// Each bomb's scale: the file an office could send (under limits.max_file_mb, 50 MB) that
/// unpacks or reads to the most.
fn scale(bomb: Bomb) -> usize {
    match bomb {
        // 2,000,000 one-cell rows.
        Bomb::TinyRows => 100,
        // 20,000,000 shared strings, 440 MB unpacked.
        Bomb::SharedStrings => 25,
        // 700,000 shared strings, 15.4 MB unpacked (its size is fixed).
        Bomb::SharedStringsAtTheBound => 1,
        // One cell of 500 MB.
        Bomb::HugeCell => 250,
        // 60,000 parts.
        Bomb::ManySheets => 30,
        // Elements nested 50,000,000 deep, 350 MB unpacked.
        Bomb::DeepXml => 50,
        // One line of 48 MB.
        Bomb::EndlessLine => 24,
        // 2,800,000 empty rows, 48 MB.
        Bomb::EmptyLines => 14,
    }
}

/// Runs the binary under /usr/bin/time: (seconds, peak resident MiB, success, stderr).
fn timed(db_url: &str, dir: &Path, args: &[&str]) -> (f64, f64, bool, String) {
    let (secs, mib, out) = support::timed(BIN, db_url, dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (secs, mib, out.status.success(), stderr)
}

/// The refusal's gist: the first problem line, or the error.
fn gist(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("row ") || l.starts_with("error:"))
        .unwrap_or("(nothing said)");
    let line: String = line.chars().take(110).collect();
    line.replace('|', "\\|")
}

fn main() {
    let candidates: usize = std::env::var("BENCH_CANDIDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let schools = (candidates / 300).max(5);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data-bombs");
    std::fs::create_dir_all(&dir).unwrap();
    let db_file = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", db_file.display())).ok();
    }
    let url = format!("sqlite://{}", db_file.display());
    let units = sample::units((schools / 10).max(1), schools);
    std::fs::write(dir.join("units.csv"), sample::units_csv(&units)).unwrap();
    std::fs::write(
        dir.join("roster.csv"),
        sample::roster_csv(candidates, schools, 2023),
    )
    .unwrap();
    for args in [
        &["season", "--year", "2023", "--last-exam-day", "2023-04-28"][..],
        &["import", "units", "units.csv"],
        &["import", "candidates", "roster.csv"],
    ] {
        let (_, _, ok, stderr) = timed(&url, &dir, args);
        assert!(ok, "{args:?}: {stderr}");
    }
    let header = sample::scores_csv(1, schools, 1)
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(dir.join("idle.csv"), header + "\n").unwrap();
    let (_, idle, ok, _) = timed(&url, &dir, &["import", "scores", "idle.csv"]);
    assert!(!ok, "a header alone is refused");

    let mut table = vec![
        format!(
            "| bomb (against a roster of {candidates}) | file KB | refused in s | peak MiB | above idle MiB | what it said |"
        ),
        "|---|---|---|---|---|---|".to_string(),
        format!("| idle: a header line alone | 1 | – | {idle:.0} | 0 | – |"),
    ];
    for bomb in Bomb::ALL {
        let bytes = bomb.build(scale(bomb));
        let kb = bytes.len().div_ceil(1024);
        std::fs::write(dir.join(bomb.file_name()), &bytes).unwrap();
        drop(bytes);
        let (secs, peak, ok, stderr) = timed(&url, &dir, &["import", "scores", bomb.file_name()]);
        assert!(!ok, "{bomb:?} was taken: {stderr}");
        table.push(format!(
            "| {} | {kb} | {secs:.2} | {peak:.0} | {:.0} | {} |",
            bomb.file_name(),
            peak - idle,
            gist(&stderr)
        ));
        std::fs::remove_file(dir.join(bomb.file_name())).ok();
    }
    println!("{}", table.join("\n"));
}
