//! Loading a season's candidates or roster in one transaction on a backend-native connection
//! (sqlx's Any driver has neither COPY nor SQLite's raw handle): the indexes dropped and the
//! season's old rows deleted when it opens, the checks that must hold inside it, the chunks of
//! encoded rows written by a task of their own while the caller goes on reading, and at the
//! end the indexes rebuilt, the audit line written and the transaction committed, or all of it
//! rolled back.

use super::candidates::{self, Load};
use super::{Backend, audit_chain, roster, sqlite_bulk};
use anyhow::bail;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, PgConnection};
use std::collections::HashSet;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A load under way: its transaction is open on the writer's connection.
pub struct Loading {
    writer: Writer,
    load: Load,
    chunks: Option<mpsc::Sender<Vec<u8>>>,
}

/// The season a load replaces the rows of.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub id: i64,
    pub year: i32,
}

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
/// matching a scores file: every candidate (through `$scan`: SQLite's C API or PostgreSQL's
/// COPY) handed to `$each` with whether their 免考 was granted, and the 免考 ones' whole rows
/// (a few hundred at most) returned, to add those the file does not score.
macro_rules! read_roster {
    ($conn:expr, $season:expr, $scan:path, $each:expr) => {{
        let exempt: Vec<(String,)> = sqlx::query_as(
            "SELECT r.exam_no FROM review_requests q JOIN roster r ON r.id = q.candidate_id
             WHERE q.kind = 'exemption' AND q.state = 'completed' AND q.season_id = $1",
        )
        .bind($season)
        .fetch_all(&mut $conn)
        .await?;
        let exempt: HashSet<String> = exempt.into_iter().map(|(e,)| e).collect();
        $scan(&mut $conn, $season, |registered: [&str; 5]| {
            let exempt = exempt.contains(registered[0]);
            $each(registered, exempt)
        })
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
        rows
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

/// Ends the import on a native connection: committing, the indexes are built again, the audit
/// line written and the transaction committed; otherwise it is rolled back. Either way the
/// connection is closed before the caller releases the SQLite write gate.
macro_rules! finish_load {
    ($conn:expr, $backend:expr, $load:expr, $commit:expr, $at_ms:expr, $detail:expr, $actor:expr) => {
        if $commit {
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
            let actor = $actor;
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

impl Loading {
    /// Opens the load's transaction on a native connection to `url`, checks that the season is
    /// still unpublished (and, for a roster, that no application names it), and for a scores
    /// load hands each registered candidate to `each` (the 准考证号, 姓名, 身份证号, school and
    /// 报名号, and whether their 免考 was granted); returns the 免考 ones' whole rows.
    pub async fn open(
        url: &str,
        backend: Backend,
        load: Load,
        season: Target,
        mut each: impl FnMut([&str; 5], bool) + Send,
    ) -> anyhow::Result<(Loading, Vec<roster::Row>)> {
        let (sender, receiver) = mpsc::channel::<Vec<u8>>(4);
        let (writer, exempt_rows) = match backend {
            Backend::Sqlite => {
                let mut conn = candidates::sqlite_connect(url).await?;
                execute_all!(conn, before_load(Backend::Sqlite, load, season.id));
                still_unpublished!(conn, Backend::Sqlite, season);
                if load == Load::Roster {
                    no_applications_on_roster!(conn, Backend::Sqlite, season);
                }
                let rows = match load {
                    Load::Scores => {
                        read_roster!(conn, season.id, sqlite_bulk::scan_roster, each)
                    }
                    Load::Roster => Vec::new(),
                };
                let w = Writer::Sqlite(tokio::spawn(sqlite_writer(conn, load, receiver)));
                (w, rows)
            }
            Backend::Postgres => {
                let mut conn = candidates::pg_connect(url).await?;
                execute_all!(conn, before_load(Backend::Postgres, load, season.id));
                still_unpublished!(conn, Backend::Postgres, season);
                if load == Load::Roster {
                    no_applications_on_roster!(conn, Backend::Postgres, season);
                }
                let rows = match load {
                    Load::Scores => read_roster!(conn, season.id, roster::scan_pg, each),
                    Load::Roster => Vec::new(),
                };
                let w = Writer::Postgres(tokio::spawn(postgres_writer(conn, load, receiver)));
                (w, rows)
            }
        };
        let loading = Loading {
            writer,
            load,
            chunks: Some(sender),
        };
        Ok((loading, exempt_rows))
    }

    /// Hands encoded rows (`candidates::copy_row`) to the writer; false when the writer has
    /// failed (its error comes from `finish`).
    pub async fn send(&mut self, chunk: Vec<u8>) -> bool {
        match &self.chunks {
            Some(chunks) => chunks.send(chunk).await.is_ok(),
            None => false,
        }
    }

    /// Ends the load: committed with its audit line (`actor`, `detail`, at `at_ms`) when
    /// `commit`, otherwise rolled back. Either way the connection is closed before this
    /// returns, so the caller may release the SQLite write gate after it.
    pub async fn finish(
        mut self,
        commit: bool,
        at_ms: i64,
        detail: &str,
        actor: &str,
    ) -> anyhow::Result<()> {
        // The writer ends when its channel does.
        self.chunks = None;
        let load = self.load;
        // On an error below, dropping the connection with its transaction open rolls it back.
        match self.writer {
            Writer::Sqlite(handle) => {
                let mut conn = handle.await??;
                finish_load!(conn, Backend::Sqlite, load, commit, at_ms, detail, actor);
            }
            Writer::Postgres(handle) => {
                let mut conn = handle.await??;
                finish_load!(conn, Backend::Postgres, load, commit, at_ms, detail, actor);
            }
        }
        Ok(())
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
