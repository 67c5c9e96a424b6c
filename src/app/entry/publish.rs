//! Publication from the batches (`entry.mode = "county-batches"`): once every batch is
//! reported or 缺考, the season's candidates are assembled from the roster, each reported
//! batch's agreed entry, and the 缺考 batches' candidates with no score.

use super::{App, Area};
use crate::store::entry::{self as batches, Batch};
use crate::store::seasons::Season;
use sqlx::{AnyConnection, AssertSqlSafe};

/// Whether the batches allow publication.
#[derive(Debug)]
pub enum Readiness {
    /// Every batch is reported or 缺考.
    Ready,
    /// The season has no batches (no roster with sittings yet).
    NoBatches,
    /// This many roster candidates belong to no batch: publishing would leave them out.
    Unseated(i64),
    /// These batches are neither reported nor 缺考: (batch, county name).
    Waiting(Vec<(Batch, String)>),
}

const CANDIDATE_COLUMNS: &str = "season_id, exam_no, reg_no, name, gender, school_code, \
    class_name, id_card, student_no, exam_date, half_day, batch, room, seat, score, item_main, \
    item_sec1, item_sec2, item_tidy, exempt, absent";

/// A roster row's registration and sitting columns as a candidate's.
const FROM_ROSTER: &str = "r.season_id, r.exam_no, r.reg_no, r.name, r.gender, r.school_code, \
    r.class_name, r.id_card, r.student_no, COALESCE(r.exam_date, ''), COALESCE(r.half_day, ''), \
    COALESCE(r.batch, 0), COALESCE(r.room, 0), COALESCE(r.seat, 0)";

impl App {
    pub(crate) async fn batch_readiness(
        &self,
        conn: &mut AnyConnection,
        season: &Season,
    ) -> anyhow::Result<Readiness> {
        let all = batches::all(conn, season.id).await?;
        if all.is_empty() {
            return Ok(Readiness::NoBatches);
        }
        let area = Area::load(conn, &season.city_code).await?;
        let unseated = self.unseated(conn, season.id, &area).await?;
        if unseated > 0 {
            return Ok(Readiness::Unseated(unseated));
        }
        let waiting: Vec<(Batch, String)> = all
            .into_iter()
            .filter(|b| b.reported_at.is_none() && !b.is_absent())
            .map(|b| {
                let name = area.name(&b.county_code);
                (b, name)
            })
            .collect();
        Ok(if waiting.is_empty() {
            Readiness::Ready
        } else {
            Readiness::Waiting(waiting)
        })
    }

    /// Replaces the season's candidates with the batches' (in the publication's transaction).
    /// Returns how many were written.
    pub(crate) async fn assemble_from_batches(
        &self,
        conn: &mut AnyConnection,
        season: &Season,
    ) -> anyhow::Result<u64> {
        sqlx::query("DELETE FROM candidates WHERE season_id = $1")
            .bind(season.id)
            .execute(&mut *conn)
            .await?;
        let scored = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO candidates ({CANDIDATE_COLUMNS})
             SELECT {FROM_ROSTER}, e.score, e.item_main, e.item_sec1, e.item_sec2, e.item_tidy,
                    e.exempt, 0
             FROM entry_rows e
             JOIN entry_batches b ON b.id = e.batch_id
             JOIN roster r ON r.season_id = b.season_id AND r.exam_no = e.exam_no
             WHERE b.season_id = $1 AND e.side = 'a' AND b.reported_at IS NOT NULL"
        )))
        .bind(season.id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        let area = Area::load(conn, &season.city_code).await?;
        let mut absent = 0;
        for b in batches::all(conn, season.id).await? {
            if !b.is_absent() {
                continue;
            }
            let schools = area.schools(&b.county_code);
            if schools.is_empty() {
                continue;
            }
            // A 免考 candidate sat no exam: their batch being 缺考 leaves them 免考.
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
            let exempt_score = i64::from(
                self.config
                    .exemption_of(&season.city_code)
                    .score(season.full_score)
                    .tenths(),
            );
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .bind(season.id)
                .bind(b.exam_date.clone())
                .bind(b.half_day.clone())
                .bind(exempt_score);
            for s in schools {
                q = q.bind(s);
            }
            absent += q.execute(&mut *conn).await?.rows_affected();
        }
        Ok(scored + absent)
    }
}
