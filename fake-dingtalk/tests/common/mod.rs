//! What the tests need of a DingTalk client: the OpenAPI calls over HTTP and a Stream-mode
//! connection that reads frames and acknowledges them.

#![allow(dead_code)]

use fake_dingtalk::{CARD_TOPIC, CLIENT_ID, CLIENT_SECRET, FakeDingTalk, MESSAGE_TOPIC};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub const LIMIT: Duration = Duration::from_secs(5);

pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(fake: &FakeDingTalk) -> Api {
        Api {
            base: fake.api_url().to_string(),
            client: reqwest::Client::new(),
        }
    }

    /// A call with a JSON body (and the token header when given): the status and the answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header("x-acs-dingtalk-access-token", token);
        }
        let response = request.send().await.expect("the fake answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, body).await
    }

    pub async fn token(&self) -> String {
        let (status, answer) = self
            .post(
                "/v1.0/oauth2/accessToken",
                None,
                json!({"appKey": CLIENT_ID, "appSecret": CLIENT_SECRET}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["accessToken"].as_str().unwrap().to_string()
    }

    /// Sends a standard card with one markdown text and request buttons (label, id).
    pub async fn send_card(
        &self,
        token: &str,
        staff_id: &str,
        biz_id: &str,
        text: &str,
        buttons: &[(&str, &str)],
    ) -> (u16, Value) {
        let body = json!({
            "cardTemplateId": "StandardCard",
            "robotCode": CLIENT_ID,
            "cardBizId": biz_id,
            "singleChatReceiver": json!({"userId": staff_id}).to_string(),
            "cardData": card(text, buttons).to_string(),
        });
        self.post(
            "/v1.0/im/v1.0/robot/interactiveCards/send",
            Some(token),
            body,
        )
        .await
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.expect("the fake answers")
    }

    /// `POST /media/upload` with the file as the multipart field `media`.
    pub async fn upload(&self, token: &str, name: &str, bytes: &[u8]) -> Value {
        let boundary = "fakeboundary7MA4YWxk";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!(
                "{}/media/upload?access_token={token}&type=file",
                self.base
            ))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("the fake answers");
        assert_eq!(response.status().as_u16(), 200);
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }
}

/// A standard card's `cardData` as the bot builds it.
pub fn card(text: &str, buttons: &[(&str, &str)]) -> Value {
    let actions: Vec<Value> = buttons
        .iter()
        .map(|(label, id)| {
            json!({"type": "button", "label": {"type": "text", "text": label},
                   "actionType": "request", "id": id, "status": "normal"})
        })
        .collect();
    json!({
        "header": {"title": {"type": "text", "text": text.lines().next().unwrap_or_default()}},
        "contents": [{"type": "markdown", "text": text}, {"type": "action", "actions": actions}],
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A Stream-mode connection of the app `CLIENT_ID`, subscribed to messages and card presses.
pub struct Stream {
    socket: Socket,
}

/// A frame the server pushed.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: String,
    pub topic: String,
    pub message_id: String,
    pub data: Value,
    pub raw_data: String,
}

/// How a connection's reading ended or went on.
#[derive(Debug)]
pub enum Read {
    Frame(Frame),
    /// A close frame from the server.
    Closed,
    /// The TCP connection ended without a close frame.
    Dropped,
    /// Nothing within the time given.
    Nothing,
}

impl Stream {
    pub async fn open(api: &Api) -> Stream {
        let (status, answer) = api
            .post(
                "/v1.0/gateway/connections/open",
                None,
                json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "ua": "test/1.0",
                       "subscriptions": [{"type": "CALLBACK", "topic": MESSAGE_TOPIC},
                                         {"type": "CALLBACK", "topic": CARD_TOPIC}]}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let url = format!(
            "{}?ticket={}",
            answer["endpoint"].as_str().unwrap(),
            answer["ticket"].as_str().unwrap()
        );
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the WebSocket opens");
        Stream { socket }
    }

    /// The next frame of any kind, or how the connection ended, within `limit`.
    pub async fn read(&mut self, limit: Duration) -> Read {
        loop {
            let next = match tokio::time::timeout(limit, self.socket.next()).await {
                Err(_) => return Read::Nothing,
                Ok(next) => next,
            };
            match next {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                    let raw_data = v["data"].as_str().expect("data is JSON text").to_string();
                    return Read::Frame(Frame {
                        kind: v["type"].as_str().unwrap().to_string(),
                        topic: v["headers"]["topic"].as_str().unwrap().to_string(),
                        message_id: v["headers"]["messageId"].as_str().unwrap().to_string(),
                        data: serde_json::from_str(&raw_data).expect("data parses"),
                        raw_data,
                    });
                }
                Some(Ok(Message::Close(_))) => return Read::Closed,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Read::Dropped,
            }
        }
    }

    /// The next CALLBACK frame (pings are acknowledged on the way), within `limit`.
    pub async fn callback(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Read::Frame(f) if f.kind == "CALLBACK" => return Some(f),
                Read::Frame(f) => self.ack(&f).await,
                _ => return None,
            }
        }
    }

    pub async fn ack(&mut self, frame: &Frame) {
        let ack = json!({
            "code": 200,
            "headers": {"messageId": frame.message_id, "contentType": "application/json"},
            "message": "OK",
            "data": if frame.kind == "SYSTEM" { frame.raw_data.clone() } else { "{}".into() },
        });
        self.socket
            .send(Message::Text(ack.to_string().into()))
            .await
            .expect("the ack goes out");
    }
}
