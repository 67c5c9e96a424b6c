//! Use cases. Each one is a single database transaction: it checks rights and state, changes
//! state, and queues the messages the change causes (the outbox), so they commit or vanish
//! together. Telegram handlers and CLI commands are thin callers of these.

pub mod backup;
pub mod board;
mod bots;
pub mod callback;
pub mod command;
pub mod contacts;
pub mod dialogue;
pub mod dialogues;
pub mod documents;
pub mod entry;
pub mod exemption;
pub mod inbound;
pub mod invites;
pub mod limits;
pub mod menu;
pub mod onboarding;
pub mod policy;
pub mod publish;
pub mod records;
pub mod review;
pub mod scores;
pub mod seal;
pub mod setup;
pub mod status;
pub mod sweep;
pub mod workflow;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Role;
use crate::render::Renderer;
use crate::store::Conn;
use crate::store::Db;
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub render: Arc<Renderer>,
    /// Woken after a commit that queued messages, so delivery starts without waiting for a poll.
    pub outbox_wake: Arc<Notify>,
    /// Woken after a binding or revocation, so the person's command menu follows at once.
    pub menus_wake: Arc<Notify>,
    /// How long handling an update takes (see `metrics`).
    pub update_latency: Arc<crate::metrics::Histogram>,
    /// Per-person inbound rate limits (see `limits`).
    pub inbound: Arc<limits::Inbound>,
    /// Where a file someone sent can be fetched from (set by `telegram::run`; the command line
    /// has none, and then a 附件2's photo box says where the photo is instead).
    pub files: Arc<std::sync::OnceLock<Arc<dyn FileSource>>>,
    /// Shows a secret once, outside the outbox (set by `telegram::run`; the command line has
    /// none, and then nothing that needs one can be done there).
    pub courier: Arc<std::sync::OnceLock<Arc<dyn Courier>>>,
    /// This process among the instances sharing the database (leases name it).
    pub instance: Arc<crate::store::instances::Instance>,
    /// What the process counted for /metrics.
    pub counters: Arc<crate::metrics::Counters>,
    /// The city a command line names (`--city`); None: the deployment's one city.
    pub cli_city: Option<String>,
    /// How fast delivery's clock runs: real time, except in the offline demo.
    pub pace: crate::clock::Pace,
    /// The season board's last read of each season (`board::Reads`).
    pub board_reads: Arc<board::Reads>,
}

/// Fetches a file a person sent, by the reference the messenger gave it. The bot keeps only
/// references; it fetches a file when a printed form must carry it (附件2's photo).
pub trait FileSource: Send + Sync {
    fn fetch<'a>(
        &'a self,
        file: &'a crate::domain::attachment::Attachment,
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<Vec<u8>>> + Send + 'a>>;
}

/// A file a `FileSource` refused to fetch whole: larger than the bot reads (`bytes`: its size,
/// when the messenger said it).
#[derive(Debug, thiserror::Error)]
#[error("the file is larger than the {limit} bytes that are fetched")]
pub struct TooLarge {
    pub limit: u64,
    pub bytes: Option<u64>,
}

/// A message that must not stay anywhere: the outbox keeps the text of what it sends, so a
/// password shown once goes through the messenger's adapter directly. Only the message's id
/// comes back, for taking it back from the chat (`store::takebacks`).
pub struct ShowOnce {
    pub chat: i64,
    /// HTML, the secret in it. No buttons: a press would bring the text back in its update.
    pub text: String,
}

pub trait Courier: Send + Sync {
    /// Sends at once; the message's id.
    fn show<'a>(
        &'a self,
        shown: &'a ShowOnce,
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<i64>> + Send + 'a>>;
    /// Deletes a message shown before (one gone already is no error).
    fn take_back(
        &self,
        chat: i64,
        message: i64,
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + '_>>;
}

/// Who did something, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Cli,
    /// A person in chat, by the bot's number for them (a Telegram user's id, or the number
    /// `store::accounts` gave a DingTalk person).
    Person(i64),
}

/// Who imports a file and what the audit trail calls it: the command line and a path, or a
/// city admin and the name of the file they sent in chat.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub actor: Actor,
    pub name: &'a str,
}

impl<'a> Origin<'a> {
    pub fn cli(path: &'a std::path::Path) -> Origin<'a> {
        Origin {
            actor: Actor::Cli,
            name: path.to_str().unwrap_or("(a file)"),
        }
    }
}

impl Actor {
    pub fn label(self) -> String {
        match self {
            Actor::Cli => "cli".into(),
            // The trail names the messenger: a DingTalk person's number lies above Telegram's.
            Actor::Person(id) if id > crate::store::accounts::FIRST => format!("dt:{id}"),
            Actor::Person(id) => format!("tg:{id}"),
        }
    }
}

impl App {
    pub fn new(db: Db, config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        Ok(App {
            db,
            config: Arc::new(config),
            clock,
            render: Arc::new(Renderer::new()?),
            outbox_wake: Arc::new(Notify::new()),
            menus_wake: Arc::new(Notify::new()),
            update_latency: Arc::default(),
            inbound: Arc::default(),
            files: Arc::default(),
            courier: Arc::default(),
            instance: Arc::new(crate::store::instances::Instance::new()),
            counters: Arc::default(),
            cli_city: None,
            pace: crate::clock::Pace::REAL,
            board_reads: Arc::default(),
        })
    }

