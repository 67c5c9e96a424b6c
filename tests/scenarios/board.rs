//! The season board's sign-in: the person a Telegram client vouches for, and nobody else.

use chrono::{DateTime, Duration, Utc};
use exam_review_bot::telegram::init_data::{Refused, check};
use fake_telegram::FakeTelegram;

const TOKEN: &str = "123456:board-test-token";
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
