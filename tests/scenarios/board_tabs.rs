//! The season board's other tabs, as the offices read them: 登分 on the exam days, each school's
//! score notice around the publication, and the charts. Each office sees its own part, as in
//! chat.

use crate::board::{Browser, TOKEN, serve_board};
use crate::cast::{cast_with, file};
use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::config::EntryMode;
use exam_review_bot::domain::Role;
use exam_review_bot::domain::deadline::countdown;
use exam_review_bot::sample;
use exam_review_bot::store::seasons;
use fake_telegram::{FakeUser, Fault};

fn unit_name(code: &str) -> String {
    sample::units(DISTRICTS, SCHOOLS)
        .into_iter()
        .find(|u| u.code == code)
        .map(|u| u.name)
        .unwrap()
}

/// A school of `district` (a 区县's, not the city's own).
fn school_in(district: &str) -> String {
    sample::units(DISTRICTS, SCHOOLS)
        .into_iter()
        .find(|u| u.kind == "学校" && !u.city_direct && u.parent == district)
        .map(|u| u.code)
        .unwrap()
}

async fn signed_in(h: &Harness, base: &str, who: &FakeUser) -> Browser {
    let mut browser = Browser::new(base);
    let now = h.app.clock.now().timestamp();
    assert_eq!(browser.sign_in(who.init_data(TOKEN, now)).await, 204);
    browser
}

/// The rows of a page's table that carry `attribute` (`data-batch`, `data-school`).
fn rows<'p>(page: &'p str, attribute: &str) -> Vec<&'p str> {
    page.split("<tr ")
        .filter(|row| row.starts_with(attribute))
        .collect()
}

