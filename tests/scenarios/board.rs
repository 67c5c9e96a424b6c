//! The season board's sign-in: the person a Telegram client vouches for, and nobody else.

use crate::cast::{cast_with, file};
use crate::support::*;
use calamine::Reader;
use chrono::{DateTime, Duration, Utc};
use exam_review_bot::board::SessionKey;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::telegram::init_data::{Refused, TelegramSignIn, check};
use fake_telegram::FakeTelegram;
use std::sync::Arc;

pub(crate) const TOKEN: &str = "123456:board-test-token";
const OTHER_BOT: &str = "654321:another-bots-token";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

/// What the page reads from its launch parameters: `tgWebAppData`, decoded once.
fn launch_data(url: &str) -> String {
    let (_, fragment) = url
        .split_once('#')
        .expect("launch parameters in the fragment");
    form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == "tgWebAppData")
        .map(|(_, v)| v.into_owned())
        .expect("tgWebAppData")
}

#[tokio::test]
async fn the_person_who_opened_the_board_is_signed_in_and_a_forgery_is_not() {
    let fake = FakeTelegram::start().await.unwrap();
    let officer = fake.user(2001, "区装备 王<&>");
    let opened = 1_780_000_000;
    let url = officer.web_app_url("https://board.example/season", TOKEN, opened);
    let data = launch_data(&url);
    let now = at(opened + 30);

    let who = check(&data, TOKEN, now, Duration::hours(1)).expect("signed in");
    assert_eq!(
        (who.user_id, who.first_name.as_str()),
        (2001, "区装备 王<&>")
    );

    assert_eq!(
        check(&data, OTHER_BOT, now, Duration::hours(1)),
        Err(Refused::Forged)
    );
    let someone_else = data.replace("2001", "2002");
    assert_eq!(
        check(&someone_else, TOKEN, now, Duration::hours(1)),
        Err(Refused::Forged)
    );
    let next_day = at(opened) + Duration::days(1);
    assert_eq!(
        check(&data, TOKEN, next_day, Duration::hours(1)),
        Err(Refused::Stale)
    );
    fake.stop();
}

/// The board of the harness's app, served on a free loopback port for the bot with `TOKEN`.
pub(crate) async fn serve_board(h: &Harness) -> String {
    let routes = exam_review_bot::board::routes(
        h.app.clone(),
        Arc::new(TelegramSignIn::new(TOKEN)),
        SessionKey::derive(TOKEN),
    );
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(socket, routes).await });
    format!("http://{addr}")
}

/// A person's browser on the board: it signs in with what Telegram gave the page and keeps
/// the session cookie the board sets.
pub(crate) struct Browser {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
}

