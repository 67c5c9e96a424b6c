//! The people: one-time invites (one at a time, or a whole roster at once), revoking bindings
//! and invites, and what a revocation leaves to others.

pub mod chat;
pub mod list;

use super::{Actor, App};
use crate::domain::Role;
pub use crate::export::invites::Issued;
use crate::import::people::{self as roster, Person};
use crate::import::table::Table;
use crate::import::{Problems, Refused};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::{audit, people, units as unit_store};
use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use std::path::Path;

/// What a roster gave: a new invite per person, except those already bound in that role, and
/// the files that carry them back (`export::invites::files`).
#[derive(Debug, Clone, Default)]
pub struct RosterInvites {
    pub issued: Vec<Issued>,
    pub already_bound: Vec<Person>,
    pub files: Vec<(String, Vec<u8>)>,
}

impl App {
    /// The zone dates are shown in: a current season's (a province's cities share one zone),
    /// or Beijing time before there is one.
    pub async fn display_tz(&self) -> anyhow::Result<chrono_tz::Tz> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(crate::store::seasons::all_current(&mut conn)
            .await?
            .first()
            .map_or(chrono_tz::Asia::Shanghai, |s| s.tz))
    }

    /// A link to the bot of `city` (its own, or the deployment's) that starts with `code`. A
    /// DingTalk robot has no link that opens its chat with a payload: there the invite is the
    /// line the person sends it.
    fn invite_link(&self, city: &str, code: &str) -> anyhow::Result<String> {
        if self.config.platform == crate::config::Platform::Dingtalk {
            return Ok(format!("/start {code}"));
        }
        let username = self.config.bot_username_of(city).context(
            "the bot's username is needed for invite links: set bot_username in the config file \
             or BOT_USERNAME in the environment",
        )?;
        Ok(format!("https://t.me/{username}?start={code}"))
    }

    /// Writes one invite, audited; returns its link and expiry. The caller has checked the
    /// person (name, role against the unit, class).
    async fn issue(
        &self,
        conn: &mut Conn,
        actor: Actor,
        p: &Person,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let now = self.clock.now();
        let code = new_invite_code();
        let city = crate::store::units::city_of(conn, &p.unit_code).await?;
        let link = self.invite_link(&city, &code)?;
        let expires = now + Duration::days(i64::from(self.config.invite_valid_days));
        let invite = people::NewInvite {
            code: &code,
            role: p.role,
            unit_code: &p.unit_code,
            name: &p.name,
            class_name: p.class_name.as_deref(),
            expires,
            issued_by: match actor {
                Actor::Person(user) => Some(user),
                Actor::Cli => None,
            },
            title: p.title.as_deref(),
            phone: p.phone.as_deref(),
        };
        people::create_invite(conn, &invite, now).await?;
        audit(
            conn,
            now,
            &actor.label(),
            "invite",
            &format!(
                "{} in {} for {}, expires {}",
                p.role,
                p.unit_code,
                p.name,
                expires.to_rfc3339()
            ),
        )
        .await?;
        Ok((link, expires))
    }

    /// Creates a one-time invite and returns its deep link.
    pub async fn invite(
        &self,
        role: Role,
        unit_code: &str,
        name: &str,
        class_name: Option<&str>,
    ) -> anyhow::Result<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            bail!("--name must be 1 to 50 characters");
        }
        let class_name = class_name.map(str::trim).filter(|c| !c.is_empty());
        if role == Role::HomeroomTeacher && class_name.is_none() {
            bail!("a homeroom teacher needs --class");
        }
        let mut tx = self.db.begin().await?;
        let unit = unit_store::get(&mut tx, unit_code)
            .await?
            .with_context(|| format!("unknown unit code {unit_code}"))?;
        if !role.fits(unit.kind) {
            bail!(
                "role {role} does not belong in a {} unit ({} is a {})",
                unit.kind.label(),
                unit.code,
                unit.kind.label()
            );
        }
        let person = Person {
            row: 0,
            name: name.to_string(),
            role,
            unit_code: unit.code.clone(),
            class_name: class_name.map(str::to_string),
            phone: None,
            title: None,
        };
        let (link, _) = self.issue(&mut tx, Actor::Cli, &person).await?;
        tx.commit().await?;
        Ok(link)
    }

    /// Checks a people roster (all or nothing, like every import) without writing anything.
    pub async fn check_people(&self, path: &Path) -> anyhow::Result<Result<Vec<Person>, Refused>> {
        let table = Table::open(path, &self.config.limits)?;
        let mut conn = self.db.pool.acquire().await?;
        let units = unit_store::all(&mut conn).await?;
        Ok(roster::check(table, &units)?.map_err(|problems| Refused { problems }))
    }

    /// `invite --from people.xlsx`, and a roster sent in chat: one invite per person, in one
    /// transaction. A person already bound in that role gets none; a person invited before
    /// gets a new link and the old one stops working.
    pub async fn invite_roster(
        &self,
        origin: super::Origin<'_>,
        path: &Path,
    ) -> anyhow::Result<RosterInvites> {
        let actor = origin.actor;
        // The links need the bot's name: refuse before anything is read.
        self.invite_link("", "")?;
        let tz = self.display_tz().await?;
        let table = Table::open(path, &self.config.limits)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        // A city admin's roster names their own city's units only; any other is unknown.
        let units = match self.only_city_of(&mut tx, actor).await? {
            Some(city) => unit_store::of_city(&mut tx, &city).await?,
            None => unit_store::all(&mut tx).await?,
        };
        let checked: Result<Vec<Person>, Problems> = roster::check(table, &units)?;
        let persons = checked.map_err(|problems| Refused { problems })?;
        let mut out = RosterInvites::default();
        for p in persons {
            let class = p.class_name.as_deref();
            if people::is_bound_as(&mut tx, &p.name, p.role, &p.unit_code, class).await? {
                out.already_bound.push(p);
                continue;
            }
            people::revoke_unused_of(&mut tx, &p.name, p.role, &p.unit_code, class, now).await?;
            let (link, expires) = self.issue(&mut tx, actor, &p).await?;
            let unit_name = units
                .iter()
                .find(|u| u.code == p.unit_code)
                .map_or_else(|| p.unit_code.clone(), |u| u.name.clone());
            out.issued.push(Issued {
                person: p,
                unit_name,
                link,
                expires,
            });
        }
        audit(
            &mut tx,
            now,
            &actor.label(),
            "invite-roster",
            &format!(
                "{} invite(s) from {}, {} already bound",
                out.issued.len(),
                origin.name,
                out.already_bound.len()
            ),
        )
        .await?;
        // The links exist only in these files: no invite is kept that they do not carry. A
        // roster's codes take seconds to draw, on a thread of their own so that the bot's other
        // work is not held up behind them.
        let issued = out.issued.clone();
        out.files = tokio::task::spawn_blocking(move || crate::export::invites::files(&issued, tz))
            .await??;
        tx.commit().await?;
        Ok(out)
    }

    /// Removes bindings of a Telegram account (all, or one role and/or unit).
    pub async fn revoke(
        &self,
        user_id: i64,
        role: Option<Role>,
        unit_code: Option<&str>,
    ) -> anyhow::Result<u64> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let n = people::revoke(&mut tx, user_id, role, unit_code, now).await?;
        self.pass_open_filings(&mut tx, user_id).await?;
        crate::store::menus::due_for_user(&mut tx, user_id, now).await?;
        audit(
            &mut tx,
            now,
            &Actor::Cli.label(),
            "revoke",
            &format!("user {user_id}, role {role:?}, unit {unit_code:?}: {n} binding(s)"),
        )
        .await?;
        tx.commit().await?;
        self.menus_wake.notify_one();
        Ok(n)
    }

    /// Revokes an invite that has not been used (by its code or its whole link); false when
    /// there is no unused invite with that code.
    pub async fn revoke_invite(&self, code_or_link: &str) -> anyhow::Result<bool> {
        let code = code_or_link
            .rsplit_once("start=")
            .map_or(code_or_link, |(_, c)| c)
            .trim();
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let done = people::revoke_invite(&mut tx, code, now).await?;
        if done {
            audit(&mut tx, now, &Actor::Cli.label(), "revoke-invite", "").await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// After a revocation: the open requests a person filed for a school where they no longer
    /// hold a filing role pass to that school's first current contact, who is told. (Their
    /// votes need nothing here: a vote counts only while its caster holds the step.)
    pub(crate) async fn pass_open_filings(
        &self,
        conn: &mut Conn,
        user_id: i64,
    ) -> anyhow::Result<()> {
        let still = people::of_user(conn, user_id).await?;
        for req in crate::store::reviews::of_filer(conn, user_id).await? {
            let open = crate::domain::review::State::parse(&req.state).is_some_and(|s| s.is_open());
            let keeps = still.iter().any(|b| {
                crate::app::policy::FILERS.contains(&b.role) && b.unit_code == req.school_code
            });
            if !open || keeps {
                continue;
            }
            let contacts = people::holders(conn, Role::SchoolContact, &req.school_code).await?;
            let Some(to) = contacts.first() else {
                continue;
            };
            let moved = crate::store::reviews::pass_filings(
                conn,
                user_id,
                &req.school_code,
                (to.telegram_user_id, to.chat_id, &to.name),
            )
            .await?;
            for id in moved {
                audit(
                    conn,
                    self.clock.now(),
                    &Actor::Cli.label(),
                    "pass-filing",
                    &format!(
                        "request {id} from user {user_id} to {}",
                        to.telegram_user_id
                    ),
                )
                .await?;
                let msg = crate::store::outbox::Outgoing {
                    chat_id: to.chat_id,
                    body: self
                        .render
                        .render(tpl::REVIEW_PASSED_TO_YOU, &serde_json::json!({"id": id}))?,
                    ..Default::default()
                };
                crate::store::outbox::enqueue(conn, &msg, self.clock.now()).await?;
            }
        }
        Ok(())
    }
}

/// 20 random characters from [A-Za-z0-9]: Telegram's start parameter allows up to 64 of these,
/// and 119 bits cannot be guessed.
fn new_invite_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
