//! Importing the scores file, or the roster before the exam, into the current season: every
//! row checked, all or nothing.
//!
//! Checking and writing run side by side: this task reads and checks rows and hands batches to
//! a writer task (multi-row INSERTs on SQLite, COPY on PostgreSQL) inside one transaction. Once a
//! problem is found nothing more is handed over, but reading goes on so that every problem is
//! listed; then the transaction is rolled back.

use super::{Actor, App, Origin};
use crate::config::EntryMode;
use crate::domain::ids::IdPattern;
use crate::import::roster::{Registered, Roster};
use crate::import::scores::Checker;
use crate::import::table::Table;
use crate::import::{Problem, Problems, Refused};
use crate::store::candidates;
use crate::store::candidates::Load;
use crate::store::loading::{self, Loading};
use crate::store::{Backend, seasons, to_ms, units};
use anyhow::{Context, bail};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Candidates per school after a successful import.
#[derive(Debug)]
pub struct ImportSummary {
    pub season_year: i32,
    /// (school code, school name, candidates), by code.
    pub per_school: Vec<(String, String, u64)>,
    pub total: u64,
    /// A roster's candidates that belong to no 登分 batch (no sitting): publication from the
    /// batches waits for them.
    pub unseated: i64,
}

/// Encoded rows handed to the writer at a time (about 7,000 rows).
const CHUNK: usize = 1 << 20;
impl App {
    /// `import scores`: the season's scores, matched against its roster when it has one.
    pub async fn import_scores(&self, path: &Path) -> anyhow::Result<ImportSummary> {
        self.import_scores_from(Origin::cli(path), path).await
    }

    /// `import scores` by whoever `origin` names (a city admin's file sent in chat).
    pub async fn import_scores_from(
        &self,
        origin: Origin<'_>,
        path: &Path,
    ) -> anyhow::Result<ImportSummary> {
        self.import_table(path, Load::Scores, origin).await
    }

    /// `import candidates`: the roster before the exam (registration data, optionally where
    /// each candidate sits), which exemption applications name and scores are matched against.
    /// In `county-batches` mode the season's 登分 batches are planned from it.
    pub async fn import_candidates(&self, path: &Path) -> anyhow::Result<ImportSummary> {
        self.import_candidates_from(Origin::cli(path), path).await
    }

    /// `import candidates` by whoever `origin` names.
    pub async fn import_candidates_from(
        &self,
        origin: Origin<'_>,
        path: &Path,
    ) -> anyhow::Result<ImportSummary> {
        let origin_actor = origin.actor;
        let mut summary = self.import_table(path, Load::Roster, origin).await?;
        if self.config.entry.mode == EntryMode::CountyBatches {
            summary.unseated = self.plan_batches(origin_actor).await?.unseated;
        }
        Ok(summary)
    }

    /// The rows' checks of a scores file or a roster, with this city's identifier patterns and
    /// the season's full score (the import's, and the preview's of a file sent in chat).
    pub(crate) fn checker(
        &self,
        header: &[String],
        schools: HashSet<String>,
        season: &seasons::Season,
        load: Load,
    ) -> anyhow::Result<Checker> {
        let ids = &self.config.identifiers;
        let (exam_no, reg_no) = (
            IdPattern::new(&ids.exam_no_pattern)?,
            IdPattern::new(&ids.reg_no_pattern)?,
        );
        Ok(match load {
            Load::Scores => Checker::new(
                header,
                schools,
                exam_no,
                reg_no,
                season.full_score,
                self.config.rules.item_maxima,
            )?,
            Load::Roster => Checker::for_roster(header, schools, exam_no, reg_no)?,
        })
    }

