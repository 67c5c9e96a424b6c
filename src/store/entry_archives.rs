//! The half-day archives: a sealed batch's agreed rows, encrypted under its inspector's
//! password (`app::entry::password`). The store holds the ciphertext only.

use crate::domain::entry::EntryRow;
use sqlx::AnyConnection;

/// Keeps a batch's archive; false when the batch has one already.
pub async fn put(
    conn: &mut AnyConnection,
    batch: i64,
    sha256: &str,
    archive: &[u8],
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO entry_archives (batch_id, sha256, archive) VALUES ($1, $2, $3)
         ON CONFLICT (batch_id) DO NOTHING",
    )
    .bind(batch)
    .bind(sha256)
    .bind(archive.to_vec())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A batch's archive and its SHA-256, if it was sealed with a password.
pub async fn get(conn: &mut AnyConnection, batch: i64) -> sqlx::Result<Option<(String, Vec<u8>)>> {
    sqlx::query_as("SELECT sha256, archive FROM entry_archives WHERE batch_id = $1")
        .bind(batch)
        .fetch_optional(conn)
        .await
}

/// The published scores of a batch's candidates, as rows of an entry (准考证号 order); empty
/// before publication.
pub async fn published(
    conn: &mut AnyConnection,
    season_id: i64,
    batch: i64,
) -> sqlx::Result<Vec<EntryRow>> {
    sqlx::query_as(
        "SELECT c.exam_no, c.name, c.score, c.item_main, c.item_sec1, c.item_sec2, c.item_tidy,
                c.exempt
         FROM candidates c
         WHERE c.season_id = $1
           AND c.exam_no IN (SELECT exam_no FROM entry_rows WHERE batch_id = $2 AND side = 'a')
         ORDER BY c.exam_no",
    )
    .bind(season_id)
    .bind(batch)
    .fetch_all(conn)
    .await
}