/// The page at `path` once it shows what `shown` looks for. The board serves a read of the
/// season a few seconds old by design, and reads it again beside the calls: a change shows
/// within seconds, never at once.
pub(crate) async fn page_becomes(
    h: &Harness,
    browser: &Browser,
    path: &str,
    shown: impl Fn(&str) -> bool,
) -> String {
    let until = tokio::time::Instant::now() + h.patience;
    loop {
        let (_, page) = browser.get(path).await;
        if shown(&page) {
            return page;
        }
        assert!(tokio::time::Instant::now() < until, "never shown: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_exam_days_each_county_follows_its_own_half_days_and_their_cutoffs() {
    let mut h = Harness::start_with(|c| c.entry.mode = EntryMode::CountyBatches).await;
    h.clock.set(shanghai(2023, 4, 26, 12, 0));
    sample::load_city_before_exam(&h.app, h.dir(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
        .await
        .unwrap();
    let d0 = sample::district_code(0);
    let officer = h.join(Role::DistrictOfficer, &d0, "县区李").await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;
    let base = serve_board(&h).await;

    let (status, city) = signed_in(&h, &base, &admin).await.get("/board/entry").await;
    assert_eq!(status, 200, "{city}");
    let every = rows(&city, "data-batch");
    assert!(!every.is_empty(), "{city}");
    for d in 0..DISTRICTS {
        let name = unit_name(&sample::district_code(d));
        assert!(every.iter().any(|r| r.contains(&name)), "{name}: {city}");
    }
    // Nothing is entered yet: every batch waits, and says how long it has until 22:00.
    assert!(
        every
            .iter()
            .all(|r| r.contains("录入中") && r.contains("还剩"))
    );

    let (_, county) = signed_in(&h, &base, &officer)
        .await
        .get("/board/entry")
        .await;
    let own = rows(&county, "data-batch");
    let d0_name = unit_name(&d0);
    assert!(!own.is_empty() && own.len() < every.len(), "{county}");
    assert!(own.iter().all(|r| r.contains(&d0_name)), "{county}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn around_the_publication_each_schools_notice_is_followed_to_its_contacts() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let (d0, d1) = (sample::district_code(0), sample::district_code(1));
    let (near, far) = (school_in(&d0), school_in(&d1));
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;
    let officer = h.join(Role::DistrictOfficer, &d0, "县区李").await;
    let reached = h.join(Role::SchoolContact, &near, "一中 联系人").await;
    let blocked = h.join(Role::SchoolContact, &far, "二中 联系人").await;
    let base = serve_board(&h).await;
    let city = signed_in(&h, &base, &admin).await;

    // Before: the 2-day deadline counts down, and no school has its notice.
    let (status, page) = city.get("/board/notices").await;
    assert_eq!(status, 200, "{page}");
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = seasons::current(&mut conn, sample::CITY_CODE)
        .await
        .unwrap();
    drop(conn);
    let deadline = season.unwrap().publish_deadline;
    let left = countdown(h.app.clock.now(), deadline);
    assert!(page.contains(&left), "{left}: {page}");
    let schools = rows(&page, "data-school").len();
    assert!(schools >= 2, "{page}");
    assert!(
        rows(&page, "data-school")
            .iter()
            .all(|r| r.contains("未公布"))
    );

    // After: one contact has it, the other has blocked the bot, the rest have no contact.
    h.fake
        .inject(Some("sendDocument"), Some(blocked.id), 10, Fault::Blocked);
    h.app.publish(Actor::Cli, None).await.unwrap();
    h.expect(&reached, "成绩").await;
    h.settle().await;
    let (_, page) = city.get("/board/notices").await;
    assert!(page.contains("已于"), "{page}");
    let line = |page: &str, school: &str| -> String {
        rows(page, "data-school")
            .into_iter()
            .find(|r| r.contains(&format!("\"{school}\"")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line(&page, &near).contains("已送达"), "{page}");
    assert!(line(&page, &far).contains("无法送达"), "{page}");
    let others = rows(&page, "data-school");
    assert_eq!(
        others.iter().filter(|r| r.contains("无联系人")).count(),
        schools - 2,
        "{page}"
    );

    // The district's officer follows their district's schools only.
    let (_, page) = signed_in(&h, &base, &officer)
        .await
        .get("/board/notices")
        .await;
    assert!(line(&page, &near).contains("已送达"), "{page}");
    assert!(line(&page, &far).is_empty(), "{page}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_show_published_scores_per_district_and_each_levels_work_by_day() {
    let mut before = Harness::start().await;
    before.sample_city().await;
    let early = before
        .join(Role::CityAdmin, sample::CITY_CODE, "市管理员")
        .await;
    let base = serve_board(&before).await;
    let (status, page) = signed_in(&before, &base, &early)
        .await
        .get("/board/charts")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("成绩公布后显示"), "{page}");
    before.stop().await;

    let mut c = cast_with(|_| {}).await;
    let admin =
        c.h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员 钱")
            .await;
    let h = &c.h;
    file(h, &c.contact, &c.pupil.exam_no, "认为评分过严").await;
    let base = serve_board(h).await;

    let (_, page) = signed_in(h, &base, &admin).await.get("/board/charts").await;
    let bars = |page: &str| -> Vec<String> {
        page.split("<text class=\"label\"")
            .skip(1)
            .map(|t| {
                t.split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (scores, work) = page.split_once("id=\"work\"").unwrap();
    let mut districts: Vec<String> = (0..DISTRICTS)
        .map(|d| unit_name(&sample::district_code(d)))
        .collect();
    districts.push("市直".into());
    districts.sort();
    let mut drawn = bars(scores);
    drawn.sort();
    assert_eq!(drawn, districts, "{page}");
    assert!(work.contains("提交：1"), "{page}");

    let (_, page) = signed_in(h, &base, &c.officer)
        .await
        .get("/board/charts")
        .await;
    let (scores, _) = page.split_once("id=\"work\"").unwrap();
    assert_eq!(
        bars(scores),
        [unit_name(&sample::district_code(0))],
        "{page}"
    );
    c.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_window_counts_down_and_what_it_leaves_open_is_flagged_district_by_district() {
    let mut c = cast_with(|_| {}).await;
    let admin =
        c.h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员 钱")
            .await;
    let h = &c.h;
    let district = file(h, &c.contact, &c.pupil.exam_no, "认为评分过严").await;
    file(h, &c.direct_contact, &c.direct_pupil.exam_no, "主实验漏评").await;
    let base = serve_board(h).await;
    let city = signed_in(h, &base, &admin).await;

    let (_, page) = city.get("/board/requests").await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = seasons::current(&mut conn, sample::CITY_CODE)
        .await
        .unwrap();
    drop(conn);
    let closes = season.unwrap().review_deadline.unwrap();
    let left = countdown(h.app.clock.now(), closes);
    assert!(
        page.contains("复核期截止") && page.contains(&left),
        "{page}"
    );
    // Each district's part: one open request each, none sent up yet, nothing overdue.
    let districts: Vec<&str> = page
        .split("<tr class=\"district\">")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap())
        .collect();
    let d0 = unit_name(&sample::district_code(0));
    assert_eq!(
        districts,
        [
            format!("<td>{d0}</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td>"),
            "<td>市直</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td>".to_string(),
        ],
        "{page}"
    );
    assert!(!page.contains("已逾期"), "{page}");

    // The window closes with both still at their schools: each is 逾期, and says so.
    let after = closes + chrono::Duration::minutes(1);
    h.clock.set(after);
    h.sweep(after).await;
    // Days later: the session of the morning has ended, the page is opened again.
    assert_eq!(city.get("/board/requests").await.0, 401);
    let city = signed_in(h, &base, &admin).await;
    let flagged = |page: &str| {
        page.matches("<strong class=\"late\">已逾期</strong>")
            .count()
    };
    let page = page_becomes(h, &city, "/board/requests", |p| flagged(p) == 2).await;
    assert!(page.contains(&format!("data-id=\"{district}\"")), "{page}");
    assert!(page.contains("已超时"), "{page}");
    c.h.stop().await;
}
