//! Stream mode: the outbound WebSocket through which DingTalk pushes what people do.
//!
//! An app opens a connection (`connections/open`, then the WebSocket with the single-use
//! ticket); one connection per app is live, a newer one closing the older. Every CALLBACK
//! frame queued for an app stays owed until the client acknowledges it by its `messageId`:
//! it is pushed on every new connection, and again on the same one when no acknowledgement
//! came within `ack_timeout` (at-least-once, as DingTalk delivers). SYSTEM frames keep the
//! connection: `ping` every `ping_every`, `disconnect` before the server closes.

use super::answer::{json_body, ok, unauthorized};
use super::paths::OPEN;
use super::{FakeDingTalk, now_ms, random_token};
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long `send_disconnect` leaves the connection open after telling the client.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

pub(super) struct Streams {
    /// Tickets handed out and not yet used: the app, and the CALLBACK topics it subscribed.
    tickets: HashMap<String, (String, Vec<String>)>,
    apps: HashMap<String, AppStream>,
    next_connection: u64,
    opened: usize,
    acked: usize,
    pings_acked: usize,
    /// Pushes of a frame after its first.
    redelivered: usize,
    /// How many times each CALLBACK frame was pushed, by messageId (acknowledged ones too).
    pushes: HashMap<String, usize>,
    /// Pings sent and not yet acknowledged with their own data: messageId → data.
    pings: HashMap<String, String>,
    ping_every: Duration,
    ack_timeout: Duration,
}

impl Default for Streams {
    fn default() -> Streams {
        Streams {
            tickets: HashMap::new(),
            apps: HashMap::new(),
            next_connection: 0,
            opened: 0,
            acked: 0,
            pings_acked: 0,
            redelivered: 0,
            pushes: HashMap::new(),
            pings: HashMap::new(),
            ping_every: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Default)]
struct AppStream {
    /// CALLBACK frames owed, in the order queued.
    owed: Vec<Owed>,
    live: Option<Live>,
}

struct Owed {
    message_id: String,
    topic: String,
    data: String,
    /// The connection it was last pushed on, and when.
    pushed: Option<(u64, Instant)>,
}

struct Live {
    id: u64,
    tx: mpsc::UnboundedSender<Command>,
}

/// What the fake tells a connection's task to do.
enum Command {
    /// A newer connection replaced it: close properly.
    Close,
    /// Drop the TCP connection without a close frame.
    Drop,
    /// SYSTEM `disconnect`, then close after `DISCONNECT_GRACE`.
    Disconnect,
}

impl FakeDingTalk {
    /// Queues a CALLBACK frame for an app; returns its messageId.
    pub(super) fn queue(&self, app: &str, topic: &str, data: &Value) -> String {
        let message_id = self.fresh_id("frame");
        let mut inner = self.lock();
        inner
            .stream
            .apps
            .entry(app.to_string())
            .or_default()
            .owed
            .push(Owed {
                message_id: message_id.clone(),
                topic: topic.to_string(),
                data: data.to_string(),
                pushed: None,
            });
        drop(inner);
        self.queued.notify_waiters();
        message_id
    }

    /// How many Stream connections were opened (WebSockets accepted).
    pub fn connections_opened(&self) -> usize {
        self.lock().stream.opened
    }

    /// Whether some app has a live connection.
    pub fn live_connection(&self) -> bool {
        self.lock().stream.apps.values().any(|a| a.live.is_some())
    }

    /// CALLBACK frames queued or pushed and not yet acknowledged, over every app.
    pub fn pending_frames(&self) -> usize {
        self.lock().stream.apps.values().map(|a| a.owed.len()).sum()
    }

    /// CALLBACK frames acknowledged.
    pub fn acked(&self) -> usize {
        self.lock().stream.acked
    }

    /// Pings acknowledged with their own data.
    pub fn pings_acked(&self) -> usize {
        self.lock().stream.pings_acked
    }

    /// Pushes of a frame after its first (on a new connection, or after `ack_timeout`).
    pub fn redelivered(&self) -> usize {
        self.lock().stream.redelivered
    }

    /// How many times the frame with this messageId was pushed.
    pub fn pushes_of(&self, message_id: &str) -> usize {
        self.lock()
            .stream
            .pushes
            .get(message_id)
            .copied()
            .unwrap_or(0)
    }

    /// Every this long, each live connection gets a SYSTEM `ping` (default 10 s).
    pub fn ping_every(&self, every: Duration) {
        self.lock().stream.ping_every = every;
        self.queued.notify_waiters();
    }

