//! The season board: web pages, served on the bot's own HTTP listener, that a person opens from
//! a button in the chat (a Telegram Mini App). The messenger vouches for who opened it (`SignIn`);
//! a signed cookie carries that for a while (`session`); what they see is the permission model's
//! answer, as in chat (`app::board`). Everything the pages need is served here, under a strict
//! Content-Security-Policy: no script, style or font from anywhere else.

mod chart;
mod page;
pub mod session;

use crate::app::App;
use crate::app::board::charts::Charts;
use crate::app::board::notices::Notices;
use crate::app::board::{Board, Detail, Filter, Row, Sort, Window};
use crate::domain::review::State;
use crate::domain::workflow::Purpose;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use page::Pages;
pub use session::SessionKey;
use std::collections::HashMap;
use std::sync::Arc;

/// Who a messenger vouches for: the person's messenger id, when `proof` (Telegram's `initData`)
/// is the messenger's and fresh.
pub trait SignIn: Send + Sync + 'static {
    fn person(&self, proof: &str, now: DateTime<Utc>) -> Option<i64>;
}

/// The most a sign-in's proof may weigh.
const PROOF_MAX: usize = 8 * 1024;

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'self' https://web.telegram.org";

#[derive(Clone)]
struct Served {
    app: App,
    sign_in: Arc<dyn SignIn>,
    key: SessionKey,
    pages: Arc<Pages>,
}

/// A person's board as it stands, each tab a page of its own (its style inlined, without
/// script) to open in any browser, named by its path under `/board/`; the tabs link to each
/// other's files through `file_of`. Empty when it would show them no request.
pub async fn snapshot(
    app: &App,
    person: i64,
    file_of: impl Fn(&str) -> String,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let filter = Filter::default();
    let pages = Pages::new();
    let requests = match app.season_board(person, &filter).await? {
        Board::Rows {
            year,
            rows,
            seen,
            window,
        } if !seen.is_empty() => pages.requests(year, &filter, 0, &rows, &seen, &window)?,
        _ => return Ok(Vec::new()),
    };
    let mut tabs = vec![("requests", requests)];
    let batches = app.entry_progress(person).await?;
    if !batches.is_empty() {
        let tz = app.display_tz().await?;
        tabs.push(("entry", pages.entry(&batches, app.clock.now(), tz)?));
    }
    if let Notices::Shown(board) = app.season_notices(person).await?
        && !board.lines.is_empty()
    {
        tabs.push(("notices", pages.notices(&board)?));
    }
    if let Charts::Shown { year, scores, work } = app.season_charts(person).await? {
        tabs.push(("charts", pages.charts(year, scores.as_ref(), &work)?));
    }
    Ok(tabs
        .into_iter()
        .map(|(tab, page)| (tab, page::standalone(&page, &file_of)))
        .collect())
}

/// The board's routes, under `/board`.
pub fn routes(app: App, sign_in: Arc<dyn SignIn>, key: SessionKey) -> Router {
    let served = Served {
        app,
        sign_in,
        key,
        pages: Arc::new(Pages::new()),
    };
    Router::new()
        .route("/board", get(front))
        .route("/board/session", post(session))
        .route("/board/requests", get(requests))
        .route("/board/requests.xlsx", get(download))
        .route("/board/requests/{id}", get(detail))
        .route("/board/entry", get(entry))
        .route("/board/notices", get(notices))
        .route("/board/charts", get(charts))
        .route(
            "/board/board.css",
            get(|| async { asset("text/css", page::CSS) }),
        )
        .route(
            "/board/board.js",
            get(|| async { asset("text/javascript", page::JS) }),
        )
        .layer(DefaultBodyLimit::max(PROOF_MAX))
        .layer(axum::middleware::map_response(guarded))
        .with_state(served)
}

