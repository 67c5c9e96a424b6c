//! The candidate roster before the exam (`import candidates`): the registration data that
//! exemption applications name and a scores import is matched against.

use crate::domain::Score;
use crate::store::candidates::{Candidate, NewCandidate, Sitting};
use chrono::NaiveDate;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::borrow::Cow;

/// A roster row as stored, whole (the 免考 candidates a scores file does not seat are added
/// from it).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub exam_no: String,
    pub reg_no: String,
    pub name: String,
    pub gender: String,
    pub school_code: String,
    pub class_name: String,
    pub id_card: String,
    pub student_no: String,
    pub exam_date: Option<String>,
    pub half_day: Option<String>,
    pub batch: Option<i64>,
    pub room: Option<i64>,
    pub seat: Option<i64>,
}

/// `Row`'s columns, for a select on `roster r`.
pub const ROW_COLUMNS: &str = "r.id, r.exam_no, r.reg_no, r.name, r.gender, r.school_code, \
    r.class_name, r.id_card, r.student_no, r.exam_date, r.half_day, r.batch, r.room, r.seat";

impl Row {
    /// Where the roster seats the candidate, when it says.
    pub fn sitting(&self) -> Option<Sitting> {
        let positive = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0);
        Some(Sitting {
            exam_date: self.exam_date.as_deref()?.parse::<NaiveDate>().ok()?,
            half_day: Sitting::half_day(self.half_day.as_deref()?)?,
            batch: positive(self.batch)?,
            room: positive(self.room)?,
            seat: positive(self.seat)?,
        })
    }

    /// The candidate as a scores import adds them when approved for 免考 and not in the file.
    pub fn as_exempt(&self, score: Score) -> NewCandidate<'_> {
        NewCandidate {
            exam_no: &self.exam_no,
            reg_no: &self.reg_no,
            name: &self.name,
            gender: &self.gender,
            school_code: &self.school_code,
            class_name: &self.class_name,
            id_card: Cow::Borrowed(&self.id_card),
            student_no: Cow::Borrowed(&self.student_no),
            sitting: self.sitting(),
            score,
            items: None,
            exempt: true,
        }
    }

    /// As the review engine's cards show a candidate: a roster row has no score yet.
    pub fn as_candidate(&self) -> Candidate {
        let s = self.sitting();
        Candidate {
            id: self.id,
            exam_no: self.exam_no.clone(),
            reg_no: self.reg_no.clone(),
            name: self.name.clone(),
            gender: self.gender.clone(),
            school_code: self.school_code.clone(),
            class_name: self.class_name.clone(),
            id_card: self.id_card.clone(),
            student_no: self.student_no.clone(),
            exam_date: s.map_or(String::new(), |s| s.exam_date.to_string()),
            half_day: s.map_or("", |s| s.half_day).to_string(),
            batch: s.map_or(0, |s| i64::from(s.batch)),
            room: s.map_or(0, |s| i64::from(s.room)),
            seat: s.map_or(0, |s| i64::from(s.seat)),
            score: 0,
            item_main: None,
            item_sec1: None,
            item_sec2: None,
            item_tidy: None,
            exempt: 0,
        }
    }
}

pub async fn by_exam_no(
    conn: &mut AnyConnection,
    season_id: i64,
    exam_no: &str,
) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ROW_COLUMNS} FROM roster r WHERE r.season_id = $1 AND r.exam_no = $2"
    )))
    .bind(season_id)
    .bind(exam_no)
    .fetch_optional(conn)
    .await
}

pub async fn by_id(conn: &mut AnyConnection, id: i64) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ROW_COLUMNS} FROM roster r WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn count(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM roster WHERE season_id = $1")
        .bind(season_id)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// An approved (or any) 免考 application with its roster row, for 附件3.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Application {
    pub request_id: i64,
    pub state: String,
    pub details: Option<String>,
    #[sqlx(flatten)]
    pub row: Row,
}

/// The season's 免考 applications in a state (`completed`: approved), oldest first.
pub async fn applications(
    conn: &mut AnyConnection,
    season_id: i64,
    state: &str,
) -> sqlx::Result<Vec<Application>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT q.id AS request_id, q.state, q.details, {ROW_COLUMNS}
         FROM review_requests q JOIN roster r ON r.id = q.candidate_id
         WHERE q.season_id = $1 AND q.kind = 'exemption' AND q.state = $2
         ORDER BY q.id"
    )))
    .bind(season_id)
    .bind(state)
    .fetch_all(conn)
    .await
}
