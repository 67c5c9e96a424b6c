//! `exam-review-bot simulate`: a province's season played in one process against the fake Bot
//! API. Every city is set up through the command line's use cases (`prepare_city`), published,
//! and then its simulated people file the review burst through the chat dialogue and carry
//! each request through the documents' whole route, all cities at once. The cities are shared
//! out among `bots` bots (each a Telegram of its own, with its own 30 a second), and each bot
//! runs `instances` instances sharing the database as separate `run` processes would. What it prints is what the issue
//! asks of a province: throughput, latency, the time until every message is out, messages
//! per request, sends over Telegram's limits and the process's peak memory.

use super::{Driver, Reach, prepare_city};
use crate::app::App;
use crate::clock::SystemClock;
use crate::config::{Config, Entry, EntryMode};
use crate::store::{Db, outbox};
use fake_telegram::FakeTelegram;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The province's own unit in the simulation.
pub const PROVINCE: &str = "P00";

/// What to play.
#[derive(Debug, Clone)]
pub struct Options {
    pub cities: usize,
    /// Candidates in the whole province.
    pub candidates: usize,
    /// Review requests in the whole province (the burst).
    pub requests: usize,
    /// Schools in each city.
    pub schools: usize,
    /// Bots: city k talks to bot k mod `bots`.
    pub bots: usize,
    /// Instances of each bot sharing the database (PostgreSQL only beyond one).
    pub instances: usize,
    /// The database; None: a new SQLite file in `dir`.
    pub database_url: Option<String>,
    /// Give up after this long.
    pub limit: Duration,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Report {
    pub cities: usize,
    pub candidates: usize,
    pub requests: usize,
    pub bots: usize,
    pub instances: usize,
    pub setup: Duration,
    /// From the first request started to every request completed.
    pub burst: Duration,
    /// From every request completed to the outbox empty.
    pub drain: Duration,
    pub finished: bool,
    pub completed: i64,
    /// Updates the bots handled, and the handling time's p50 and p99.
    pub updates: u64,
    pub handling_p50: Option<Duration>,
    pub handling_p99: Option<Duration>,
    /// From a simulated person's input to the bot's answer reaching Telegram.
    pub answer_p50: Option<Duration>,
    pub answer_p99: Option<Duration>,
    /// Messages and edits Telegram accepted during the burst and the drain (all bots).
    pub messages: usize,
    /// The busiest bot's messages and edits a second over the burst and the drain.
    pub busiest_bot_rate: f64,
    /// Sends over a bot's limits, summed over the bots.
    pub over_overall: usize,
    pub over_per_chat: usize,
    pub peak_rss_kib: u64,
}

impl Report {
    pub fn messages_per_request(&self) -> f64 {
        self.messages as f64 / self.requests.max(1) as f64
    }
}

fn config(url: &str) -> Config {
    let mut config = Config {
        database_url: url.to_string(),
        bot_username: Some(fake_telegram::BOT_USERNAME.into()),
        entry: Entry {
            mode: EntryMode::CityFile,
            ..Default::default()
        },
        ..Config::default()
    };
    config.telegram.polling_timeout_secs = 1;
    config.telegram.request_timeout_secs = 3;
    config
}

/// Completed requests in the database.
async fn completed(app: &App) -> anyhow::Result<i64> {
    let mut conn = app.db.pool.acquire().await?;
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM review_requests WHERE state = 'completed'")
            .fetch_one(&mut *conn)
            .await?;
    Ok(n)
}

async fn outbox_open(app: &App) -> anyhow::Result<i64> {
    let mut conn = app.db.pool.acquire().await?;
    Ok(outbox::open_count(&mut conn).await?)
}

/// The process's peak resident memory (VmHWM), in KiB; 0 where /proc is not there.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    Some(sorted[at])
}

