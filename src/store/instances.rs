//! The bot's running instances, so that what a dead one had claimed is taken back at once.
//!
//! Each delivering instance writes its row when it starts and refreshes `seen_at` every few
//! seconds (`delivery::HEARTBEAT`); a clean stop deletes it. Any instance returns to the queue
//! the rows leased by an instance that is gone or whose row is stale. The hosts' clocks are
//! assumed to agree within a second or two, as the leases themselves already assume.

use super::to_ms;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// A running app among the instances sharing the database: host, pid, start time.
pub struct Instance {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// The bot it sends for (0 until it knows): a bot's instances share that bot's rate.
    pub bot_id: i64,
}

impl Instance {
    pub fn new() -> Instance {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        // Tests and the demo run several apps in one process: each is an instance of its own.
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let id = format!("{host}:{pid}:{}:{n}", Utc::now().timestamp_millis());
        Instance {
            id,
            host,
            pid,
            bot_id: 0,
        }
    }

    /// This app as the instance of one bot (one process may serve several bots: the
    /// simulations do). Its id is what its leases name as their owner.
    pub fn for_bot(&self, bot_id: i64) -> Instance {
        Instance {
            id: format!("{}/{bot_id}", self.id),
            host: self.host.clone(),
            pid: self.pid,
            bot_id,
        }
    }
}

pub async fn register(
    conn: &mut AnyConnection,
    me: &Instance,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO instances (id, host, pid, started_at, seen_at, bot_id)
         VALUES ($1, $2, $3, $4, $4, $5)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(&me.id)
    .bind(&me.host)
    .bind(i64::from(me.pid))
    .bind(to_ms(now))
    .bind(me.bot_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Refreshes the instance's row (writing it again if another instance had already cleared it
/// as stale). Returns false when the row had been cleared: this instance was taken for dead.
pub async fn heartbeat(
    conn: &mut AnyConnection,
    me: &Instance,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE instances SET seen_at = $2 WHERE id = $1")
        .bind(&me.id)
        .bind(to_ms(now))
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        register(conn, me, now).await?;
        return Ok(false);
    }
    Ok(true)
}

/// A clean stop: the instance's row goes, so its leftover leases are taken back at once.
pub async fn retire(conn: &mut AnyConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Returns to their queues every outbox message and inbox update leased by an instance not
/// seen since `stale_before`, and forgets those instances. Rows leased before instances were
/// recorded (no owner) keep their lease until it runs out.
pub async fn release_orphans(
    conn: &mut AnyConnection,
    stale_before: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut released = 0;
    for (table, leased) in [("outbox", "sending"), ("inbox", "handling")] {
        // The table names are the two literals above.
        released += sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET status = 'pending', lease_until = NULL, lease_owner = NULL
             WHERE status = '{leased}' AND lease_owner IS NOT NULL
               AND lease_owner NOT IN (SELECT id FROM instances WHERE seen_at >= $1)"
        )))
        .bind(to_ms(stale_before))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    sqlx::query("DELETE FROM instances WHERE seen_at < $1")
        .bind(to_ms(stale_before))
        .execute(conn)
        .await?;
    Ok(released)
}

/// The instances of `bot_id` seen since `since`: (id, host, pid).
pub async fn live(
    conn: &mut AnyConnection,
    since: DateTime<Utc>,
    bot_id: i64,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT id, host, pid FROM instances WHERE seen_at >= $1 AND bot_id = $2
         ORDER BY started_at",
    )
    .bind(to_ms(since))
    .bind(bot_id)
    .fetch_all(conn)
    .await
}

impl Default for Instance {
    fn default() -> Self {
        Self::new()
    }
}
