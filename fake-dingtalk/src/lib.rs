//! A fake DingTalk open platform on loopback, shared by the bot's tests and its offline demo.
//!
//! One server answers both of DingTalk's hosts the adapter uses: the v1.0 OpenAPI of
//! `api.dingtalk.com` (tokens, cards, one-to-one messages, file downloads, opening a Stream
//! connection) and the older `oapi.dingtalk.com` media upload. Stream mode is served as
//! DingTalk serves it: a WebSocket that pushes frames and expects each to be acknowledged,
//! pushing again what was not (at-least-once). The fake records everything the bot sends, per
//! staff id and in order, lets a caller speak as several people (texts, files, pictures, card
//! button presses) and can inject DingTalk's failures: throttling, 5xx, slow answers, flow
//! control, expired tokens and dropped connections. The contract is `docs/dingtalk.md`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

mod answer;
mod apps;
mod cards;
mod chaos;
mod files;
mod http;
mod limits;
mod paths;
mod stream;
mod transcript;
mod user;
pub use chaos::{Chaos, ChaosCounts, Fault};
pub use user::{CARD_TOPIC, FakeDingUser, MESSAGE_TOPIC};

/// The Client ID (AppKey) of the app registered at start; it is also its robot code.
pub const CLIENT_ID: &str = "dingexamreview";

/// The Client Secret (AppSecret) of the app registered at start.
pub const CLIENT_SECRET: &str = "fake-secret";

/// The organisation every person of the fake belongs to.
pub const CORP_ID: &str = "dingcorp";

/// How the bot joins several notices waiting for one person into one message: `expect` reads
/// each part as a notice of its own.
pub const NOTICE_SEPARATOR: &str = "\n\n┈┈┈┈┈┈┈┈\n\n";

/// What a message of the bot is, as DingTalk shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An interactive card (`StandardCard`), changeable in place.
    Card,
    /// A file message (`sampleFile`).
    File,
    /// A markdown message (`sampleMarkdown`).
    Markdown,
    /// A plain text message (`sampleText`).
    Text,
}

/// What a card button does when pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A callback to the robot with this button id (`actionType: "request"`).
    Request(String),
    /// Opens this address (`actionType: "openLink"`).
    Link(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub action: Action,
}

/// A message the bot sent, as it stands now (card updates applied).
#[derive(Debug, Clone)]
pub struct Sent {
    /// The card's `cardBizId`; for a one-to-one message its `processQueryKey` (with
    /// `/staff_id` after it when one call went to several people).
    pub id: String,
    pub staff_id: String,
    pub kind: Kind,
    /// A card's header title, a markdown message's title, a file's name.
    pub title: String,
    /// A card's markdown contents (joined by a line break), a markdown message's text, a text
    /// message's content.
    pub markdown: String,
    pub buttons: Vec<Button>,
    /// A file message: its name and the bytes uploaded.
    pub file: Option<(String, Vec<u8>)>,
    /// How many times the card was updated in place.
    pub updates: usize,
    pub at: Instant,
}

impl Sent {
    /// The text as a DingTalk client shows it: markdown's bold and code marks gone, and a
    /// quote or heading mark at the start of a line. Nothing else is decoded: DingTalk shows
    /// `&lt;` as it is, so a bot that escapes for HTML is seen doing so.
    pub fn visible_text(&self) -> String {
        if self.kind == Kind::Text {
            return self.markdown.clone();
        }
        visible(&self.markdown)
    }

    /// The labels of the buttons with their id (a request) or address (a link), in order.
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.buttons
            .iter()
            .map(|b| match &b.action {
                Action::Request(id) | Action::Link(id) => (b.label.clone(), id.clone()),
            })
            .collect()
    }
}