/// Plays the season; `dir` holds the files (and the SQLite database when no URL is given).
pub async fn run(opts: &Options, dir: &Path) -> anyhow::Result<Report> {
    anyhow::ensure!(
        opts.cities >= 1 && opts.cities <= 99,
        "--cities must be 1 to 99"
    );
    anyhow::ensure!(opts.schools >= 2, "--schools must be at least 2");
    anyhow::ensure!(
        opts.bots >= 1 && opts.bots <= opts.cities,
        "--bots must be 1 to the number of cities"
    );
    let url = match &opts.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.join("province.db").display()),
    };
    let sqlite = url.starts_with("sqlite:");
    anyhow::ensure!(
        !sqlite || opts.instances == 1,
        "several instances need PostgreSQL (--database-url postgres://…): one SQLite file \
         serves one process"
    );
    let schools_in_province = opts.cities * opts.schools;
    let pupils = (opts.candidates / schools_in_province).max(1);
    // The burst spread evenly over every school, the first `extra` filing one more: exactly
    // `requests` are filed (as long as the schools have candidates enough).
    let (each, extra) = (
        opts.requests / schools_in_province,
        opts.requests % schools_in_province,
    );

    let began = Instant::now();
    let app = App::new(Db::open(&url).await?, config(&url), Arc::new(SystemClock))?;
    let units = dir.join("province.csv");
    std::fs::write(
        &units,
        format!(
            "{}\n{PROVINCE},模拟省,省,,\n",
            crate::sample::UNITS_HEADER.join(",")
        ),
    )?;
    app.import_units(&units).await?;
    let mut cities = Vec::new();
    for k in 0..opts.cities {
        let first_user = 1_000_000 * (k as i64 + 1);
        let mut city = prepare_city(
            &app,
            dir,
            k,
            Some(PROVINCE),
            opts.schools,
            pupils,
            first_user,
            Reach::WholeRoute,
        )
        .await?;
        for (i, school) in city.schools.iter_mut().enumerate() {
            let filed = each + usize::from(k * opts.schools + i < extra);
            school.pupils.truncate(filed.min(pupils));
        }
        // The city's admin, who hears the publication's tally, the digests and the alerts.
        let link = app
            .invite(
                crate::domain::Role::CityAdmin,
                &crate::sample::city_code(k),
                "模拟管理员",
                None,
            )
            .await?;
        let admin = first_user - 1;
        app.start(admin, admin, link.rsplit('=').next()).await?;
        cities.push(city);
    }
    let requests: usize = cities
        .iter()
        .flat_map(|c| &c.schools)
        .map(|s| s.pupils.len())
        .sum();
    let setup = began.elapsed();

    // A token names its bot ("<id>:<secret>"), as Telegram's do.
    let bot_id = |b: usize| 7_000_000_100 + b as i64;
    {
        // The simulation binds people directly: each city's people are taken to have started
        // their city's bot when they joined, as an invite link to it would have them do.
        let mut tx = app.db.begin().await?;
        for k in 0..opts.cities {
            sqlx::query(
                "INSERT INTO chat_bots (chat_id, bot_id)
                 SELECT DISTINCT b.chat_id, $1 FROM bindings b
                 JOIN units u ON u.code = b.unit_code WHERE u.city_code = $2
                 ON CONFLICT (chat_id) DO NOTHING",
            )
            .bind(bot_id(k % opts.bots))
            .bind(crate::sample::city_code(k))
            .execute(&mut *tx)
            .await?;
        }
        // What setup queued for them (publication notices) waits for their bot too.
        sqlx::query(
            "UPDATE outbox SET bot_id = (SELECT bot_id FROM chat_bots c
                                         WHERE c.chat_id = outbox.chat_id)
             WHERE bot_id IS NULL AND status = 'pending'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    let mut fakes = Vec::new();
    for _ in 0..opts.bots {
        fakes.push(FakeTelegram::start().await?);
    }
    let (stop, stop_rx) = watch::channel(false);
    let mut bots = Vec::new();
    let mut apps = Vec::new();
    // One SQLite file is one process: there, every bot runs in the one app.
    let shared = match sqlite {
        true => Some(App::new(
            Db::open(&url).await?,
            config(&url),
            Arc::new(SystemClock),
        )?),
        false => None,
    };
    if let Some(app) = &shared {
        apps.push(app.clone());
    }
    for (b, fake) in fakes.iter().enumerate() {
        for _ in 0..opts.instances {
            let app = match &shared {
                Some(app) => app.clone(),
                None => {
                    let app = App::new(Db::open(&url).await?, config(&url), Arc::new(SystemClock))?;
                    apps.push(app.clone());
                    app
                }
            };
            let token = format!("{}:simulate", bot_id(b));
            let bot = crate::telegram::build_bot(&app, &token, Some(fake.api_url().parse()?));
            // On one SQLite app one sweep is enough (PostgreSQL's lock lets one sweep a tick).
            let serving = crate::telegram::Serving {
                no_sweep: shared.is_some() && b > 0,
                ..Default::default()
            };
            bots.push(tokio::spawn(crate::telegram::run_with(
                app,
                bot,
                stop_rx.clone(),
                serving,
            )));
        }
    }
    let calls_before: Vec<usize> = fakes.iter().map(|f| f.calls().len()).collect();
    let mut people: Vec<Driver> = cities
        .iter()
        .enumerate()
        .map(|(k, c)| Driver::new(&fakes[k % opts.bots], c))
        .collect();
    let burst_began = Instant::now();
    let deadline = burst_began + opts.limit;
    let mut done_at = None;
    let mut empty_at = None;
    while Instant::now() < deadline {
        for city in &mut people {
            while city.start_request() {}
            city.tick();
        }
        if done_at.is_none() && completed(&app).await? == requests as i64 {
            done_at = Some(Instant::now());
        }
        let waiting: usize = fakes.iter().map(FakeTelegram::pending_updates).sum();
        if done_at.is_some() && outbox_open(&app).await? == 0 && waiting == 0 {
            empty_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).ok();
    for bot in bots {
        bot.await??;
    }
    let end = Instant::now();
    let mut answers: Vec<Duration> = people
        .iter()
        .flat_map(|p| p.seen.latencies.iter().copied())
        .collect();
    answers.sort();
    let handled: Vec<_> = apps.iter().map(|a| a.update_latency.snapshot()).collect();
    let updates = handled.iter().map(|s| s.count()).sum();
    // The slowest instance's figures stand for all (they share the load).
    let quantile = |q: f64| handled.iter().filter_map(|s| s.quantile(q)).max();
    let sent_by_bot: Vec<usize> = fakes
        .iter()
        .zip(&calls_before)
        .map(|(fake, before)| {
            fake.calls()[*before..]
                .iter()
                .filter(|c| {
                    c.status == 200
                        && (c.method.starts_with("send") || c.method.starts_with("edit"))
                })
                .count()
        })
        .collect();
    let sends = sent_by_bot.iter().sum();
    let over: Vec<_> = fakes.iter().map(FakeTelegram::over_limits).collect();
    let seconds = (end - burst_began).as_secs_f64().max(0.001);
    Ok(Report {
        cities: opts.cities,
        candidates: pupils * schools_in_province,
        requests,
        bots: opts.bots,
        instances: opts.instances,
        setup,
        burst: done_at.unwrap_or(end) - burst_began,
        drain: match (done_at, empty_at) {
            (Some(d), Some(e)) => e - d,
            _ => Duration::ZERO,
        },
        finished: empty_at.is_some(),
        completed: completed(&app).await?,
        updates,
        handling_p50: quantile(0.5),
        handling_p99: quantile(0.99),
        answer_p50: percentile(&answers, 0.5),
        answer_p99: percentile(&answers, 0.99),
        messages: sends,
        busiest_bot_rate: sent_by_bot.iter().max().copied().unwrap_or(0) as f64 / seconds,
        over_overall: over.iter().map(|o| o.overall).sum(),
        over_per_chat: over.iter().map(|o| o.per_chat).sum(),
        peak_rss_kib: peak_rss_kib(),
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms =
            |d: Option<Duration>| d.map_or("—".to_string(), |d| format!("{} ms", d.as_millis()));
        writeln!(
            f,
            "province: {} cities, {} candidates, {} requests, {} bot(s) of {} instance(s)",
            self.cities, self.candidates, self.requests, self.bots, self.instances
        )?;
        writeln!(
            f,
            "setup (units, seasons, scores, people, publication): {:.1} s",
            self.setup.as_secs_f64()
        )?;
        if !self.finished {
            writeln!(
                f,
                "NOT FINISHED within the limit: {} of {} requests completed",
                self.completed, self.requests
            )?;
        }
        writeln!(
            f,
            "burst: every request filed and carried to its result in {:.1} s; outbox empty {:.1} s after that",
            self.burst.as_secs_f64(),
            self.drain.as_secs_f64()
        )?;
        writeln!(
            f,
            "updates handled: {} ({:.1}/s over the burst); handling p50 {}, p99 {}",
            self.updates,
            self.updates as f64 / self.burst.as_secs_f64().max(0.001),
            ms(self.handling_p50),
            ms(self.handling_p99)
        )?;
        writeln!(
            f,
            "a person's answer: p50 {}, p99 {}",
            ms(self.answer_p50),
            ms(self.answer_p99)
        )?;
        writeln!(
            f,
            "messages and edits sent: {} ({:.1} a request; the busiest bot {:.1} a second); \
             sends over a bot's 30/s: {}, over 1/s in a chat: {}",
            self.messages,
            self.messages_per_request(),
            self.busiest_bot_rate,
            self.over_overall,
            self.over_per_chat
        )?;
        write!(
            f,
            "peak RSS of the process (bots, fake Bot API and people): {:.0} MiB",
            self.peak_rss_kib as f64 / 1024.0
        )
    }
}
