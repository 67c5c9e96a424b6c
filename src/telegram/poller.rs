//! Telegram lets one client poll a bot at a time (a second getUpdates ends the first with 409
//! Conflict). With several instances on PostgreSQL, the poller is the one holding a session
//! advisory lock on a connection of its own; the others deliver and sweep, and try for the
//! lock every few seconds. When the poller dies its session ends, the lock is free, and the
//! next instance to try takes over: updates wait at Telegram meanwhile, nothing is lost.
//!
//! A SQLite file has one process, which always polls.

use crate::app::App;
use crate::store::Backend;
use sqlx::Connection;
use std::time::Duration;

const POLL_LOCK: i64 = 0x6578_616d_706f; // "exampo"
const TRY_AGAIN: Duration = Duration::from_secs(5);

/// What lets this instance poll: on PostgreSQL the connection holding the lock (polling stops
/// being ours if it is dropped).
pub enum Lead {
    Alone,
    Holding(sqlx::AnyConnection),
}

/// Waits until this instance may poll the bot `bot_id` (each bot of a deployment has one
/// poller).
pub async fn lead(app: App, bot_id: i64) -> Lead {
    if app.db.backend == Backend::Sqlite {
        return Lead::Alone;
    }
    let mut told = false;
    loop {
        match try_lead(&app, bot_id).await {
            Ok(Some(conn)) => {
                if told {
                    tracing::info!("this instance polls Telegram now");
                }
                return Lead::Holding(conn);
            }
            Ok(None) if !told => {
                told = true;
                tracing::info!("another instance polls Telegram; this one delivers and sweeps");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot ask who polls: {e:#}"),
        }
        tokio::time::sleep(TRY_AGAIN).await;
    }
}

async fn try_lead(app: &App, bot_id: i64) -> anyhow::Result<Option<sqlx::AnyConnection>> {
    let mut conn = sqlx::AnyConnection::connect(app.db.url()).await?;
    let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
        .bind(POLL_LOCK ^ bot_id)
        .fetch_one(&mut conn)
        .await?;
    Ok(got.then_some(conn))
}