    /// A frame not acknowledged within this long is pushed again on the same connection
    /// (default 5 s).
    pub fn ack_timeout(&self, timeout: Duration) {
        self.lock().stream.ack_timeout = timeout;
        self.queued.notify_waiters();
    }

    /// Drops every live connection abruptly: the TCP connection closes with no close frame,
    /// as when a network path dies. What was not acknowledged is owed to the next connection.
    pub fn drop_connection(&self) {
        let mut inner = self.lock();
        for app in inner.stream.apps.values_mut() {
            if let Some(live) = app.live.take() {
                let _ = live.tx.send(Command::Drop);
            }
        }
    }

    /// Tells every live connection SYSTEM `disconnect` (DingTalk is about to close it, as
    /// before a deployment), and closes it a second later.
    pub fn send_disconnect(&self) {
        let inner = self.lock();
        for live in inner.stream.apps.values().filter_map(|a| a.live.as_ref()) {
            let _ = live.tx.send(Command::Disconnect);
        }
    }

    /// The frames connection `id` owes its client now, marked pushed, and when the next
    /// unacknowledged one falls due again.
    fn due(&self, app: &str, id: u64, topics: &[String]) -> (Vec<String>, Option<Instant>) {
        let mut inner = self.lock();
        let now = Instant::now();
        let streams = &mut inner.stream;
        let ack_timeout = streams.ack_timeout;
        // A connection replaced or dropped pushes nothing more, even before it has closed.
        let Some(stream) = streams
            .apps
            .get_mut(app)
            .filter(|s| s.live.as_ref().is_some_and(|l| l.id == id))
        else {
            return (Vec::new(), None);
        };
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        let subscribed = |topic: &str| topics.iter().any(|t| t == topic || t == "*");
        for owed in stream.owed.iter_mut().filter(|o| subscribed(&o.topic)) {
            let fresh = match owed.pushed {
                Some((conn, at)) => conn != id || now >= at + ack_timeout,
                None => true,
            };
            if fresh {
                let pushes = streams.pushes.entry(owed.message_id.clone()).or_default();
                if *pushes > 0 {
                    streams.redelivered += 1;
                }
                *pushes += 1;
                owed.pushed = Some((id, now));
                due.push(frame(
                    "CALLBACK",
                    &owed.topic,
                    &owed.message_id,
                    &owed.data,
                    app,
                    id,
                ));
            }
            let again = owed.pushed.map_or(now, |(_, at)| at + ack_timeout);
            next = Some(next.map_or(again, |n| n.min(again)));
        }
        (due, next)
    }

    /// A text frame from the client: an acknowledgement of a frame or a ping.
    fn acknowledge(&self, app: &str, text: &str) {
        let Ok(ack) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let Some(message_id) = ack["headers"]["messageId"].as_str() else {
            return;
        };
        if ack["code"].as_i64() != Some(200) {
            return;
        }
        let mut inner = self.lock();
        let streams = &mut inner.stream;
        let owed = streams.apps.get_mut(app).map(|a| &mut a.owed);
        if let Some(owed) = owed
            && let Some(at) = owed.iter().position(|o| o.message_id == message_id)
        {
            owed.remove(at);
            streams.acked += 1;
        } else if streams.pings.get(message_id).map(String::as_str) == ack["data"].as_str() {
            streams.pings.remove(message_id);
            streams.pings_acked += 1;
        }
        drop(inner);
        self.answered.notify_waiters();
    }

    /// A SYSTEM frame (ping, disconnect); a ping is remembered until acknowledged.
    fn system_frame(&self, topic: &str, app: &str, id: u64) -> String {
        let message_id = self.fresh_id("sys");
        let data = match topic {
            "ping" => json!({"opaque": random_token(16)}).to_string(),
            _ => json!({"reason": "the server is about to close this connection"}).to_string(),
        };
        if topic == "ping" {
            let mut inner = self.lock();
            inner.stream.pings.insert(message_id.clone(), data.clone());
        }
        frame("SYSTEM", topic, &message_id, &data, app, id)
    }

