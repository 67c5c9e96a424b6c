//! Setting up a season: the season itself and the unit tree (people: `invites.rs`).

use super::{Actor, App};
use crate::domain::Score;
use crate::domain::deadline::display;
use crate::import::table::Table;
use crate::import::{Refused, units};
use crate::store::seasons::{self, NewSeason, Season};
use crate::store::{audit, units as unit_store};
use anyhow::{Context, bail};
use chrono::NaiveDate;
use chrono_tz::Tz;
use std::path::Path;

impl App {
    /// The configuration's `[cities.CODE]` sections whose CODE is no city of the units: a
    /// typo there would leave a city on the deployment's route without a word. None before
    /// any city is imported.
    pub async fn unknown_city_sections(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.db.pool.acquire().await?;
        let cities = unit_store::cities(&mut conn).await?;
        if cities.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .config
            .cities
            .keys()
            .filter(|code| !cities.contains(code))
            .cloned()
            .collect())
    }

    /// The configuration's `[units.CODE]` sections whose CODE is neither a district nor a
    /// city-direct school: a typo there would leave a county on its city's route without a
    /// word. None before any unit is imported.
    pub async fn unknown_unit_sections(&self) -> anyhow::Result<Vec<String>> {
        if self.config.units.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.pool.acquire().await?;
        let all = unit_store::all(&mut conn).await?;
        if all.is_empty() {
            return Ok(Vec::new());
        }
        let reports = |code: &String| {
            all.iter().any(|u| {
                &u.code == code
                    && (u.kind == crate::domain::UnitKind::District
                        || (u.kind == crate::domain::UnitKind::School && u.city_direct))
            })
        };
        Ok(self
            .config
            .units
            .keys()
            .filter(|code| !reports(code))
            .cloned()
            .collect())
    }

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
        let city = self.cli_city(&mut tx).await?;
        if let Some(existing) = seasons::by_year(&mut tx, &city, year).await?
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
            city_code: city.clone(),
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
        let season = seasons::current(&mut tx, &city)
            .await?
            .context("season just written")?;
        tx.commit().await?;
        Ok(season)
    }

    /// The one city whose units a file may hold: a person's own (a city admin's file); None for
    /// the command line, whose terminal is the deployment's.
    pub(crate) async fn only_city_of(
        &self,
        conn: &mut crate::store::Conn,
        actor: Actor,
    ) -> anyhow::Result<Option<String>> {
        Ok(match actor {
            Actor::Cli => None,
            Actor::Person(user) => Some(self.city_of_user(conn, user).await?),
        })
    }

    /// Imports (or updates in place) the unit tree; all or nothing.
    pub async fn import_units(&self, path: &Path) -> anyhow::Result<Vec<unit_store::Unit>> {
        self.import_units_from(super::Origin::cli(path), path).await
    }

    /// The unit tree, imported by whoever `origin` names.
    pub async fn import_units_from(
        &self,
        origin: super::Origin<'_>,
        path: &Path,
    ) -> anyhow::Result<Vec<unit_store::Unit>> {
        let table = Table::open(path, &self.config.limits)?;
        let mut tx = self.db.begin().await?;
        let known = unit_store::all(&mut tx).await?;
        let only_city = self.only_city_of(&mut tx, origin.actor).await?;
        let units = units::check(table, &known, only_city.as_deref())?
            .map_err(|problems| Refused { problems })?;
        for u in &units {
            unit_store::upsert(&mut tx, u).await?;
        }
        unit_store::recompute_cities(&mut tx).await?;
        // A season written before the tree belongs to its city once there is one; with
        // several, nobody can tell which, and the import says so.
        if seasons::any_without_city(&mut tx).await? {
            match unit_store::cities(&mut tx).await?.as_slice() {
                [] => {}
                [city] => {
                    seasons::adopt(&mut tx, city).await?;
                }
                _ => bail!(
                    "a season was set before any city was imported, and this tree has several \
                     cities: import one city's units first, or set each city's season with \
                     `season --city CODE`"
                ),
            }
        }
        audit(
            &mut tx,
            self.clock.now(),
            &origin.actor.label(),
            "import-units",
            &format!("{} units from {}", units.len(), origin.name),
        )
        .await?;
        tx.commit().await?;
        Ok(units)
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
        let city = self.cli_city(&mut tx).await?;
        let season = seasons::current(&mut tx, &city)
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
        let season = seasons::current(&mut tx, &city)
            .await?
            .context("season just written")?;
        tx.commit().await?;
        Ok(season)
    }
}