/// Markdown as a DingTalk client shows it (see `Sent::visible_text`).
fn visible(markdown: &str) -> String {
    markdown
        .split('\n')
        .map(|line| {
            let line = line.strip_prefix("> ").unwrap_or(line);
            let hashes = line.len() - line.trim_start_matches('#').len();
            let line = match line[hashes..].strip_prefix(' ') {
                Some(rest) if (1..=6).contains(&hashes) => rest,
                _ => line,
            };
            line.replace("**", "").replace('`', "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One HTTP call to the fake, answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    /// The HTTP status the fake answered with (101 for a WebSocket opened).
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    apps: apps::Apps,
    /// The people `user` made: the app whose robot each may use, by staff id.
    people: HashMap<String, String>,
    /// Staff ids DingTalk no longer delivers to (left the organisation, out of the app's
    /// visibility): `block`.
    blocked: std::collections::HashSet<String>,
    sent: Vec<Sent>,
    /// Where each person's messages are in `sent`.
    by_staff: HashMap<String, Vec<usize>>,
    /// Which app sent each card, by cardBizId: only that app may update it.
    card_app: HashMap<String, String>,
    files: files::Files,
    calls: Vec<Call>,
    stream: stream::Streams,
    faults: Vec<chaos::FaultRule>,
    chaos: Option<chaos::State>,
    /// How many times `chaos` was set: a dropping task of an earlier setting stops.
    chaos_generation: u64,
    limits: Option<limits::Limits>,
    /// Per person: what they typed, sent or pressed, each with how many of the bot's messages
    /// they held then (for `transcript`).
    said: HashMap<String, Vec<(usize, String)>>,
    /// Per person: how many notices a story has already read (see `expect`).
    cursors: HashMap<String, usize>,
    next_id: u64,
}

#[derive(Clone)]
pub struct FakeDingTalk {
    inner: Arc<Mutex<Inner>>,
    /// Raised after every call is answered and every frame acknowledged: what `wait_until`
    /// waits on.
    answered: Arc<Notify>,
    /// Raised when a frame is queued or the Stream settings change: the connections look at
    /// what they owe their client.
    queued: Arc<Notify>,
    url: String,
    server: Arc<tokio::task::JoinHandle<()>>,
}

impl FakeDingTalk {
    /// Starts the server on a free loopback port, with the app `CLIENT_ID` registered.
    pub async fn start() -> std::io::Result<FakeDingTalk> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = FakeDingTalk {
            inner: Arc::new(Mutex::new(Inner::default())),
            answered: Arc::new(Notify::new()),
            queued: Arc::new(Notify::new()),
            url: format!("http://{addr}"),
            server: Arc::new(tokio::spawn(async {})),
        };
        fake.app(CLIENT_ID, CLIENT_SECRET);
        let router = http::router(fake.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Ok(FakeDingTalk {
            server: Arc::new(server),
            ..fake
        })
    }

    /// The base address of both hosts (`[dingtalk] api_url` and `oapi_url`), without a
    /// trailing slash: `http://127.0.0.1:PORT`.
    pub fn api_url(&self) -> &str {
        &self.url
    }

    /// Stops serving; the live connections end with the server.
    pub fn stop(&self) {
        self.drop_connection();
        self.server.abort();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh id, unique in this fake, with a random tail (as DingTalk's ids are opaque).
    fn fresh_id(&self, prefix: &str) -> String {
        let n = {
            let mut inner = self.lock();
            inner.next_id += 1;
            inner.next_id
        };
        format!("{prefix}{n:06}{}", random_token(8))
    }

    /// A person of the organisation, who can use the robot of the app `CLIENT_ID`.
    pub fn user(&self, staff_id: &str, nick: &str) -> FakeDingUser {
        self.user_of(CLIENT_ID, staff_id, nick)
    }

    /// A person who uses the robot of another app (another organisation's bureau).
    pub fn user_of(&self, client_id: &str, staff_id: &str, nick: &str) -> FakeDingUser {
        self.lock()
            .people
            .insert(staff_id.to_string(), client_id.to_string());
        FakeDingUser {
            fake: self.clone(),
            staff_id: staff_id.to_string(),
            nick: nick.to_string(),
            app: client_id.to_string(),
        }
    }

    /// DingTalk no longer delivers to this person: a batch send lists them in
    /// `invalidStaffIdList`, a card send is refused with `invalidParameter.userId.notFound`.
    pub fn block(&self, staff_id: &str) {
        self.lock().blocked.insert(staff_id.to_string());
    }

    /// Whether `app`'s robot reaches this staff id: a person made with `user` for that app,
    /// and not blocked.
    fn reachable(&self, app: &str, staff_id: &str) -> bool {
        let inner = self.lock();
        inner.people.get(staff_id).is_some_and(|a| a == app) && !inner.blocked.contains(staff_id)
    }

    fn record_sent(&self, sent: Sent) {
        let mut inner = self.lock();
        let at = inner.sent.len();
        inner
            .by_staff
            .entry(sent.staff_id.clone())
            .or_default()
            .push(at);
        inner.sent.push(sent);
    }

    /// Every message the bot sent to a person, in order, as they stand now.
    pub fn messages_to(&self, staff_id: &str) -> Vec<Sent> {
        let inner = self.lock();
        let of = inner.by_staff.get(staff_id).map_or(&[][..], Vec::as_slice);
        of.iter().map(|i| inner.sent[*i].clone()).collect()
    }

    /// One message as it stands now (its updates applied).
    pub fn message(&self, id: &str) -> Option<Sent> {
        self.lock().sent.iter().rev().find(|m| m.id == id).cloned()
    }

    /// How many messages went to a person.
    pub fn count_to(&self, staff_id: &str) -> usize {
        self.lock().by_staff.get(staff_id).map_or(0, Vec::len)
    }

    pub fn all_sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// How many sent messages match, without copying them (files can be large).
    pub fn count_sent(&self, pred: impl Fn(&Sent) -> bool) -> usize {
        self.lock().sent.iter().filter(|m| pred(m)).count()
    }

    /// Every HTTP call answered so far, in the order answered.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Waits until `cond` holds, up to `limit` of real time; returns whether it did. It is
    /// asked again after each call the fake answers and each frame acknowledged. (Waiting for
    /// asynchronous work, not a timing assertion.)
    pub async fn wait_until(&self, limit: Duration, cond: impl Fn(&FakeDingTalk) -> bool) -> bool {
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

    /// Waits for the next call the fake answers (or frame acknowledged), or `limit`.
    pub async fn next_answer(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.answered.notified()).await;
    }

    /// Waits for the next notice to `staff_id` — after those an earlier `expect` or
    /// `skip_read` consumed — that contains `needle` (in its visible text), and returns it.
    /// Err with the person's transcript when none came within `limit`.
    pub async fn expect(
        &self,
        staff_id: &str,
        needle: &str,
        limit: Duration,
    ) -> Result<String, String> {
        let from = *self.lock().cursors.get(staff_id).unwrap_or(&0);
        // Notices sent together as one message are read one by one, as a person reads them.
        let find = |f: &FakeDingTalk| {
            f.read_parts(staff_id)
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, part)| part.contains(needle))
        };
        self.wait_until(limit, |f| find(f).is_some()).await;
        match find(self) {
            Some((i, text)) => {
                self.lock().cursors.insert(staff_id.to_string(), i + 1);
                Ok(text)
            }
            None => Err(format!(
                "{staff_id} never saw {needle:?} after notice {from}:\n{}",
                self.transcript(staff_id)
            )),
        }
    }

    /// Marks every message to a person so far as read for `expect`.
    pub fn skip_read(&self, staff_id: &str) {
        let n = self.read_parts(staff_id).len();
        self.lock().cursors.insert(staff_id.to_string(), n);
    }

    /// What a person's chat shows, notice by notice: a message that carries several notices
    /// (joined by `NOTICE_SEPARATOR`, as the bot joins them) counts as each of them.
    fn read_parts(&self, staff_id: &str) -> Vec<String> {
        self.messages_to(staff_id)
            .iter()
            .flat_map(|m| {
                m.visible_text()
                    .split(NOTICE_SEPARATOR)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Milliseconds since the Unix epoch, as DingTalk writes times.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `len` random letters and digits: tokens, tickets, codes. Not from the chaos seed: nothing
/// the bot does may depend on their values.
fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn markdown_marks_are_gone_and_nothing_else_is_decoded() {
        let shown = visible("## 标题\n> **审核** `A1` &lt;\n#没有空格\n####### seven");
        assert_eq!(shown, "标题\n审核 A1 &lt;\n#没有空格\n####### seven");
    }
}