    /// The connection ended: it is no longer the app's live one (unless replaced already).
    fn ended(&self, app: &str, id: u64) {
        let mut inner = self.lock();
        if let Some(stream) = inner.stream.apps.get_mut(app)
            && stream.live.as_ref().is_some_and(|l| l.id == id)
        {
            stream.live = None;
        }
        drop(inner);
        self.answered.notify_waiters();
    }
}

fn frame(kind: &str, topic: &str, message_id: &str, data: &str, app: &str, id: u64) -> String {
    json!({
        "specVersion": "1.0",
        "type": kind,
        "headers": {
            "appId": app,
            "connectionId": connection_name(id),
            "contentType": "application/json",
            "messageId": message_id,
            "time": now_ms().to_string(),
            "topic": topic,
        },
        "data": data,
    })
    .to_string()
}

fn connection_name(id: u64) -> String {
    format!("conn-{id:04}")
}

/// `POST /v1.0/gateway/connections/open {clientId, clientSecret, subscriptions, ua}` →
/// `{endpoint, ticket}`.
pub(super) async fn open(State(fake): State<FakeDingTalk>, body: Bytes) -> Response {
    if let Some(refused) = fake.named_fault(OPEN).await {
        return refused;
    }
    let body = match json_body(&body) {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let client_id = body["clientId"].as_str().unwrap_or_default();
    let secret = body["clientSecret"].as_str().unwrap_or_default();
    if !fake.credentials_match(client_id, secret) {
        return unauthorized("clientId 或 clientSecret 不正确");
    }
    let topics = body["subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "CALLBACK")
        .filter_map(|s| s["topic"].as_str().map(str::to_string))
        .collect();
    let ticket = random_token(32);
    fake.lock()
        .stream
        .tickets
        .insert(ticket.clone(), (client_id.to_string(), topics));
    let host = fake.api_url().trim_start_matches("http://");
    ok(json!({"endpoint": format!("ws://{host}/gateway"), "ticket": ticket}))
}

/// `GET /gateway?ticket=…`: the WebSocket, for a ticket not used before.
pub(super) async fn gateway(
    State(fake): State<FakeDingTalk>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ticket = query.get("ticket").map(String::as_str).unwrap_or_default();
    let Some((app, topics)) = fake.lock().stream.tickets.remove(ticket) else {
        return unauthorized("ticket 无效或已使用");
    };
    upgrade.on_upgrade(move |socket| serve(fake, app, topics, socket))
}

/// One connection, from its opening to its end: pushes what is owed, pings, takes the
/// acknowledgements, and obeys the fake's commands.
async fn serve(fake: FakeDingTalk, app: String, topics: Vec<String>, mut socket: WebSocket) {
    let (tx, mut commands) = mpsc::unbounded_channel();
    let id = {
        let mut inner = fake.lock();
        inner.stream.next_connection += 1;
        inner.stream.opened += 1;
        let id = inner.stream.next_connection;
        let stream = inner.stream.apps.entry(app.clone()).or_default();
        if let Some(older) = stream.live.replace(Live { id, tx }) {
            let _ = older.tx.send(Command::Close);
        }
        id
    };
    fake.answered.notify_waiters();
    let mut last_ping = Instant::now();
    // Set by `disconnect`: nothing more is pushed, and the connection closes then.
    let mut closing_at: Option<Instant> = None;
    loop {
        let woken = fake.queued.notified();
        let mut out = Vec::new();
        let mut wake_at = None;
        if closing_at.is_none() {
            (out, wake_at) = fake.due(&app, id, &topics);
        }
        let ping_every = fake.lock().stream.ping_every;
        let now = Instant::now();
        if now >= last_ping + ping_every {
            out.push(fake.system_frame("ping", &app, id));
            last_ping = now;
        }
        if closing_at.is_some_and(|at| now >= at) {
            let _ = socket.send(Message::Close(None)).await;
            break;
        }
        let mut failed = false;
        for text in out {
            if socket.send(Message::Text(text.into())).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed {
            break;
        }
        let mut deadline = last_ping + ping_every;
        for at in [wake_at, closing_at].into_iter().flatten() {
            deadline = deadline.min(at);
        }
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => fake.acknowledge(&app, text.as_str()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            command = commands.recv() => match command {
                Some(Command::Close) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                // Gone with no close frame: the socket is dropped as it stands.
                Some(Command::Drop) => break,
                Some(Command::Disconnect) => {
                    let text = fake.system_frame("disconnect", &app, id);
                    let _ = socket.send(Message::Text(text.into())).await;
                    closing_at = Some(Instant::now() + DISCONNECT_GRACE);
                }
            },
            _ = woken => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    drop(socket);
    fake.ended(&app, id);
}
