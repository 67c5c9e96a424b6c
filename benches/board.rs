//! Season board benchmark. Run with
//!
//!     cargo bench --bench board
//!
//! A city of 4,500 schools in 30 districts with 14,000 review requests in every state (SQLite),
//! its board served on loopback as in production. Each view is asked for over HTTP with a
//! signed-in session: the first page of the city admin's whole city, a district officer's
//! district, a search by 准考证号, every school's score notice (公布) and the charts. The table
//! gives the first call of the run (it reads the
//! season), then the median and the 99th percentile of the 100 calls after it (the season read
//! again beside them every few seconds), and the rows each view holds. The last line is the
//! city admin's page asked for after 20 s in which nobody asked for anything, five times.

#[path = "support/city.rs"]
mod city;
use chrono::TimeZone;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::board::SessionKey;
use exam_review_bot::clock::ManualClock;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::Db;
use exam_review_bot::telegram::init_data::TelegramSignIn;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DISTRICTS: usize = 30;
const SCHOOLS: usize = 4_500;
const CANDIDATES: usize = 45_000;
const REQUESTS: usize = 14_000;
const RUNS: usize = 100;
const QUIET_CALLS: usize = 5;
const TOKEN: &str = "1:bench";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// One page asked for with a session, from the request to its last byte.
async fn timed_get(client: &reqwest::Client, url: &str, cookie: &str) -> (Duration, String) {
    let start = Instant::now();
    let answer = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let page = answer.text().await.unwrap();
    (start.elapsed(), page)
}

/// Someone bound by an invite, as the bot's /start does.
async fn join(app: &App, role: Role, unit: &str, user: i64) {
    let link = app.invite(role, unit, "看板", None).await.unwrap();
    app.start(user, user, Some(link.rsplit('=').next().unwrap()))
        .await
        .unwrap();
}

async fn run() {
    let tz = chrono_tz::Asia::Shanghai;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("board.db").display());
    let config = city::city_file_config(&url);
    let now = tz.with_ymd_and_hms(2023, 4, 30, 10, 0, 0).unwrap().to_utc();
    let app = App::new(
        Db::open(&url).await.unwrap(),
        config,
        Arc::new(ManualClock::new(now)),
    )
    .unwrap();
    sample::load_city(&app, dir.path(), DISTRICTS, SCHOOLS, CANDIDATES, 5)
        .await
        .unwrap();
    app.publish(Actor::Cli, None).await.unwrap();
    {
        // 14,000 requests of every school, spread over the states a season holds.
        let mut conn = app.db.pool.acquire().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO review_requests (season_id, candidate_id, school_code, filer_user_id,
                 filer_chat_id, filer_name, reason, contact, state, step, original_score,
                 created_at, updated_at)
             SELECT season_id, id, school_code, 1, 1, '联系人', '漏评', '13800001234',
                    CASE id % 6 WHEN 0 THEN 'pending' WHEN 1 THEN 'recording'
                      WHEN 2 THEN 'reporting' WHEN 3 THEN 'rechecking' WHEN 4 THEN 'completed'
                      ELSE 'rejected' END,
                    id % 2, score, 1682733600000 + id * 1000, 1682733600000
             FROM candidates ORDER BY id LIMIT {REQUESTS}"
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let (admin, officer) = (10, 11);
    join(&app, Role::CityAdmin, sample::CITY_CODE, admin).await;
    join(
        &app,
        Role::DistrictOfficer,
        &sample::district_code(3),
        officer,
    )
    .await;
    let exam_no = {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let (no,): (String,) = sqlx::query_as(
            "SELECT c.exam_no FROM candidates c JOIN review_requests r ON r.candidate_id = c.id
             ORDER BY r.id DESC LIMIT 1",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        no
    };

    let key = SessionKey::derive(TOKEN);
    let routes = exam_review_bot::board::routes(
        app.clone(),
        Arc::new(TelegramSignIn::new(TOKEN)),
        key.clone(),
    );
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", socket.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(socket, routes).await });
    let client = reqwest::Client::new();

    println!(
        "| view (4,500 schools, 14,000 requests) | lines in the view | first call | p50 | p99 |\n|---|---|---|---|---|"
    );
    let views = [
        (
            "city admin, whole city, first page",
            admin,
            "/board/requests".to_string(),
        ),
        (
            "district officer, own district",
            officer,
            "/board/requests".to_string(),
        ),
        (
            "city admin, search by 准考证号",
            admin,
            format!("/board/requests?q={exam_no}"),
        ),
        (
            "city admin, 公布: every school's notice",
            admin,
            "/board/notices".to_string(),
        ),
        ("city admin, 图表", admin, "/board/charts".to_string()),
        (
            "district officer, 图表",
            officer,
            "/board/charts".to_string(),
        ),
    ];
    for (name, person, path) in views {
        let cookie = format!("board={}", key.issue(person, now));
        let mut times = Vec::with_capacity(RUNS + 1);
        let mut page = String::new();
        for _ in 0..=RUNS {
            let (took, body) = timed_get(&client, &format!("{base}{path}"), &cookie).await;
            times.push(took);
            page = body;
        }
        let first = times.remove(0);
        times.sort();
        // A list says how many lines it holds ("共 N 件", "共 N 所学校"); a chart, its bars.
        let rows = match page.split_once("共 ") {
            Some((_, rest)) => rest.chars().take_while(char::is_ascii_digit).collect(),
            None => format!("{} bars", page.matches("<text class=\"label\"").count()),
        };
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        println!(
            "| {name} | {rows} | {} | {} | {} |",
            ms(first),
            ms(times[RUNS / 2]),
            ms(times[RUNS * 99 / 100])
        );
    }

    // Someone opens the board after a quiet spell: the season is still being read beside it.
    let cookie = format!("board={}", key.issue(admin, now));
    let mut quiet = Vec::new();
    for _ in 0..QUIET_CALLS {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let url = format!("{base}/board/requests");
        quiet.push(timed_get(&client, &url, &cookie).await.0);
    }
    quiet.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| city admin, whole city, 20 s after the last call ({QUIET_CALLS} calls) | 14000 | — | {} | {} (the slowest) |",
        ms(quiet[QUIET_CALLS / 2]),
        ms(quiet[QUIET_CALLS - 1])
    );
}
