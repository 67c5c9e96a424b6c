//! 登分 batches (附件7): one per county and exam half-day, the uploads of its two entries, each
//! side's current rows. Every change of a batch's stage is a guarded UPDATE: it happens once,
//! whoever races for it.

use super::{from_ms, to_ms};
use crate::domain::entry::{Crew, EntryRow, Pair, Side, Stage};
use crate::store::roster;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Batch {
    pub id: i64,
    pub season_id: i64,
    /// The district's code, or the city's for its own 考区 (city-direct schools).
    pub county_code: String,
    pub exam_date: String,
    pub half_day: String,
    pub candidates: i64,
    /// The cutoff: `entry.report_by` of the exam day.
    pub report_by: i64,
    pub mismatches: Option<i64>,
    pub sealed_at: Option<i64>,
    pub sealed_by: Option<i64>,
    pub seal_hash: Option<String>,
    pub reported_at: Option<i64>,
    pub reported_by: Option<i64>,
    pub absent_at: Option<i64>,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<i64>,
    pub lift_reason: Option<String>,
}

const COLUMNS: &str = "id, season_id, county_code, exam_date, half_day, candidates, report_by, \
    mismatches, sealed_at, sealed_by, seal_hash, reported_at, reported_by, absent_at, lifted_at, \
    lifted_by, lift_reason";

impl Batch {
    /// Sealed, both entries agreeing, before the cutoff: its data was in the city's system on
    /// the exam day, so the city may accept it late (`entry.late_report`).
    pub fn sealed_in_time(&self) -> bool {
        self.mismatches == Some(0) && self.sealed_at.is_some_and(|s| s < self.report_by)
    }

    pub fn cutoff(&self) -> DateTime<Utc> {
        from_ms(self.report_by)
    }

    /// 缺考 now: marked at the cutoff (the city's late acceptance clears the mark and reports the
    /// batch; the acceptance stays recorded).
    pub fn is_absent(&self) -> bool {
        self.absent_at.is_some()
    }

    pub fn stage(&self) -> Stage {
        if self.is_absent() {
            Stage::Absent
        } else if self.reported_at.is_some() {
            Stage::Reported
        } else if self.sealed_at.is_some() {
            Stage::Sealed
        } else if self.mismatches == Some(0) {
            Stage::Agreed
        } else {
            Stage::Entering
        }
    }

    /// "2023-04-27 上午": the half-day it holds.
    pub fn half_day_label(&self) -> String {
        format!("{} {}", self.exam_date, self.half_day)
    }
}

pub async fn all(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<Vec<Batch>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM entry_batches WHERE season_id = $1
         ORDER BY exam_date, half_day, county_code"
    )))
    .bind(season_id)
    .fetch_all(conn)
    .await
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> sqlx::Result<Option<Batch>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM entry_batches WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Plans (or re-counts) one batch; its cutoff follows the configuration of the day.
pub async fn upsert(
    conn: &mut AnyConnection,
    season_id: i64,
    county: &str,
    exam_date: &str,
    half_day: &str,
    candidates: i64,
    report_by: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO entry_batches (season_id, county_code, exam_date, half_day, candidates, report_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (season_id, county_code, exam_date, half_day)
         DO UPDATE SET candidates = excluded.candidates, report_by = excluded.report_by",
    )
    .bind(season_id)
    .bind(county)
    .bind(exam_date)
    .bind(half_day)
    .bind(candidates)
    .bind(to_ms(report_by))
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether any batch of the season has an upload (then its roster stays as it is).
pub async fn any_upload(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM entry_uploads u JOIN entry_batches b ON b.id = u.batch_id
         WHERE b.season_id = $1",
    )
    .bind(season_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Drops a batch a new roster no longer has (it has no upload: planning checks).
pub async fn delete(conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM entry_batches WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The first entry's pair of clerks, if the batch has one.
pub async fn first_pair(conn: &mut AnyConnection, batch: i64) -> sqlx::Result<Option<Pair>> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT entered_by, read_by FROM entry_uploads WHERE batch_id = $1 AND side = 'a'
         ORDER BY id LIMIT 1",
    )
    .bind(batch)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(entered, read)| Pair { entered, read }))
}