    /// The city a command line acts in: `--city`, or the deployment's only city ("" before the
    /// unit tree is imported). With several cities and no `--city`, an error that says so.
    pub async fn cli_city(&self, conn: &mut Conn) -> anyhow::Result<String> {
        match &self.cli_city {
            Some(code) => {
                let unit = crate::store::units::get(conn, code).await?;
                match unit {
                    Some(u) if u.kind == crate::domain::UnitKind::City => Ok(u.code),
                    _ => anyhow::bail!("--city {code}: no city has that code"),
                }
            }
            None => crate::store::units::only_city(conn).await?.ok_or_else(|| {
                anyhow::anyhow!("this deployment has several cities: name one with --city CODE")
            }),
        }
    }

    /// The current season of the command line's city (`cli_city`), on a connection of its own.
    pub async fn cli_season(&self) -> anyhow::Result<Option<crate::store::seasons::Season>> {
        let mut conn = self.db.pool.acquire().await?;
        let city = self.cli_city(&mut conn).await?;
        crate::store::seasons::current(&mut conn, &city).await
    }

    /// The city whoever acts works in: the command line's, or the person's.
    pub async fn city_of_actor(&self, conn: &mut Conn, actor: Actor) -> anyhow::Result<String> {
        match actor {
            Actor::Cli => self.cli_city(conn).await,
            Actor::Person(user_id) => self.city_of_user(conn, user_id).await,
        }
    }

    /// The city a person works in ("" when they are bound nowhere in a city: they then find
    /// no season and no data).
    pub async fn city_of_user(&self, conn: &mut Conn, user_id: i64) -> anyhow::Result<String> {
        Ok(people::city_of_user(conn, user_id)
            .await?
            .unwrap_or_default())
    }

    /// Queues a rendered reply (optionally with buttons) to a chat. A reply
    /// longer than a Telegram message (a long directory or list) goes as several, split at
    /// line ends, the buttons under the last: cut to fit, its tail would be lost.
    pub async fn reply(
        &self,
        chat_id: i64,
        body: String,
        buttons: Option<crate::buttons::Buttons>,
    ) -> anyhow::Result<()> {
        use crate::render::{limits, split_html, visible_len};
        let bodies = match visible_len(&body) > limits::TEXT {
            true => split_html(&body, limits::TEXT),
            false => vec![body],
        };
        let last = bodies.len() - 1;
        let mut tx = self.db.begin().await?;
        for (i, body) in bodies.into_iter().enumerate() {
            let msg = Outgoing {
                chat_id,
                body,
                buttons: if i == last { buttons.clone() } else { None },
                is_reply: true,
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Whether to handle an update from this person at all (see `limits`). `start_code` is true
    /// for `/start <code>`, which a person who has not joined yet is allowed a few of.
    pub async fn admit(&self, user_id: i64, start_code: bool) -> anyhow::Result<limits::Admit> {
        let l = &self.config.limits;
        let (kind, per_minute) = if self.is_bound(user_id).await? {
            (limits::Kind::Bound, l.bound_updates_per_minute)
        } else if start_code {
            (limits::Kind::Start, l.unbound_starts_per_minute)
        } else {
            (limits::Kind::Unbound, l.unbound_replies_per_minute)
        };
        Ok(self
            .inbound
            .admit(user_id, kind, per_minute, self.clock.now()))
    }

    /// Whether this person may publish the season's scores (the permission model's answer).
    pub async fn may_publish(&self, user_id: i64) -> anyhow::Result<Result<(), policy::Denied>> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        let city = self.city_of_user(&mut conn, user_id).await?;
        let subject = policy::Subject {
            city: &city,
            ..policy::Subject::default()
        };
        Ok(policy::check(
            &self.route(&city),
            user_id,
            &bound,
            policy::Action::Publish,
            &subject,
        )
        .map(|_| ()))
    }

    /// The active bindings of a Telegram account with the given role.
    pub async fn bindings_with_role(
        &self,
        user_id: i64,
        role: Role,
    ) -> anyhow::Result<Vec<Binding>> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(people::of_user(&mut conn, user_id)
            .await?
            .into_iter()
            .filter(|b| b.role == role)
            .collect())
    }
}
