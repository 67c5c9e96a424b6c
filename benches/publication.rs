//! Publication benchmarks (issue: score publication). Run with
//!
//!     cargo bench --bench publication
//!
//! Environment: BENCH_ROWS (default 1500000), BENCH_SCHOOLS (default 4500), BENCH_ROUNDS (default
//! 3: each import and reference is timed that often, the median reported), BENCH_POSTGRES_URL
//! (default postgres://postgres@127.0.0.1:5432/postgres; "" skips PostgreSQL). Needs the sqlite3
//! and psql command-line tools for the reference timings. Writes its data under
//! target/bench-data and prints a Markdown table for BENCHMARKS.md.
//!
//! 1. Import of BENCH_ROWS candidate rows (every row checked) into SQLite and PostgreSQL, next to
//!    `sqlite3 .import` and `psql \copy` of the same CSV (bare table, and the same table with the
//!    bot's indexes built afterwards).
//! 2. The real `run` binary, started on that SQLite database against the fake Bot API: the city
//!    admin publishes with /publish; every school notice is delivered. Measured: school notices
//!    per second, sends above Telegram's limits, and the process's peak resident memory.

use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::SystemClock;
use exam_review_bot::config::Config;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use fake_telegram::FakeTelegram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_exam-review-bot");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn timed(label: &str, cmd: &mut Command) -> f64 {
    let start = Instant::now();
    let out = cmd.output().expect("command runs");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{label} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn bot(db_url: &str, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "error")
        .current_dir(dir);
    c
}

const RAW_TABLE: &str = "CREATE TABLE raw (exam_no TEXT, reg_no TEXT, name TEXT, gender TEXT, \
    school_code TEXT, class_name TEXT, id_card TEXT, student_no TEXT, exam_date TEXT, \
    half_day TEXT, batch BIGINT, room BIGINT, seat BIGINT, score BIGINT, item_main BIGINT, \
    item_sec1 BIGINT, item_sec2 BIGINT, item_tidy BIGINT)";
const RAW_INDEXES: &str = "CREATE UNIQUE INDEX raw_exam_no ON raw(exam_no); \
    CREATE INDEX raw_school ON raw(school_code, exam_no);";

