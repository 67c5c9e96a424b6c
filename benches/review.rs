//! Review burst benchmark (issue: score review requests). Run with
//!
//!     cargo bench --bench review
//!
//! BENCH_REQUESTS (default 2000) requests are filed and carried through the documents' route —
//! 班主任, 校长, the district's 复核小组 (ten districts, three members each; the city-direct
//! school's group at the city) recording and signing, each district's 上报 of its batch, and the
//! city's 复审 — by simulated users
//! talking to the real bot through the fake Bot API, on SQLite, or on PostgreSQL when
//! BENCH_DATABASE_URL names a server (a database `erb_review_bench` is created there afresh:
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`). Users send
//! their updates in bursts without waiting for the bot's replies (Telegram delivers a chat's
//! updates in order, and the bot handles one chat's updates one after another), so the bot
//! sees the whole load at once. Replies go out through the outbox under Telegram's limits.
//!
//! Reported: updates handled per second, the latency of handling one update (from the bot
//! receiving it from Telegram to its handler finishing: its transaction — including its reply,
//! queued in the outbox — committed and a button press answered), per phase too, and the
//! delivery side: messages sent per second, sends above the limits, and the backlog; and the
//! messages (and card edits) the bot queued per request.
//!
//! School contacts file in one message each (the signed form's photo captioned "准考证号
//! 联系方式 理由", then 提交: `app::review::quick`); BENCH_FILING=dialogue has them walk the
//! six-step /review dialogue instead.
//!
//! BENCH_IN_FLIGHT sets `telegram.updates_in_flight` (default: the configuration's default).
//! BENCH_INSTANCES (default 1) runs that many bot instances on the database (PostgreSQL: one
//! polls, all deliver at a shared rate). BENCH_WATCH_SECS (default 60) is how long delivery is
//! watched after the burst began; the time until the outbox is empty is reported when it
//! empties within it.

use chrono::TimeZone;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::clock::ManualClock;
use exam_review_bot::config::Config;
use exam_review_bot::domain::Role;
use exam_review_bot::metrics::Snapshot;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use fake_telegram::{FakeTelegram, FakeUser, Sent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCHOOLS: usize = 40;
const DISTRICTS: usize = 10;
const GROUP: [Role; 3] = [
    Role::ChiefProctorRep,
    Role::Inspector,
    Role::EquipmentOfficer,
];
const RECHECKER: i64 = 5_000_000;

/// Member `k` of a district's review group, or of the city-direct schools' (`None`).
fn group_member(district: Option<i64>, k: usize) -> i64 {
    5_100_000 + district.map_or(1000, |d| d * 10) + k as i64
}

/// A new, empty database on the PostgreSQL server at `server`; its URL.
async fn fresh_postgres(server: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    for sql in [
        "DROP DATABASE IF EXISTS erb_review_bench WITH (FORCE)",
        "CREATE DATABASE erb_review_bench",
    ] {
        sqlx::raw_sql(sql).execute(&mut admin).await.unwrap();
    }
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    format!("{base}/erb_review_bench")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A button press on a card in the user's own chat (the bot checks the chat, not the message id).
fn press(user: &FakeUser, data: &str) {
    let card = Sent {
        message_id: 1,
        chat_id: user.id,
        text: String::new(),
        document: None,
        file_id: None,
        reply_markup: None,
        edits: 0,
        at: Instant::now(),
        deleted: false,
    };
    user.press_data(&card, data);
}

async fn count_in(app: &App, sql: &'static str) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *conn).await.unwrap();
    n
}

async fn wait_for(app: &App, sql: &'static str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(3600);
    while count_in(app, sql).await < want {
        assert!(Instant::now() < deadline, "stuck waiting for {sql}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The (request, holder) pairs whose card of `stage` was folded into the holder's batch card:
/// such a card's buttons act only once a page of the list showed it, so its holder works
/// through the list instead (`work_through_lists`).
async fn folded_cards(app: &App, stage: &str) -> std::collections::HashSet<(i64, i64)> {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT c.request_id, c.user_id FROM review_cards c JOIN outbox o ON o.id = c.outbox_id
         WHERE c.stage = $1 AND o.status IN ('folded', 'dropped')",
    )
    .bind(stage)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// The simulated people with batch cards of `stage` work through them a page at a time: each
/// presses 本页全部同意 on the page as soon as it is drawn (a group's recorder, 本页全部维持原成绩),
/// and turns to the next page once the bot has taken those items
/// off the list. Superhuman like the rest of the burst: they act on a page before Telegram has
/// delivered it. Returns the updates pushed.
async fn work_through_lists(app: &App, fake: &FakeTelegram, stage: &str, record: bool) -> usize {
    let mut pushed = 0;
    loop {
        let lists: Vec<(i64, i64, i64, i64)> = {
            let mut conn = app.db.pool.acquire().await.unwrap();
            sqlx::query_as(
                "SELECT l.id, l.chat_id, l.user_id, l.version FROM card_lists l
                 WHERE EXISTS (SELECT 1 FROM outbox o JOIN review_cards c ON c.outbox_id = o.id
                               WHERE o.chat_id = l.chat_id AND o.status = 'folded'
                                 AND c.stage = $1)",
            )
            .bind(stage)
            .fetch_all(&mut *conn)
            .await
            .unwrap()
        };
        if lists.is_empty() {
            return pushed;
        }
        let mut waiting = Vec::new();
        for (list, chat, user_id, version) in lists {
            let items: Vec<(i64, String)> = {
                let mut conn = app.db.pool.acquire().await.unwrap();
                exam_review_bot::store::card_lists::page_items(&mut conn, list, version)
                    .await
                    .unwrap()
            };
            // Each group's first member records (as the rest of the bench has it); the
            // others' record cards leave their lists as results are recorded.
            if record && user_id % 10 != 0 {
                continue;
            }
            let user = fake.user(user_id, "用户");
            if record {
                // 本页全部维持原成绩: the page's record cards in one press.
                press(&user, &format!("ck:{list}:{version}"));
                pushed += 1;
            } else {
                press(&user, &format!("ca:{list}:{version}"));
                pushed += 1;
            }
            waiting.push((chat, items));
        }
        if waiting.is_empty() {
            // Only others' record cards are left: they leave as their recorders record.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // Next round once every page's items have left its list.
        let deadline = Instant::now() + Duration::from_secs(600);
        for (chat, items) in waiting {
            for (id, item_stage) in items {
                loop {
                    let mut conn = app.db.pool.acquire().await.unwrap();
                    let (n,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM review_cards c JOIN outbox o ON o.id = c.outbox_id
                         WHERE c.request_id = $1 AND c.stage = $2 AND o.chat_id = $3
                           AND o.status = 'folded'",
                    )
                    .bind(id)
                    .bind(&item_stage)
                    .bind(chat)
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                    if n == 0 || item_stage != stage {
                        break;
                    }
                    assert!(Instant::now() < deadline, "stuck on #{id} of a batch card");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let requests = env_usize("BENCH_REQUESTS", 2000);
    let instances = env_usize("BENCH_INSTANCES", 1).max(1);
    let dir = tempfile::tempdir().unwrap();
    let (url, backend) = match std::env::var("BENCH_DATABASE_URL") {
        Ok(server) if server.starts_with("postgres") => {
            (fresh_postgres(&server).await, "PostgreSQL")
        }
        _ => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            "SQLite",
        ),
    };
    let mut config = Config {
        database_url: url.clone(),
        bot_username: Some("ExamReviewBot".into()),
        // The scores come as one city file here, not as county batches.
        entry: exam_review_bot::config::Entry {
            mode: exam_review_bot::config::EntryMode::CityFile,
            ..Default::default()
        },
        ..Config::default()
    };
    // The simulated people are superhuman: one contact files 50 requests in one burst (300
    // updates), a recorder handles 2,000. The per-person limit (60 a minute by default, on the
    // app clock, which stands still here) would drop most of them; this measures the pipeline.
    config.limits.bound_updates_per_minute = u32::MAX;
    config.telegram.updates_in_flight = env_usize(
        "BENCH_IN_FLIGHT",
        config.telegram.updates_in_flight as usize,
    ) as u32;
    let clock = ManualClock::new(
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2023, 4, 29, 10, 0, 0)
            .unwrap()
            .to_utc(),
    );
    let app = App::new(Db::open(&url).await.unwrap(), config, Arc::new(clock)).unwrap();
    sample::load_city(&app, dir.path(), DISTRICTS, SCHOOLS, requests, 9)
        .await
        .unwrap();

    // Everyone binds (through the same use case /start calls).
    let bind = |role: Role, unit: String, class: Option<String>, user: i64| {
        let app = app.clone();
        async move {
            let link = app
                .invite(role, &unit, "某老师", class.as_deref())
                .await
                .unwrap();
            app.start(user, user, Some(link.rsplit('=').next().unwrap()))
                .await
                .unwrap();
        }
    };
    for s in 0..SCHOOLS {
        bind(
            Role::SchoolContact,
            sample::school_code(s),
            None,
            1_000_000 + s as i64,
        )
        .await;
        bind(
            Role::Principal,
            sample::school_code(s),
            None,
            2_000_000 + s as i64,
        )
        .await;
        for class in 1..=6 {
            let name = format!("九年级{class}班");
            bind(
                Role::HomeroomTeacher,
                sample::school_code(s),
                Some(name),
                3_000_000 + (s * 10 + class) as i64,
            )
            .await;
        }
    }
    for d in 0..DISTRICTS {
        bind(
            Role::DistrictOfficer,
            sample::district_code(d),
            None,
            4_000_000 + d as i64,
        )
        .await;
    }
    // Each district's 复核小组 (recorder first), the city-direct schools' group, and the city's
    // 复审.
    for d in 0..DISTRICTS {
        for (k, role) in GROUP.into_iter().enumerate() {
            let user = group_member(Some(d as i64), k);
            bind(role, sample::district_code(d), None, user).await;
        }
    }
    for (k, role) in [
        Role::DirectSchoolHead,
        Role::ChiefProctorRep,
        Role::Inspector,
    ]
    .into_iter()
    .enumerate()
    {
        bind(role, sample::CITY_CODE.into(), None, group_member(None, k)).await;
    }
    bind(
        Role::CityReviewer,
        sample::CITY_CODE.into(),
        None,
        RECHECKER,
    )
    .await;
    app.publish(Actor::Cli, None).await.unwrap();

    let fake = FakeTelegram::start().await.unwrap();
    let bot = exam_review_bot::telegram::build_bot(
        &app,
        "1:bench",
        Some(fake.api_url().parse().unwrap()),
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut runners = vec![tokio::spawn(exam_review_bot::telegram::run(
        app.clone(),
        bot,
        stop_rx.clone(),
    ))];
    for _ in 1..instances {
        // Another instance: its own pool and name, the same database; handling times and
        // counters are gathered in the first's.
        let mut other = App::new(
            Db::open(&url).await.unwrap(),
            (*app.config).clone(),
            app.clock.clone(),
        )
        .unwrap();
        other.update_latency = app.update_latency.clone();
        other.counters = app.counters.clone();
        let bot = exam_review_bot::telegram::build_bot(
            &other,
            "1:bench",
            Some(fake.api_url().parse().unwrap()),
        );
        runners.push(tokio::spawn(exam_review_bot::telegram::run(
            other,
            bot,
            stop_rx.clone(),
        )));
    }
    wait_for(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE status NOT IN ('pending', 'sending')",
        1,
    )
    .await;
    while count_in(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
    )
    .await
        > 0
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls_before = fake.calls().len();
    let last_before: (i64,) = {
        let mut conn = app.db.pool.acquire().await.unwrap();
        sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM outbox")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    };
    let queued_before = count_in(&app, "SELECT COUNT(*) FROM outbox").await;
    let handled_before = app.update_latency.count();
    let start = Instant::now();
    let mut pushed = 0usize;
    // Each phase: its name, how many chats send at once, updates pushed, wall time, latencies.
    let mut phases: Vec<(&str, usize, usize, Duration, Snapshot)> = Vec::new();
    let mut mark = (Instant::now(), app.update_latency.snapshot(), 0usize);
    let mut end_phase = |name: &'static str, chats: usize, pushed: usize| {
        let now = app.update_latency.snapshot();
        phases.push((
            name,
            chats,
            pushed - mark.2,
            mark.0.elapsed(),
            now.since(&mark.1),
        ));
        mark = (Instant::now(), now, pushed);
    };
    let user = |id: i64| fake.user(id, "用户");

    // 1. Filing: each school contact files for its candidates, one after another.
    let dialogue = std::env::var("BENCH_FILING").is_ok_and(|v| v == "dialogue");
    for n in 0..requests {
        let school = n % SCHOOLS;
        let contact = user(1_000_000 + school as i64);
        let exam_no = format!("2023{:08}", n + 1);
        if dialogue {
            contact.send("/review");
            contact.send(&exam_no);
            contact.send_photo(&format!("form-{n}"));
            contact.send("主实验漏评");
            contact.send("13800001234");
            pushed += 4;
        } else {
            let caption = format!("{exam_no} 13800001234 主实验漏评");
            contact.send_photo_with_caption(&format!("form-{n}"), &caption);
        }
        press(&contact, "d:confirm:submit");
        pushed += 2;
    }
    let n = requests as i64;
    wait_for(&app, "SELECT COUNT(*) FROM review_requests", n).await;
    end_phase(
        if dialogue {
            "filing (/review dialogue with the signed form, 6 updates each)"
        } else {
            "filing (the signed form's photo, captioned, and 提交: 2 updates each)"
        },
        SCHOOLS,
        pushed,
    );

    // 2. The approval levels, each a burst of taps.
    let rows: Vec<(i64, String, String, i64)> = {
        let mut conn = app.db.pool.acquire().await.unwrap();
        sqlx::query_as(
            "SELECT r.id, c.school_code, c.class_name, r.step FROM review_requests r
             JOIN candidates c ON c.id = r.candidate_id ORDER BY r.id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    };
    let school_no = |code: &str| code[1..].parse::<i64>().unwrap() - 1;
    let folded = folded_cards(&app, "s0r1").await;
    for (id, school, class, _) in &rows {
        let class_no: i64 = class
            .trim_start_matches("九年级")
            .trim_end_matches('班')
            .parse()
            .unwrap();
        let teacher = 3_000_000 + school_no(school) * 10 + class_no;
        if !folded.contains(&(*id, teacher)) {
            press(&user(teacher), &format!("rv:{id}:s0r1:a"));
            pushed += 1;
        }
    }
    pushed += work_through_lists(&app, &fake, "s0r1", false).await;
    wait_for(
        &app,
        "SELECT COUNT(*) FROM review_requests WHERE step >= 1",
        n,
    )
    .await;
    end_phase("班主任 approve", SCHOOLS * 6, pushed);
    let folded = folded_cards(&app, "s1r1").await;
    for (id, school, _, _) in &rows {
        let principal = 2_000_000 + school_no(school);
        if !folded.contains(&(*id, principal)) {
            press(&user(principal), &format!("rv:{id}:s1r1:a"));
            pushed += 1;
        }
    }
    pushed += work_through_lists(&app, &fake, "s1r1", false).await;
    wait_for(
        &app,
        "SELECT COUNT(*) FROM review_requests WHERE state = 'recording'",
        n,
    )
    .await;
    end_phase("校长 approve", SCHOOLS, pushed);

    // 3. Each group: its first member records each result, the other two sign; then the
    //    city's 复审 agrees.
    let direct = sample::school_code(SCHOOLS - 1);
    let group_of = |school: &str| (school != direct).then(|| school_no(school) % DISTRICTS as i64);
    let folded = folded_cards(&app, "rec1").await;
    for (id, school, ..) in &rows {
        let recorder = group_member(group_of(school), 0);
        if !folded.contains(&(*id, recorder)) {
            let recorder = user(recorder);
            press(&recorder, &format!("rv:{id}:rec1:k"));
            recorder.send("逐项核对，成绩无误");
            press(&recorder, "d:confirm:submit");
            pushed += 3;
        }
    }
    pushed += work_through_lists(&app, &fake, "rec1", true).await;
    wait_for(
        &app,
        "SELECT COUNT(*) FROM review_requests WHERE state = 'confirming'",
        n,
    )
    .await;
    end_phase(
        "groups record 维持 (本页全部维持原成绩, a page each; 3 updates a card not folded)",
        DISTRICTS + 1,
        pushed,
    );
    let folded = folded_cards(&app, "cf1").await;
    for k in [1, 2] {
        for (id, school, ..) in &rows {
            let member = group_member(group_of(school), k);
            if !folded.contains(&(*id, member)) {
                press(&user(member), &format!("rv:{id}:cf1:y"));
                pushed += 1;
            }
        }
    }
    pushed += work_through_lists(&app, &fake, "cf1", false).await;
    wait_for(
        &app,
        "SELECT COUNT(*) FROM review_requests WHERE state = 'reporting'",
        n,
    )
    .await;
    end_phase(
        "groups sign (2 more members each)",
        2 * (DISTRICTS + 1),
        pushed,
    );
    // 4. Each district (and the city-direct school) reports its batch with one 上报: one
    //    update carrying a whole district's requests and its 附件6.
    let mut batches: std::collections::BTreeMap<String, (Option<i64>, usize)> = Default::default();
    for (_, school, ..) in &rows {
        let district = group_of(school);
        let unit = district.map_or(school.clone(), |d| sample::district_code(d as usize));
        batches.entry(unit).or_insert((district, 0)).1 += 1;
    }
    for (unit, (district, count)) in &batches {
        press(
            &user(group_member(*district, 1)),
            &format!("up:{unit}:{count}"),
        );
        pushed += 1;
    }
    wait_for(
        &app,
        "SELECT COUNT(*) FROM review_requests WHERE state = 'rechecking'",
        n,
    )
    .await;
    end_phase(
        "上报 (one per district, a batch each)",
        batches.len(),
        pushed,
    );
    let folded = folded_cards(&app, "rc1").await;
    for (id, ..) in &rows {
        if !folded.contains(&(*id, RECHECKER)) {
            press(&user(RECHECKER), &format!("rv:{id}:rc1:ok"));
            pushed += 1;
        }
    }
    pushed += work_through_lists(&app, &fake, "rc1", false).await;
    wait_for(
        &app,
        "SELECT COUNT(*) FROM review_requests WHERE state = 'completed'",
        n,
    )
    .await;
    end_phase("市级复审 同意", 1, pushed);
    let handling = start.elapsed();
    let handled = app.update_latency.count() - handled_before;
    // Folded cards never go out on their own (their batch card does).
    let queued = count_in(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE status NOT IN ('folded', 'dropped')",
    )
    .await
        - queued_before;

    // Delivery keeps going under Telegram's limits; watch it until the outbox is empty or the
    // watch is over.
    let watch = Duration::from_secs(env_usize("BENCH_WATCH_SECS", 60) as u64);
    let mut emptied = None;
    let backlog = loop {
        let backlog = count_in(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
        )
        .await;
        if backlog == 0 {
            emptied = Some(start.elapsed());
            break backlog;
        }
        if start.elapsed() >= watch.max(handling) {
            break backlog;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let burst_end = handling.as_secs_f64();
    let drained = emptied.map_or(format!("not within the watch ({backlog} waiting)"), |d| {
        format!(
            "{:.0} s ({:.0} s after the last update)",
            d.as_secs_f64(),
            d.as_secs_f64() - burst_end
        )
    });
    let sends: Vec<_> = fake.calls()[calls_before..]
        .iter()
        .filter(|c| {
            (c.method.starts_with("send") || c.method.starts_with("edit")) && c.status == 200
        })
        .cloned()
        .collect();
    let span = start.elapsed().as_secs_f64();
    let mut over = 0;
    let mut over_chat = 0;
    for (i, a) in sends.iter().enumerate() {
        let window: Vec<_> = sends[i..]
            .iter()
            .take_while(|b| b.at < a.at + Duration::from_secs(1))
            .collect();
        if window
            .iter()
            .filter(|c| c.method.starts_with("send"))
            .count()
            > 30
        {
            over += 1;
        }
        if a.method.starts_with("send")
            && window[1..]
                .iter()
                .any(|b| b.chat_id == a.chat_id && b.method.starts_with("send"))
        {
            over_chat += 1;
        }
    }
    let q = |p: f64| {
        app.update_latency.quantile(p).map_or("> 2 s".into(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1000.0)
        })
    };
    println!(
        "| {requests} review requests, {backend}, {instances} instance(s) | value |\n|---|---|\n\
         | updates pushed by the simulated users | {pushed} |\n\
         | updates handled (messages and button presses) | {handled} |\n\
         | from the first update to the last request completed | {:.1} s |\n\
         | updates handled per second | {:.0} |\n\
         | handling latency p50 / p99 / p99.9 | {} / {} / {} |\n\
         | messages and edits delivered in {span:.0} s | {} ({:.1}/s) |\n\
         | sends that made a 1-second window exceed 30 | {over} |\n\
         | sends to a chat within 1 s of the previous one | {over_chat} |\n\
         | outbox backlog {span:.0} s after the burst began | {backlog} |\n\
         | the outbox empty after the burst began | {drained} |\n\
         | messages and card edits queued per request | {:.1} |\n\
         | Telegram calls (messages and edits) per request, delivered so far | {:.1} |",
        handling.as_secs_f64(),
        handled as f64 / handling.as_secs_f64(),
        q(0.5),
        q(0.99),
        q(0.999),
        sends.len(),
        sends.len() as f64 / span,
        queued as f64 / requests as f64,
        sends.len() as f64 / requests as f64,
    );
    let ms = |d: Option<Duration>| {
        d.map_or("> 2 s".into(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1000.0)
        })
    };
    println!(
        "\n| phase | chats sending at once | updates | wall time | updates/s | p50 | p99 |\n\
         |---|---|---|---|---|---|---|"
    );
    for (name, chats, updates, took, latency) in &phases {
        println!(
            "| {name} | {chats} | {updates} | {:.1} s | {:.0} | {} | {} |",
            took.as_secs_f64(),
            *updates as f64 / took.as_secs_f64(),
            ms(latency.quantile(0.5)),
            ms(latency.quantile(0.99)),
        );
    }
    // Who waited longest: each kind of person's chats, the calls they took, and when the
    // last one arrived. Telegram sends a chat one message a second, so the busiest chat sets
    // the floor of the drain.
    println!(
        "\n| chats | chats | calls | most to one chat | last call, s after the burst began |\n\
         |---|---|---|---|---|"
    );
    // Each kind of person's chats: calls to each, and the last one's time.
    let mut by_role: std::collections::BTreeMap<&str, HashMap<i64, (usize, f64)>> =
        Default::default();
    for c in &sends {
        let chat = c.chat_id.unwrap_or_default();
        let role = match chat {
            1_000_000..2_000_000 => "school contacts (filers)",
            2_000_000..3_000_000 => "校长",
            3_000_000..4_000_000 => "班主任",
            4_000_000..5_000_000 => "district officers",
            RECHECKER => "市级复审",
            5_100_000..5_200_000 => "复核小组 members",
            _ => "others (city admins)",
        };
        let at = c.at.duration_since(start).as_secs_f64();
        let (calls, last) = by_role.entry(role).or_default().entry(chat).or_default();
        *calls += 1;
        *last = last.max(at);
    }
    for (role, chats) in &by_role {
        let calls: usize = chats.values().map(|(n, _)| n).sum();
        let most = chats.values().map(|(n, _)| *n).max().unwrap_or(0);
        let last = chats.values().map(|(_, t)| *t).fold(0.0, f64::max);
        println!(
            "| {role} | {} | {calls} | {most} | {last:.0} |",
            chats.len()
        );
    }

    // What the burst queued, by kind: what is left to cut.
    let kinds: Vec<(String, i64)> = {
        let mut conn = app.db.pool.acquire().await.unwrap();
        sqlx::query_as(
            "SELECT CASE
                 WHEN edit_of IS NOT NULL THEN 'edits of cards and batch cards'
                 WHEN foldable = 1 AND status IN ('folded', 'dropped')
                     THEN 'cards folded into batch cards (never sent on their own)'
                 WHEN foldable = 1 THEN 'cards sent on their own'
                 WHEN is_reply = 1 THEN 'replies (the filing dialogue, answers to presses)'
                 WHEN mergeable = 1 THEN 'plain notices (sent together when they wait together)'
                 ELSE 'other messages (batch cards, 上报 cards, documents)'
             END AS kind, COUNT(*) FROM outbox WHERE id > $1 GROUP BY 1 ORDER BY 2 DESC",
        )
        .bind(last_before.0)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    };
    println!("\n| outbox rows the burst queued | rows | per request |\n|---|---|---|");
    for (kind, n) in kinds {
        println!("| {kind} | {n} | {:.1} |", n as f64 / requests as f64);
    }
    // Every instance runs in this process, with the fake Bot API and the simulated people:
    // its peak is an upper bound for one instance's.
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!(
        "\npeak RSS of the bench process (instances, fake Bot API and simulated people): {peak}"
    );
    stop.send(true).ok();
    for runner in runners {
        runner.await.unwrap().unwrap();
    }
}
