//! 登分 and same-day upload (附件7). Each county (考区) has one batch per exam half-day, planned
//! from the roster's sittings. Two of the county's entry clerks upload the batch's sheet, one
//! reading out (报分) and one entering (录入); the proofreading entry comes from the same two
//! with their roles swapped. The bot lists every field the two entries differ on until they
//! agree; the county's 纪检监督 then seals the batch (the digital half-day password), its
//! officer reports the day's sealed batches to the city (上报), and a batch not reported by
//! the cutoff is 缺考 (the city may accept late, with a reason, only a batch sealed before the
//! cutoff). /publish then publishes from the batches.
//!
//! One upload path serves the command line (`entry upload`) and a sheet sent in chat: both
//! call `upload_entry` with a file on disk.

pub mod board;
pub(crate) mod chat;
mod day;
pub mod password;
mod publish;
mod seal;

pub use chat::{BOT_DOWNLOAD_LIMIT, Sheet};
pub use publish::Readiness;

use super::policy::{self, Action, Subject};
use super::{Actor, App};
use crate::domain::Role;
use crate::domain::entry::{self, Crew, EntryRow, Mismatch, PairRefused, Side};
use crate::domain::ids::IdPattern;
use crate::import::roster::{Registered, Roster};
use crate::import::scores::Checker;
use crate::import::table::Table;
use crate::import::{Problem, Problems, Refused};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::entry::{self as batches, Batch};
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use crate::store::units::Unit;
use crate::store::{audit, seasons, units};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Mismatches a chat message lists (the rest are counted; the command line prints them all).
const LISTED_MISMATCHES: usize = 30;

/// What became of an upload.
#[derive(Debug)]
pub enum Upload {
    /// Taken as `side`; `mismatches` is None while the other entry is missing.
    Taken {
        batch: Box<Batch>,
        side: Side,
        rows: usize,
        mismatches: Option<Vec<Mismatch>>,
    },
    /// Refused before the file was read: a sentence (template and its data) says why.
    Refused(Said),
    /// The file's rows have problems; nothing was taken.
    Problems(Problems),
}

/// A message template with its data: what a refusal says, in chat or on the command line.
#[derive(Debug, Clone)]
pub struct Said {
    pub template: &'static str,
    pub data: Value,
}

fn said(template: &'static str, data: Value) -> Said {
    Said { template, data }
}

/// The county (考区) a school's candidates are entered in: its district, or the city's own
/// 考区 for a city-direct school.
pub(crate) fn county_of(school: &Unit, city: &str) -> String {
    match (&school.parent_code, school.city_direct) {
        (Some(parent), false) => parent.clone(),
        _ => city.to_string(),
    }
}

/// The units as the entry code needs them: the city's code, names and schools by county.
pub(crate) struct Area {
    pub city: String,
    pub units: Vec<Unit>,
}

impl Area {
    /// The city's units (no other city's county or school is among them).
    pub(crate) async fn load(conn: &mut Conn, city: &str) -> anyhow::Result<Area> {
        Ok(Area {
            city: city.to_string(),
            units: units::of_city(conn, city).await?,
        })
    }

    pub(crate) fn schools(&self, county: &str) -> Vec<String> {
        self.units
            .iter()
            .filter(|u| u.is_school() && county_of(u, &self.city) == county)
            .map(|u| u.code.clone())
            .collect()
    }

    /// A county's name; the city's own 考区 is named after the city.
    pub(crate) fn name(&self, county: &str) -> String {
        let name = self
            .units
            .iter()
            .find(|u| u.code == county)
            .map_or(county.to_string(), |u| u.name.clone());
        if county == self.city {
            format!("{name}（市直考区）")
        } else {
            name
        }
    }

    /// The permission model's subject for a batch of `county`.
    pub(crate) fn subject<'a>(&'a self, county: &'a str, clerks: &'a [i64]) -> Subject<'a> {
        Subject {
            city: &self.city,
            district: (county != self.city).then_some(county),
            signers: clerks,
            ..Subject::default()
        }
    }
}

/// What planning found: batches made, and roster candidates without a sitting (they belong
/// to no batch).
#[derive(Debug, Default)]
pub struct Plan {
    pub batches: usize,
    pub unseated: i64,
}