/// Everyone who entered or read out any upload of the batch (the inspector sealing it must be
/// none of them).
pub async fn clerks(conn: &mut AnyConnection, batch: i64) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT entered_by, read_by FROM entry_uploads WHERE batch_id = $1")
            .bind(batch)
            .fetch_all(conn)
            .await?;
    let mut out: Vec<i64> = rows.into_iter().flat_map(|(e, r)| [e, r]).collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Which sides have rows.
pub async fn sides(conn: &mut AnyConnection, batch: i64) -> sqlx::Result<Vec<Side>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT side FROM entry_uploads WHERE batch_id = $1")
            .bind(batch)
            .fetch_all(conn)
            .await?;
    Ok(rows.iter().filter_map(|(s,)| Side::parse(s)).collect())
}

pub struct Upload<'a> {
    pub batch: i64,
    pub side: Side,
    pub crew: Crew,
    pub file_name: &'a str,
    pub file_hash: &'a str,
    pub rows: i64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
}

pub async fn record_upload(conn: &mut AnyConnection, u: &Upload<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO entry_uploads (batch_id, side, entered_by, read_by, file_name, file_hash,
             row_count, at, actor, watched_reading, watched_entering)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(u.batch)
    .bind(u.side.as_str())
    .bind(u.crew.pair.entered)
    .bind(u.crew.pair.read)
    .bind(u.file_name)
    .bind(u.file_hash)
    .bind(u.rows)
    .bind(to_ms(u.at))
    .bind(u.actor)
    .bind(u.crew.watched_reading)
    .bind(u.crew.watched_entering)
    .execute(conn)
    .await?;
    Ok(())
}

/// An upload's four, as stored (uploads made before the watchers were asked for have none).
#[derive(sqlx::FromRow)]
struct CrewRow {
    side: String,
    entered_by: i64,
    read_by: i64,
    watched_reading: Option<i64>,
    watched_entering: Option<i64>,
}

/// The crews of a batch's latest upload of each side, first side first.
pub async fn crews(
    conn: &mut AnyConnection,
    batch: i64,
) -> sqlx::Result<Vec<(Side, Option<Crew>)>> {
    let rows: Vec<CrewRow> = sqlx::query_as(
        "SELECT u.side, u.entered_by, u.read_by, u.watched_reading, u.watched_entering
         FROM entry_uploads u
         WHERE u.batch_id = $1
           AND u.id = (SELECT MAX(v.id) FROM entry_uploads v
                       WHERE v.batch_id = u.batch_id AND v.side = u.side)
         ORDER BY u.side",
    )
    .bind(batch)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let side = Side::parse(&r.side)?;
            let crew = r.watched_reading.zip(r.watched_entering).map(
                |(watched_reading, watched_entering)| Crew {
                    pair: Pair {
                        entered: r.entered_by,
                        read: r.read_by,
                    },
                    watched_reading,
                    watched_entering,
                },
            );
            Some((side, crew))
        })
        .collect())
}

/// Rows per INSERT statement: 10 parameters a row, well under SQLite's and PostgreSQL's limits.
const ROWS_PER_INSERT: usize = 500;

/// Replaces one side's rows with a new upload's.
pub async fn replace_rows(
    conn: &mut AnyConnection,
    batch: i64,
    side: Side,
    rows: &[EntryRow],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM entry_rows WHERE batch_id = $1 AND side = $2")
        .bind(batch)
        .bind(side.as_str())
        .execute(&mut *conn)
        .await?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO entry_rows (batch_id, side, exam_no, name, score, item_main, item_sec1,
                 item_sec2, item_tidy, exempt) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = i * 10;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${},${},${},${},${},${},${},${},${},${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8,
                p + 9,
                p + 10
            ));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(batch)
                .bind(side.as_str())
                .bind(&r.exam_no)
                .bind(&r.name)
                .bind(r.score)
                .bind(r.item_main)
                .bind(r.item_sec1)
                .bind(r.item_sec2)
                .bind(r.item_tidy)
                .bind(r.exempt);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One side's rows in 准考证号 order (as `reconcile` wants them).
