//! Stream mode: the bot opens a WebSocket to DingTalk's gateway and takes the robot's messages
//! and the cards' presses from it; no public address is needed. Each frame is acknowledged once
//! it has been handled (DingTalk pushes an unacknowledged frame again, after a reconnect too),
//! so a bot killed mid-frame loses nothing; a frame pushed twice to a living bot is handled
//! once. A person's frames are handled in order, several people's at once.

use super::api::{Api, Fault};
use super::handlers;
use crate::app::App;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// The longest wait between two tries at opening a connection.
const MOST_BACKOFF: Duration = Duration::from_secs(30);
/// DingTalk pings every few seconds; a connection silent this long is dead.
const SILENCE: Duration = Duration::from_secs(60);
/// How many handled frames are remembered, to know one pushed again.
const REMEMBERED: usize = 10_000;
/// The largest frame taken: a message, a press or a file's download code is a few kilobytes
/// (DingTalk bounds what a person can send far below this). A larger one ends the connection.
const MOST_FRAME: usize = 4 << 20;
/// Frames taken and not yet handled, over everyone. Past it a frame is left unacknowledged and
/// DingTalk pushes it again later: a flood waits at DingTalk, not in the bot's memory.
const MOST_IN_HAND: usize = 2_000;

/// The frames handled lately, by DingTalk's message id.
#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

/// What the connection's reader hands the people's workers.
struct Frame {
    id: String,
    topic: String,
    data: Value,
}

struct Shared {
    app: App,
    api: Arc<Api>,
    bot_id: i64,
    /// Where acknowledgements go: the live connection's writer (None between connections; a
    /// frame then stays unacknowledged and comes again).
    writer: Mutex<Option<mpsc::UnboundedSender<Message>>>,
    seen: Mutex<Seen>,
    /// Frames being handled, by message id: one pushed again meanwhile waits for its ack.
    in_hand: Mutex<HashSet<String>>,
    slots: Semaphore,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>,
}

impl Shared {
    fn ack(&self, id: &str, data: Value) {
        let ack = json!({
            "code": 200,
            "headers": {"messageId": id, "contentType": "application/json"},
            "message": "OK",
            "data": data.to_string(),
        });
        if let Some(writer) = self.writer.lock().expect("writer lock").as_ref() {
            writer.send(Message::text(ack.to_string())).ok();
        }
    }
}

/// Takes frames until `stop` turns true, opening the connection again whenever it drops.
pub async fn listen(app: App, api: Arc<Api>, bot_id: i64, mut stop: watch::Receiver<bool>) {
    let slots = app.config.telegram.updates_in_flight.max(1) as usize;
    let shared = Arc::new(Shared {
        app,
        api,
        bot_id,
        writer: Mutex::new(None),
        seen: Mutex::new(Seen::default()),
        in_hand: Mutex::new(HashSet::new()),
        slots: Semaphore::new(slots),
        queues: Mutex::new(HashMap::new()),
    });
    let mut wait = Duration::from_millis(500);
    while !*stop.borrow() {
        let opened = tokio::select! {
            opened = connect(&shared.api) => opened,
            _ = stop.changed() => break,
        };
        match opened {
            Ok(socket) => {
                tracing::info!("connected to DingTalk's Stream gateway");
                wait = Duration::from_millis(500);
                serve(&shared, socket, &mut stop).await;
                *shared.writer.lock().expect("writer lock") = None;
                if !*stop.borrow() {
                    tracing::warn!("the Stream connection closed; opening another");
                }
                continue;
            }
            Err(e) => tracing::warn!("cannot open a Stream connection, again in {wait:?}: {e:#}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
        wait = (wait * 2).min(MOST_BACKOFF);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(api: &Api) -> anyhow::Result<Socket> {
    let (endpoint, ticket) = api
        .open_connection(&[handlers::MESSAGES, handlers::PRESSES])
        .await
        .map_err(|fault| match fault {
            Fault::Never { status: 401, .. } | Fault::Never { status: 403, .. } => {
                anyhow::anyhow!("DingTalk did not accept the app's keys: {fault}")
            }
            fault => fault.into(),
        })?;
    let mut url = reqwest::Url::parse(&endpoint)?;
    url.query_pairs_mut().append_pair("ticket", &ticket);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MOST_FRAME))
        .max_frame_size(Some(MOST_FRAME));
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the gateway did not answer within 10 s"))??;
    Ok(socket)
}

/// One connection's life: frames read and dispatched, acknowledgements written, until it
/// closes, goes silent, or the bot stops.
async fn serve(shared: &Arc<Shared>, socket: Socket, stop: &mut watch::Receiver<bool>) {
    let (mut sink, mut frames) = socket.split();
    let (writer, mut outgoing) = mpsc::unbounded_channel::<Message>();
    *shared.writer.lock().expect("writer lock") = Some(writer);
    let write = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        sink.close().await.ok();
    });
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(SILENCE, frames.next()) => next,
            _ = stop.changed() => break,
        };
        let text = match next {
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => {
                tracing::warn!("DingTalk's gateway was silent for {SILENCE:?}");
                break;
            }
        };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            tracing::warn!("a Stream frame that is not JSON was ignored");
            continue;
        };
        if !take(shared, frame) {
            break;
        }
    }
    *shared.writer.lock().expect("writer lock") = None;
    write.abort();
}

