//! The audit chain: every state change appends a record chained to the one before;
//! the database refuses to change or remove one, and `audit verify` names the first record
//! someone altered, removed or put in behind the triggers' back. Backups of a running SQLite
//! database carry an intact chain.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::audit_chain::{self, Verdict};
use std::process::Command;

async fn sql(h: &Harness, statement: &str) -> Result<(), sqlx::Error> {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

async fn record(h: &Harness, seq: i64) -> audit_chain::Record {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query_as(
        "SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit_chain WHERE seq = $1",
    )
    .bind(seq)
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

async fn put(h: &Harness, r: &audit_chain::Record) {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query(
        "INSERT INTO audit_chain (seq, at, actor, action, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.seq)
    .bind(r.at)
    .bind(&r.actor)
    .bind(&r.action)
    .bind(&r.detail)
    .bind(&r.prev_hash)
    .bind(&r.hash)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// `exam-review-bot audit verify` against the test database: (success, what it printed).
fn verify_cli(h: &Harness) -> (bool, String) {
    let out = Command::new(binary())
        .args(["audit", "verify"])
        .env("DATABASE_URL", &h.db.url)
        .env("RUST_LOG", "warn")
        .current_dir(h.dir())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_record_someone_altered_removed_or_put_in() {
    let h = Harness::start().await;
    h.sample_city().await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    for i in 0..4 {
        h.app
            .invite(Role::SchoolContact, &sample::school_code(i), "联系人", None)
            .await
            .unwrap();
    }
    let Verdict::Intact { records, .. } = h.app.verify_audit().await.unwrap() else {
        panic!("an untouched chain is intact");
    };
    assert!(records >= 5, "import, publication, invites: {records}");
    let (ok, text) = verify_cli(&h);
    assert!(ok && text.contains("intact"), "{text}");

    // The database refuses to change or remove a record.
    assert!(
        sql(&h, "UPDATE audit_chain SET detail = 'x' WHERE seq = 2")
            .await
            .is_err()
    );
    assert!(
        sql(&h, "DELETE FROM audit_chain WHERE seq = 2")
            .await
            .is_err()
    );
    assert_eq!(
        h.app.verify_audit().await.unwrap(),
        Verdict::Intact {
            records,
            head: record(&h, records).await.hash
        }
    );

    // Someone with the database drops the triggers and edits the table anyway.
    if h.db.is_postgres() {
        sql(&h, "DROP TRIGGER audit_chain_no_change ON audit_chain")
            .await
            .unwrap();
    } else {
        sql(&h, "DROP TRIGGER audit_chain_no_update").await.unwrap();
        sql(&h, "DROP TRIGGER audit_chain_no_delete").await.unwrap();
    }
    let second = record(&h, 2).await;
    sql(
        &h,
        "UPDATE audit_chain SET detail = 'nothing happened' WHERE seq = 2",
    )
    .await
    .unwrap();
    assert_eq!(
        h.app.verify_audit().await.unwrap(),
        Verdict::Altered { seq: 2 }
    );
    let (ok, text) = verify_cli(&h);
    assert!(!ok && text.contains("audit record 2 was altered"), "{text}");
    sql(&h, "DELETE FROM audit_chain WHERE seq = 2")
        .await
        .unwrap();
    put(&h, &second).await;

    let third = record(&h, 3).await;
    sql(&h, "DELETE FROM audit_chain WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(
        h.app.verify_audit().await.unwrap(),
        Verdict::Missing { from: 3, to: 3 }
    );
    let (ok, text) = verify_cli(&h);
    assert!(!ok && text.contains("audit record 3 is missing"), "{text}");
    put(&h, &third).await;

    // A well-formed record put in where it does not follow: its link gives it away.
    let forged_prev = audit_chain::GENESIS;
    let seq = records + 1;
    let forged = audit_chain::Record {
        seq,
        at: 0,
        actor: "cli".into(),
        action: "publish".into(),
        detail: "season 2023".into(),
        prev_hash: forged_prev.into(),
        hash: audit_chain::hash(forged_prev, seq, 0, "cli", "publish", "season 2023"),
    };
    put(&h, &forged).await;
    assert_eq!(
        h.app.verify_audit().await.unwrap(),
        Verdict::Inserted { seq }
    );
    let (ok, text) = verify_cli(&h);
    assert!(
        !ok && text.contains(&format!("audit record {seq} was inserted")),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_bot_writes_opens_with_an_intact_chain() {
    let h = Harness::start().await;
    h.sample_city().await;
    if h.db.is_postgres() {
        // PostgreSQL's own tools copy it (docs/operator.md: pg_dump and pg_restore).
        let e = h.app.backup(&h.dir().join("x.db")).await.err().unwrap();
        assert!(e.to_string().contains("pg_dump"), "{e}");
        h.stop().await;
        return;
    }
    // Invites are written (and audited) one after another while the copy is taken.
    let writer = {
        let app = h.app.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                let school = sample::school_code(i % SCHOOLS);
                app.invite(Role::SchoolContact, &school, "联系人", None)
                    .await
                    .unwrap();
            }
        })
    };
    let out = h.dir().join("backup.db");
    h.app.backup(&out).await.unwrap();
    writer.await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        h.app.backup(&out).await.is_err(),
        "an existing file is never overwritten"
    );

    let copy = exam_review_bot::store::Db::open(&format!("sqlite://{}", out.display()))
        .await
        .unwrap();
    let mut conn = copy.pool.acquire().await.unwrap();
    let verdict = audit_chain::verify(&mut conn).await.unwrap();
    let Verdict::Intact { records, .. } = verdict else {
        panic!("{verdict}");
    };
    assert!(records >= 2, "{records}");
    let (backups,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_chain WHERE action = 'backup'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(backups, 1, "the copy holds its own record");
    h.stop().await;
}