pub async fn rows(conn: &mut AnyConnection, batch: i64, side: Side) -> sqlx::Result<Vec<EntryRow>> {
    sqlx::query_as(
        "SELECT exam_no, name, score, item_main, item_sec1, item_sec2, item_tidy, exempt
         FROM entry_rows WHERE batch_id = $1 AND side = $2 ORDER BY exam_no",
    )
    .bind(batch)
    .bind(side.as_str())
    .fetch_all(conn)
    .await
}

pub async fn set_mismatches(
    conn: &mut AnyConnection,
    batch: i64,
    mismatches: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE entry_batches SET mismatches = $2 WHERE id = $1 AND sealed_at IS NULL")
        .bind(batch)
        .bind(mismatches)
        .execute(conn)
        .await?;
    Ok(())
}

/// Seals a batch whose entries agree; false when it was sealed already or they do not agree.
pub async fn seal(
    conn: &mut AnyConnection,
    batch: i64,
    by: i64,
    hash: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE entry_batches SET sealed_at = $2, sealed_by = $3, seal_hash = $4
         WHERE id = $1 AND sealed_at IS NULL AND mismatches = 0",
    )
    .bind(batch)
    .bind(to_ms(at))
    .bind(by)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Reports a sealed batch to the city; false when it is not sealed, reported already, or 缺考.
pub async fn report(
    conn: &mut AnyConnection,
    batch: i64,
    by: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE entry_batches SET reported_at = $2, reported_by = $3
         WHERE id = $1 AND sealed_at IS NOT NULL AND reported_at IS NULL AND absent_at IS NULL",
    )
    .bind(batch)
    .bind(to_ms(at))
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The batches whose cutoff has passed unreported, not yet marked 缺考.
pub async fn overdue(
    conn: &mut AnyConnection,
    season_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Batch>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM entry_batches
         WHERE season_id = $1 AND report_by <= $2 AND reported_at IS NULL AND absent_at IS NULL
         ORDER BY id"
    )))
    .bind(season_id)
    .bind(to_ms(now))
    .fetch_all(conn)
    .await
}

/// Marks a batch 缺考; false when another sweep (or a report) got there first.
pub async fn mark_absent(
    conn: &mut AnyConnection,
    batch: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE entry_batches SET absent_at = $2
         WHERE id = $1 AND reported_at IS NULL AND absent_at IS NULL",
    )
    .bind(batch)
    .bind(to_ms(at))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Accepts a 缺考 batch late with the city's written reason: it counts as reported now, by the
/// admin. Only a batch whose two entries agreed and whose seal came before its cutoff is taken;
/// false otherwise, or when it is not 缺考 now.
pub async fn accept_late(
    conn: &mut AnyConnection,
    batch: i64,
    by: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE entry_batches SET lifted_at = $2, lifted_by = $3, lift_reason = $4,
             absent_at = NULL, reported_at = $2, reported_by = $3
         WHERE id = $1 AND absent_at IS NOT NULL AND reported_at IS NULL AND mismatches = 0
           AND sealed_at IS NOT NULL AND sealed_at < report_by",
    )
    .bind(batch)
    .bind(to_ms(at))
    .bind(by)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The roster's candidates of a batch: its schools' candidates of its half-day.
pub async fn members(
    conn: &mut AnyConnection,
    batch: &Batch,
    schools: &[String],
) -> sqlx::Result<Vec<roster::Row>> {
    if schools.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..schools.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT {} FROM roster r WHERE r.season_id = $1 AND r.exam_date = $2 AND r.half_day = $3
           AND r.school_code IN ({}) ORDER BY r.exam_no",
        roster::ROW_COLUMNS,
        list.join(",")
    );
    let mut q = sqlx::query_as(AssertSqlSafe(sql))
        .bind(batch.season_id)
        .bind(&batch.exam_date)
        .bind(&batch.half_day);
    for s in schools {
        q = q.bind(s);
    }
    q.fetch_all(conn).await
}

