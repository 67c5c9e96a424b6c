//! The OpenAPI calls as the bot's adapter makes them: tokens, cards sent, updated and pressed,
//! files both ways, the people DingTalk does not reach, faults, chaos and limits.

mod common;

use common::{Api, LIMIT, Stream, card};
use fake_dingtalk::{
    Action, CARD_TOPIC, CLIENT_ID, Chaos, FakeDingTalk, Fault, Kind, NOTICE_SEPARATOR,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CARD_SEND: &str = "/v1.0/im/v1.0/robot/interactiveCards/send";
const CARD_UPDATE: &str = "/v1.0/im/robots/interactiveCards";
const BATCH_SEND: &str = "/v1.0/robot/oToMessages/batchSend";

#[tokio::test]
async fn an_expired_token_is_refused_and_a_new_one_works() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    fake.user("s001", "张老师");
    let token = api.token().await;
    let (status, _) = api.send_card(&token, "s001", "c1", "一", &[]).await;
    assert_eq!(status, 200);

    fake.expire_tokens();
    let (status, answer) = api.send_card(&token, "s001", "c2", "二", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(answer["code"], "InvalidAuthentication");
    assert_eq!(answer["message"], "不合法的access_token");
    assert!(answer["requestid"].is_string());
    let (status, _) = api.send_card("", "s001", "c2", "二", &[]).await;
    assert_eq!(status, 401);

    let token = api.token().await;
    let (status, _) = api.send_card(&token, "s001", "c2", "二", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(fake.count_to("s001"), 2);
    assert_eq!(fake.tokens_issued(), 2);

    let (status, answer) = api
        .post(
            "/v1.0/oauth2/accessToken",
            None,
            json!({"appKey": CLIENT_ID, "appSecret": "x"}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("InvalidAuthentication"))
    );
}

#[tokio::test]
async fn a_card_is_sent_updated_and_pressed() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    let teacher = fake.user("s001", "张老师");
    let token = api.token().await;
    let mut stream = Stream::open(&api).await;

    let text = format!("## 一中 的申请\n**待审核**{NOTICE_SEPARATOR}第二条通知");
    let (status, answer) = api
        .send_card(
            &token,
            "s001",
            "card-1",
            &text,
            &[("批准", "ap:1"), ("退回", "rt:1")],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["processQueryKey"].is_string());
    let sent = fake.message("card-1").unwrap();
    assert_eq!(
        (sent.kind, sent.title.as_str()),
        (Kind::Card, "## 一中 的申请")
    );
    assert_eq!(sent.buttons[0].action, Action::Request("ap:1".into()));
    assert_eq!(
        fake.expect("s001", "一中 的申请", LIMIT).await.unwrap(),
        "一中 的申请\n待审核"
    );
    assert_eq!(
        fake.expect("s001", "通知", LIMIT).await.unwrap(),
        "第二条通知"
    );

    let (status, answer) = api.send_card(&token, "s001", "card-1", "again", &[]).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalidParameter.cardBizId.duplicate"))
    );

    teacher.press("批准");
    let pressed = stream.callback(LIMIT).await.unwrap();
    assert_eq!(pressed.topic, CARD_TOPIC);
    assert_eq!(pressed.data["outTrackId"], "card-1");
    assert_eq!(pressed.data["userId"], "s001");
    assert_eq!(pressed.data["type"], "actionCallback");
    let content: Value = serde_json::from_str(pressed.data["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["cardPrivateData"]["actionIds"], json!(["ap:1"]));
    assert_eq!(pressed.data["value"], pressed.data["content"]);
    stream.ack(&pressed).await;

    let update = json!({"cardBizId": "card-1", "cardData": card("已批准", &[]).to_string()});
    let (status, answer) = api
        .call(Method::PUT, CARD_UPDATE, Some(&token), update)
        .await;
    assert_eq!((status, &answer), (200, &json!({"success": true})));
    let sent = fake.message("card-1").unwrap();
    assert_eq!((sent.markdown.as_str(), sent.updates), ("已批准", 1));
    assert!(sent.buttons().is_empty());
    assert!(
        fake.transcript("s001").contains("→ 张老师: [批准]"),
        "{}",
        fake.transcript("s001")
    );
    assert!(fake.transcript("s001").contains("(更新 1 次)"));

    let unknown = json!({"cardBizId": "nope", "cardData": card("x", &[]).to_string()});
    let (status, answer) = api
        .call(Method::PUT, CARD_UPDATE, Some(&token), unknown)
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalidParameter.cardBizId.notFound"))
    );
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.path == CARD_UPDATE && c.status == 400)
    );
}

