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
use crate::store::candidates::Load;
use crate::store::roster;
use crate::store::{Backend, seasons, sqlite_bulk, to_ms, units};
use crate::store::{audit_chain, candidates};
use anyhow::{Context, bail};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
/// The writer side: a backend-native connection holding the open transaction (sqlx's Any
/// driver has neither COPY nor SQLite's raw handle).
enum Writer {
    Sqlite(JoinHandle<anyhow::Result<SqliteConnection>>),
    Postgres(JoinHandle<anyhow::Result<PgConnection>>),
}

/// Runs SQL statements in order on a native connection.
macro_rules! execute_all {
    ($conn:expr, $statements:expr) => {
        for sql in $statements {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut $conn)
                .await?;
        }
    };
}

/// Opens the import's transaction: the indexes are dropped (see `candidates::bulk_load`) and the
/// season's old candidates (or roster) go.
fn before_load(backend: Backend, load: Load, season_id: i64) -> Vec<String> {
    let begin = match backend {
        // Takes SQLite's write lock now rather than at the first insert.
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    let mut statements = vec![begin.to_string()];
    statements.extend(
        candidates::bulk_load(backend, load)
            .drop
            .into_iter()
            .map(String::from),
    );
    let table = match load {
        Load::Scores => "candidates",
        Load::Roster => "roster",
    };
    statements.push(format!("DELETE FROM {table} WHERE season_id = {season_id}"));
    statements
}

/// A new roster replaces the old one only while no application names it, checked inside the
/// import's transaction: SQLite's write lock (BEGIN IMMEDIATE) and, on PostgreSQL, a SHARE
/// lock on the requests keep an application from being filed between the check and the commit.
macro_rules! no_applications_on_roster {
    ($conn:expr, $backend:expr, $season:expr) => {
        if $backend == Backend::Postgres {
            sqlx::query("LOCK TABLE review_requests IN SHARE MODE")
                .execute(&mut $conn)
                .await?;
        }
        let (applied,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM review_requests WHERE kind = 'exemption' AND season_id = $1",
        )
        .bind($season.id)
        .fetch_one(&mut $conn)
        .await?;
        if applied > 0 {
            sqlx::query("ROLLBACK").execute(&mut $conn).await.ok();
            $conn.close().await.ok();
            bail!(
                "season {} has {applied} exemption application(s) on its roster; the roster \
                 can no longer be replaced",
                $season.year
            );
        }
    };
}

/// Reads the season's roster, inside the import's transaction on its native connection, for
/// matching a scores file: every candidate's fingerprints (through `$scan`: SQLite's C API or
/// PostgreSQL's COPY), the 免考 ones marked, and the 免考 ones' whole rows (a few hundred at
/// most) to add those the file does not score. None when the season has no roster.
macro_rules! read_roster {
    ($conn:expr, $season:expr, $scan:path) => {{
        let exempt: Vec<(String,)> = sqlx::query_as(
            "SELECT r.exam_no FROM review_requests q JOIN roster r ON r.id = q.candidate_id
             WHERE q.kind = 'exemption' AND q.state = 'completed' AND q.season_id = $1",
        )
        .bind($season)
        .fetch_all(&mut $conn)
        .await?;
        let exempt: HashSet<String> = exempt.into_iter().map(|(e,)| e).collect();
        let mut roster = Roster::default();
        $scan(
            &mut $conn,
            $season,
            |[exam_no, name, id_card, school, reg_no]| {
                let registered = Registered {
                    exam_no,
                    name,
                    id_card,
                    school,
                    reg_no,
                };
                roster.insert(&registered, exempt.contains(exam_no));
            },
        )
        .await?;
        let rows: Vec<roster::Row> = if exempt.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM roster r JOIN review_requests q ON q.candidate_id = r.id
                 WHERE q.kind = 'exemption' AND q.state = 'completed' AND q.season_id = $1",
                roster::ROW_COLUMNS
            )))
            .bind($season)
            .fetch_all(&mut $conn)
            .await?
        };
        (!roster.is_empty()).then_some((roster, rows))
    }};
}

/// The check that scores are not yet published, again inside the import's transaction with the
/// season row locked (SQLite: the write lock BEGIN IMMEDIATE took; PostgreSQL: FOR UPDATE), so
/// that a `/publish` between the first check and the load cannot be overwritten.
macro_rules! still_unpublished {
    ($conn:expr, $backend:expr, $season:expr) => {
        let sql = match $backend {
            Backend::Sqlite => "SELECT published_at FROM seasons WHERE id = $1",
            Backend::Postgres => "SELECT published_at FROM seasons WHERE id = $1 FOR UPDATE",
        };
        let (published,): (Option<i64>,) = sqlx::query_as(sql)
            .bind($season.id)
            .fetch_one(&mut $conn)
            .await?;
        if published.is_some() {
            sqlx::query("ROLLBACK").execute(&mut $conn).await.ok();
            $conn.close().await.ok();
            bail!(
                "season {} was published while the file was being read; scores change only \
                 through reviews now",
                $season.year
            );
        }
    };
}

