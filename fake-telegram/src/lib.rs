//! A fake Telegram Bot API server on loopback, shared by the bot's tests, its offline demo and
//! its simulations.
//!
//! The real bot talks to it through `TELOXIDE_API_URL`. It records every call, keeps every chat's
//! messages (with their edits), lets a caller speak as several users (messages, `/start` payloads,
//! button presses) and can inject Telegram's failures: 429 with `retry_after`, 5xx, time-outs and
//! blocked chats. Method names are matched case-insensitively, as teloxide sends PascalCase.

use axum::Router;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

mod chaos;
mod http;
mod limits;
mod messages;
mod polling;
mod transcript;
mod user;
mod web_app;
mod webhook;
mod wire;
pub use chaos::{Chaos, ChaosCounts};
use http::{err, file, handle, ok};
pub use limits::OverLimits;
use transcript::said;
pub use user::FakeUser;
use user::{bot_id_of, bot_user};
use wire::{UNREADABLE, wire};

/// How the bot joins several notices waiting for one chat into one message: `expect` reads
/// each part as a notice of its own.
pub const NOTICE_SEPARATOR: &str = "\n\n┈┈┈┈┈┈┈┈\n\n";

pub const BOT_ID: i64 = 7_000_000_001;

pub const BOT_USERNAME: &str = "ExamReviewBot";