#[tokio::test]
async fn people_dingtalk_does_not_reach_are_told_apart() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    fake.user("s001", "张老师");
    fake.user("s002", "李老师");
    fake.block("s002");
    let token = api.token().await;
    for staff in ["s002", "nobody"] {
        let (status, answer) = api
            .send_card(&token, staff, &format!("c-{staff}"), "x", &[])
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("invalidParameter.userId.notFound"))
        );
    }
    let text = json!({"content": "你好"}).to_string();
    let body = json!({"robotCode": CLIENT_ID, "userIds": ["s001", "s002", "nobody"],
                      "msgKey": "sampleText", "msgParam": text});
    let (status, answer) = api.post(BATCH_SEND, Some(&token), body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["invalidStaffIdList"], json!(["s002", "nobody"]));
    assert_eq!(answer["flowControlledStaffIdList"], json!([]));
    let sent = fake.messages_to("s001");
    assert_eq!(
        (sent[0].kind, sent[0].visible_text().as_str()),
        (Kind::Text, "你好")
    );
}

#[tokio::test]
async fn a_file_goes_out_by_upload_and_batch_send() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    fake.user("s001", "张老师");
    let token = api.token().await;
    let uploaded = api.upload(&token, "一中.xlsx", b"PK\x03\x04sheet").await;
    assert_eq!(uploaded["errcode"], 0);
    let media_id = uploaded["media_id"].as_str().unwrap();
    assert!(media_id.starts_with("@lA"));
    let param = json!({"mediaId": media_id, "fileName": "一中.xlsx", "fileType": "xlsx"});
    let body = json!({"robotCode": CLIENT_ID, "userIds": ["s001"], "msgKey": "sampleFile",
                      "msgParam": param.to_string()});
    let (status, answer) = api.post(BATCH_SEND, Some(&token), body).await;
    assert_eq!(status, 200, "{answer}");
    let sent = fake.messages_to("s001").pop().unwrap();
    assert_eq!(sent.kind, Kind::File);
    assert_eq!(
        sent.file,
        Some(("一中.xlsx".to_string(), b"PK\x03\x04sheet".to_vec()))
    );

    let expired = api.upload("wrong", "a.csv", b"a").await;
    assert_eq!(expired["errcode"], 40014);
}

#[tokio::test]
async fn a_file_someone_sent_is_downloaded_by_its_code() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    let teacher = fake.user("s001", "张老师");
    let token = api.token().await;
    let mut stream = Stream::open(&api).await;
    teacher.send_file("成绩.csv", b"name,score\n".to_vec());
    let frame = stream.callback(LIMIT).await.unwrap();
    assert_eq!(frame.data["msgtype"], "file");
    assert_eq!(frame.data["content"]["fileName"], "成绩.csv");
    let code = frame.data["content"]["downloadCode"].as_str().unwrap();
    let (status, answer) = api
        .post(
            "/v1.0/robot/messageFiles/download",
            Some(&token),
            json!({"downloadCode": code, "robotCode": CLIENT_ID}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let body = api
        .get(answer["downloadUrl"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], b"name,score\n");

    let (status, answer) = api
        .post(
            "/v1.0/robot/messageFiles/download",
            Some(&token),
            json!({"downloadCode": "nope", "robotCode": CLIENT_ID}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalidParameter.downloadCode"))
    );

    // A big file is made as read: a reader that stops early leaves most of it unmade.
    let size = 200 << 20;
    teacher.send_big_file("huge.xlsx", size);
    let frame = stream.callback(LIMIT).await.unwrap();
    let code = frame.data["content"]["downloadCode"].as_str().unwrap();
    let (_, answer) = api
        .post(
            "/v1.0/robot/messageFiles/download",
            Some(&token),
            json!({"downloadCode": code, "robotCode": CLIENT_ID}),
        )
        .await;
    let mut response = api.get(answer["downloadUrl"].as_str().unwrap()).await;
    assert_eq!(response.content_length(), Some(size as u64));
    let first = response.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(response);
    assert!(
        fake.bytes_served() < size / 4,
        "{} served",
        fake.bytes_served()
    );
}

#[tokio::test]
async fn injected_faults_strike_as_many_times_as_asked() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    fake.user("s001", "张老师");
    let token = api.token().await;
    fake.inject(Some(CARD_SEND), 1, Fault::ServerError);
    fake.inject(None, 1, Fault::TooMany);
    let (status, answer) = api.send_card(&token, "s001", "c1", "x", &[]).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (500, Some("ServiceUnavailable"))
    );
    let (status, answer) = api.send_card(&token, "s001", "c1", "x", &[]).await;
    assert_eq!((status, answer["code"].as_str()), (429, Some("Throttling")));
    // Faults without a path spare the token call.
    let _ = api.token().await;
    let (status, _) = api.send_card(&token, "s001", "c1", "x", &[]).await;
    assert_eq!(status, 200);

    fake.inject(Some(BATCH_SEND), 1, Fault::FlowControlled);
    let text = json!({"content": "hi"}).to_string();
    let body = json!({"robotCode": CLIENT_ID, "userIds": ["s001"], "msgKey": "sampleText",
                      "msgParam": text});
    let (status, answer) = api.post(BATCH_SEND, Some(&token), body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["flowControlledStaffIdList"], json!(["s001"]));
    assert_eq!(fake.count_to("s001"), 1);

    // A hang: done at once, answered late.
    fake.inject(Some(BATCH_SEND), 1, Fault::Hang(Duration::from_millis(200)));
    let (status, _) = api.post(BATCH_SEND, Some(&token), body).await;
    assert_eq!(status, 200);
    assert_eq!(fake.count_to("s001"), 2);

    fake.inject(Some("/v1.0/oauth2/accessToken"), 1, Fault::Throttled);
    let (status, answer) = api
        .post(
            "/v1.0/oauth2/accessToken",
            None,
            json!({"appKey": CLIENT_ID, "appSecret": fake_dingtalk::CLIENT_SECRET}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("Forbidden.AccessDenied.QpsLimitForApi"))
    );
}