impl App {
    /// Plans the current season's batches from its roster: one per county and half-day.
    /// Called after `import candidates`; a new roster re-plans them (it is refused once any
    /// batch has an upload).
    pub async fn plan_batches(&self, actor: super::Actor) -> anyhow::Result<Plan> {
        let report_by = self.config.entry.report_by()?;
        let mut tx = self.db.begin().await?;
        let city = self.city_of_actor(&mut tx, actor).await?;
        let season = seasons::current(&mut tx, &city)
            .await?
            .context("no current season: run `exam-review-bot season` first")?;
        let area = Area::load(&mut tx, &city).await?;
        let county: BTreeMap<&str, String> = area
            .units
            .iter()
            .filter(|u| u.is_school())
            .map(|u| (u.code.as_str(), county_of(u, &area.city)))
            .collect();
        let mut plan = Plan::default();
        let mut counts: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for (school, date, half, n) in batches::sittings(&mut tx, season.id).await? {
            match (
                county.get(school.as_str()),
                date.is_empty() || half.is_empty(),
            ) {
                (Some(c), false) => *counts.entry((c.clone(), date, half)).or_default() += n,
                _ => plan.unseated += n,
            }
        }
        // Asked again here, in the planning's transaction: an entry taken since the roster
        // import began keeps its batch.
        if batches::any_upload(&mut tx, season.id).await? {
            bail!(
                "season {} has score entries on its batches; they are not planned again",
                season.year
            );
        }
        // Batches keep their numbers across a new roster; those it no longer has go.
        for b in batches::all(&mut tx, season.id).await? {
            let key = (
                b.county_code.clone(),
                b.exam_date.clone(),
                b.half_day.clone(),
            );
            if !counts.contains_key(&key) {
                batches::delete(&mut tx, b.id).await?;
            }
        }
        for ((county, date, half), n) in &counts {
            let day: chrono::NaiveDate = date
                .parse()
                .with_context(|| format!("the roster's 考试日期 {date:?} is not a date"))?;
            let cutoff = entry::cutoff(day, report_by, season.tz);
            batches::upsert(&mut tx, season.id, county, date, half, *n, cutoff).await?;
        }
        plan.batches = counts.len();
        tx.commit().await?;
        Ok(plan)
    }

    /// The current season's batches, for the command line's list.
    pub async fn entry_batches(&self) -> anyhow::Result<Vec<(Batch, String)>> {
        let mut conn = self.db.pool.acquire().await?;
        let city = self.cli_city(&mut conn).await?;
        let Some(season) = seasons::current(&mut conn, &city).await? else {
            return Ok(Vec::new());
        };
        let area = Area::load(&mut conn, &city).await?;
        Ok(batches::all(&mut conn, season.id)
            .await?
            .into_iter()
            .map(|b| {
                let name = area.name(&b.county_code);
                (b, name)
            })
            .collect())
    }

    /// One entry of a batch, from a file on disk (the command line's, or a sheet sent in chat
    /// once downloaded). `crew` says who entered, who read out and who watched each; in chat
    /// the uploader is the one who entered.
    pub async fn upload_entry(
        &self,
        actor: Actor,
        batch_id: i64,
        path: &Path,
        file_name: &str,
        crew: Crew,
    ) -> anyhow::Result<Upload> {
        let now = self.clock.now();
        let mut conn = self.db.pool.acquire().await?;
        let (season, batch, area) = match self.open_batch(&mut conn, batch_id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Upload::Refused(refused)),
        };
        let schools = area.schools(&batch.county_code);
        // Refused early, before the file is read; asked again in the transaction below.
        let side = match self
            .who_uploads(&mut conn, &area, &batch, actor, crew)
            .await?
        {
            Ok(side) => side,
            Err(refused) => return Ok(Upload::Refused(refused)),
        };

        // Read and check the file against the batch's part of the roster.
        let members = batches::members(&mut conn, &batch, &schools).await?;
        let exempt = batches::exempt_exam_nos(&mut conn, season.id).await?;
        drop(conn);
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file_hash = format!("{:x}", Sha256::digest(&bytes));
        drop(bytes);
        let rows = match self.read_entry(path, &season, &schools, &members, &exempt)? {
            Ok(rows) => rows,
            Err(problems) => return Ok(Upload::Problems(problems)),
        };