/// Ends the import on a native connection: with no problems the indexes are built again, the
/// audit line written and the transaction committed; otherwise it is rolled back. Either way the
/// connection is closed before the caller releases the SQLite write gate.
macro_rules! finish_load {
    ($conn:expr, $backend:expr, $load:expr, $problems:expr, $at_ms:expr, $detail:expr, $actor:expr) => {
        if $problems.is_empty() {
            execute_all!($conn, candidates::bulk_load($backend, $load).rebuild);
            // The import's record in the audit chain, on this native connection and in its
            // transaction (as `audit_chain::append` does on the pool's).
            if $backend == Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(audit_chain::APPEND_LOCK)
                    .execute(&mut $conn)
                    .await?;
            }
            let last: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut $conn)
                    .await?;
            let (seq, prev) =
                last.map_or((1, audit_chain::GENESIS.to_string()), |(s, h)| (s + 1, h));
            let actor = $actor.label();
            let action = match $load {
                Load::Scores => "import-scores",
                Load::Roster => "import-candidates",
            };
            let hash = audit_chain::hash(&prev, seq, $at_ms, &actor, action, &$detail);
            sqlx::query(
                "INSERT INTO audit_chain (seq, at, actor, action, detail, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(seq)
            .bind($at_ms)
            .bind(&actor)
            .bind(action)
            .bind(&$detail)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut $conn)
            .await?;
            sqlx::query("COMMIT").execute(&mut $conn).await?;
        } else if let Err(e) = sqlx::query("ROLLBACK").execute(&mut $conn).await {
            tracing::warn!("rolling the refused import back failed: {e}");
        }
        $conn.close().await.ok();
    };
}

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

        let (sender, receiver) = mpsc::channel::<Vec<u8>>(4);
        // This process's other SQLite writers wait until the import commits or rolls back.
        let _gate = match self.db.backend {
            Backend::Sqlite => Some(self.db.write_gate().await),
            Backend::Postgres => None,
        };
        let (writer, on_roster) = match self.db.backend {
            Backend::Sqlite => {
                let mut conn = candidates::sqlite_connect(self.db.url()).await?;
                execute_all!(conn, before_load(Backend::Sqlite, load, season.id));
                still_unpublished!(conn, Backend::Sqlite, season);
                if load == Load::Roster {
                    no_applications_on_roster!(conn, Backend::Sqlite, season);
                }
                let on_roster = match load {
                    Load::Scores => read_roster!(conn, season.id, sqlite_bulk::scan_roster),
                    Load::Roster => None,
                };
                let w = Writer::Sqlite(tokio::spawn(sqlite_writer(conn, load, receiver)));
                (w, on_roster)
            }
            Backend::Postgres => {
                let mut conn = candidates::pg_connect(self.db.url()).await?;
                execute_all!(conn, before_load(Backend::Postgres, load, season.id));
                still_unpublished!(conn, Backend::Postgres, season);
                if load == Load::Roster {
                    no_applications_on_roster!(conn, Backend::Postgres, season);
                }
                let on_roster = match load {
                    Load::Scores => read_roster!(conn, season.id, roster::scan_pg),
                    Load::Roster => None,
                };
                let w = Writer::Postgres(tokio::spawn(postgres_writer(conn, load, receiver)));
                (w, on_roster)
            }
        };
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
                writer_gone = sender.send(full).await.is_err();
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
            sender.send(chunk).await.ok();
        }
        drop(sender);
        tracing::debug!(elapsed = ?started.elapsed(), "file read and checked");

        // On an error below, dropping the connection with its transaction open rolls it back.
        match writer {
            Writer::Sqlite(handle) => {
                let mut conn = handle.await??;
                tracing::debug!(elapsed = ?started.elapsed(), "rows written");
                finish_load!(
                    conn,
                    Backend::Sqlite,
                    load,
                    problems,
                    to_ms(now),
                    &detail,
                    origin.actor
                );
            }
            Writer::Postgres(handle) => {
                let mut conn = handle.await??;
                tracing::debug!(elapsed = ?started.elapsed(), "rows written");
                finish_load!(
                    conn,
                    Backend::Postgres,
                    load,
                    problems,
                    to_ms(now),
                    &detail,
                    origin.actor
                );
            }
        }
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

/// Inserts the chunks inside the transaction opened on `conn`; the caller commits.
async fn sqlite_writer(
    mut conn: SqliteConnection,
    load: Load,
    mut chunks: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<SqliteConnection> {
    while let Some(chunk) = chunks.recv().await {
        sqlite_bulk::insert(&mut conn, load, &chunk).await?;
    }
    Ok(conn)
}

/// Streams the chunks into COPY inside the transaction opened on `conn`; the caller commits.
async fn postgres_writer(
    mut conn: PgConnection,
    load: Load,
    mut chunks: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<PgConnection> {
    let mut copy = conn.copy_in_raw(&candidates::copy_statement(load)).await?;
    copy.send(candidates::COPY_HEADER).await?;
    while let Some(chunk) = chunks.recv().await {
        copy.send(chunk).await?;
    }
    copy.send(candidates::COPY_TRAILER).await?;
    // With problems the caller rolls back, so what COPY took is discarded either way.
    copy.finish().await?;
    Ok(conn)
}