/// Candidates per school of the batches (what publication from them will hold).
pub async fn school_counts(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT school_code, COUNT(*) FROM roster
         WHERE season_id = $1 AND exam_date IS NOT NULL AND half_day IS NOT NULL
         GROUP BY school_code ORDER BY school_code",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

/// The roster's sittings per school (for planning batches): (school, date, half-day, count).
/// Candidates without a sitting are counted under empty date and half-day.
pub async fn sittings(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<(String, String, String, i64)>> {
    sqlx::query_as(
        "SELECT school_code, COALESCE(exam_date, ''), COALESCE(half_day, ''), COUNT(*)
         FROM roster WHERE season_id = $1 GROUP BY school_code, exam_date, half_day",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

/// PostgreSQL: locks the batch's row for the transaction, so that an upload, a lift and the
/// publication that reads it take turns (SQLite's one writer takes turns already).
pub async fn lock(conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT id FROM entry_batches WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// PostgreSQL: locks every batch row of the season for the transaction (see `lock`).
pub async fn lock_season(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT id FROM entry_batches WHERE season_id = $1 FOR UPDATE")
            .bind(season_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The 准考证号 of the season's candidates whose 免考 was granted.
pub async fn exempt_exam_nos(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<std::collections::HashSet<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT r.exam_no FROM review_requests q JOIN roster r ON r.id = q.candidate_id
         WHERE q.kind = 'exemption' AND q.state = 'completed' AND q.season_id = $1",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

const CANDIDATE_COLUMNS: &str = "season_id, exam_no, reg_no, name, gender, school_code, \
    class_name, id_card, student_no, exam_date, half_day, batch, room, seat, score, item_main, \
    item_sec1, item_sec2, item_tidy, exempt, absent";

/// A roster row's registration and sitting columns as a candidate's.
const FROM_ROSTER: &str = "r.season_id, r.exam_no, r.reg_no, r.name, r.gender, r.school_code, \
    r.class_name, r.id_card, r.student_no, COALESCE(r.exam_date, ''), COALESCE(r.half_day, ''), \
    COALESCE(r.batch, 0), COALESCE(r.room, 0), COALESCE(r.seat, 0)";

/// Replaces the season's candidates with the agreed rows of its reported batches; how many
/// were written.
pub async fn candidates_from_reported(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM candidates WHERE season_id = $1")
        .bind(season_id)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO candidates ({CANDIDATE_COLUMNS})
         SELECT {FROM_ROSTER}, e.score, e.item_main, e.item_sec1, e.item_sec2, e.item_tidy,
                e.exempt, 0
         FROM entry_rows e
         JOIN entry_batches b ON b.id = e.batch_id
         JOIN roster r ON r.season_id = b.season_id AND r.exam_no = e.exam_no
         WHERE b.season_id = $1 AND e.side = 'a' AND b.reported_at IS NOT NULL"
    )))
    .bind(season_id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// The candidates of a 缺考 batch's `schools`: 缺考, except a 免考 candidate, who sat no exam
/// and keeps `exempt_score` (tenths) as 免考; how many were written.
pub async fn candidates_of_absent(
    conn: &mut AnyConnection,
    batch: &Batch,
    schools: &[String],
    exempt_score: i64,
) -> sqlx::Result<u64> {
    let list: Vec<String> = (0..schools.len()).map(|i| format!("${}", i + 5)).collect();
    let exempt = "EXISTS (SELECT 1 FROM review_requests q WHERE q.candidate_id = r.id
        AND q.kind = 'exemption' AND q.state = 'completed')";
    let sql = format!(
        "INSERT INTO candidates ({CANDIDATE_COLUMNS})
         SELECT {FROM_ROSTER}, CASE WHEN {exempt} THEN $4 ELSE 0 END, NULL, NULL, NULL,
                NULL, CASE WHEN {exempt} THEN 1 ELSE 0 END,
                CASE WHEN {exempt} THEN 0 ELSE 1 END
         FROM roster r WHERE r.season_id = $1 AND r.exam_date = $2 AND r.half_day = $3
           AND r.school_code IN ({})",
        list.join(",")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(batch.season_id)
        .bind(batch.exam_date.clone())
        .bind(batch.half_day.clone())
        .bind(exempt_score);
    for s in schools {
        q = q.bind(s);
    }
    Ok(q.execute(conn).await?.rows_affected())
}