/// Every answer of the board: its policy, and kept out of caches and referrers.
async fn guarded(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

impl Served {
    /// The person whose session cookie this request carries.
    fn person(&self, headers: &HeaderMap) -> Option<i64> {
        let now = self.app.clock.now();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == session::COOKIE)
            .find_map(|(_, value)| self.key.person(value, now))
    }

    fn refused(&self, status: StatusCode) -> Response {
        let (heading, why) = match status {
            StatusCode::UNAUTHORIZED => ("未登录", "请从 Telegram 中的按钮打开看板。"),
            StatusCode::FORBIDDEN => ("无权查看", "您的身份不能查看这项内容。"),
            StatusCode::NOT_FOUND => ("没有找到", "没有这项内容。"),
            StatusCode::BAD_REQUEST => ("无法识别", "筛选条件无法识别。"),
            _ => ("出错了", "看板暂时无法显示，请稍后再试。"),
        };
        html(status, self.pages.refused(heading, why))
    }

    fn failed(&self, e: anyhow::Error) -> Response {
        tracing::error!(error = format!("{e:#}"), "the board could not answer");
        self.refused(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

async fn front(Shared(s): Shared<Served>, headers: HeaderMap) -> Response {
    match s.person(&headers) {
        Some(_) => Redirect::to("/board/requests").into_response(),
        None => html(StatusCode::OK, s.pages.sign_in()),
    }
}

async fn session(Shared(s): Shared<Served>, proof: Bytes) -> Response {
    let now = s.app.clock.now();
    let person = std::str::from_utf8(&proof)
        .ok()
        .and_then(|proof| s.sign_in.person(proof.trim(), now));
    match person {
        Some(person) => (
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, s.key.set_cookie(person, now))],
        )
            .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// The page's filters from its address; None when one of them is not a value the page offers.
fn filter(query: &HashMap<String, String>) -> Option<Filter> {
    let given = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Some(Filter {
        purpose: match given("purpose") {
            Some(p) => Some(Purpose::from_kind(&p)?),
            None => None,
        },
        district: given("district"),
        school: given("school"),
        state: match given("state") {
            Some(s) => Some(State::parse(&s)?),
            None => None,
        },
        level: given("level"),
        query: given("q"),
        sort: match given("sort") {
            Some(s) => Sort::parse(&s)?,
            None => Sort::default(),
        },
    })
}

/// A person's requests under a view's filters.
struct Listing {
    filter: Filter,
    year: i32,
    rows: Vec<Row>,
    seen: Vec<Row>,
    window: Window,
}

/// The signed-in person's board under the filters of the address, or the answer that refuses
/// it.
async fn listing(
    s: &Served,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Listing, Response> {
    let Some(person) = s.person(headers) else {
        return Err(s.refused(StatusCode::UNAUTHORIZED));
    };
    let Some(filter) = filter(query) else {
        return Err(s.refused(StatusCode::BAD_REQUEST));
    };
    match s.app.season_board(person, &filter).await {
        Ok(Board::NotBound) => Err(s.refused(StatusCode::FORBIDDEN)),
        Ok(Board::NoSeason) => Err(html(StatusCode::OK, s.pages.no_season())),
        Ok(Board::Rows {
            year,
            rows,
            seen,
            window,
        }) => Ok(Listing {
            filter,
            year,
            rows,
            seen,
            window,
        }),
        Err(e) => Err(s.failed(e)),
    }
}

async fn requests(
    Shared(s): Shared<Served>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let l = match listing(&s, &headers, &query).await {
        Ok(listed) => listed,
        Err(refused) => return refused,
    };
    let page = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    match s
        .pages
        .requests(l.year, &l.filter, page, &l.rows, &l.seen, &l.window)
    {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => s.failed(e),
    }
}

/// "Download this view": the rows the page shows, in its columns, as .xlsx.
async fn download(
    Shared(s): Shared<Served>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (year, rows) = match listing(&s, &headers, &query).await {
        Ok(listed) => (listed.year, listed.rows),
        Err(refused) => return refused,
    };
    let lines: Vec<Vec<String>> = rows.iter().map(page::cells).collect();
    match crate::export::board::workbook("复核与免考", &page::COLUMNS, &lines) {
        Ok(book) => {
            let name = format!("attachment; filename=\"season-board-{year}.xlsx\"");
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_string(),
                    ),
                    (header::CONTENT_DISPOSITION, name),
                ],
                book,
            )
                .into_response()
        }
        Err(e) => s.failed(e),
    }
}

async fn detail(Shared(s): Shared<Served>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(person) = s.person(&headers) else {
        return s.refused(StatusCode::UNAUTHORIZED);
    };
    let Ok(id) = id.parse::<i64>() else {
        return s.refused(StatusCode::NOT_FOUND);
    };
    match s.app.season_board_request(person, id).await {
        Ok(Detail::Shown(text)) => html(StatusCode::OK, s.pages.detail(id, &text)),
        Ok(Detail::Denied) => s.refused(StatusCode::FORBIDDEN),
        Ok(Detail::Missing) => s.refused(StatusCode::NOT_FOUND),
        Err(e) => s.failed(e),
    }
}

/// The 登分 tab.
async fn entry(Shared(s): Shared<Served>, headers: HeaderMap) -> Response {
    let Some(person) = s.person(&headers) else {
        return s.refused(StatusCode::UNAUTHORIZED);
    };
    let tab = async {
        if !s.app.is_bound(person).await? {
            return Ok(Tab::NotBound);
        }
        let lines = s.app.entry_progress(person).await?;
        let tz = s.app.display_tz().await?;
        Ok(Tab::Page(s.pages.entry(&lines, s.app.clock.now(), tz)))
    };
    s.tab(tab.await)
}

/// The 公布 tab.
async fn notices(Shared(s): Shared<Served>, headers: HeaderMap) -> Response {
    let Some(person) = s.person(&headers) else {
        return s.refused(StatusCode::UNAUTHORIZED);
    };
    let tab = s.app.season_notices(person).await.map(|n| match n {
        Notices::NotBound => Tab::NotBound,
        Notices::NoSeason => Tab::NoSeason,
        Notices::Shown(board) => Tab::Page(s.pages.notices(&board)),
    });
    s.tab(tab)
}

/// The charts tab.
async fn charts(Shared(s): Shared<Served>, headers: HeaderMap) -> Response {
    let Some(person) = s.person(&headers) else {
        return s.refused(StatusCode::UNAUTHORIZED);
    };
    let tab = s.app.season_charts(person).await.map(|c| match c {
        Charts::NotBound => Tab::NotBound,
        Charts::NoSeason => Tab::NoSeason,
        Charts::Shown { year, scores, work } => {
            Tab::Page(s.pages.charts(year, scores.as_ref(), &work))
        }
    });
    s.tab(tab)
}

/// What a tab answers a signed-in person.
enum Tab {
    Page(anyhow::Result<String>),
    /// Bound to nothing: nothing to see.
    NotBound,
    NoSeason,
}

impl Served {
    fn tab(&self, tab: anyhow::Result<Tab>) -> Response {
        match tab {
            Ok(Tab::Page(Ok(body))) => html(StatusCode::OK, body),
            Ok(Tab::NotBound) => self.refused(StatusCode::FORBIDDEN),
            Ok(Tab::NoSeason) => html(StatusCode::OK, self.pages.no_season()),
            Ok(Tab::Page(Err(e))) | Err(e) => self.failed(e),
        }
    }
}