#[tokio::test]
async fn over_the_enforced_limit_a_send_is_refused() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    fake.user("s001", "张老师");
    let token = api.token().await;
    fake.enforce_limits(2);
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(
            api.send_card(&token, "s001", &format!("c{i}"), "x", &[])
                .await
                .0,
        );
    }
    // Three calls on loopback take far less than a second.
    assert_eq!(statuses, [200, 200, 403]);
    assert_eq!(fake.refused_over_limits(), 1);
    assert_eq!(fake.busiest_second(), 2);
}

#[tokio::test]
async fn chaos_strikes_the_same_calls_for_the_same_seed() {
    async fn statuses(seed: u64) -> (Vec<u16>, fake_dingtalk::ChaosCounts) {
        let fake = FakeDingTalk::start().await.unwrap();
        let api = Api::new(&fake);
        fake.user("s001", "张老师");
        let token = api.token().await;
        fake.chaos(Some(Chaos {
            seed,
            fault_rate: 0.5,
            drop_every: None,
        }));
        let mut out = Vec::new();
        for i in 0..30 {
            out.push(
                api.send_card(&token, "s001", &format!("c{i}"), "x", &[])
                    .await
                    .0,
            );
        }
        (out, fake.chaos_counts())
    }
    let (a, counts) = statuses(7).await;
    let (b, _) = statuses(7).await;
    assert_eq!(a, b);
    assert_eq!(counts.calls, 30);
    let failed = a.iter().filter(|s| **s != 200).count();
    assert_eq!(
        failed,
        counts.throttled + counts.too_many + counts.server_error + counts.flow_controlled
    );
    assert!(failed > 0 && failed < 30, "{a:?}");
}

#[tokio::test]
async fn each_app_reaches_its_own_people_with_its_own_token() {
    let fake = FakeDingTalk::start().await.unwrap();
    let api = Api::new(&fake);
    fake.app("dingother", "other-secret");
    fake.user_of("dingother", "t001", "赵老师");
    let (status, answer) = api
        .post(
            "/v1.0/oauth2/accessToken",
            None,
            json!({"appKey": "dingother", "appSecret": "other-secret"}),
        )
        .await;
    assert_eq!(status, 200);
    let other = answer["accessToken"].as_str().unwrap().to_string();
    let ours = api.token().await;
    // Our robot does not reach the other organisation's people.
    let (status, answer) = api.send_card(&ours, "t001", "c1", "x", &[]).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalidParameter.userId.notFound"))
    );
    // Nor does their token speak for our robot.
    let (status, answer) = api.send_card(&other, "t001", "c1", "x", &[]).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalidParameter.robotCode"))
    );
}
