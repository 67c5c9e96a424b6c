//! Setting up a season: the season itself, the unit tree, and the people (invites, revocation).

use super::{Actor, App};
use crate::domain::deadline::display;
use crate::domain::{Role, Score, UnitKind};
use crate::import::table::Table;
use crate::import::{Refused, units};
use crate::store::seasons::{self, NewSeason, Season};
use crate::store::{audit, people, units as unit_store};
use anyhow::{Context, bail};
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use rand::Rng;
use std::path::Path;

impl App {
    /// Creates or updates the season of `year` and makes it current. A published season keeps
    /// its dates: changing them afterwards would move deadlines people were already told.
    pub async fn set_season(
        &self,
        year: i32,
        last_exam_day: NaiveDate,
        tz: Tz,
        full_points: u32,
    ) -> anyhow::Result<Season> {
        if !(1..=1000).contains(&full_points) {
            bail!("--full-score must be between 1 and 1000");
        }
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        if let Some(existing) = seasons::by_year(&mut tx, year).await?
            && existing.published_at.is_some()
            && (existing.last_exam_day != last_exam_day
                || existing.tz != tz
                || existing.full_score != Score::from_points(full_points))
        {
            bail!(
                "season {year} is already published; its dates and full score can no longer change"
            );
        }
        let new = NewSeason {
            year,
            last_exam_day,
            tz,
            full_score: Score::from_points(full_points),
            publish_deadline: self.config.publish_rule().deadline_after(last_exam_day, tz),
        };
        seasons::upsert_current(&mut tx, &new, now).await?;
        audit(
            &mut tx,
            now,
            &Actor::Cli.label(),
            "season",
            &format!("year {year}, last exam day {last_exam_day}, tz {tz}, full {full_points}"),
        )
        .await?;
        let season = seasons::current(&mut tx)
            .await?
            .context("season just written")?;
        tx.commit().await?;
        Ok(season)
    }

    /// Imports (or updates in place) the unit tree; all or nothing.
    pub async fn import_units(&self, path: &Path) -> anyhow::Result<Vec<unit_store::Unit>> {
        let table = Table::open(path, &self.config.limits)?;
        let mut tx = self.db.begin().await?;
        let known = unit_store::all(&mut tx).await?;
        let units = units::check(table, &known)?.map_err(|problems| Refused { problems })?;
        for u in &units {
            unit_store::upsert(&mut tx, u).await?;
        }
        audit(
            &mut tx,
            self.clock.now(),
            &Actor::Cli.label(),
            "import-units",
            &format!("{} units from {}", units.len(), path.display()),
        )
        .await?;
        tx.commit().await?;
        Ok(units)
    }

    /// Creates a one-time invite and returns its deep link.
    pub async fn invite(
        &self,
        role: Role,
        unit_code: &str,
        name: &str,
        class_name: Option<&str>,
    ) -> anyhow::Result<String> {
        let username = self.config.bot_username.as_deref().context(
            "the bot's username is needed for invite links: set bot_username in the config file \
             or BOT_USERNAME in the environment",
        )?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            bail!("--name must be 1 to 50 characters");
        }
        let class_name = class_name.map(str::trim).filter(|c| !c.is_empty());
        if role == Role::HomeroomTeacher && class_name.is_none() {
            bail!("a homeroom teacher needs --class");
        }
        let now = self.clock.now();
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
        let code = new_invite_code();
        let expires = now + Duration::days(i64::from(self.config.invite_valid_days));
        let invite = people::NewInvite {
            code: &code,
            role,
            unit_code: &unit.code,
            name,
            class_name,
            expires,
            issued_by: None,
        };
        people::create_invite(&mut tx, &invite, now).await?;
        audit(
            &mut tx,
            now,
            &Actor::Cli.label(),
            "invite",
            &format!(
                "{role} in {} for {name}, expires {}",
                unit.code,
                expires.to_rfc3339()
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(format!("https://t.me/{username}?start={code}"))
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
        audit(
            &mut tx,
            now,
            &Actor::Cli.label(),
            "revoke",
            &format!("user {user_id}, role {role:?}, unit {unit_code:?}: {n} binding(s)"),
        )
        .await?;
        tx.commit().await?;
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

    /// The season as the CLI shows it after `season`.
    pub fn describe_season(&self, s: &Season) -> String {
        let exemption = match s.exemption_closes {
            Some(c) => format!(
                "; 免考 applications until {} (an applicant's age counted on {})",
                display(c, s.tz),
                s.age_day()
            ),
            None => String::new(),
        };
        format!(
            "season {} is current: last exam day {}, time zone {}, full score {}, scores due by {}{exemption}",
            s.year,
            s.last_exam_day,
            s.tz,
            s.full_score,
            display(s.publish_deadline, s.tz)
        )
    }

    /// `season --exemption-closes --first-exam-day`: when 免考 applications close, and the day
    /// an applicant's age is counted on. The close must come before the first exam day begins.
    pub async fn set_exemption_window(
        &self,
        closes: Option<chrono::DateTime<chrono::Utc>>,
        first_exam_day: Option<NaiveDate>,
    ) -> anyhow::Result<Season> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let season = seasons::current(&mut tx)
            .await?
            .context("no current season: run `exam-review-bot season` first")?;
        if let Some(first) = first_exam_day
            && first > season.last_exam_day
        {
            bail!(
                "--first-exam-day {first} is after the last exam day {}",
                season.last_exam_day
            );
        }
        let exam_begins = first_exam_day.unwrap_or(season.last_exam_day);
        if let Some(c) = closes
            && c.with_timezone(&season.tz).date_naive() >= exam_begins
        {
            bail!(
                "--exemption-closes {} must come before the exam begins ({exam_begins})",
                display(c, season.tz)
            );
        }
        seasons::set_exemption_window(&mut tx, season.id, closes, first_exam_day).await?;
        let detail = format!(
            "season {}: exemptions close {}, first exam day {}",
            season.year,
            closes.map_or("(not set)".into(), |c| display(c, season.tz)),
            first_exam_day.map_or("(not set)".into(), |d| d.to_string())
        );
        audit(
            &mut tx,
            now,
            &Actor::Cli.label(),
            "exemption-window",
            &detail,
        )
        .await?;
        let season = seasons::current(&mut tx)
            .await?
            .context("season just written")?;
        tx.commit().await?;
        Ok(season)
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

/// Whether a unit is a school (used by the scores import).
pub fn is_school(u: &unit_store::Unit) -> bool {
    u.kind == UnitKind::School
}

impl App {
    /// After a revocation: the open requests a person filed for a school where they no longer
    /// hold a filing role pass to that school's first current contact, who is told. (Their
    /// votes need nothing here: a vote counts only while its caster holds the step.)
    async fn pass_open_filings(
        &self,
        conn: &mut sqlx::AnyConnection,
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
                        .render("review_passed_to_you", &serde_json::json!({"id": id}))?,
                    ..Default::default()
                };
                crate::store::outbox::enqueue(conn, &msg, self.clock.now()).await?;
            }
        }
        Ok(())
    }
}
