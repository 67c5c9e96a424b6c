//! Records benchmarks. Run with
//!
//!     cargo bench --bench records
//!
//! A season of BENCH_ROWS candidates (default 1,500,000, in BENCH_SCHOOLS schools, default 4,500)
//! is imported and published through the real binary, BENCH_REQUESTS review requests (default
//! 30,000, a third each pending, signed and completed) are written into it, and then, each
//! through the binary under `/usr/bin/time`:
//!
//! 1. `export review-summary` of the whole city (附件6, every unit grouped): seconds, peak RSS;
//! 2. `seal` of the season once the sweep has ended the review (an age archive of every
//!    candidate, roster row, entry, request, event and audit record, read back, then the season's
//!    personal data and scores purged from the database): seconds, peak RSS, archive size; next
//!    to `sqlite3 .dump | gzip` or `pg_dump | gzip` of the same database taken before it (the `age` command-line tool is not on this machine; gzip stands in for
//!    the compression-and-write step).
//!
//! On SQLite, and on PostgreSQL unless BENCH_POSTGRES_URL is "" (default
//! postgres://postgres@127.0.0.1:5432/postgres; a database `erb_records_bench` is created there
//! afresh). Prints a Markdown table for BENCHMARKS.md.

use exam_review_bot::sample;
use exam_review_bot::store::Db;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_exam-review-bot");
/// After the review window of a season published on 2023-04-29.
const AFTER_THE_WINDOW: &str = "2023-05-10T09:00:00+08:00";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bot(db_url: &str, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "error")
        .env("EXAM_REVIEW_BOT_CLOCK", AFTER_THE_WINDOW)
        .current_dir(dir);
    c
}

fn run(label: &str, cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{label} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the command under /usr/bin/time: (seconds, peak RSS in MB).
fn measured(label: &str, program: &str, args: &[&str], db_url: &str, dir: &Path) -> (f64, f64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "TIME %e %M", program])
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "error")
        .env("EXAM_REVIEW_BOT_CLOCK", AFTER_THE_WINDOW)
        .current_dir(dir)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{label} failed: {err}");
    let line = err
        .lines()
        .rfind(|l| l.starts_with("TIME "))
        .expect("time's line");
    let v: Vec<f64> = line[5..]
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[1] / 1024.0)
}

/// A shell pipeline timed as a whole: seconds.
fn timed_shell(script: &str, dir: &Path) -> f64 {
    let start = std::time::Instant::now();
    run(
        script,
        Command::new("sh").args(["-c", script]).current_dir(dir),
    );
    start.elapsed().as_secs_f64()
}

/// Review requests for every 50th candidate, up to `n`: a third pending, a third signed and
/// waiting for the 上报, a third completed with a corrected score.
async fn requests(db_url: &str, n: usize) {
    let db = Db::open(db_url).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO review_requests (season_id, candidate_id, school_code, filer_user_id,
             filer_chat_id, filer_name, reason, contact, state, step, original_score,
             result_kind, result_score, result_category, result_note, created_at, updated_at)
         SELECT season_id, id, school_code, 1, 1, '联系人', '漏评', '13800001234',
                CASE id % 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'reporting' ELSE 'completed' END,
                0, score,
                CASE id % 3 WHEN 0 THEN NULL ELSE 'corrected' END,
                CASE id % 3 WHEN 0 THEN NULL ELSE score + 10 END,
                CASE id % 3 WHEN 0 THEN NULL ELSE '漏评' END,
                CASE id % 3 WHEN 0 THEN NULL ELSE '补评1分' END,
                0, 0
         FROM candidates WHERE id % 50 = 0 ORDER BY id LIMIT $1",
    )
    .bind(n as i64)
    .execute(&mut *tx)
    .await
    .unwrap();
    // The city's 纪检监督, who seals.
    sqlx::query(
        "INSERT INTO bindings (telegram_user_id, chat_id, name, role, unit_code, invite_code,
                               bound_at)
         VALUES (9, 9, 'bench', 'inspector', $1, 'bench', 0)",
    )
    .bind(sample::CITY_CODE)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    db.pool.close().await;
}