fn main() {
    let rows = env_usize("BENCH_ROWS", 1_500_000);
    let schools = env_usize("BENCH_SCHOOLS", 4_500);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    // The city's own file is larger than what an office may send in chat (limits.max_file_mb).
    std::fs::write(
        dir.join("exam-review-bot.toml"),
        "[limits]\nmax_file_mb = 2000\n",
    )
    .unwrap();
    let csv = dir.join("scores.csv");
    let units = sample::units((schools / 45).max(1), schools);
    std::fs::write(dir.join("units.csv"), sample::units_csv(&units)).unwrap();
    std::fs::write(&csv, sample::scores_csv(rows, schools, 2023)).unwrap();
    let rounds = env_usize("BENCH_ROUNDS", 3).max(1);
    let mut table = vec![format!(
        "| import of {rows} rows ({} MB CSV), median of {rounds} (min–max) | seconds | × reference (medians) |",
        std::fs::metadata(&csv).unwrap().len() / 1_000_000
    )];
    table.push("|---|---|---|".into());
    // Each round times ours and the references back to back, so that a slow spell of the
    // machine falls on all of them alike; the medians are reported.
    let mut add_rows = |backend: &str, reference: &str, times: [Vec<f64>; 3]| {
        let [ours, bare, indexed] = times.map(|t| (median(&t), spread(&t)));
        table.push(format!(
            "| {reference} into a bare table | {:.2} ({}) | |",
            bare.0, bare.1
        ));
        table.push(format!(
            "| {reference} + the bot's two indexes | {:.2} ({}) | |",
            indexed.0, indexed.1
        ));
        table.push(format!(
            "| exam-review-bot import scores, {backend} (checks every row) | {:.2} ({}) | {:.2}× bare, {:.2}× indexed |",
            ours.0,
            ours.1,
            ours.0 / bare.0,
            ours.0 / indexed.0
        ));
    };

    // SQLite.
    let db_file = dir.join("bench.db");
    let sqlite_url = format!("sqlite://{}", db_file.display());
    let reference = dir.join("reference.db");
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        remove_sqlite(&db_file);
        setup(&sqlite_url, &dir);
        times[0].push(timed(
            "import",
            &mut bot(&sqlite_url, &dir, &["import", "scores", "scores.csv"]),
        ));
        remove_sqlite(&reference);
        times[1].push(timed(
            "sqlite3 .import",
            Command::new("sqlite3")
                .arg(&reference)
                .args([".mode csv", ".import scores.csv raw"])
                .current_dir(&dir),
        ));
        remove_sqlite(&reference);
        times[2].push(timed(
            "sqlite3 .import + indexes",
            Command::new("sqlite3")
                .arg(&reference)
                .args([
                    RAW_TABLE,
                    ".mode csv",
                    ".import --skip 1 scores.csv raw",
                    RAW_INDEXES,
                ])
                .current_dir(&dir),
        ));
    }
    remove_sqlite(&reference);
    add_rows("SQLite", "`sqlite3 .import`", times);

    // PostgreSQL.
    let pg_admin = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if !pg_admin.is_empty() {
        let psql = |db: &str, sql: &str| {
            let url = format!("{}/{db}", pg_admin.rsplit_once('/').unwrap().0);
            let out = Command::new("psql")
                .args([url.as_str(), "-qc", sql])
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "psql {sql}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let url = format!("{}/erb_bench", pg_admin.rsplit_once('/').unwrap().0);
        let copy = format!(
            "\\copy raw FROM '{}' WITH (FORMAT csv, HEADER true)",
            csv.display()
        );
        let mut times: [Vec<f64>; 3] = Default::default();
        for _ in 0..rounds {
            psql("postgres", "DROP DATABASE IF EXISTS erb_bench WITH (FORCE)");
            psql("postgres", "CREATE DATABASE erb_bench");
            setup(&url, &dir);
            times[0].push(timed(
                "pg import",
                &mut bot(&url, &dir, &["import", "scores", "scores.csv"]),
            ));
            psql("erb_bench", RAW_TABLE);
            times[1].push(timed(
                "psql \\copy",
                Command::new("psql").args([url.as_str(), "-qc", &copy]),
            ));
            psql("erb_bench", "DROP TABLE raw");
            psql("erb_bench", RAW_TABLE);
            let start = Instant::now();
            timed(
                "psql \\copy",
                Command::new("psql").args([url.as_str(), "-qc", &copy]),
            );
            psql("erb_bench", RAW_INDEXES);
            times[2].push(start.elapsed().as_secs_f64());
        }
        psql("postgres", "DROP DATABASE erb_bench WITH (FORCE)");
        add_rows("PostgreSQL", "`psql \\copy`", times);
    }
    println!("{}", table.join("\n"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fanout = runtime.block_on(fan_out(&sqlite_url, &dir, schools));
    println!("\n{fanout}");
}

fn median(times: &[f64]) -> f64 {
    let mut v = times.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// "min–max" of the rounds.
fn spread(times: &[f64]) -> String {
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    format!("{min:.2}–{max:.2}")
}

fn remove_sqlite(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", file.display())).ok();
    }
}

fn setup(url: &str, dir: &Path) {
    timed(
        "season",
        &mut bot(
            url,
            dir,
            &["season", "--year", "2023", "--last-exam-day", "2023-04-28"],
        ),
    );
    timed(
        "units",
        &mut bot(url, dir, &["import", "units", "units.csv"]),
    );
}

/// The `run` binary publishes the imported season to one contact per school and delivers.
async fn fan_out(url: &str, dir: &Path, schools: usize) -> String {
    let config = Config {
        database_url: url.to_string(),
        bot_username: Some("ExamReviewBot".into()),
        // The scores come as one city file here, not as county batches.
        entry: exam_review_bot::config::Entry {
            mode: exam_review_bot::config::EntryMode::CityFile,
            ..Default::default()
        },
        ..Config::default()
    };
    let app = App::new(Db::open(url).await.unwrap(), config, Arc::new(SystemClock)).unwrap();
    let fake = FakeTelegram::start().await.unwrap();
    for s in 0..schools {
        let link = app
            .invite(Role::SchoolContact, &sample::school_code(s), "联系人", None)
            .await
            .unwrap();
        let user = 100_000 + s as i64;
        app.start(user, user, Some(link.rsplit('=').next().unwrap()))
            .await
            .unwrap();
    }
    let admin_link = app
        .invite(Role::CityAdmin, sample::CITY_CODE, "管理员", None)
        .await
        .unwrap();
    let admin = fake.user(99, "管理员");
    let _ = Actor::Cli;

    let mut child = Command::new(BIN)
        .arg("run")
        .env("DATABASE_URL", url)
        .env("TELOXIDE_TOKEN", "1:bench")
        .env("TELOXIDE_API_URL", fake.api_url())
        .env("RUST_LOG", "error")
        .current_dir(dir)
        .spawn()
        .unwrap();
    admin.send(&format!(
        "/start {}",
        admin_link.rsplit('=').next().unwrap()
    ));
    fake.wait_until(Duration::from_secs(60), |f| !f.messages_to(99).is_empty())
        .await;
    admin.send("/publish");
    fake.wait_until(Duration::from_secs(120), |f| {
        f.messages_to(99).iter().any(|m| !m.buttons().is_empty())
    })
    .await;
    admin.press("✅ 确认公布");
    let mut peak_kib = 0u64;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        peak_kib = peak_kib.max(vm_hwm(child.id()));
        // Counting without copying: the fake holds every spreadsheet sent.
        let notices = fake.count_sent(is_notice);
        if notices >= schools || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    peak_kib = peak_kib.max(vm_hwm(child.id()));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();

    let sends = fake
        .calls()
        .into_iter()
        .filter(|c| c.method.starts_with("send") && c.status == 200)
        .count();
    let docs: Vec<_> = fake.all_sent().into_iter().filter(is_notice).collect();
    let span = docs.last().unwrap().at - docs.first().unwrap().at;
    let rate = (docs.len() - 1) as f64 / span.as_secs_f64();
    let over = fake.over_limits();
    let (over_overall, over_chat) = (over.overall, over.per_chat);
    format!(
        "| fan-out through `run` ({} school notices, {} sends in all) | value |\n|---|---|\n\
         | school notices per second (first to last) | {rate:.2} ({:.1}% of 30/s) |\n\
         | sends that made a 1-second window exceed 30 | {over_overall} |\n\
         | sends to a chat within 1 s of the previous one | {over_chat} |\n\
         | peak resident memory of `run` (VmHWM) | {:.1} MiB |",
        docs.len(),
        sends,
        rate / 30.0 * 100.0,
        peak_kib as f64 / 1024.0
    )
}

fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A school's notice (its spreadsheet), not the city's distribution chart and workbook that
/// follow the publication report.
fn is_notice(m: &fake_telegram::Sent) -> bool {
    m.document
        .as_ref()
        .is_some_and(|(name, _)| name.contains("中招实验考试成绩_"))
}
