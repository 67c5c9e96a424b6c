//! A province with a bot per large city: Telegram's 30 messages a second are a bot's,
//! so a province gives its large cities a bot each, all on one deployment and one database.
//! A city's invite links name its bot, its people talk to that bot, and everything they are
//! sent comes through it, never through another city's bot.

use crate::cities::{B_CITY, b_code, two_cities};
use crate::support::*;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_telegram::{BOT_USERNAME, FakeTelegram, FakeUser};
use std::time::Duration;
use tokio::sync::watch;

const B_BOT: &str = "LvshuiExamBot";
const PATIENCE: Duration = Duration::from_secs(30);

/// City B's own bot: a Telegram of its own (the fake), its own token, the same app and database.
struct CityBot {
    fake: FakeTelegram,
    stop: watch::Sender<bool>,
    runner: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl CityBot {
    fn start(app: &App, fake: FakeTelegram) -> CityBot {
        let bot = exam_review_bot::telegram::build_bot(
            app,
            "456:city-b-token",
            Some(fake.api_url().parse().unwrap()),
        );
        let (stop, stop_rx) = watch::channel(false);
        let runner = tokio::spawn(exam_review_bot::telegram::run(app.clone(), bot, stop_rx));
        CityBot { fake, stop, runner }
    }

    async fn expect(&self, user: &FakeUser, needle: &str) -> String {
        self.fake
            .expect(user.id, needle, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Someone of city B follows their invite link to B's bot.
    async fn join(&self, h: &Harness, id: i64, role: Role, unit: &str, name: &str) -> FakeUser {
        let link = h.app.invite(role, unit, name, None).await.unwrap();
        assert!(
            link.starts_with(&format!("https://t.me/{B_BOT}?start=")),
            "{link}"
        );
        let user = self.fake.user(id, name);
        user.send(&format!("/start {}", link.rsplit('=').next().unwrap()));
        self.expect(&user, "绑定成功").await;
        user
    }
}

/// The chats a bot called, for sends, edits and menus.
fn chats_called(fake: &FakeTelegram) -> Vec<i64> {
    fake.calls().iter().filter_map(|c| c.chat_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_with_its_own_bot_hears_everything_through_it() {
    let mut h = Harness::start_with(|c| {
        c.cities.entry(B_CITY.into()).or_default().bot_username = Some(B_BOT.into());
    })
    .await;
    let (a, b) = two_cities(&h).await;
    let fake_b = FakeTelegram::start().await.unwrap();
    fake_b.named(B_BOT);
    let city_b = CityBot::start(&h.app, fake_b);

    // City A's people join the deployment's bot; its links name that bot.
    let link = h
        .app
        .invite(
            Role::SchoolContact,
            &sample::school_code(1),
            "甲校 联系人",
            None,
        )
        .await
        .unwrap();
    assert!(link.contains(&format!("t.me/{BOT_USERNAME}?")), "{link}");
    let admin_a = h
        .join(Role::CityAdmin, sample::CITY_CODE, "甲市 周主任")
        .await;
    let contact_a = h
        .join(Role::SchoolContact, &sample::school_code(0), "甲校 联系人")
        .await;
    // City B's join B's bot.
    let school_b = b_code(&sample::school_code(0));
    let admin_b = city_b
        .join(&h, 9_001, Role::CityAdmin, B_CITY, "乙市 钱主任")
        .await;
    let contact_b = city_b
        .join(&h, 9_002, Role::SchoolContact, &school_b, "乙校 联系人")
        .await;

    // Each city publishes; each school's notice comes through its city's bot.
    a.publish(Actor::Cli, None).await.unwrap();
    b.publish(Actor::Cli, None).await.unwrap();
    h.settle().await;
    h.expect(&contact_a, "成绩通知").await;
    city_b.expect(&contact_b, "成绩通知").await;

    // B's contact files through B's bot; B's principal is not bound, so B's admin hears of
    // it there.
    let exam_no = {
        let season = b.cli_season().await.unwrap().unwrap();
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        exam_review_bot::store::candidates::of_school(&mut conn, season.id, &school_b)
            .await
            .unwrap()[0]
            .exam_no
            .clone()
    };
    crate::cast::file_through(&city_b.fake, PATIENCE, &contact_b, &exam_no, "漏评").await;
    city_b.expect(&admin_b, "申请 #").await;
    // The command menus of B's people were set by B's bot.
    assert!(city_b.fake.menu(Some(contact_b.id)).is_some());
    assert!(h.fake.menu(Some(contact_b.id)).is_none());
    h.settle().await;

    // Nothing for B's people went through the deployment's bot, and nothing for A's through
    // B's bot; each bot kept its own limits.
    let through_a = chats_called(&h.fake);
    let through_b = chats_called(&city_b.fake);
    for person in [&admin_b, &contact_b] {
        assert!(
            !through_a.contains(&person.id),
            "the deployment's bot called a chat of city B's bot"
        );
    }
    for person in [&admin_a, &contact_a] {
        assert!(
            !through_b.contains(&person.id),
            "city B's bot called a chat of the deployment's bot"
        );
    }
    // Counted on delivery's clock, as each bot paced its sends.
    for fake in [&h.fake, &city_b.fake] {
        let over = fake.over_limits_at_scale(h.app.pace.scale());
        assert_eq!((over.overall, over.per_chat), (0, 0));
    }
    city_b.stop.send(true).ok();
    city_b.runner.await.unwrap().unwrap();
}

/// Someone bound before the deployment had several bots has written to none since: only the
/// deployment's own bot may write to them (a city's bot they never started would be refused,
/// and the chat marked unreachable). Once they write to a bot, that bot is theirs, and an edit
/// goes out through the bot that sent the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_never_heard_from_is_written_to_by_the_deployments_bot_only() {
    use exam_review_bot::store::chat_bots::BotScope;
    use exam_review_bot::store::outbox::{self, Outgoing};
    let db = TestDb::new().await;
    let app = App::new(
        exam_review_bot::store::Db::open(&db.url).await.unwrap(),
        test_config(&db.url),
        std::sync::Arc::new(exam_review_bot::clock::SystemClock),
    )
    .unwrap();
    let deployment = BotScope::deployment(123);
    let city = BotScope {
        bot_id: 456,
        unrouted: false,
    };
    let now = chrono::Utc::now();
    let notice = |chat| Outgoing {
        chat_id: chat,
        body: "通知".into(),
        ..Outgoing::default()
    };
    let mut conn = app.db.pool.acquire().await.unwrap();
    let first = outbox::enqueue_returning(&mut conn, &notice(7001), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heads(&app, deployment).await, vec![(7001, first)]);
    assert!(heads(&app, city).await.is_empty());

    // The deployment's bot sends it, and the row says so: its edit goes through that bot even
    // after the person moved to the city's bot.
    outbox::mark_sent(&mut conn, first, 55, 123, now)
        .await
        .unwrap();
    drop(conn);
    app.talks_through(7001, 456).await.unwrap();
    let mut conn = app.db.pool.acquire().await.unwrap();
    outbox::edit(&mut conn, first, "已更新", now).await.unwrap();
    let second = outbox::enqueue_returning(&mut conn, &notice(7001), now)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let edit_and_notice: Vec<i64> = {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let rows: Vec<(i64, Option<i64>)> =
            sqlx::query_as("SELECT id, bot_id FROM outbox WHERE id > $1 ORDER BY id")
                .bind(first)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(
            rows[0].1,
            Some(123),
            "the edit goes through the bot that sent the original"
        );
        assert_eq!(
            rows[1],
            (second, Some(456)),
            "the new notice through the city's bot"
        );
        rows.iter().map(|(id, _)| *id).collect()
    };
    // Each bot's chat with the person keeps its own order.
    assert_eq!(
        heads(&app, deployment).await,
        vec![(7001, edit_and_notice[0])]
    );
    assert_eq!(heads(&app, city).await, vec![(7001, second)]);
}

/// The chats' oldest due rows a bot's instances would take now: (chat, row).
async fn heads(app: &App, scope: exam_review_bot::store::chat_bots::BotScope) -> Vec<(i64, i64)> {
    let mut conn = app.db.pool.acquire().await.unwrap();
    exam_review_bot::store::outbox::due_heads(&mut conn, chrono::Utc::now(), 10, scope)
        .await
        .unwrap()
}