impl Browser {
    pub(crate) fn new(base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            client: reqwest::Client::new(),
            cookie: None,
        }
    }

    pub(crate) async fn sign_in(&mut self, init_data: String) -> reqwest::StatusCode {
        let answer = self
            .client
            .post(format!("{}/board/session", self.base))
            .body(init_data)
            .send()
            .await
            .unwrap();
        if let Some(set) = answer.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(set.contains("HttpOnly") && set.contains("Secure"), "{set}");
            assert!(set.contains("SameSite=Strict"), "{set}");
            self.cookie = Some(set.split(';').next().unwrap().to_string());
        }
        answer.status()
    }

    /// The page's "download this view": its link followed, the workbook read back.
    async fn download(&self, page: &str) -> Vec<Vec<String>> {
        let (_, rest) = page
            .split_once("href=\"/board/requests.xlsx")
            .expect("a download link");
        let (query, _) = rest.split_once('"').unwrap();
        // The link as a browser reads it out of the HTML.
        let query = query.replace("&#x3D;", "=").replace("&amp;", "&");
        let path = format!("/board/requests.xlsx{query}");
        let answer = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie.as_deref().unwrap_or_default())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let bytes = answer.bytes().await.unwrap().to_vec();
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range("复核与免考").unwrap();
        sheet
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    pub(crate) async fn get(&self, path: &str) -> (reqwest::StatusCode, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let answer = request.send().await.unwrap();
        let policy = answer
            .headers()
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(policy.contains("script-src 'self'"), "{path}: {policy:?}");
        (answer.status(), answer.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_office_sees_on_the_board_what_it_sees_in_chat_and_nobody_signs_in_without_telegram() {
    let mut c = cast_with(|_| {}).await;
    let admin =
        c.h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员 钱")
            .await;
    let stranger = c.h.fake.user(999_001, "路人");
    let h = &c.h;
    let district = file(h, &c.contact, &c.pupil.exam_no, "认为评分过严").await;
    let direct = file(h, &c.direct_contact, &c.direct_pupil.exam_no, "主实验漏评").await;
    let base = serve_board(h).await;
    let now = h.app.clock.now().timestamp();

    // The district's officer: their district's request, not the city-direct school's.
    let mut officer = Browser::new(&base);
    assert_eq!(officer.sign_in(c.officer.init_data(TOKEN, now)).await, 204);
    let (status, page) = officer.get("/board/requests").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&c.pupil.exam_no), "{page}");
    assert!(!page.contains(&c.direct_pupil.exam_no), "{page}");
    assert!(page.contains("共 1 件"), "{page}");
    let (status, detail) = officer.get(&format!("/board/requests/{district}")).await;
    assert_eq!(status, 200);
    assert!(
        detail.contains(&c.pupil.name) && detail.contains("认为评分过严"),
        "{detail}"
    );
    assert_eq!(
        officer.get(&format!("/board/requests/{direct}")).await.0,
        403
    );

    // The city's admin: the whole city, filtered by district, by search and by state.
    let mut city = Browser::new(&base);
    assert_eq!(city.sign_in(admin.init_data(TOKEN, now)).await, 204);
    let (_, page) = city.get("/board/requests").await;
    assert!(page.contains("共 2 件"), "{page}");
    let d0 = sample::district_code(0);
    let (_, page) = city.get(&format!("/board/requests?district={d0}")).await;
    assert!(page.contains(&c.pupil.exam_no) && !page.contains(&c.direct_pupil.exam_no));
    // Its download holds what the page showed, in the page's columns.
    let sheet = city.download(&page).await;
    assert_eq!(sheet[0][..4], ["编号", "类别", "考生", "准考证号"]);
    let ids: Vec<&str> = sheet[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, [district.to_string()]);
    assert_eq!(sheet[1][3], c.pupil.exam_no);
    assert!(page.contains(&format!("data-id=\"{district}\"")));
    let (_, page) = city
        .get(&format!("/board/requests?q={}", c.direct_pupil.exam_no))
        .await;
    assert!(
        page.contains("共 1 件") && page.contains(&c.direct_pupil.exam_no),
        "{page}"
    );
    let (_, page) = city.get("/board/requests?state=completed").await;
    assert!(page.contains("没有符合条件的申请"), "{page}");
    assert_eq!(city.get("/board/requests?state=nonsense").await.0, 400);
    assert_eq!(city.get(&format!("/board/requests/{direct}")).await.0, 200);

    // Nobody gets in without Telegram's word for them, and a stranger sees nothing.
    let mut forger = Browser::new(&base);
    assert_eq!(
        forger.sign_in(c.officer.init_data(OTHER_BOT, now)).await,
        401
    );
    assert_eq!(
        forger.sign_in(c.officer.init_data(TOKEN, now - 7200)).await,
        401
    );
    assert_eq!(forger.sign_in("user=%7B%22id%22%3A1%7D".into()).await, 401);
    assert_eq!(forger.get("/board/requests").await.0, 401);
    assert_eq!(
        forger.get(&format!("/board/requests/{district}")).await.0,
        401
    );
    let mut passer_by = Browser::new(&base);
    assert_eq!(passer_by.sign_in(stranger.init_data(TOKEN, now)).await, 204);
    assert_eq!(passer_by.get("/board/requests").await.0, 403);
    assert_eq!(
        passer_by
            .get(&format!("/board/requests/{district}"))
            .await
            .0,
        403
    );
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_offers_the_board_as_a_mini_app_where_the_city_has_given_its_address() {
    let url = "https://bot.example.org/board";
    let c = cast_with(|config| config.telegram.board_url = Some(url.into())).await;
    let h = &c.h;
    file(h, &c.contact, &c.pupil.exam_no, "认为评分过严").await;
    c.officer.send("/status");
    h.expect(&c.officer, "未办结按环节").await;
    let status = h
        .fake
        .messages_to(c.officer.id)
        .into_iter()
        .rev()
        .find(|m| m.visible_text().contains("未办结按环节"))
        .unwrap();
    assert_eq!(
        status.web_apps(),
        vec![("🗂 打开本季看板".to_string(), url.to_string())]
    );
    // The officer's menu button opens it too; a school's contact keeps the commands menu.
    let (officer, contact) = (Some(c.officer.id), Some(c.contact.id));
    let set = h
        .fake
        .wait_until(h.patience, |f| {
            f.menu_button(officer).is_some() && f.menu_button(contact).is_some()
        })
        .await;
    assert!(set, "the menu buttons were never set");
    let button = h.fake.menu_button(officer).unwrap();
    assert_eq!(button["type"], "web_app", "{button}");
    assert_eq!(button["web_app"]["url"], url, "{button}");
    assert_eq!(h.fake.menu_button(contact).unwrap()["type"], "default");
    c.h.stop().await;
}
