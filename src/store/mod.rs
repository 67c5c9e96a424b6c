//! The database layer: one `Db` over SQLite or PostgreSQL through sqlx's Any driver, with
//! per-backend migrations. Queries use `$1` placeholders, which both backends accept.
//! Functions take `&mut AnyConnection` so that a use case can run several inside one transaction.

pub mod accounts;
pub mod audit_chain;
pub mod batches;
pub mod candidates;
pub mod card_lists;
pub mod chat_bots;
pub mod dialogues;
pub mod entry;
pub mod entry_archives;
pub mod inbox;
pub mod instances;
pub mod loading;
pub mod menus;
pub mod outbox;
pub mod people;
pub mod purge;
pub mod reminders;
pub mod reviews;
pub mod roster;
pub mod seals;
pub mod seasons;
pub mod sqlite_bulk;
pub mod takebacks;
pub mod units;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    url: String,
    /// SQLite has one writer at a time. Waiting for it inside SQLite means its busy handler's
    /// sleeps (up to 100 ms each); waiting here, in order, is what keeps handling latency flat.
    write_gate: Arc<Mutex<()>>,
}

/// A write transaction; on SQLite it also holds this process's write gate until it ends.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

/// A pooled connection held for writing (`Db::hold_for_writing`), with the write gate.
pub struct HeldConnection {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    backend: Backend,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl HeldConnection {
    /// A write transaction on the held connection (on SQLite BEGIN IMMEDIATE, as `Db::begin`).
    pub async fn begin(&mut self) -> sqlx::Result<sqlx::Transaction<'_, sqlx::Any>> {
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        sqlx::Connection::begin_with(&mut *self.conn, statement).await
    }

    /// Gives the pages SQLite keeps in this connection's cache back to the allocator (PRAGMA
    /// shrink_memory), after a pass over many rows that ordinary work will not read again
    /// soon. Only once the transaction is over: pages it wrote stay pinned until it ends.
    /// PostgreSQL's cache is the server's own: nothing to do there.
    pub async fn release_cache(&mut self) -> sqlx::Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA shrink_memory")
                .execute(&mut *self.conn)
                .await?;
            // On a big heap the walk takes a while (the sweep bench's process: hundreds of
            // milliseconds); nobody waits for it.
            tokio::task::spawn_blocking(trim_allocator);
        }
        Ok(())
    }
}

/// Returns the allocator's wholly free pages to the system. SQLite's pages come from the
/// arena of the connection's worker thread; freed, they stay that arena's (the soak measured
/// each digest's 1–2 MiB staying after `shrink_memory` alone; this, called from gdb in the
/// running bot, handed back 1.8 MiB).
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Db {
    /// Connects (creating a SQLite file if missing) and runs the migrations.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        let db = Self::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        if backend == Backend::Sqlite {
            private_sqlite_files(&url)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // One writer at a time anyway; a few readers alongside it in WAL mode.
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("cannot open database {}", redact(&url)))?;
        Ok(Db {
            pool,
            backend,
            url,
            write_gate: Arc::default(),
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await,
        }
        .context("database migration failed")?;
        let mut conn = self.pool.acquire().await?;
        let n = people::hash_stored_codes(&mut conn).await?;
        if n > 0 {
            tracing::info!("{n} invite code(s) stored in clear are now stored as hashes");
        }
        Ok(())
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE):
    /// a deferred transaction that reads and then writes fails with "database is locked" when
    /// another connection wrote in between, instead of waiting its turn.
    pub async fn begin(&self) -> sqlx::Result<WriteTx> {
        match self.backend {
            Backend::Sqlite => {
                let gate = self.write_gate.clone().lock_owned().await;
                Ok(WriteTx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _gate: Some(gate),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _gate: None,
            }),
        }
    }

    /// A connection for write transactions that stays the caller's after they end, so that
    /// what a transaction left in its cache can be released (`HeldConnection::release_cache`).
    /// The write gate is taken first, as `begin` takes it, so nobody holds a connection while
    /// waiting for the gate.
    pub async fn hold_for_writing(&self) -> sqlx::Result<HeldConnection> {
        let gate = match self.backend {
            Backend::Sqlite => Some(self.write_gate.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        Ok(HeldConnection {
            conn: self.pool.acquire().await?,
            backend: self.backend,
            _gate: gate,
        })
    }

    /// Holds this process's SQLite write gate for work done on a connection of its own (the bulk
    /// import), so that the bot's own writers wait their turn instead of failing as busy.
    pub async fn write_gate(&self) -> OwnedMutexGuard<()> {
        self.write_gate.clone().lock_owned().await
    }

    /// The URL as given to sqlx (for opening a backend-native connection for bulk work).
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Writes a file readable by its owner only (0600), as every file with personal data the bot
/// writes is (a notice sheet, a score table); an existing file is narrowed to that first.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// The SQLite file holds personal data (身份证号): it is created readable by its owner only
/// (0600), and an existing one (with its -wal and -shm, which SQLite creates with the main
/// file's mode) is narrowed to that.
fn private_sqlite_files(url: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the database file {path}"))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = format!("{path}{suffix}");
        if std::path::Path::new(&file).exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {file} private (0600)"))?;
        }
    }
    Ok(())
}

/// Picks the backend and makes a SQLite URL create its file when missing.
fn normalize_url(url: &str) -> anyhow::Result<(Backend, String)> {
    if url.starts_with("sqlite:") {
        let url = if url.contains("mode=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        Ok((Backend::Sqlite, url))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok((Backend::Postgres, url.to_string()))
    } else {
        anyhow::bail!(
            "DATABASE_URL must start with sqlite:// or postgres:// (got {})",
            redact(url)
        )
    }
}

/// Hides a password in a database URL before it is shown anywhere.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A connection, or a transaction's, as use cases pass it to the store.
pub type Conn = AnyConnection;

/// A transaction nested in another (a savepoint): `commit` or `rollback` it.
pub type Nested<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// A savepoint in `conn`'s transaction: what fails after it rolls back alone.
pub async fn savepoint(conn: &mut AnyConnection) -> sqlx::Result<Nested<'_>> {
    sqlx::Connection::begin(conn).await
}

/// PostgreSQL: takes the transaction's advisory lock `key` if nobody holds it; true when taken.
/// SQLite's one writer needs none: true.
pub async fn try_advisory_lock(conn: &mut AnyConnection, key: i64) -> sqlx::Result<bool> {
    if !is_postgres(conn) {
        return Ok(true);
    }
    let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await?;
    Ok(got)
}

/// PostgreSQL: makes the transaction just begun one snapshot, read only (SQLite's read
/// transaction is one already).
pub async fn read_one_snapshot(conn: &mut AnyConnection) -> sqlx::Result<()> {
    if is_postgres(conn) {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(conn)
            .await?;
    }
    Ok(())
}

fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// SQLite: a consistent copy of the database at `target` (`VACUUM INTO`).
pub async fn vacuum_into(conn: &mut AnyConnection, target: &str) -> sqlx::Result<()> {
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(conn)
        .await?;
    Ok(())
}

pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Appends one record to the audit chain (see `audit_chain`), in the caller's transaction.
pub async fn audit(
    conn: &mut AnyConnection,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    detail: &str,
) -> sqlx::Result<()> {
    audit_chain::append(conn, at, actor, action, detail).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://bot:s3cret@db:5432/x"),
            "postgres://bot:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
        assert!(
            normalize_url("sqlite://a.db")
                .unwrap()
                .1
                .ends_with("?mode=rwc")
        );
        assert!(normalize_url("mysql://x").is_err());
    }
}
