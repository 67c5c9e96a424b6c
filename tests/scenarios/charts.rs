//! Pictures where people would rather look: at publication a district's officers and the city's
//! admins get the score distribution as a bar chart and as a workbook with a native Excel
//! chart; /status offers the open requests per level as a chart.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_telegram::FakeUser;

/// The documents sent to `user`, by name.
fn documents(h: &Harness, user: &FakeUser) -> Vec<(String, Vec<u8>)> {
    h.fake
        .messages_to(user.id)
        .into_iter()
        .filter_map(|m| m.document)
        .collect()
}

/// A PNG's width and height.
fn size(png_bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_and_the_city_get_the_distribution_as_a_picture_and_an_excel_chart() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    let officer = h
        .join(Role::DistrictOfficer, &sample::district_code(0), "县区李")
        .await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    h.expect(&officer, "成绩已公布").await;
    h.expect(&admin, "成绩公布报告").await;
    h.settle().await;
    for user in [&officer, &admin] {
        let docs = documents(&h, user);
        let png = docs
            .iter()
            .find(|(n, _)| n.ends_with(".png"))
            .expect("a picture");
        assert_eq!(size(&png.1), (640, 360), "{}", png.0);
        let book = docs
            .iter()
            .find(|(n, _)| n.ends_with(".xlsx"))
            .expect("a workbook");
        assert_eq!(
            crate::onboarding::parts(&book.1, "xl/charts/chart"),
            1,
            "{} holds a native chart",
            book.0
        );
        assert!(book.0.contains("成绩分布"), "{}", book.0);
    }

    // The board offers its open requests per level as a chart.
    let pupil = h.school_candidates(&sample::school_code(0)).await.remove(0);
    filed_by_user_1(&h, &pupil).await;
    officer.send("/status");
    h.expect(&officer, "未办结按环节").await;
    officer.press("📊 进度图");
    h.expect(&officer, "按环节").await;
    h.settle().await;
    let docs = documents(&h, &officer);
    let chart = docs
        .iter()
        .find(|(n, _)| n == "审核进度.png")
        .expect("the chart");
    assert_eq!(size(&chart.1), (640, 360));
    h.stop().await;
}