    /// Whether a scores file or a roster may be imported now, and the season and its schools
    /// if so: the import's checks before any row is read, also the preview's of a file sent in
    /// chat (so that ✅ is offered only for what the import would take).
    pub(crate) async fn may_import(
        &self,
        load: Load,
        actor: Actor,
    ) -> anyhow::Result<(seasons::Season, Vec<units::Unit>)> {
        let (season, units) = {
            let mut conn = self.db.pool.acquire().await?;
            let city = self.city_of_actor(&mut conn, actor).await?;
            let season = seasons::current(&mut conn, &city)
                .await?
                .context("no current season: run `exam-review-bot season` first")?;
            if let Some(seal) = crate::store::seals::in_force(&mut conn, season.id).await? {
                bail!("{}", self.sealed_message(&seal, season.tz));
            }
            // A season whose roster planned 登分 batches takes its scores from them; one
            // without (no roster, or none with sittings) can still import a city file.
            if load == Load::Scores
                && self.config.entry.mode == EntryMode::CountyBatches
                && !crate::store::entry::all(&mut conn, season.id)
                    .await?
                    .is_empty()
            {
                bail!(
                    "entry.mode is \"county-batches\": the scores come from the counties' \
                     entries (entry upload, or sheets sent in chat) and /publish publishes from \
                     them; a city that imports one scores file sets entry.mode = \"city-file\""
                );
            }
            if load == Load::Roster && crate::store::entry::any_upload(&mut conn, season.id).await?
            {
                bail!(
                    "season {} has score entries on its batches; the roster can no longer be \
                     replaced",
                    season.year
                );
            }
            if load == Load::Scores {
                // An application still open would decide whether a row needs a score.
                let open =
                    crate::store::reviews::open_ids(&mut conn, "exemption", season.id).await?;
                if !open.is_empty() {
                    let ids: Vec<String> = open.iter().map(|id| format!("#{id}")).collect();
                    bail!(
                        "exemption application(s) {} are still open; they are decided (or lapse \
                         when the exam begins) before the scores are imported",
                        ids.join(", ")
                    );
                }
            }
            // Only the city's own schools take rows: another city's school is unknown here.
            (season, units::of_city(&mut conn, &city).await?)
        };
        if season.published_at.is_some() {
            bail!(
                "season {} is already published; scores change only through reviews now",
                season.year
            );
        }
        Ok((season, units))
    }

