//! The demo's messenger: the in-process fake Telegram or fake DingTalk, and the people who speak
//! to the bot through it. Every act talks through these, so that the season plays the same
//! story on either (`demo --platform`).

use crate::app::App;
use crate::config::{Config, Platform};
use anyhow::Context;
use fake_dingtalk::{FakeDingTalk, FakeDingUser};
use fake_telegram::{FakeTelegram, FakeUser};
use std::time::Duration;
use tokio::task::JoinHandle;

/// DingTalk's limit on an app's send and update calls, a second (standard edition).
const DINGTALK_CALLS_PER_SECOND: u32 = 20;

/// The demo bot's token: the fake Telegram accepts any, and the live board checks with it.
pub(super) const TOKEN: &str = "demo-token";

/// The fake messenger the demo's bot runs against.
#[derive(Clone)]
pub enum Chats {
    Telegram(FakeTelegram),
    DingTalk(FakeDingTalk),
}

/// Someone in a one-to-one chat with the bot, on the demo's messenger.
#[derive(Clone)]
pub struct Chatter {
    /// The demo's number for this person ("chat N"); on Telegram also their user id.
    pub id: i64,
    pub name: String,
    user: User,
}

#[derive(Clone)]
enum User {
    Telegram(FakeUser),
    DingTalk(FakeDingUser),
}

impl Chats {
    /// Starts the fake of `platform`; it counts (and refuses) what goes over the messenger's
    /// limits on the demo's clock, `pace` times the wall clock.
    pub async fn start(platform: Platform, pace: u32) -> anyhow::Result<Chats> {
        Ok(match platform {
            Platform::Telegram => {
                let fake = FakeTelegram::start().await?;
                fake.enforce_limits(pace);
                Chats::Telegram(fake)
            }
            Platform::Dingtalk => {
                let fake = FakeDingTalk::start().await?;
                fake.enforce_limits(DINGTALK_CALLS_PER_SECOND * pace);
                Chats::DingTalk(fake)
            }
        })
    }