/// What the fake serves for every file a user sent (getFile, then /file/bot…/path): a 1×1
/// grey-scale PNG, chunk by chunk (lengths and CRCs worked out for these bytes).
pub const SAMPLE_PNG: [u8; 67] = [
    // Signature.
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, //
    // IHDR: 1×1, 8-bit grey, no interlace.
    0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, //
    // IDAT: zlib of the row [filter 0, pixel 0xff].
    0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0x0f, 0x00, 0x01, 0x01,
    0x01, 0x00, 0x1c, 0xb0, 0x8c, 0x99, //
    // IEND.
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A message the bot sent, as it stands now (edits applied).
#[derive(Debug, Clone)]
pub struct Sent {
    pub message_id: i64,
    pub chat_id: i64,
    /// The text, or the caption of a document.
    pub text: String,
    /// An uploaded document: its name and bytes.
    pub document: Option<(String, Vec<u8>)>,
    /// A photo or document sent on by the id Telegram holds it under.
    pub file_id: Option<String>,
    pub reply_markup: Option<Value>,
    pub edits: usize,
    pub at: Instant,
    /// Deleted by the bot (deleteMessage): its text and buttons are gone; it keeps its place
    /// so that what a test has read stays counted.
    pub deleted: bool,
}

impl Sent {
    /// The text as a Telegram client shows it: HTML tags gone, entities decoded.
    pub fn visible_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut in_tag = false;
        for c in self.text.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    }

    /// The labels and addresses of the buttons that open a Mini App.
    pub fn web_apps(&self) -> Vec<(String, String)> {
        let rows = self
            .reply_markup
            .as_ref()
            .and_then(|m| m["inline_keyboard"].as_array());
        rows.into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| {
                let url = b["web_app"]["url"].as_str()?;
                Some((b["text"].as_str()?.to_string(), url.to_string()))
            })
            .collect()
    }

    /// The labels and callback data of the inline buttons, row by row flattened.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(rows) = self
            .reply_markup
            .as_ref()
            .and_then(|m| m["inline_keyboard"].as_array())
        {
            for row in rows {
                for b in row.as_array().into_iter().flatten() {
                    out.push((
                        b["text"].as_str().unwrap_or_default().to_string(),
                        b["callback_data"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
        }
        out
    }
}

/// One call to the API, answered or not.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub chat_id: Option<i64>,
    pub at: Instant,
    /// The HTTP status the fake answered with.
    pub status: u16,
    pub params: Value,
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 429 with `parameters.retry_after` seconds.
    RetryAfter(u32),
    /// HTTP 500.
    ServerError,
    /// HTTP 502 (Telegram's front end without its back end).
    BadGateway,
    /// Wait this long, then answer 504 without delivering (the client should have given up).
    Timeout(Duration),
    /// HTTP 403 "Forbidden: bot was blocked by the user".
    Blocked,
}

#[derive(Debug, Clone)]
struct FaultRule {
    method: Option<String>,
    chat_id: Option<i64>,
    remaining: usize,
    fault: Fault,
}

enum FileBody {
    Bytes(Vec<u8>),
    TooBig,
}

/// The largest file Telegram lets a bot download (getFile answers "file is too big" above).
pub const BOT_DOWNLOAD_LIMIT: usize = 20 * 1024 * 1024;

#[derive(Default)]
struct Inner {
    /// Files users sent with contents of their own (sheets), by file id: the bytes, or only a
    /// declared size (a file too big for a bot to download).
    files: std::collections::HashMap<String, FileBody>,
    next_update_id: i64,
    next_message_id: i64,
    next_callback_id: i64,
    updates: VecDeque<Value>,
    sent: Vec<Sent>,
    /// Where each chat's messages are in `sent` (a soak sends hundreds of thousands).
    by_chat: std::collections::HashMap<i64, Vec<usize>>,
    calls: Vec<Call>,
    faults: Vec<FaultRule>,
    /// (answered callback query id, text, show_alert)
    callback_answers: Vec<(String, String, bool)>,
    /// The command menus set: by chat for a chat's own scope, None for the default scope.
    menus: std::collections::HashMap<Option<i64>, Vec<String>>,
    /// The menu buttons set (setChatMenuButton): by chat, None for the default.
    menu_buttons: std::collections::HashMap<Option<i64>, Value>,
    hold_sends: bool,
    /// The id of the bot whose token called (a token is "<id>:<secret>") and its username
    /// (`named`), for getMe.
    bot_id: Option<i64>,
    username: Option<String>,
    held: usize,
    drop_held: bool,
    /// Per chat: what its people typed, sent or pressed, each with how many of the bot's
    /// messages the chat held then (for `transcript`).
    said: std::collections::HashMap<i64, Vec<(usize, String)>>,
    /// Per chat: how many notices a story has already read (see `expect`).
    cursors: std::collections::HashMap<i64, usize>,
    /// Every getUpdates answer that carried updates: (the `limit` asked for, updates returned).
    update_batches: Vec<(usize, usize)>,
    webhook: Option<webhook::Hook>,
    webhook_acks: usize,
    /// getUpdates calls waiting now, and how often one came while another waited (Telegram
    /// answers that 409 Conflict: only one client may poll a bot).
    polls_waiting: usize,
    poll_conflicts: usize,
    /// Telegram's limits enforced on a faster clock (the demo's), when set.
    enforced: Option<limits::Enforced>,
    chaos: Option<chaos::State>,
}

#[derive(Clone)]
pub struct FakeTelegram {
    inner: Arc<Mutex<Inner>>,
    updates_ready: Arc<Notify>,
    release: Arc<Notify>,
    /// Raised after every call is answered: what `wait_until` waits on.
    answered: Arc<Notify>,
    url: String,
    server: Arc<tokio::task::JoinHandle<()>>,
}

impl FakeTelegram {
    /// Starts the server on a free loopback port.
    pub async fn start() -> std::io::Result<FakeTelegram> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = FakeTelegram {
            inner: Arc::new(Mutex::new(Inner {
                next_update_id: 1,
                next_message_id: 1,
                ..Inner::default()
            })),
            updates_ready: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
            answered: Arc::new(Notify::new()),
            url: format!("http://{addr}/"),
            server: Arc::new(tokio::spawn(async {})),
        };
        let app = Router::new()
            .route("/{token}/{method}", axum::routing::any(handle))
            .route("/file/{token}/{path}", axum::routing::get(file))
            .with_state(fake.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(FakeTelegram {
            server: Arc::new(server),
            ..fake
        })
    }

    /// The base URL to put in `TELOXIDE_API_URL`.
    pub fn api_url(&self) -> &str {
        &self.url
    }

    pub fn stop(&self) {
        self.server.abort();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A person in Telegram (a private chat with the same id as the user).
    pub fn user(&self, id: i64, first_name: &str) -> FakeUser {
        FakeUser {
            fake: self.clone(),
            id,
            first_name: first_name.to_string(),
        }
    }

    fn take_update_id(&self) -> i64 {
        let mut inner = self.lock();
        inner.next_update_id += 1;
        inner.next_update_id - 1
    }

    fn push_update(&self, update: Value) {
        let id = self.take_update_id();
        let mut inner = self.lock();
        if let Some((chat, what)) = said(&update) {
            let at = inner.by_chat.get(&chat).map_or(0, Vec::len);
            inner.said.entry(chat).or_default().push((at, what));
        }
        let mut update = update;
        update["update_id"] = json!(id);
        inner.updates.push_back(update);
        drop(inner);
        self.updates_ready.notify_waiters();
    }

    /// Every message the bot sent to a chat, in order.
    pub fn messages_to(&self, chat_id: i64) -> Vec<Sent> {
        let inner = self.lock();
        let of_chat = inner.by_chat.get(&chat_id).map_or(&[][..], Vec::as_slice);
        of_chat.iter().map(|i| inner.sent[*i].clone()).collect()
    }

    /// The messages to a chat from the `from`th on (a driver that has read the rest).
    pub fn messages_to_from(&self, chat_id: i64, from: usize) -> Vec<Sent> {
        let inner = self.lock();
        let of_chat = inner.by_chat.get(&chat_id).map_or(&[][..], Vec::as_slice);
        let from = from.min(of_chat.len());
        of_chat[from..]
            .iter()
            .map(|i| inner.sent[*i].clone())
            .collect()
    }

    /// One message of a chat as it stands now (its edits applied).
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<Sent> {
        let inner = self.lock();
        let of_chat = inner.by_chat.get(&chat_id).map_or(&[][..], Vec::as_slice);
        of_chat
            .iter()
            .rev()
            .map(|i| &inner.sent[*i])
            .find(|m| m.message_id == message_id)
            .cloned()
    }

    /// How many messages went to a chat.
    pub fn count_to(&self, chat_id: i64) -> usize {
        self.lock().by_chat.get(&chat_id).map_or(0, Vec::len)
    }

    pub fn all_sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// How many sent messages match, without copying them (documents can be large).
    pub fn count_sent(&self, pred: impl Fn(&Sent) -> bool) -> usize {
        self.lock().sent.iter().filter(|m| pred(m)).count()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn callback_answers(&self) -> Vec<(String, String, bool)> {
        self.lock().callback_answers.clone()
    }

    /// The command names of the menu last set for a chat (`setMyCommands` with a chat scope),
    /// or of the default menu (None).
    /// This Telegram's bot is called `username` (getMe), not `BOT_USERNAME`.
    pub fn named(&self, username: &str) {
        self.lock().username = Some(username.into());
    }

    pub fn menu(&self, chat: Option<i64>) -> Option<Vec<String>> {
        self.lock().menus.get(&chat).cloned()
    }

    /// The menu button last set for a chat (None: the default's), as the bot sent it.
    pub fn menu_button(&self, chat: Option<i64>) -> Option<Value> {
        self.lock().menu_buttons.get(&chat).cloned()
    }

    /// Number of updates the bot has not yet fetched and confirmed.
    /// Every getUpdates answer that carried updates: (the `limit` asked for, updates returned).
    pub fn update_batches(&self) -> Vec<(usize, usize)> {
        self.lock().update_batches.clone()
    }

    pub fn pending_updates(&self) -> usize {
        self.lock().updates.len()
    }

    /// getUpdates calls that came while another was waiting (two clients polling).
    pub fn poll_conflicts(&self) -> usize {
        self.lock().poll_conflicts
    }

    /// Waits until `cond` holds over the recorded messages, up to `limit` of real time; returns
    /// whether it did. It is asked again after each call the fake answers. (Waiting for
    /// asynchronous work, not a timing assertion.)
    pub async fn wait_until(&self, limit: Duration, cond: impl Fn(&FakeTelegram) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let answered = self.answered.notified();
            if cond(self) {
                return true;
            }
            tokio::select! {
                _ = answered => {}
                _ = tokio::time::sleep_until(deadline) => return cond(self),
            }
        }
    }

    /// Waits for the next call the fake answers, or `limit` of real time.
    pub async fn next_answer(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.answered.notified()).await;
    }

    /// Waits for the next message to `chat` — after those an earlier `expect` or `skip_read`
    /// consumed — that contains `needle` (in its visible text), and returns that text. Err with
    /// the chat's transcript when none came within `limit`.
    pub async fn expect(&self, chat: i64, needle: &str, limit: Duration) -> Result<String, String> {
        let from = *self.lock().cursors.get(&chat).unwrap_or(&0);
        // Notices sent together as one message are read one by one, as a person reads them.
        let find = |f: &FakeTelegram| {
            f.read_parts(chat)
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, part)| part.contains(needle))
        };
        self.wait_until(limit, |f| find(f).is_some()).await;
        match find(self) {
            Some((i, text)) => {
                self.lock().cursors.insert(chat, i + 1);
                Ok(text)
            }
            None => Err(format!(
                "chat {chat} never showed {needle:?} after message {from}:\n{}",
                self.transcript(chat)
            )),
        }
    }

    /// Marks every message of a chat so far as read for `expect`.
    pub fn skip_read(&self, chat: i64) {
        let n = self.read_parts(chat).len();
        self.lock().cursors.insert(chat, n);
    }

    /// What a chat shows, notice by notice: a message that carries several notices (joined by
    /// `NOTICE_SEPARATOR`, as the bot joins them) counts as each of them.
    fn read_parts(&self, chat: i64) -> Vec<String> {
        let separator = NOTICE_SEPARATOR;
        self.messages_to(chat)
            .iter()
            .flat_map(|m| {
                let text = m.visible_text();
                text.split(separator)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn chat_json(chat_id: i64) -> Value {
    if chat_id < 0 {
        json!({"id": chat_id, "type": "group", "title": "考务群"})
    } else {
        json!({"id": chat_id, "type": "private", "first_name": "user"})
    }
}

fn message_json(m: &Sent, chat: Value) -> Value {
    let mut v = json!({
        "message_id": m.message_id,
        "date": unix_now(),
        "chat": chat,
        "from": bot_user(),
    });
    match (&m.document, &m.file_id) {
        (Some((name, bytes)), _) => {
            v["document"] = json!({"file_id": format!("doc{}", m.message_id),
                "file_unique_id": format!("u{}", m.message_id), "file_name": name,
                "file_size": bytes.len()});
            v["caption"] = json!(m.text);
        }
        // Sent on by id: shown as the document it is (a photo's sizes do not matter here).
        (None, Some(id)) => {
            v["document"] = json!({"file_id": id, "file_unique_id": format!("u{id}")});
            v["caption"] = json!(m.text);
        }
        (None, None) => v["text"] = json!(m.text),
    }
    if let Some(markup) = &m.reply_markup {
        v["reply_markup"] = markup.clone();
    }
    v
}
