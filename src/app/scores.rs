//! Importing the scores file into the current season: every row checked, all or nothing.
//!
//! Checking and writing run side by side: this task reads and checks rows and hands batches to
//! a writer task (multi-row INSERTs on SQLite, COPY on PostgreSQL) inside one transaction. Once a
//! problem is found nothing more is handed over, but reading goes on so that every problem is
//! listed; then the transaction is rolled back.

use super::{Actor, App};
use crate::domain::ids::IdPattern;
use crate::import::scores::Checker;
use crate::import::table::Table;
use crate::import::{Problem, Refused};
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
/// season's old candidates go.
fn before_load(backend: Backend, season_id: i64) -> Vec<String> {
    let begin = match backend {
        // Takes SQLite's write lock now rather than at the first insert.
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    let mut statements = vec![begin.to_string()];
    statements.extend(
        candidates::bulk_load(backend)
            .drop
            .into_iter()
            .map(String::from),
    );
    statements.push(format!(
        "DELETE FROM candidates WHERE season_id = {season_id}"
    ));
    statements
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
    ($conn:expr, $backend:expr, $problems:expr, $at_ms:expr, $detail:expr) => {
        if $problems.is_empty() {
            execute_all!($conn, candidates::bulk_load($backend).rebuild);
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
            let actor = Actor::Cli.label();
            let hash = audit_chain::hash(&prev, seq, $at_ms, &actor, "import-scores", &$detail);
            sqlx::query(
                "INSERT INTO audit_chain (seq, at, actor, action, detail, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(seq)
            .bind($at_ms)
            .bind(&actor)
            .bind("import-scores")
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
    pub async fn import_scores(&self, path: &Path) -> anyhow::Result<ImportSummary> {
        let now = self.clock.now();
        let (season, units) = {
            let mut conn = self.db.pool.acquire().await?;
            let season = seasons::current(&mut conn)
                .await?
                .context("no current season: run `exam-review-bot season` first")?;
            if let Some(seal) = crate::store::seals::in_force(&mut conn, season.id).await? {
                bail!("{}", self.sealed_message(&seal, season.tz));
            }
            (season, units::all(&mut conn).await?)
        };
        if season.published_at.is_some() {
            bail!(
                "season {} is already published; scores change only through reviews now",
                season.year
            );
        }
        let schools: HashSet<String> = units
            .iter()
            .filter(|u| super::setup::is_school(u))
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
        let ids = &self.config.identifiers;
        let mut checker = Checker::new(
            &table.header,
            schools,
            IdPattern::new(&ids.exam_no_pattern)?,
            IdPattern::new(&ids.reg_no_pattern)?,
            season.full_score,
            self.config.rules.item_maxima,
        )?;
        let detail = format!("scores of season {} from {}", season.year, path.display());

        let (sender, receiver) = mpsc::channel::<Vec<u8>>(4);
        // This process's other SQLite writers wait until the import commits or rolls back.
        let _gate = match self.db.backend {
            Backend::Sqlite => Some(self.db.write_gate().await),
            Backend::Postgres => None,
        };
        let writer = match self.db.backend {
            Backend::Sqlite => {
                let mut conn = candidates::sqlite_connect(self.db.url()).await?;
                execute_all!(conn, before_load(Backend::Sqlite, season.id));
                still_unpublished!(conn, Backend::Sqlite, season);
                Writer::Sqlite(tokio::spawn(sqlite_writer(conn, receiver)))
            }
            Backend::Postgres => {
                let mut conn = candidates::pg_connect(self.db.url()).await?;
                execute_all!(conn, before_load(Backend::Postgres, season.id));
                still_unpublished!(conn, Backend::Postgres, season);
                Writer::Postgres(tokio::spawn(postgres_writer(conn, receiver)))
            }
        };

        // Read and check; hand over clean rows while the file is clean.
        let mut problems: Vec<Problem> = Vec::new();
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
            match per_school.get_mut(c.school_code) {
                Some(count) => *count += 1,
                None => {
                    per_school.insert(c.school_code.to_string(), 1);
                }
            }
            candidates::copy_row(&mut chunk, season.id, &c);
            if chunk.len() >= CHUNK && !writer_gone {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK + 4096));
                // A closed channel means the writer failed; its error is collected below.
                writer_gone = sender.send(full).await.is_err();
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
                finish_load!(conn, Backend::Sqlite, problems, to_ms(now), &detail);
            }
            Writer::Postgres(handle) => {
                let mut conn = handle.await??;
                tracing::debug!(elapsed = ?started.elapsed(), "rows written");
                finish_load!(conn, Backend::Postgres, problems, to_ms(now), &detail);
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
        })
    }
}

/// Inserts the chunks inside the transaction opened on `conn`; the caller commits.
async fn sqlite_writer(
    mut conn: SqliteConnection,
    mut chunks: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<SqliteConnection> {
    while let Some(chunk) = chunks.recv().await {
        sqlite_bulk::insert(&mut conn, &chunk).await?;
    }
    Ok(conn)
}

/// Streams the chunks into COPY inside the transaction opened on `conn`; the caller commits.
async fn postgres_writer(
    mut conn: PgConnection,
    mut chunks: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<PgConnection> {
    let mut copy = conn.copy_in_raw(&candidates::copy_statement()).await?;
    copy.send(candidates::COPY_HEADER).await?;
    while let Some(chunk) = chunks.recv().await {
        copy.send(chunk).await?;
    }
    copy.send(candidates::COPY_TRAILER).await?;
    // With problems the caller rolls back, so what COPY took is discarded either way.
    copy.finish().await?;
    Ok(conn)
}