        // Take it, checking again under the write lock what may have changed meanwhile.
        let mut tx = self.db.begin().await?;
        batches::lock(&mut tx, batch.id).await?;
        let (_, batch, _) = match self.open_batch(&mut tx, batch_id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Upload::Refused(refused)),
        };
        // A clerk unbound, or another entry taken, while the file was read.
        let side = match self
            .who_uploads(&mut tx, &area, &batch, actor, crew)
            .await?
        {
            Ok(s) if s == side => s,
            Ok(_) => return Ok(Upload::Refused(said(tpl::ENTRY_CHANGED, json!({})))),
            Err(refused) => return Ok(Upload::Refused(refused)),
        };
        batches::replace_rows(&mut tx, batch.id, side, &rows).await?;
        let actor_label = actor.label();
        batches::record_upload(
            &mut tx,
            &batches::Upload {
                batch: batch.id,
                side,
                crew,
                file_name,
                file_hash: &file_hash,
                rows: rows.len() as i64,
                at: now,
                actor: &actor_label,
            },
        )
        .await?;
        let other = match side {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let mismatches = if batches::sides(&mut tx, batch.id).await?.contains(&other) {
            let theirs = batches::rows(&mut tx, batch.id, other).await?;
            Some(match side {
                Side::A => entry::reconcile(&rows, &theirs),
                Side::B => entry::reconcile(&theirs, &rows),
            })
        } else {
            None
        };
        batches::set_mismatches(
            &mut tx,
            batch.id,
            mismatches.as_ref().map(|m| m.len() as i64),
        )
        .await?;
        audit(
            &mut tx,
            now,
            &actor_label,
            "entry-upload",
            &format!(
                "batch #{} ({} {}) entry {}: {} rows, file sha256 {file_hash}; read out by {}, \
                 entered by {}, reading watched by {}, entering watched by {}",
                batch.id,
                batch.county_code,
                batch.half_day_label(),
                side.as_str(),
                rows.len(),
                crew.pair.read,
                crew.pair.entered,
                crew.watched_reading,
                crew.watched_entering
            ),
        )
        .await?;
        self.tell_upload(&mut tx, &area, &batch, side, crew, rows.len(), &mismatches)
            .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        let batch = batches::get(&mut *self.db.pool.acquire().await?, batch.id)
            .await?
            .unwrap_or(batch);
        Ok(Upload::Taken {
            batch: Box::new(batch),
            side,
            rows: rows.len(),
            mismatches,
        })
    }

    /// Whether this person may do `action` on a batch, by the permission model (the batch
    /// matrix test reads the table in docs/permissions.md from it).
    pub async fn batch_permission(
        &self,
        user: i64,
        action: Action,
        batch_id: i64,
    ) -> anyhow::Result<Result<(), policy::Denied>> {
        let mut conn = self.db.pool.acquire().await?;
        let batch = batches::get(&mut conn, batch_id)
            .await?
            .with_context(|| format!("batch {batch_id}"))?;
        let season = seasons::by_id(&mut conn, batch.season_id)
            .await?
            .with_context(|| format!("season of batch {batch_id}"))?;
        let area = Area::load(&mut conn, &season.city_code).await?;
        let clerks = batches::clerks(&mut conn, batch_id).await?;
        let bound = people::of_user(&mut conn, user).await?;
        let subject = area.subject(&batch.county_code, &clerks);
        let route = self.route(&season.city_code);
        Ok(policy::check(&route, user, &bound, action, &subject).map(|_| ()))
    }

    /// Roster candidates of the season that belong to no batch: without a sitting, or of a
    /// school that is not among the units.
    pub(crate) async fn unseated(
        &self,
        conn: &mut Conn,
        season_id: i64,
        area: &Area,
    ) -> anyhow::Result<i64> {
        let schools: HashSet<&str> = area
            .units
            .iter()
            .filter(|u| u.is_school())
            .map(|u| u.code.as_str())
            .collect();
        Ok(batches::sittings(conn, season_id)
            .await?
            .into_iter()
            .filter(|(school, date, half, _)| {
                date.is_empty() || half.is_empty() || !schools.contains(school.as_str())
            })
            .map(|(.., n)| n)
            .sum())
    }

    /// Both entries of a batch compared afresh, as an upload compares them once the other
    /// entry is in; None while one is missing.
    pub async fn reconcile_entries(&self, batch_id: i64) -> anyhow::Result<Option<Vec<Mismatch>>> {
        let mut conn = self.db.pool.acquire().await?;
        let sides = batches::sides(&mut conn, batch_id).await?;
        if !(sides.contains(&Side::A) && sides.contains(&Side::B)) {
            return Ok(None);
        }
        let a = batches::rows(&mut conn, batch_id, Side::A).await?;
        let b = batches::rows(&mut conn, batch_id, Side::B).await?;
        Ok(Some(entry::reconcile(&a, &b)))
    }

    /// Whether this pair may upload to the batch now, and as which entry: the uploader (in
    /// chat) and both people must be the county's entry clerks, and the pair must be the first
    /// entry's, or it swapped.
    async fn who_uploads(
        &self,
        conn: &mut Conn,
        area: &Area,
        batch: &Batch,
        actor: Actor,
        crew: Crew,
    ) -> anyhow::Result<Result<Side, Said>> {
        let pair = crew.pair;
        let subject = area.subject(&batch.county_code, &[]);
        let route = self.route(&area.city);
        // 附件7 二: four people, each in one place.
        if !crew.distinct() {
            return Ok(Err(said(tpl::ENTRY_NOT_FOUR, json!({}))));
        }
        if let Actor::Person(user) = actor {
            let bound = people::of_user(conn, user).await?;
            if let Err(d) = policy::check(&route, user, &bound, Action::Enter, &subject) {
                return Ok(Err(said(d.template(), json!({}))));
            }
        }
        for who in [pair.entered, pair.read] {
            let bound = people::of_user(conn, who).await?;
            if policy::check(&route, who, &bound, Action::Enter, &subject).is_err() {
                return Ok(Err(said(
                    tpl::ENTRY_NOT_COUNTY_CLERK,
                    json!({"user": who, "county": area.name(&batch.county_code)}),
                )));
            }
        }
        for who in [crew.watched_reading, crew.watched_entering] {
            let bound = people::of_user(conn, who).await?;
            if policy::check(&route, who, &bound, Action::WatchEntry, &subject).is_err() {
                return Ok(Err(said(
                    tpl::ENTRY_NOT_COUNTY_WATCHER,
                    json!({"user": who, "county": area.name(&batch.county_code)}),
                )));
            }
        }
        let first = batches::first_pair(conn, batch.id).await?;
        Ok(match entry::side_for(first, pair) {
            Ok(side) => Ok(side),
            Err(refused) => Err(self.pair_refused(conn, refused).await?),
        })
    }

    /// The batch, if it is the current season's and still takes entries.
    async fn open_batch(
        &self,
        conn: &mut Conn,
        batch_id: i64,
    ) -> anyhow::Result<Result<(seasons::Season, Batch, Area), Said>> {
        let batch = batches::get(conn, batch_id).await?;
        let season = match &batch {
            Some(b) => seasons::current_by_id(conn, b.season_id).await?,
            None => None,
        };
        let (Some(season), Some(batch)) = (season, batch) else {
            return Ok(Err(said(
                tpl::ENTRY_NO_SUCH_BATCH,
                json!({"batch": batch_id}),
            )));
        };
        if batch.season_id != season.id {
            return Ok(Err(said(
                tpl::ENTRY_NO_SUCH_BATCH,
                json!({"batch": batch_id}),
            )));
        }
        let area = Area::load(conn, &season.city_code).await?;
        let data = json!({"batch": batch.id, "county": area.name(&batch.county_code),
                          "half_day": batch.half_day_label()});
        if season.published_at.is_some() {
            return Ok(Err(said(tpl::ENTRY_PUBLISHED, data)));
        }
        if batch.sealed_at.is_some() {
            return Ok(Err(said(tpl::ENTRY_SEALED_REFUSED, data)));
        }
        // At the cutoff the batch is 缺考 whether or not the sweep has marked it yet.
        if batch.is_absent() || self.clock.now() >= batch.cutoff() {
            return Ok(Err(said(tpl::ENTRY_ABSENT_REFUSED, data)));
        }
        Ok(Ok((season, batch, area)))
    }

    async fn pair_refused(&self, conn: &mut Conn, refused: PairRefused) -> anyhow::Result<Said> {
        Ok(match refused {
            PairRefused::SamePerson => said(tpl::ENTRY_SAME_PERSON, json!({})),
            PairRefused::NotSwapped { first } => said(
                tpl::ENTRY_NOT_SWAPPED,
                json!({"entered": self.clerk_name(conn, first.entered).await?,
                       "read": self.clerk_name(conn, first.read).await?}),
            ),
        })
    }

    /// A clerk's name as bound ("#id" for someone not bound as a clerk).
    pub(crate) async fn clerk_name(&self, conn: &mut Conn, user: i64) -> anyhow::Result<String> {
        self.bound_name(conn, user, Some(Role::EntryClerk)).await
    }

    /// Anyone's name as bound (a watcher may be a clerk or an inspector).
    pub(crate) async fn person_name(&self, conn: &mut Conn, user: i64) -> anyhow::Result<String> {
        self.bound_name(conn, user, None).await
    }

    async fn bound_name(
        &self,
        conn: &mut Conn,
        user: i64,
        role: Option<Role>,
    ) -> anyhow::Result<String> {
        Ok(people::of_user(conn, user)
            .await?
            .into_iter()
            .find(|b| role.is_none_or(|r| b.role == r))
            .map_or_else(|| format!("#{user}"), |b| b.name))
    }

    /// The four of each entry of the batch, by name, first entry first: for the seal card,
    /// the board and the records.
    pub(crate) async fn crew_names(
        &self,
        conn: &mut Conn,
        batch: i64,
    ) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        for (side, crew) in batches::crews(conn, batch).await? {
            let Some(c) = crew else {
                continue;
            };
            out.push(json!({
                "second": side == Side::B,
                "read": self.clerk_name(conn, c.pair.read).await?,
                "entered": self.clerk_name(conn, c.pair.entered).await?,
                "watched_reading": self.person_name(conn, c.watched_reading).await?,
                "watched_entering": self.person_name(conn, c.watched_entering).await?,
            }));
        }
        Ok(out)
    }

    /// Reads one entry: the same checks as `import scores` (身份证号, item sums, ranges,
    /// duplicates), matched against the batch's candidates. A 免考 candidate the sheet leaves
    /// out is added with the 免考 score; anyone else left out is a problem.
    fn read_entry(
        &self,
        path: &Path,
        season: &seasons::Season,
        schools: &[String],
        members: &[crate::store::roster::Row],
        exempt: &HashSet<String>,
    ) -> anyhow::Result<Result<Vec<EntryRow>, Problems>> {
        let mut table = Table::open(path, &self.config.limits)?.at_most(
            Table::rows_for_roster(members.len()),
            &format!("（本批次 {} 名考生）", members.len()),
        );
        let ids = &self.config.identifiers;
        let mut checker = Checker::new(
            &table.header,
            schools.iter().cloned().collect(),
            IdPattern::new(&ids.exam_no_pattern)?,
            IdPattern::new(&ids.reg_no_pattern)?,
            season.full_score,
            self.config.rules.item_maxima,
        )?;
        let mut roster = Roster::default();
        for m in members {
            let registered = Registered {
                exam_no: &m.exam_no,
                name: &m.name,
                id_card: &m.id_card,
                school: &m.school_code,
                reg_no: &m.reg_no,
            };
            roster.insert(&registered, exempt.contains(&m.exam_no));
        }
        let exempt_score = self
            .config
            .exemption_of(&season.city_code)
            .score(season.full_score);
        checker.match_batch(roster, exempt_score);
        let mut problems = Problems::new();
        let mut rows = Vec::with_capacity(members.len());
        let mut cells = Vec::new();
        while let Some(row) = table.next_row(&mut cells) {
            let n = match row {
                Ok(n) => n,
                Err(p) => {
                    problems.push(p);
                    continue;
                }
            };
            if let Some(c) = checker.check(n, &cells, &mut problems) {
                rows.push(entry_row(&c));
            }
        }
        if let Some(roster) = checker.take_roster() {
            for (exam_no, is_exempt) in roster.unseen() {
                match members.iter().find(|m| m.exam_no == exam_no) {
                    Some(m) if is_exempt => rows.push(entry_row(&m.as_exempt(exempt_score))),
                    _ => problems.push(Problem::new(
                        0,
                        "准考证号",
                        &exam_no,
                        "本批次的考生，表中没有其成绩",
                    )),
                }
            }
        }
        if problems.is_empty() && rows.is_empty() {
            problems.push(Problem::new(1, "(文件)", "", "没有数据行"));
        }
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        rows.sort_unstable_by(|a, b| a.exam_no.cmp(&b.exam_no));
        Ok(Ok(rows))
    }

    /// After an upload: the two clerks hear what it was and where the batch stands (the
    /// mismatches, listed); when the entries agree, the county's inspectors get the seal card.
    #[allow(clippy::too_many_arguments)]
    async fn tell_upload(
        &self,
        conn: &mut Conn,
        area: &Area,
        batch: &Batch,
        side: Side,
        crew: Crew,
        rows: usize,
        mismatches: &Option<Vec<Mismatch>>,
    ) -> anyhow::Result<()> {
        let pair = crew.pair;
        let listed: Vec<&Mismatch> = mismatches
            .iter()
            .flatten()
            .take(LISTED_MISMATCHES)
            .collect();
        let data = json!({
            "batch": batch.id,
            "county": area.name(&batch.county_code),
            "half_day": batch.half_day_label(),
            "second": side == Side::B,
            "rows": rows,
            "entered": self.clerk_name(conn, pair.entered).await?,
            "read": self.clerk_name(conn, pair.read).await?,
            "watched_reading": self.person_name(conn, crew.watched_reading).await?,
            "watched_entering": self.person_name(conn, crew.watched_entering).await?,
            "crews": self.crew_names(conn, batch.id).await?,
            "waiting": mismatches.is_none(),
            "agreed": mismatches.as_ref().is_some_and(|m| m.is_empty()),
            "mismatch_count": mismatches.as_ref().map_or(0, |m| m.len()),
            "mismatches": listed,
            "more": mismatches.as_ref().map_or(0, |m| m.len().saturating_sub(LISTED_MISMATCHES)),
        });
        // The four hear it: the clerks in their clerk's chat, a watching inspector in theirs.
        let mut told = Vec::new();
        for who in crew.people() {
            let bound = people::of_user(conn, who).await?;
            let mut chats = chats_of(&bound, Role::EntryClerk);
            chats.extend(chats_of(&bound, Role::Inspector));
            for chat in chats {
                if !told.contains(&chat) {
                    told.push(chat);
                    self.tell(conn, chat, tpl::ENTRY_RECEIVED, &data).await?;
                }
            }
        }
        if mismatches.as_ref().is_some_and(|m| m.is_empty()) {
            let markup = crate::buttons::Buttons::rows(vec![vec![crate::buttons::button(
                self.render.text(tpl::BUTTON_SEAL_BATCH)?,
                super::callback::Callback::Entry {
                    batch: batch.id,
                    action: super::callback::EntryAction::Seal,
                }
                .encode(),
            )]]);
            for b in people::holders(conn, Role::Inspector, &batch.county_code).await? {
                let msg = Outgoing {
                    chat_id: b.chat_id,
                    body: self.render.render(tpl::ENTRY_SEAL_CARD, &data)?,
                    buttons: Some(markup.clone()),
                    ..Outgoing::default()
                };
                outbox::enqueue(conn, &msg, self.clock.now()).await?;
            }
        }
        Ok(())
    }

    /// Everyone of the batch's county who works on its entry: clerks, inspectors and the
    /// county's officers (the city admins for the city's own 考区).
    pub(crate) async fn county_people(
        &self,
        conn: &mut Conn,
        area: &Area,
        county: &str,
    ) -> anyhow::Result<Vec<i64>> {
        let mut chats = Vec::new();
        let officer = if county == area.city {
            Role::CityAdmin
        } else {
            Role::DistrictOfficer
        };
        for role in [Role::EntryClerk, Role::Inspector, officer] {
            chats.extend(
                people::holders(conn, role, county)
                    .await?
                    .into_iter()
                    .map(|b| b.chat_id),
            );
        }
        chats.sort_unstable();
        chats.dedup();
        Ok(chats)
    }

    /// The city admins' chats.
    pub(crate) async fn city_admin_chats(
        &self,
        conn: &mut Conn,
        area: &Area,
    ) -> anyhow::Result<Vec<i64>> {
        Ok(people::holders(conn, Role::CityAdmin, &area.city)
            .await?
            .into_iter()
            .map(|b| b.chat_id)
            .collect())
    }
}

fn chats_of(bound: &[Binding], role: Role) -> Vec<i64> {
    let mut chats: Vec<i64> = bound
        .iter()
        .filter(|b| b.role == role)
        .map(|b| b.chat_id)
        .collect();
    chats.dedup();
    chats
}

fn entry_row(c: &crate::store::candidates::NewCandidate) -> EntryRow {
    let tenths = |s: crate::domain::Score| i64::from(s.tenths());
    EntryRow {
        exam_no: c.exam_no.to_string(),
        name: c.name.to_string(),
        score: tenths(c.score),
        item_main: c.items.map(|i| tenths(i.main)),
        item_sec1: c.items.map(|i| tenths(i.secondary_one)),
        item_sec2: c.items.map(|i| tenths(i.secondary_two)),
        item_tidy: c.items.map(|i| tenths(i.tidying)),
        exempt: i64::from(c.exempt),
    }
}

/// The refusal's problems, for the command line (the chat lists them with `entry_problems`).
pub fn problems_error(problems: Problems) -> anyhow::Error {
    Refused { problems }.into()
}