    async fn import_table(
        &self,
        path: &Path,
        load: Load,
        origin: Origin<'_>,
    ) -> anyhow::Result<ImportSummary> {
        let now = self.clock.now();
        let (season, units) = self.may_import(load, origin.actor).await?;
        let schools: HashSet<String> = units
            .iter()
            .filter(|u| u.is_school())
            .map(|u| u.code.clone())
            .collect();
        let started = std::time::Instant::now();
        // Opening reads the first rows, which may block (a slow disk, a pipe): on a
        // multi-threaded runtime this worker's other tasks move elsewhere meanwhile.
        let mut table = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| Table::open(path, &self.config.limits))?
            }
            _ => Table::open(path, &self.config.limits)?,
        };
        tracing::debug!(elapsed = ?started.elapsed(), "file opened");
        let mut checker = self.checker(&table.header, schools, &season, load)?;
        let what = match load {
            Load::Scores => "scores",
            Load::Roster => "candidates",
        };
        let detail = format!("{what} of season {} from {}", season.year, origin.name);
        let exempt_score = self
            .config
            .exemption_of(&season.city_code)
            .score(season.full_score);

        // This process's other SQLite writers wait until the import commits or rolls back.
        let _gate = match self.db.backend {
            Backend::Sqlite => Some(self.db.write_gate().await),
            Backend::Postgres => None,
        };
        let target = loading::Target {
            id: season.id,
            year: season.year,
        };
        let mut roster = Roster::default();
        let (mut loading, exempt_rows) = Loading::open(
            self.db.url(),
            self.db.backend,
            load,
            target,
            |[exam_no, name, id_card, school, reg_no], exempt| {
                let registered = Registered {
                    exam_no,
                    name,
                    id_card,
                    school,
                    reg_no,
                };
                roster.insert(&registered, exempt);
            },
        )
        .await?;
        let on_roster = (!roster.is_empty()).then_some((roster, exempt_rows));
        tracing::debug!(elapsed = ?started.elapsed(), "roster read");
        let exempt_rows = match on_roster {
            Some((roster, rows)) => {
                let registered = roster.len();
                table = table.at_most(
                    Table::rows_for_roster(registered),
                    &format!("（报名名单 {registered} 名考生）"),
                );
                checker.match_roster(roster, exempt_score);
                rows
            }
            None => Vec::new(),
        };

        // Read and check; hand over clean rows while the file is clean.
        let mut problems = Problems::new();
        // Hashed, not ordered: thousands of schools, looked up once a row.
        let mut per_school: HashMap<String, u64, foldhash::fast::RandomState> = HashMap::default();
        // Checked rows, encoded once (see `candidates::copy_row`) for whichever backend.
        let mut chunk = Vec::with_capacity(CHUNK + 4096);
        let mut cells = Vec::new();
        let mut writer_gone = false;
        while let Some(row) = table.next_row(&mut cells) {
            let n = match row {
                Ok(n) => n,
                Err(p) => {
                    problems.push(p);
                    continue;
                }
            };
            let Some(c) = checker.check(n, &cells, &mut problems) else {
                continue;
            };
            if !problems.is_empty() {
                continue;
            }
            count_school(&mut per_school, c.school_code);
            candidates::copy_row(&mut chunk, load, season.id, &c);
            if chunk.len() >= CHUNK && !writer_gone {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK + 4096));
                // A closed channel means the writer failed; its error is collected below.
                writer_gone = !loading.send(full).await;
            }
        }
        // The roster's candidates the file left out: a 免考 one is added with the configured
        // score (they sat no exam); anyone else is a problem (缺考 comes with score entry).
        if let Some(roster) = checker.take_roster() {
            for (exam_no, exempt) in roster.unseen() {
                match exempt_rows.iter().find(|r| r.exam_no == exam_no) {
                    Some(r) if exempt => {
                        let c = r.as_exempt(exempt_score);
                        if problems.is_empty() {
                            count_school(&mut per_school, c.school_code);
                            candidates::copy_row(&mut chunk, load, season.id, &c);
                        }
                    }
                    _ => problems.push(Problem::new(
                        0,
                        "准考证号",
                        &exam_no,
                        "报名名单中有此考生，成绩文件中没有其成绩",
                    )),
                }
            }
        }
        if problems.is_empty() && per_school.is_empty() {
            problems.push(Problem::new(1, "(文件)", "", "没有数据行"));
        }
        if problems.is_empty() && !chunk.is_empty() && !writer_gone {
            loading.send(chunk).await;
        }
        tracing::debug!(elapsed = ?started.elapsed(), "file read and checked");

        let actor = origin.actor.label();
        loading
            .finish(problems.is_empty(), to_ms(now), &detail, &actor)
            .await?;
        tracing::debug!(elapsed = ?started.elapsed(), "indexes built and committed");
        if !problems.is_empty() {
            return Err(Refused { problems }.into());
        }

        let names: BTreeMap<&str, &str> = units
            .iter()
            .map(|u| (u.code.as_str(), u.name.as_str()))
            .collect();
        let total = per_school.values().sum();
        let per_school: BTreeMap<String, u64> = per_school.into_iter().collect();
        Ok(ImportSummary {
            season_year: season.year,
            per_school: per_school
                .into_iter()
                .map(|(code, n)| {
                    let name = names.get(code.as_str()).copied().unwrap_or("").to_string();
                    (code, name, n)
                })
                .collect(),
            total,
            unseated: 0,
        })
    }
}

fn count_school(per_school: &mut HashMap<String, u64, foldhash::fast::RandomState>, school: &str) {
    match per_school.get_mut(school) {
        Some(count) => *count += 1,
        None => {
            per_school.insert(school.to_string(), 1);
        }
    }
}