    /// The messenger's name as the demo prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Chats::Telegram(_) => "Telegram",
            Chats::DingTalk(_) => "钉钉",
        }
    }

    /// Points the bot's settings at this fake.
    pub fn configure(&self, config: &mut Config) {
        if let Chats::DingTalk(fake) = self {
            config.platform = Platform::Dingtalk;
            config.dingtalk.api_url = fake.api_url().into();
            config.dingtalk.oapi_url = fake.api_url().into();
        }
    }

    /// Runs the bot against this fake until `stop`.
    pub fn spawn_bot(
        &self,
        app: &App,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
        Ok(match self {
            Chats::Telegram(fake) => {
                let bot = crate::telegram::build_bot(app, TOKEN, Some(fake.api_url().parse()?));
                tokio::spawn(crate::telegram::run(app.clone(), bot, stop))
            }
            Chats::DingTalk(_) => {
                let keys = crate::dingtalk::Keys::new(
                    fake_dingtalk::CLIENT_ID,
                    fake_dingtalk::CLIENT_SECRET,
                );
                tokio::spawn(crate::dingtalk::run(app.clone(), keys, stop, None))
            }
        })
    }

    /// A person numbered `id` in the demo (on DingTalk, staff id `staff{id}`).
    pub fn user(&self, id: i64, name: &str) -> Chatter {
        let user = match self {
            Chats::Telegram(fake) => User::Telegram(fake.user(id, name)),
            Chats::DingTalk(fake) => User::DingTalk(fake.user(&format!("staff{id}"), name)),
        };
        Chatter {
            id,
            name: name.to_string(),
            user,
        }
    }

    /// The bot's number for a person (its user and chat id), once they have written to it.
    pub async fn number(&self, app: &App, who: &Chatter) -> anyhow::Result<i64> {
        match &who.user {
            User::Telegram(u) => Ok(u.id),
            User::DingTalk(u) => {
                let mut conn = app.db.pool.acquire().await?;
                let client = fake_dingtalk::CLIENT_ID;
                Ok(crate::store::accounts::person(&mut conn, client, &u.staff_id).await?)
            }
        }
    }

    /// Waits for the next message to `who` (after those already read) that says `needle`.
    pub async fn expect(
        &self,
        who: &Chatter,
        needle: &str,
        limit: Duration,
    ) -> anyhow::Result<String> {
        let heard = match (self, &who.user) {
            (Chats::Telegram(f), User::Telegram(u)) => f.expect(u.id, needle, limit).await,
            (Chats::DingTalk(f), User::DingTalk(u)) => f.expect(&u.staff_id, needle, limit).await,
            _ => Err("a person of the other messenger".into()),
        };
        heard.map_err(anyhow::Error::msg)
    }

    /// Marks everything sent to `who` so far as read for `expect`.
    pub fn skip_read(&self, who: &Chatter) {
        match (self, &who.user) {
            (Chats::Telegram(f), User::Telegram(u)) => f.skip_read(u.id),
            (Chats::DingTalk(f), User::DingTalk(u)) => f.skip_read(&u.staff_id),
            _ => {}
        }
    }

    pub fn transcript(&self, who: &Chatter) -> String {
        self.transcript_from(who, 0)
    }

    /// `who`'s chat from the bot's message number `from` on, with what they sent and pressed.
    pub fn transcript_from(&self, who: &Chatter, from: usize) -> String {
        match (self, &who.user) {
            (Chats::Telegram(f), User::Telegram(u)) => f.transcript_from(u.id, from),
            (Chats::DingTalk(f), User::DingTalk(u)) => f.transcript_from(&u.staff_id, from),
            _ => String::new(),
        }
    }

    /// How many messages the bot sent `who`.
    pub fn count_to(&self, who: &Chatter) -> usize {
        match (self, &who.user) {
            (Chats::Telegram(f), User::Telegram(u)) => f.count_to(u.id),
            (Chats::DingTalk(f), User::DingTalk(u)) => f.count_to(&u.staff_id),
            _ => 0,
        }
    }

    /// The files the bot sent `who`, in order: each one's name and bytes.
    pub fn documents(&self, who: &Chatter) -> Vec<(String, Vec<u8>)> {
        match (self, &who.user) {
            (Chats::Telegram(f), User::Telegram(u)) => f
                .messages_to(u.id)
                .into_iter()
                .filter_map(|m| m.document)
                .collect(),
            (Chats::DingTalk(f), User::DingTalk(u)) => f
                .messages_to(&u.staff_id)
                .into_iter()
                .filter_map(|m| m.file)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Each message to `who`, in order: its text as shown and its buttons' labels.
    fn shown(&self, who: &Chatter) -> Vec<(String, Vec<String>)> {
        let labels = |buttons: Vec<(String, String)>| buttons.into_iter().map(|(l, _)| l).collect();
        match (self, &who.user) {
            (Chats::Telegram(f), User::Telegram(u)) => f
                .messages_to(u.id)
                .iter()
                .map(|m| (m.visible_text(), labels(m.buttons())))
                .collect(),
            (Chats::DingTalk(f), User::DingTalk(u)) => f
                .messages_to(&u.staff_id)
                .iter()
                .map(|m| (m.visible_text(), labels(m.buttons())))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The button labels of the newest message to `who`.
    pub fn button_labels_of_last(&self, who: &Chatter) -> Vec<String> {
        self.shown(who).pop().map(|(_, b)| b).unwrap_or_default()
    }

    /// Whether any message to `who` has a button labelled `label`.
    pub fn has_button(&self, who: &Chatter, label: &str) -> bool {
        self.shown(who)
            .iter()
            .any(|(_, b)| b.iter().any(|l| l == label))
    }

    /// Whether any message to `who` says `needle`.
    pub fn has_text(&self, who: &Chatter, needle: &str) -> bool {
        self.shown(who).iter().any(|(t, _)| t.contains(needle))
    }

    /// The number of `who`'s messages up to and including the first that says `needle`; 0
    /// when none does.
    pub fn read_through(&self, who: &Chatter, needle: &str) -> usize {
        self.shown(who)
            .iter()
            .position(|(t, _)| t.contains(needle))
            .map_or(0, |i| i + 1)
    }

    /// The text of the bot's message `message` (the number delivery recorded for an outbox
    /// row) in the bot's chat `chat`, as it was delivered.
    pub fn delivered(&self, chat: i64, message: i64) -> Option<String> {
        match self {
            Chats::Telegram(f) => f
                .messages_to(chat)
                .into_iter()
                .find(|m| m.message_id == message)
                .map(|m| m.visible_text()),
            Chats::DingTalk(f) => f
                .message(&crate::dingtalk::sender::card_id(message))
                .map(|m| m.visible_text()),
        }
    }

    /// Waits until `cond` holds, up to `limit` of real time; whether it did.
    pub async fn wait_until(&self, limit: Duration, cond: impl Fn(&Chats) -> bool) -> bool {
        match self {
            Chats::Telegram(f) => f.wait_until(limit, |_| cond(self)).await,
            Chats::DingTalk(f) => f.wait_until(limit, |_| cond(self)).await,
        }
    }

    pub fn stop(&self) {
        match self {
            Chats::Telegram(f) => f.stop(),
            Chats::DingTalk(f) => f.stop(),
        }
    }

    /// How the messenger's limits held, on the demo's clock `pace` times the wall clock.
    pub fn limits_line(&self, pace: u32) -> String {
        match self {
            Chats::Telegram(fake) => {
                let over = fake.over_limits_at_scale(pace);
                let sends = fake
                    .calls()
                    .iter()
                    .filter(|c| c.method.starts_with("send") && c.status == 200)
                    .count();
                format!(
                    "{sends} messages sent, {} over Telegram's limits on the demo's clock ({}× \
                     the wall clock; {} sends refused with 429 and sent again)",
                    over.overall + over.per_chat,
                    pace,
                    fake.refused_over_limits()
                )
            }
            Chats::DingTalk(fake) => {
                let sends = fake
                    .calls()
                    .iter()
                    .filter(|c| c.status == 200 && c.path.ends_with("/send"))
                    .count();
                let files = fake
                    .calls()
                    .iter()
                    .filter(|c| c.status == 200 && c.path.ends_with("/batchSend"))
                    .count();
                format!(
                    "{} messages sent ({sends} cards, {files} files), DingTalk's {} calls a \
                     second enforced on the demo's clock ({pace}× the wall clock; busiest wall \
                     second {} calls; {} calls refused with 403 and sent again)",
                    sends + files,
                    DINGTALK_CALLS_PER_SECOND,
                    fake.busiest_second(),
                    fake.refused_over_limits()
                )
            }
        }
    }
}

impl Chatter {
    pub fn send(&self, text: &str) {
        match &self.user {
            User::Telegram(u) => u.send(text),
            User::DingTalk(u) => drop(u.send(text)),
        }
    }

    /// Presses the button labelled `label` on the newest message that has one.
    pub fn press(&self, label: &str) {
        match &self.user {
            User::Telegram(u) => u.press(label),
            User::DingTalk(u) => drop(u.press(label)),
        }
    }

    /// A photo (of a signed form): on Telegram by the file id `id`, on DingTalk a picture.
    pub fn send_photo(&self, id: &str) {
        match &self.user {
            User::Telegram(u) => u.send_photo(id),
            User::DingTalk(u) => drop(u.send_picture(fake_telegram::SAMPLE_PNG.to_vec())),
        }
    }

    /// A PDF named `name` (a doctor's certificate): on Telegram by the file id `id`.
    pub fn send_pdf(&self, id: &str, name: &str) {
        match &self.user {
            User::Telegram(u) => u.send_file(id, name, "application/pdf"),
            User::DingTalk(u) => drop(u.send_file(name, b"%PDF-1.4 demo".to_vec())),
        }
    }

    /// A spreadsheet sent as a file, with its contents.
    pub fn send_sheet(&self, name: &str, bytes: Vec<u8>) {
        match &self.user {
            User::Telegram(u) => u.send_sheet(&format!("sheet-{name}"), name, bytes),
            User::DingTalk(u) => drop(u.send_file(name, bytes)),
        }
    }

    /// The Telegram user behind this person, on Telegram.
    pub fn telegram(&self) -> Option<&FakeUser> {
        match &self.user {
            User::Telegram(u) => Some(u),
            User::DingTalk(_) => None,
        }
    }
}

/// The invite code in an invite link or in an answer that holds one: the tail of
/// `https://t.me/BOT?start=CODE` on Telegram, the word after `/start` on DingTalk.
pub(super) fn invite_code(text: &str) -> anyhow::Result<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let link = words
        .iter()
        .filter(|w| w.starts_with("https://t.me/"))
        .find_map(|w| w.rsplit_once('=').map(|(_, code)| code));
    let typed = || words.windows(2).find(|w| w[0] == "/start").map(|w| w[1]);
    link.or_else(typed)
        .map(str::to_string)
        .with_context(|| format!("no invite in {text:?}"))
}
