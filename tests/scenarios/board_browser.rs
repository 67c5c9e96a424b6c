//! The season board in a real browser: Debian's headless chromium, driven through chromedriver,
//! opens the board as Telegram opens a Mini App (the launch parameters in the address's
//! fragment), signs in by itself, filters, searches, opens a request and downloads the view.
//!
//! Without `chromedriver` on the PATH the stories say so and pass, except in CI (`CI` set),
//! where `.ci/run` installs it and its absence fails them.

use crate::board::{TOKEN, serve_board};
use crate::cast::{Cast, cast_with, file};
use calamine::Reader;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_telegram::FakeUser;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver on a free port, ended with the story.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Driver {
    /// None where chromedriver is not installed (and this is not CI).
    async fn start() -> Option<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("the board's browser stories need chromium and chromedriver: {e}");
                return None;
            }
            Err(e) => panic!("chromedriver: {e} (.ci/run installs chromium-driver)"),
        };
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        for _ in 0..100 {
            if reqwest::get(&status).await.is_ok_and(|r| r.status() == 200) {
                return Some(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }

    /// A fresh headless chromium, `width` pixels wide.
    async fn browser(&self, width: u32, height: u32) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
            ]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session")
    }
}

/// The board opened from Telegram by `person`, waited on until it has signed in and shows its
/// list.
async fn open_board(browser: &Client, base: &str, person: &FakeUser, now: i64) {
    let url = person.web_app_url(&format!("{base}/board"), TOKEN, now);
    browser.goto(&url).await.unwrap();
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("table tbody"))
        .await
        .expect("the board signs in and shows its list");
}

/// The ids of the rows the page shows (none while a page is still loading).
async fn shown_ids(browser: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    let Ok(rows) = browser.find_all(Locator::Css("tbody tr[data-id]")).await else {
        return ids;
    };
    for row in rows {
        match row.attr("data-id").await {
            Ok(Some(id)) => ids.push(id),
            _ => return Vec::new(),
        }
    }
    ids
}

/// The page's heading (a refusal says what it is there).
async fn heading(browser: &Client) -> String {
    let h1 = browser.find(Locator::Css("h1")).await.unwrap();
    h1.text().await.unwrap()
}

/// Waits until the page shows exactly these requests (a filter's page has loaded).
async fn rows_become(browser: &Client, ids: &[i64]) {
    let want: Vec<String> = ids.iter().map(i64::to_string).collect();
    for _ in 0..200 {
        if shown_ids(browser).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the page never showed {want:?}: {:?}",
        shown_ids(browser).await
    );
}

/// Where the stories leave their screenshots (the README shows copies of them).
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/board-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn cast_with_requests() -> (Cast, i64, i64) {
    let c = cast_with(|_| {}).await;
    let district = file(&c.h, &c.contact, &c.pupil.exam_no, "认为评分过严").await;
    let direct = file(
        &c.h,
        &c.direct_contact,
        &c.direct_pupil.exam_no,
        "主实验漏评",
    )
    .await;
    (c, district, direct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_admin_filters_searches_opens_and_downloads_the_board_in_a_browser() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (mut c, district, direct) = cast_with_requests().await;
    let admin =
        c.h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员 钱")
            .await;
    let base = serve_board(&c.h).await;
    let now = c.h.app.clock.now().timestamp();
    let browser = driver.browser(1100, 800).await;
    open_board(&browser, &base, &admin, now).await;
    rows_become(&browser, &[district, direct]).await;
    std::fs::write(
        screenshots().join("desktop.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();

    // Every district of the city is offered to filter by; one is chosen.
    let d0 = sample::district_code(0);
    let select = browser
        .find(Locator::Css("select[name=district]"))
        .await
        .unwrap();
    select.select_by_value(&d0).await.unwrap();
    browser
        .find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    rows_become(&browser, &[district]).await;

    // The view's download holds what the page showed.
    let link = browser
        .find(Locator::Css("a[download]"))
        .await
        .unwrap()
        .prop("href")
        .await
        .unwrap()
        .unwrap();
    let cookie = browser
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == "board")
        .expect("the session cookie");
    assert!(cookie.http_only().unwrap_or(false));
    let book = reqwest::Client::new()
        .get(&link)
        .header("cookie", format!("board={}", cookie.value()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(book.to_vec())).unwrap();
    let sheet = book.worksheet_range("复核与免考").unwrap();
    let ids: Vec<String> = sheet.rows().skip(1).map(|r| r[0].to_string()).collect();
    assert_eq!(ids, [district.to_string()]);

    // Search by 准考证号, then the request's detail.
    browser
        .goto(&format!(
            "{base}/board/requests?q={}",
            c.direct_pupil.exam_no
        ))
        .await
        .unwrap();
    rows_become(&browser, &[direct]).await;
    browser
        .find(Locator::LinkText(&direct.to_string()))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let detail = browser
        .wait()
        .for_element(Locator::Css("article.detail"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains(&c.direct_pupil.name), "{detail}");
    assert!(detail.contains("主实验漏评"), "{detail}");

    // The other tabs: each school's notice, and the charts drawn on the page.
    browser
        .goto(&format!("{base}/board/requests"))
        .await
        .unwrap();
    let tab = |name: &'static str| {
        let browser = browser.clone();
        async move {
            let link = browser.find(Locator::LinkText(name)).await.unwrap();
            link.click().await.unwrap();
        }
    };
    tab("公布").await;
    let schools = browser
        .wait()
        .for_element(Locator::Css("tr[data-school]"))
        .await
        .unwrap();
    assert!(!schools.text().await.unwrap().is_empty());
    tab("图表").await;
    let chart = browser
        .wait()
        .for_element(Locator::Css("#scores svg.stacked"))
        .await
        .unwrap();
    let label = chart.attr("aria-label").await.unwrap();
    assert_eq!(label.as_deref(), Some("各区县成绩分布"));
    std::fs::write(
        screenshots().join("charts.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
    browser.close().await.unwrap();
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_officer_sees_their_district_on_a_phone_and_a_forgery_is_turned_away() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (c, district, direct) = cast_with_requests().await;
    let base = serve_board(&c.h).await;
    let now = c.h.app.clock.now().timestamp();

    let phone = driver.browser(390, 844).await;
    open_board(&phone, &base, &c.officer, now).await;
    rows_become(&phone, &[district]).await;
    std::fs::write(
        screenshots().join("phone.png"),
        phone.screenshot().await.unwrap(),
    )
    .unwrap();
    phone
        .goto(&format!("{base}/board/requests/{direct}"))
        .await
        .unwrap();
    assert_eq!(heading(&phone).await, "无权查看");
    phone.close().await.unwrap();

    // initData signed with another bot's token, or an hour and more old: no session.
    let forged = driver.browser(390, 844).await;
    for url in [
        c.officer
            .web_app_url(&format!("{base}/board"), "999:not-this-bot", now),
        c.officer
            .web_app_url(&format!("{base}/board"), TOKEN, now - 3_700),
    ] {
        forged.goto(&url).await.unwrap();
        forged
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::XPath("//p[contains(., '401')]"))
            .await
            .expect("the page says the sign-in was refused");
        forged
            .goto(&format!("{base}/board/requests"))
            .await
            .unwrap();
        assert_eq!(heading(&forged).await, "未登录");
    }
    forged.close().await.unwrap();
    c.h.stop().await;
}
