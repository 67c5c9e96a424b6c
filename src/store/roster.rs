//! The candidate roster before the exam (`import candidates`): the registration data that
//! exemption applications name and a scores import is matched against.

use crate::domain::Score;
use crate::store::candidates::{Candidate, NewCandidate, Sitting};
use chrono::NaiveDate;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::borrow::Cow;

/// A roster row as stored, whole (the 免考 candidates a scores file does not seat are added
/// from it).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
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
            absent: 0,
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

/// The roster rows a season's 免考 applications name (the season board reads them at once).
pub async fn of_applications(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<Vec<Row>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ROW_COLUMNS} FROM roster r WHERE r.id IN
           (SELECT candidate_id FROM review_requests WHERE season_id = $1 AND kind = 'exemption')"
    )))
    .bind(season_id)
    .fetch_all(conn)
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

/// Reads every roster row of a season on a PostgreSQL connection (inside its open
/// transaction) through `COPY … TO STDOUT (FORMAT binary)` and hands each row's 准考证号, 姓名,
/// 身份证号, 学校代码 and 报名序号 to `each` as texts borrowed for the call.
pub async fn scan_pg(
    conn: &mut sqlx::PgConnection,
    season_id: i64,
    mut each: impl FnMut([&str; 5]),
) -> anyhow::Result<()> {
    let sql = format!(
        "COPY (SELECT exam_no, name, id_card, school_code, reg_no FROM roster
               WHERE season_id = {season_id}) TO STDOUT (FORMAT binary)"
    );
    let mut stream = conn.copy_out_raw(&sql).await?;
    let mut buf: Vec<u8> = Vec::new();
    let mut header = true;
    while let Some(chunk) =
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await
    {
        buf.extend_from_slice(&chunk?);
        let mut at = 0;
        if header {
            // Signature (11), flags (4), then the header extension's length and bytes.
            if buf.len() < 19 {
                continue;
            }
            let ext = u32::from_be_bytes(buf[15..19].try_into()?) as usize;
            if buf.len() < 19 + ext {
                continue;
            }
            at = 19 + ext;
            header = false;
        }
        at += copy_tuples(&buf[at..], &mut each)?;
        buf.drain(..at);
    }
    Ok(())
}

/// Hands on every complete 5-field tuple at the start of `bytes`; returns how many bytes they
/// took (a tuple cut by the end of a chunk waits for the next). The trailer (-1) takes 2.
fn copy_tuples(bytes: &[u8], each: &mut impl FnMut([&str; 5])) -> anyhow::Result<usize> {
    let mut at = 0;
    loop {
        let Some(count) = bytes.get(at..at + 2) else {
            return Ok(at);
        };
        let count = i16::from_be_bytes(count.try_into()?);
        if count == -1 {
            return Ok(at + 2);
        }
        anyhow::ensure!(count == 5, "a roster row of {count} fields");
        let mut p = at + 2;
        let mut fields = [""; 5];
        for field in &mut fields {
            let Some(len) = bytes.get(p..p + 4) else {
                return Ok(at);
            };
            let len = i32::from_be_bytes(len.try_into()?);
            p += 4;
            if len < 0 {
                continue;
            }
            let Some(text) = bytes.get(p..p + len as usize) else {
                return Ok(at);
            };
            *field = std::str::from_utf8(text)?;
            p += len as usize;
        }
        each(fields);
        at = p;
    }
}

/// The classes of a school in the season's roster (or, without one, in its scores).
pub async fn classes(
    conn: &mut AnyConnection,
    season_id: i64,
    school_code: &str,
) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT class_name FROM roster WHERE season_id = $1 AND school_code = $2
         UNION SELECT class_name FROM candidates WHERE season_id = $1 AND school_code = $2
         ORDER BY 1",
    )
    .bind(season_id)
    .bind(school_code)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(out: &mut Vec<u8>, fields: [&str; 5]) {
        out.extend_from_slice(&5i16.to_be_bytes());
        for f in fields {
            out.extend_from_slice(&(f.len() as i32).to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
    }

    #[test]
    fn tuples_cut_anywhere_by_a_chunk_wait_for_the_rest() {
        let mut stream = Vec::new();
        tuple(
            &mut stream,
            ["202300000001", "王小明", "410802200806150012", "S1", "BM1"],
        );
        tuple(
            &mut stream,
            ["202300000002", "李四", "410802200806150039", "S2", "BM2"],
        );
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        for cut in 0..stream.len() {
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            for chunk in [&stream[..cut], &stream[cut..]] {
                buf.extend_from_slice(chunk);
                let took =
                    copy_tuples(&buf, &mut |f: [&str; 5]| seen.push(f[1].to_string())).unwrap();
                buf.drain(..took);
            }
            assert_eq!(seen, ["王小明", "李四"], "cut at {cut}");
            assert!(buf.is_empty(), "cut at {cut}");
        }
    }
}
