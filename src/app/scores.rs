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
use crate::store::WriteTx;
use crate::store::candidates::{self, NewCandidate, SQLITE_ROWS_PER_INSERT};
use crate::store::{Backend, audit, seasons, to_ms, units};
use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, HashSet};
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

/// Rows handed to the writer at a time.
const BATCH: usize = 2_000;
/// PostgreSQL COPY data sent per message.
const COPY_CHUNK: usize = 1 << 20;
/// SQLite page cache for the import connection (KiB, as a negative cache_size): a million-row
/// transaction otherwise spills pages to the WAL and reads them back.
const SQLITE_IMPORT_CACHE_KIB: i64 = 262_144;

/// The writer side, holding the open transaction.
enum Writer {
    Sqlite(JoinHandle<anyhow::Result<WriteTx>>),
    Postgres(JoinHandle<anyhow::Result<PgConnection>>),
}

impl App {
    pub async fn import_scores(&self, path: &Path) -> anyhow::Result<ImportSummary> {
        let now = self.clock.now();
        let (season, units) = {
            let mut conn = self.db.pool.acquire().await?;
            let season = seasons::current(&mut conn)
                .await?
                .context("no current season: run `exam-review-bot season` first")?;
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
        let mut table = Table::open(path)?;
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

        let (sender, receiver) = mpsc::channel::<Vec<NewCandidate>>(4);
        let writer = match self.db.backend {
            Backend::Sqlite => {
                let mut tx = self.db.begin().await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}"
                )))
                .execute(&mut *tx)
                .await?;
                candidates::delete_season(&mut tx, season.id).await?;
                candidates::drop_indexes(&mut tx).await?;
                Writer::Sqlite(tokio::spawn(sqlite_writer(tx, season.id, receiver)))
            }
            Backend::Postgres => {
                let mut conn = candidates::pg_connect(self.db.url()).await?;
                sqlx::query("BEGIN").execute(&mut conn).await?;
                sqlx::query("DELETE FROM candidates WHERE season_id = $1")
                    .bind(season.id)
                    .execute(&mut conn)
                    .await?;
                for (name, _) in candidates::INDEXES {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
                        .execute(&mut conn)
                        .await?;
                }
                Writer::Postgres(tokio::spawn(postgres_writer(conn, season.id, receiver)))
            }
        };

        // Read and check; hand over clean rows while the file is clean.
        let mut problems: Vec<Problem> = Vec::new();
        let mut per_school: BTreeMap<String, u64> = BTreeMap::new();
        let mut batch = Vec::with_capacity(BATCH);
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
            match per_school.get_mut(&c.school_code) {
                Some(count) => *count += 1,
                None => {
                    per_school.insert(c.school_code.clone(), 1);
                }
            }
            batch.push(c);
            if batch.len() == BATCH && !writer_gone {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                // A closed channel means the writer failed; its error is collected below.
                writer_gone = sender.send(full).await.is_err();
            }
        }
        if problems.is_empty() && per_school.is_empty() {
            problems.push(Problem::new(1, "(文件)", "", "没有数据行"));
        }
        if problems.is_empty() && !batch.is_empty() && !writer_gone {
            sender.send(batch).await.ok();
        }
        drop(sender);

        match writer {
            Writer::Sqlite(handle) => {
                let mut tx = handle.await??;
                let reset = "PRAGMA cache_size = -2000";
                if !problems.is_empty() {
                    tx.rollback().await?;
                    sqlx::query(reset).execute(&self.db.pool).await.ok();
                    return Err(Refused { problems }.into());
                }
                candidates::create_indexes(&mut tx).await?;
                audit(&mut tx, now, &Actor::Cli.label(), "import-scores", &detail).await?;
                sqlx::query(reset).execute(&mut *tx).await?;
                tx.commit().await?;
            }
            Writer::Postgres(handle) => {
                let mut conn = handle.await??;
                if !problems.is_empty() {
                    sqlx::query("ROLLBACK").execute(&mut conn).await?;
                    return Err(Refused { problems }.into());
                }
                for (_, sql) in candidates::INDEXES {
                    sqlx::query(sql).execute(&mut conn).await?;
                }
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4)",
                )
                .bind(to_ms(now))
                .bind(Actor::Cli.label())
                .bind("import-scores")
                .bind(&detail)
                .execute(&mut conn)
                .await?;
                sqlx::query("COMMIT").execute(&mut conn).await?;
                conn.close().await.ok();
            }
        }

        let names: BTreeMap<&str, &str> = units
            .iter()
            .map(|u| (u.code.as_str(), u.name.as_str()))
            .collect();
        let total = per_school.values().sum();
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

async fn sqlite_writer(
    mut tx: WriteTx,
    season_id: i64,
    mut batches: mpsc::Receiver<Vec<NewCandidate>>,
) -> anyhow::Result<WriteTx> {
    while let Some(batch) = batches.recv().await {
        for chunk in batch.chunks(SQLITE_ROWS_PER_INSERT) {
            candidates::insert_many(&mut tx, season_id, chunk).await?;
        }
    }
    Ok(tx)
}

/// Streams rows into COPY inside the transaction opened on `conn`; the caller commits.
async fn postgres_writer(
    mut conn: PgConnection,
    season_id: i64,
    mut batches: mpsc::Receiver<Vec<NewCandidate>>,
) -> anyhow::Result<PgConnection> {
    let mut copy = conn.copy_in_raw(&candidates::copy_statement()).await?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK + 4096);
    while let Some(batch) = batches.recv().await {
        for c in &batch {
            candidates::copy_line(&mut buffer, season_id, c);
        }
        if buffer.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buffer)).await?;
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer).await?;
    }
    // With problems the caller rolls back, so what COPY took is discarded either way.
    copy.finish().await?;
    Ok(conn)
}