fn setup(db_url: &str, dir: &Path) {
    for args in [
        vec!["migrate"],
        vec!["season", "--year", "2023", "--last-exam-day", "2023-04-28"],
        vec!["import", "units", "units.csv"],
        vec!["import", "scores", "scores.csv"],
    ] {
        run(
            &args.join(" "),
            bot(db_url, dir, &args).env_remove("EXAM_REVIEW_BOT_CLOCK"),
        );
    }
    // Published on the day after the exam (a publication cannot be dated in the past).
    run(
        "publish",
        bot(db_url, dir, &["publish"]).env("EXAM_REVIEW_BOT_CLOCK", "2023-04-29T09:00:00+08:00"),
    );
}

fn main() {
    let rows = env_usize("BENCH_ROWS", 1_500_000);
    let schools = env_usize("BENCH_SCHOOLS", 4_500);
    let n_requests = env_usize("BENCH_REQUESTS", 30_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/records");
    std::fs::create_dir_all(&dir).unwrap();
    let units = sample::units((schools / 45).max(1), schools);
    std::fs::write(dir.join("units.csv"), sample::units_csv(&units)).unwrap();
    std::fs::write(
        dir.join("scores.csv"),
        sample::scores_csv(rows, schools, 2023),
    )
    .unwrap();
    std::fs::write(dir.join("pass.txt"), "bench-passphrase-2023\n").unwrap();
    // The city's own file is larger than what an office may send in chat (limits.max_file_mb).
    std::fs::write(
        dir.join("exam-review-bot.toml"),
        "[limits]\nmax_file_mb = 2000\n",
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let mut table = vec![
        format!("| {rows} candidates, {n_requests} requests | seconds | peak RSS | output |"),
        "|---|---|---|---|".to_string(),
    ];
    let mut backends: Vec<(&str, String)> = Vec::new();
    let sqlite_file = dir.join("records.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_file.display()));
    }
    backends.push(("SQLite", format!("sqlite://{}", sqlite_file.display())));
    let pg = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if !pg.is_empty() {
        run(
            "dropdb",
            Command::new("psql").args([&pg, "-c", "DROP DATABASE IF EXISTS erb_records_bench"]),
        );
        run(
            "createdb",
            Command::new("psql").args([&pg, "-c", "CREATE DATABASE erb_records_bench"]),
        );
        let base = pg.rsplit_once('/').unwrap().0;
        backends.push(("PostgreSQL", format!("{base}/erb_records_bench")));
    }
    for (backend, url) in &backends {
        setup(url, &dir);
        runtime.block_on(requests(url, n_requests));
        let _ = std::fs::remove_file(dir.join("city.xlsx"));
        let (secs, rss) = measured(
            "export",
            BIN,
            &[
                "export",
                "review-summary",
                "--unit",
                sample::CITY_CODE,
                "--out",
                "city.xlsx",
            ],
            url,
            &dir,
        );
        let size = std::fs::metadata(dir.join("city.xlsx")).unwrap().len();
        table.push(format!(
            "| {backend}: `export review-summary --unit {}` (the city's 附件6) | {secs:.1} | {rss:.0} MB | {:.1} MB .xlsx |",
            sample::CITY_CODE,
            size as f64 / 1e6
        ));
        let (reference, script) = if *backend == "SQLite" {
            (
                "`sqlite3 .dump | gzip`",
                format!(
                    "sqlite3 {} .dump | gzip > reference.gz",
                    sqlite_file.display()
                ),
            )
        } else {
            (
                "`pg_dump | gzip`",
                format!("pg_dump '{url}' | gzip > reference.gz"),
            )
        };
        let secs = timed_shell(&script, &dir);
        let size = std::fs::metadata(dir.join("reference.gz")).unwrap().len();
        table.push(format!(
            "| {backend}: reference {reference} of the same database | {secs:.1} | | {:.0} MB |",
            size as f64 / 1e6
        ));
        // The window is over: the sweep lapses what never reached the city (逾期未报) and the
        // review closes, so that the inspector may seal.
        run("sweep", &mut bot(url, &dir, &["sweep"]));
        let _ = std::fs::remove_file(dir.join("season.age"));
        let (secs, rss) = measured(
            "seal",
            BIN,
            &[
                "seal",
                "--out",
                "season.age",
                "--by",
                "bench",
                "--passphrase-file",
                "pass.txt",
            ],
            url,
            &dir,
        );
        let size = std::fs::metadata(dir.join("season.age")).unwrap().len();
        table.push(format!(
            "| {backend}: `seal` (age, scrypt passphrase; read back, then the season purged) | {secs:.1} | {rss:.0} MB | {:.0} MB archive |",
            size as f64 / 1e6
        ));
    }
    println!("{}", table.join("\n"));
}
