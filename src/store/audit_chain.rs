//! The audit chain: one record per state change, numbered 1, 2, 3 … without gaps, each with the
//! SHA-256 of its own fields and of the record before it. Triggers refuse UPDATE and DELETE;
//! someone who drops them and edits the table anyway is caught by `verify`, which names the
//! first record altered, inserted or missing. (Whoever can write the table can also append a
//! well-formed record at its end: the chain's head hash, printed by `verify` and kept in each
//! sealed archive, is what anchors it outside the database.)

use super::to_ms;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

/// The `prev_hash` of record 1.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The record's hash: its fields, each length-prefixed (no two field lists hash alike), and the
/// previous record's hash.
pub fn hash(prev: &str, seq: i64, at: i64, actor: &str, action: &str, detail: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("audit-chain/1\n{seq}\n{at}\n{prev}\n"));
    for field in [actor, action, detail] {
        h.update(format!("{}:", field.len()));
        h.update(field.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of PostgreSQL's transaction lock that orders appends (SQLite's writers are one at a
/// time already).
pub const APPEND_LOCK: i64 = 0x6175_6469_7431; // "audit1"

/// Appends one record, inside the caller's transaction (a write transaction: outside one, two
/// appends at once would take the same number): it commits or vanishes with the change it
/// records. Appends are taken one transaction at a time on PostgreSQL (a transaction lock
/// held to the end), which is what keeps the numbering gapless and the chain single.
pub async fn append(
    conn: &mut AnyConnection,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    detail: &str,
) -> sqlx::Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (seq, prev) = last.map_or((1, GENESIS.to_string()), |(s, h)| (s + 1, h));
    let at = to_ms(at);
    let hash = hash(&prev, seq, at, actor, action, detail);
    sqlx::query(
        "INSERT INTO audit_chain (seq, at, actor, action, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(seq)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(detail)
    .bind(&prev)
    .bind(&hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every record in place; the head (last record's number and hash).
    Intact { records: i64, head: String },
    /// Record `seq` does not hash to what it says: a value was changed.
    Altered { seq: i64 },
    /// Record `seq` is well-formed but does not follow the record before it: it was put in.
    Inserted { seq: i64 },
    /// Records `from..=to` are not there.
    Missing { from: i64, to: i64 },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Intact { records, head } => {
                write!(
                    f,
                    "the audit chain is intact: {records} records, head {head}"
                )
            }
            Verdict::Altered { seq } => write!(f, "audit record {seq} was altered"),
            Verdict::Inserted { seq } => {
                write!(
                    f,
                    "audit record {seq} was inserted: it does not follow the record before it"
                )
            }
            Verdict::Missing { from, to } if from == to => {
                write!(f, "audit record {from} is missing")
            }
            Verdict::Missing { from, to } => write!(f, "audit records {from} to {to} are missing"),
        }
    }
}

/// Checks records handed to it in order, link by link (the database's chain, or one read back
/// from a sealed archive).
pub struct Checker {
    expected: i64,
    prev: String,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            expected: 1,
            prev: GENESIS.to_string(),
        }
    }
}

impl Checker {
    /// The next record; the first problem, if this record has one.
    pub fn push(&mut self, r: &Record) -> Option<Verdict> {
        if r.seq != self.expected {
            return Some(Verdict::Missing {
                from: self.expected,
                to: r.seq - 1,
            });
        }
        let own = hash(&r.prev_hash, r.seq, r.at, &r.actor, &r.action, &r.detail);
        if own != r.hash {
            return Some(Verdict::Altered { seq: r.seq });
        }
        if r.prev_hash != self.prev {
            return Some(Verdict::Inserted { seq: r.seq });
        }
        self.prev = r.hash.clone();
        self.expected += 1;
        None
    }

    pub fn finish(self) -> Verdict {
        Verdict::Intact {
            records: self.expected - 1,
            head: self.prev,
        }
    }
}

/// Reads the chain in pages, in order, and checks every link; stops at the first problem.
pub async fn verify(conn: &mut AnyConnection) -> sqlx::Result<Verdict> {
    const PAGE: i64 = 10_000;
    let mut checker = Checker::default();
    let mut from = 1;
    loop {
        let page: Vec<Record> = sqlx::query_as(
            "SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit_chain
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = page.last().map(|r| r.seq) else {
            break;
        };
        for r in &page {
            if let Some(problem) = checker.push(r) {
                return Ok(problem);
            }
        }
        from = last + 1;
    }
    Ok(checker.finish())
}

/// The chain's head: the last record's number and hash (0 and the genesis hash when empty).
pub async fn head(conn: &mut AnyConnection) -> sqlx::Result<(i64, String)> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
            .fetch_optional(conn)
            .await?;
    Ok(last.unwrap_or((0, GENESIS.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_hashes_its_fields_and_its_predecessor() {
        let a = hash(GENESIS, 1, 5, "cli", "publish", "season 2023");
        assert_eq!(a.len(), 64);
        assert_ne!(a, hash(GENESIS, 1, 5, "cli", "publish", "season 2024"));
        assert_ne!(a, hash(&a, 1, 5, "cli", "publish", "season 2023"));
        // Moving text between fields changes the hash.
        assert_ne!(
            hash(GENESIS, 1, 5, "ab", "c", ""),
            hash(GENESIS, 1, 5, "a", "bc", "")
        );
    }
}