/// Takes one frame; false when the gateway says it is about to close the connection.
fn take(shared: &Arc<Shared>, frame: Value) -> bool {
    let headers = &frame["headers"];
    let id = headers["messageId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let topic = headers["topic"].as_str().unwrap_or_default().to_string();
    let data: Value = frame["data"]
        .as_str()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    match frame["type"].as_str().unwrap_or_default() {
        "SYSTEM" if topic == "disconnect" => {
            tracing::info!("DingTalk's gateway asks for a new connection");
            false
        }
        "SYSTEM" => {
            shared.ack(&id, data);
            true
        }
        "CALLBACK" | "EVENT" => {
            let mut in_hand = shared.in_hand.lock().expect("in hand lock");
            if shared.seen.lock().expect("seen lock").contains(&id) {
                shared.ack(&id, json!({}));
            } else if in_hand.len() >= MOST_IN_HAND {
                tracing::warn!(
                    "{MOST_IN_HAND} frames in hand: this one is left for DingTalk to push again"
                );
            } else if in_hand.insert(id.clone()) {
                drop(in_hand);
                let staff = data["senderStaffId"]
                    .as_str()
                    .or(data["userId"].as_str())
                    .unwrap_or_default()
                    .to_string();
                queue(shared, staff, Frame { id, topic, data });
            }
            true
        }
        _ => true,
    }
}

/// Hands a frame to its person's worker, started when they have none.
fn queue(shared: &Arc<Shared>, staff: String, frame: Frame) {
    let counters = &shared.app.counters;
    counters.updates_in_hand.fetch_add(1, Ordering::Relaxed);
    let mut queues = shared.queues.lock().expect("queues lock");
    let sender = queues.entry(staff).or_insert_with(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(work(shared.clone(), rx));
        tx
    });
    sender.send(frame).ok();
}

/// One person's frames, in the order they came.
async fn work(shared: Arc<Shared>, mut frames: mpsc::UnboundedReceiver<Frame>) {
    while let Some(frame) = frames.recv().await {
        let started = std::time::Instant::now();
        {
            let _slot = shared.slots.acquire().await.expect("slots stay open");
            let span = tracing::info_span!("frame", id = %frame.id, topic = %frame.topic);
            let handled = handlers::handle(
                &shared.app,
                &shared.api,
                shared.bot_id,
                &frame.topic,
                &frame.data,
            );
            tracing::Instrument::instrument(handled, span).await;
        }
        shared.app.update_latency.record(started.elapsed());
        shared
            .seen
            .lock()
            .expect("seen lock")
            .insert(frame.id.clone());
        shared
            .in_hand
            .lock()
            .expect("in hand lock")
            .remove(&frame.id);
        shared.ack(&frame.id, json!({}));
        let counters = &shared.app.counters;
        counters.updates_in_hand.fetch_sub(1, Ordering::Relaxed);
    }
}
