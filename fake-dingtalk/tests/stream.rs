//! Stream mode as the bot's adapter meets it: frames pushed until acknowledged, again on a new
//! connection or after the acknowledgement time-out, pings, a replaced, dropped or
//! disconnected connection.

mod common;

use common::{Api, LIMIT, Read, Stream};
use fake_dingtalk::{FakeDingTalk, MESSAGE_TOPIC};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn an_unacknowledged_frame_comes_again_on_the_next_connection_and_never_after_its_ack() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    let teacher = fake.user("s001", "张老师");
    let mut first = Stream::open(&api).await;
    let sent_id = teacher.send("/start 1234");

    let frame = first.callback(LIMIT).await.expect("the message is pushed");
    assert_eq!(frame.topic, MESSAGE_TOPIC);
    assert_eq!(frame.message_id, sent_id);
    assert_eq!(frame.data["text"]["content"], "/start 1234");
    assert_eq!(frame.data["senderStaffId"], "s001");
    assert_eq!(frame.data["senderNick"], "张老师");
    assert_eq!(frame.data["conversationType"], "1");
    assert_eq!(frame.data["robotCode"], fake_dingtalk::CLIENT_ID);
    assert_eq!(fake.pending_frames(), 1);

    // Not acknowledged: the next connection (which replaces this one) gets it again.
    let mut second = Stream::open(&api).await;
    let again = second.callback(LIMIT).await.expect("pushed again");
    assert_eq!(again.message_id, frame.message_id);
    assert_eq!(again.data, frame.data);
    assert!(
        matches!(first.read(LIMIT).await, Read::Closed),
        "the older one is closed"
    );
    assert_eq!(fake.pushes_of(&sent_id), 2);
    assert_eq!(fake.redelivered(), 1);
    assert_eq!(fake.connections_opened(), 2);

    second.ack(&again).await;
    assert!(fake.wait_until(LIMIT, |f| f.pending_frames() == 0).await);
    assert_eq!(fake.acked(), 1);
    let mut third = Stream::open(&api).await;
    assert!(third.callback(Duration::from_millis(300)).await.is_none());
    assert_eq!(fake.pushes_of(&sent_id), 2);
}

#[tokio::test]
async fn a_frame_unacknowledged_past_the_time_out_is_pushed_again_on_the_same_connection() {
    let fake = FakeDingTalk::start().await.unwrap();
    fake.ack_timeout(Duration::from_millis(100));
    let api = Api::new(&fake);
    let mut stream = Stream::open(&api).await;
    fake.user("s002", "李老师").send("你好");
    let frame = stream.callback(LIMIT).await.unwrap();
    let again = stream.callback(LIMIT).await.unwrap();
    assert_eq!(again.message_id, frame.message_id);
    stream.ack(&again).await;
    assert!(fake.wait_until(LIMIT, |f| f.acked() == 1).await);
    assert_eq!(fake.pending_frames(), 0);
    assert!(fake.redelivered() >= 1);
}

#[tokio::test]
async fn a_ticket_opens_one_connection_and_a_wrong_secret_none() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    let (status, answer) = api
        .post(
            "/v1.0/gateway/connections/open",
            None,
            json!({"clientId": fake_dingtalk::CLIENT_ID, "clientSecret": "wrong",
                   "subscriptions": [], "ua": "t"}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(answer["code"], "InvalidAuthentication");

    let (_, answer) = api
        .post(
            "/v1.0/gateway/connections/open",
            None,
            json!({"clientId": fake_dingtalk::CLIENT_ID,
                   "clientSecret": fake_dingtalk::CLIENT_SECRET, "subscriptions": [], "ua": "t"}),
        )
        .await;
    let url = format!(
        "{}?ticket={}",
        answer["endpoint"].as_str().unwrap(),
        answer["ticket"].as_str().unwrap()
    );
    assert!(url.starts_with("ws://127.0.0.1:"));
    assert!(tokio_tungstenite::connect_async(url.as_str()).await.is_ok());
    assert!(
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err(),
        "used already"
    );
}

#[tokio::test]
async fn pings_come_and_are_acknowledged_with_their_own_data() {
    let fake = FakeDingTalk::start().await.unwrap();
    fake.ping_every(Duration::from_millis(50));
    let api = Api::new(&fake);
    let mut stream = Stream::open(&api).await;
    let Read::Frame(ping) = stream.read(LIMIT).await else {
        panic!("a ping")
    };
    assert_eq!(
        (ping.kind.as_str(), ping.topic.as_str()),
        ("SYSTEM", "ping")
    );
    assert!(ping.data["opaque"].is_string());
    stream.ack(&ping).await;
    assert!(fake.wait_until(LIMIT, |f| f.pings_acked() == 1).await);
}

#[tokio::test]
async fn a_dropped_connection_ends_without_a_close_frame_and_a_disconnect_warns_first() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    let mut stream = Stream::open(&api).await;
    assert!(fake.wait_until(LIMIT, |f| f.live_connection()).await);
    fake.drop_connection();
    assert!(!fake.live_connection());
    assert!(matches!(stream.read(LIMIT).await, Read::Dropped));

    let mut stream = Stream::open(&api).await;
    assert!(fake.wait_until(LIMIT, |f| f.live_connection()).await);
    fake.send_disconnect();
    let Read::Frame(warning) = stream.read(LIMIT).await else {
        panic!("a disconnect frame")
    };
    assert_eq!(
        (warning.kind.as_str(), warning.topic.as_str()),
        ("SYSTEM", "disconnect")
    );
    // Nothing more is pushed on a connection that is closing.
    fake.user("s003", "王老师").send("还在吗");
    assert!(matches!(stream.read(LIMIT).await, Read::Closed));
    assert!(fake.wait_until(LIMIT, |f| !f.live_connection()).await);
    assert_eq!(fake.pending_frames(), 1);
}

#[tokio::test]
async fn chaos_drops_the_connection_regularly() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    let mut stream = Stream::open(&api).await;
    assert!(fake.wait_until(LIMIT, |f| f.live_connection()).await);
    fake.chaos(Some(fake_dingtalk::Chaos {
        seed: 1,
        fault_rate: 0.0,
        drop_every: Some(Duration::from_millis(50)),
    }));
    assert!(matches!(stream.read(LIMIT).await, Read::Dropped));
    assert_eq!(fake.chaos_counts().drops, 1);
    fake.chaos(None);
}
