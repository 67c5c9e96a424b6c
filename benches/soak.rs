//! Soak: the real binary (`run`, SQLite) for SOAK_SECS (default 3600) while school contacts
//! file SOAK_RATE review requests a second (default 2: a tenth of the review burst's 20
//! requests a second), each in one message (the signed form, captioned) and 提交, and 班主任
//! and 校长 approve each, plus a reminder digest every five minutes. Every 10 s the bot process's resident memory (VmRSS),
//! the answers' latency (from a person's message to the bot's answer reaching Telegram) and the
//! outbox backlog are sampled; the table goes to stdout and every sample to
//! `target/soak.csv` (or SOAK_CSV). Run with
//!
//!     cargo bench --bench soak
//!
//! (SOAK_SECS=300 for a short look.) The fake Telegram and the simulated people run in this
//! process, the bot in its own, so its memory is the bot's alone.
//!
//! On PostgreSQL: SOAK_DATABASE_URL names the server (a database `erb_soak` is created there
//! afresh) and SOAK_INSTANCES (default 1) runs that many `run` processes on it, as a province
//! deployment does; the table's memory is the largest instance's, and each instance's peak
//! (VmHWM) is printed at the end.

use exam_review_bot::app::App;
use exam_review_bot::clock::SystemClock;
use exam_review_bot::config::Config;
use exam_review_bot::domain::Role;
use exam_review_bot::simulate::{self, Driver, Reach};
use exam_review_bot::store::{Db, outbox};
use fake_telegram::FakeTelegram;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One line of `/proc/PID/status` in KiB (VmRSS, or its parts RssAnon and RssFile: the heap
/// against mapped files such as SQLite's shared-memory index).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

struct Sample {
    at_secs: u64,
    rss_kib: u64,
    anon_kib: u64,
    file_kib: u64,
    p50_ms: f64,
    p99_ms: f64,
    answers: usize,
    backlog: i64,
    filed: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = env_or("SOAK_SECS", 3600);
    let rate: f64 = env_or("SOAK_RATE", 2.0);
    let instances: usize = env_or("SOAK_INSTANCES", 1);
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("SOAK_DATABASE_URL") {
        Ok(server) => fresh_postgres(&server).await,
        Err(_) => format!("sqlite://{}", dir.path().join("soak.db").display()),
    };

    // A reminder digest every five minutes of the soak (Beijing time), no quiet hours.
    let start_local = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let digests: Vec<String> = (1..=secs / 300)
        .map(|k| {
            let t = start_local + chrono::Duration::seconds((k * 300) as i64);
            format!("\"{}\"", t.format("%H:%M"))
        })
        .collect();
    let toml = format!(
        "bot_username = \"ExamReviewBot\"\n\
         [telegram]\nrequest_timeout_secs = 3\npolling_timeout_secs = 1\n\
         [reminders]\ndigest_times = [{}]\nquiet_start = \"03:00\"\nquiet_end = \"03:00\"\n",
        digests.join(", ")
    );
    std::fs::write(dir.path().join("exam-review-bot.toml"), &toml).unwrap();
    let mut config: Config = toml::from_str(&toml).unwrap();
    config.database_url = url.clone();
    let app = App::new(Db::open(&url).await.unwrap(), config, Arc::new(SystemClock)).unwrap();

    let requests = (secs as f64 * rate).ceil() as usize + 100;
    let schools = 40;
    let city = simulate::prepare(
        &app,
        dir.path(),
        schools,
        requests.div_ceil(schools),
        100_000,
        Reach::Approvals,
    )
    .await
    .unwrap();
    let admin = app
        .invite(
            Role::CityAdmin,
            exam_review_bot::sample::CITY_CODE,
            "周主任",
            None,
        )
        .await
        .unwrap();
    app.start(99_999, 99_999, admin.rsplit('=').next())
        .await
        .unwrap();

    let fake = FakeTelegram::start().await.unwrap();
    let mut bots: Vec<_> = (0..instances)
        .map(|k| {
            let log = std::fs::File::create(dir.path().join(format!("run{k}.log"))).unwrap();
            Command::new(env!("CARGO_BIN_EXE_exam-review-bot"))
                .arg("run")
                .env("DATABASE_URL", &url)
                .env("TELOXIDE_TOKEN", "123:soak")
                .env("TELOXIDE_API_URL", fake.api_url())
                .env("RUST_LOG", "warn")
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u32> = bots.iter().map(|b| b.id()).collect();
    // The largest instance's figure at each sample.
    let most = |field: &str| {
        pids.iter()
            .map(|p| status_kib(*p, field))
            .max()
            .unwrap_or(0)
    };

    let mut people = Driver::new(&fake, &city);
    let began = Instant::now();
    let mut started = 0usize;
    let mut samples: Vec<Sample> = Vec::new();
    let mut next_sample = Duration::from_secs(10);
    let mut read = 0;
    while began.elapsed() < Duration::from_secs(secs) {
        let due = (began.elapsed().as_secs_f64() * rate) as usize;
        while started < due && people.start_request() {
            started += 1;
        }
        people.tick();
        if began.elapsed() >= next_sample {
            let mut window: Vec<Duration> = people.seen.latencies[read..].to_vec();
            read = people.seen.latencies.len();
            window.sort();
            let mut conn = app.db.pool.acquire().await.unwrap();
            let backlog = outbox::open_count(&mut conn).await.unwrap();
            drop(conn);
            samples.push(Sample {
                at_secs: next_sample.as_secs(),
                rss_kib: most("VmRSS"),
                anon_kib: most("RssAnon"),
                file_kib: most("RssFile"),
                p50_ms: percentile(&window, 0.50),
                p99_ms: percentile(&window, 0.99),
                answers: window.len(),
                backlog,
                filed: people.seen.filed,
            });
            next_sample += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peaks: Vec<String> = pids
        .iter()
        .map(|p| format!("{:.1} MiB", status_kib(*p, "VmHWM") as f64 / 1024.0))
        .collect();
    for bot in &mut bots {
        bot.kill().ok();
        bot.wait().ok();
    }

    let mut csv =
        String::from("secs,rss_kib,anon_kib,file_kib,p50_ms,p99_ms,answers,outbox_backlog,filed\n");
    for s in &samples {
        writeln!(
            csv,
            "{},{},{},{},{:.1},{:.1},{},{},{}",
            s.at_secs,
            s.rss_kib,
            s.anon_kib,
            s.file_kib,
            s.p50_ms,
            s.p99_ms,
            s.answers,
            s.backlog,
            s.filed
        )
        .unwrap();
    }
    let out = std::env::var_os("SOAK_CSV").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/soak.csv"),
        std::path::PathBuf::from,
    );
    std::fs::write(&out, &csv).unwrap();

    // Five-minute windows: memory at their end, latency over them.
    println!(
        "| minutes | VmRSS at the end (MiB) | answers | p50 (ms) | p99 (ms) | outbox backlog | requests filed |"
    );
    println!("|---|---|---|---|---|---|---|");
    for chunk in samples.chunks(30) {
        let last = chunk.last().unwrap();
        let p50 = chunk.iter().map(|s| s.p50_ms).fold(0.0, f64::max);
        let p99 = chunk.iter().map(|s| s.p99_ms).fold(0.0, f64::max);
        let answers: usize = chunk.iter().map(|s| s.answers).sum();
        println!(
            "| {}–{} | {:.1} | {} | ≤ {:.0} | ≤ {:.0} | {} | {} |",
            (chunk[0].at_secs - 10) / 60,
            last.at_secs / 60,
            last.rss_kib as f64 / 1024.0,
            answers,
            p50,
            p99,
            last.backlog,
            last.filed
        );
    }
    // Growth: after the first five minutes (the caches and pools filling) to the end.
    if samples.len() > 31 {
        let warm = samples[30].rss_kib as f64;
        let end = samples.last().unwrap().rss_kib as f64;
        let peak = samples[30..].iter().map(|s| s.rss_kib).max().unwrap() as f64;
        println!(
            "\nVmRSS after 5 minutes {:.1} MiB, at the end {:.1} MiB ({:+.1}%), highest after 5 minutes {:.1} MiB; \
             {} requests filed, {} taps, {:.1} s soaked; samples in {}",
            warm / 1024.0,
            end / 1024.0,
            (end / warm - 1.0) * 100.0,
            peak / 1024.0,
            people.seen.filed,
            people.seen.approvals,
            began.elapsed().as_secs_f64(),
            out.display()
        );
    }
    println!(
        "\n{instances} instance(s) on {}; peak RSS (VmHWM) of each: {}",
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        peaks.join(", ")
    );
}

/// A new, empty database `erb_soak` on the PostgreSQL server at `server`; its URL.
async fn fresh_postgres(server: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    for sql in [
        "DROP DATABASE IF EXISTS erb_soak WITH (FORCE)",
        "CREATE DATABASE erb_soak",
    ] {
        sqlx::raw_sql(sql).execute(&mut admin).await.unwrap();
    }
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    format!("{base}/erb_soak")
}
