//! Importing the scores file into the current season: every row checked, all or nothing.

use super::{Actor, App};
use crate::domain::ids::IdPattern;
use crate::import::scores::Checker;
use crate::import::table::Table;
use crate::import::{Problem, Refused};
use crate::store::candidates::{self, NewCandidate, SQLITE_ROWS_PER_INSERT};
use crate::store::{Backend, audit, seasons, to_ms, units};
use anyhow::{Context, bail};
use sqlx::Connection;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Candidates per school after a successful import.
#[derive(Debug)]
pub struct ImportSummary {
    pub season_year: i32,
    /// (school code, school name, candidates), by code.
    pub per_school: Vec<(String, String, u64)>,
    pub total: u64,
}

/// Where checked rows go while the file is read. Once a problem is found nothing more is
/// written, but reading goes on so that every problem is listed.
enum Sink<'c> {
    Sqlite {
        conn: &'c mut sqlx::AnyConnection,
        buffer: Vec<NewCandidate>,
    },
    Postgres {
        copy: sqlx::postgres::PgCopyIn<&'c mut sqlx::PgConnection>,
        buffer: Vec<u8>,
    },
}

const COPY_CHUNK: usize = 1 << 20;

impl Sink<'_> {
    async fn push(&mut self, season_id: i64, c: NewCandidate) -> anyhow::Result<()> {
        match self {
            Sink::Sqlite { conn, buffer } => {
                buffer.push(c);
                if buffer.len() == SQLITE_ROWS_PER_INSERT {
                    candidates::insert_many(conn, season_id, buffer).await?;
                    buffer.clear();
                }
            }
            Sink::Postgres { copy, buffer } => {
                candidates::copy_line(buffer, season_id, &c);
                if buffer.len() >= COPY_CHUNK {
                    copy.send(std::mem::take(buffer)).await?;
                }
            }
        }
        Ok(())
    }
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
        let table = Table::open(path)?;
        let ids = &self.config.identifiers;
        let mut checker = Checker::new(
            &table.header,
            schools,
            IdPattern::new(&ids.exam_no_pattern)?,
            IdPattern::new(&ids.reg_no_pattern)?,
            season.full_score,
            self.config.rules.item_maxima,
        )?;
        let mut problems: Vec<Problem> = Vec::new();
        let mut per_school: BTreeMap<String, u64> = BTreeMap::new();
        let detail = format!("scores of season {} from {}", season.year, path.display());

        match self.db.backend {
            Backend::Sqlite => {
                let mut tx = self.db.begin().await?;
                candidates::delete_season(&mut tx, season.id).await?;
                insert_rows(
                    &mut tx,
                    table,
                    &mut checker,
                    &mut problems,
                    &mut per_school,
                    season.id,
                )
                .await?;
                if !problems.is_empty() {
                    tx.rollback().await?;
                    return Err(Refused { problems }.into());
                }
                audit(&mut tx, now, &Actor::Cli.label(), "import-scores", &detail).await?;
                tx.commit().await?;
            }
            Backend::Postgres => {
                let mut conn = candidates::pg_connect(self.db.url()).await?;
                let mut tx = conn.begin().await?;
                sqlx::query("DELETE FROM candidates WHERE season_id = $1")
                    .bind(season.id)
                    .execute(&mut *tx)
                    .await?;
                copy_rows(
                    &mut tx,
                    table,
                    &mut checker,
                    &mut problems,
                    &mut per_school,
                    season.id,
                )
                .await?;
                if !problems.is_empty() {
                    tx.rollback().await?;
                    return Err(Refused { problems }.into());
                }
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4)",
                )
                .bind(to_ms(now))
                .bind(Actor::Cli.label())
                .bind("import-scores")
                .bind(&detail)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
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

/// Inserts the checked rows in multi-row INSERTs (SQLite).
async fn insert_rows(
    conn: &mut sqlx::AnyConnection,
    table: Table,
    checker: &mut Checker,
    problems: &mut Vec<Problem>,
    per_school: &mut BTreeMap<String, u64>,
    season_id: i64,
) -> anyhow::Result<()> {
    let mut sink = Sink::Sqlite {
        conn,
        buffer: Vec::new(),
    };
    feed(table, checker, problems, per_school, &mut sink, season_id).await?;
    let Sink::Sqlite { conn, buffer } = sink else {
        unreachable!("built as Sqlite above")
    };
    if problems.is_empty() {
        candidates::insert_many(conn, season_id, &buffer).await?;
    }
    Ok(())
}

/// Streams the checked rows into PostgreSQL's COPY; aborts the COPY when the file has problems.
async fn copy_rows(
    conn: &mut sqlx::PgConnection,
    table: Table,
    checker: &mut Checker,
    problems: &mut Vec<Problem>,
    per_school: &mut BTreeMap<String, u64>,
    season_id: i64,
) -> anyhow::Result<()> {
    let copy = conn.copy_in_raw(&candidates::copy_statement()).await?;
    let mut sink = Sink::Postgres {
        copy,
        buffer: Vec::new(),
    };
    feed(table, checker, problems, per_school, &mut sink, season_id).await?;
    let Sink::Postgres { mut copy, buffer } = sink else {
        unreachable!("built as Postgres above")
    };
    if !problems.is_empty() {
        copy.abort("the file has problems").await.ok();
        return Ok(());
    }
    if !buffer.is_empty() {
        copy.send(buffer).await?;
    }
    copy.finish().await?;
    Ok(())
}

async fn feed(
    table: Table,
    checker: &mut Checker,
    problems: &mut Vec<Problem>,
    per_school: &mut BTreeMap<String, u64>,
    sink: &mut Sink<'_>,
    season_id: i64,
) -> anyhow::Result<()> {
    for row in table.rows() {
        let (n, cells) = match row {
            Ok(r) => r,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        if let Some(c) = checker.check(n, &cells, problems)
            && problems.is_empty()
        {
            *per_school.entry(c.school_code.clone()).or_default() += 1;
            sink.push(season_id, c).await?;
        }
    }
    if problems.is_empty() && per_school.is_empty() {
        problems.push(Problem::new(1, "(文件)", "", "没有数据行"));
    }
    Ok(())
}
