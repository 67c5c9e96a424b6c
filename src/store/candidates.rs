//! Candidates and their scores. Imports replace a season's candidates in one transaction;
//! PostgreSQL takes them through COPY, SQLite through multi-row INSERTs.

use crate::domain::Score;
use crate::domain::score::ItemScores;
use chrono::NaiveDate;
use sqlx::postgres::PgConnection;
use sqlx::{AnyConnection, AssertSqlSafe, Connection};

/// One validated row of a scores file.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCandidate {
    pub exam_no: String,
    pub reg_no: String,
    pub name: String,
    pub gender: String,
    pub school_code: String,
    pub class_name: String,
    pub id_card: String,
    pub student_no: String,
    pub exam_date: NaiveDate,
    pub half_day: String,
    pub batch: u32,
    pub room: u32,
    pub seat: u32,
    pub score: Score,
    pub items: Option<ItemScores>,
}

/// A candidate as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Candidate {
    pub id: i64,
    pub exam_no: String,
    pub reg_no: String,
    pub name: String,
    pub gender: String,
    pub school_code: String,
    pub class_name: String,
    pub id_card: String,
    pub student_no: String,
    pub exam_date: String,
    pub half_day: String,
    pub batch: i64,
    pub room: i64,
    pub seat: i64,
    pub score: i64,
    pub item_main: Option<i64>,
    pub item_sec1: Option<i64>,
    pub item_sec2: Option<i64>,
    pub item_tidy: Option<i64>,
}

impl Candidate {
    pub fn score(&self) -> Score {
        Score::from_tenths(self.score as u32)
    }

    /// 考试情况 as the forms write it: "4月27日上午第2批第3场15号".
    pub fn sitting(&self) -> String {
        let date = self.exam_date.parse::<NaiveDate>().ok();
        let day = date.map_or(self.exam_date.clone(), |d| {
            use chrono::Datelike;
            format!("{}月{}日", d.month(), d.day())
        });
        format!(
            "{day}{}第{}批第{}场{}号",
            self.half_day, self.batch, self.room, self.seat
        )
    }
}

pub const COLUMNS: &str = "id, exam_no, reg_no, name, gender, school_code, class_name, id_card, \
    student_no, exam_date, half_day, batch, room, seat, score, item_main, item_sec1, item_sec2, item_tidy";

const INSERT_COLUMNS: &str = "season_id, exam_no, reg_no, name, gender, school_code, class_name, \
    id_card, student_no, exam_date, half_day, batch, room, seat, score, item_main, item_sec1, \
    item_sec2, item_tidy";
const INSERT_WIDTH: usize = 19;
/// Rows per INSERT statement on SQLite.
pub const SQLITE_ROWS_PER_INSERT: usize = 100;

pub async fn delete_season(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM candidates WHERE season_id = $1")
        .bind(season_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Inserts up to `SQLITE_ROWS_PER_INSERT` rows in one statement (SQLite only).
pub async fn insert_many(
    conn: &mut AnyConnection,
    season_id: i64,
    rows: &[NewCandidate],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // Anonymous `?` placeholders: SQLite looks a named one (`$7`) up by walking the list of
    // names, which made a 1,900-parameter statement quadratic.
    let one_row = format!("({})", vec!["?"; INSERT_WIDTH].join(","));
    let sql = format!(
        "INSERT INTO candidates ({INSERT_COLUMNS}) VALUES {}",
        vec![one_row; rows.len()].join(",")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for r in rows {
        let item = |f: fn(&ItemScores) -> Score| r.items.as_ref().map(|i| i64::from(f(i).tenths()));
        q = q
            .bind(season_id)
            .bind(&r.exam_no)
            .bind(&r.reg_no)
            .bind(&r.name)
            .bind(&r.gender)
            .bind(&r.school_code)
            .bind(&r.class_name)
            .bind(&r.id_card)
            .bind(&r.student_no)
            .bind(r.exam_date.to_string())
            .bind(&r.half_day)
            .bind(i64::from(r.batch))
            .bind(i64::from(r.room))
            .bind(i64::from(r.seat))
            .bind(i64::from(r.score.tenths()))
            .bind(item(|i| i.main))
            .bind(item(|i| i.secondary_one))
            .bind(item(|i| i.secondary_two))
            .bind(item(|i| i.tidying));
    }
    q.execute(conn).await?;
    Ok(())
}

/// The indexes of `candidates`, dropped during a bulk import and built again after it: building
/// an index over sorted keys once is several times cheaper than keeping it up row by row.
pub const INDEXES: [(&str, &str); 2] = [
    (
        "candidates_exam_no",
        "CREATE UNIQUE INDEX candidates_exam_no ON candidates(season_id, exam_no)",
    ),
    (
        "candidates_by_school",
        "CREATE INDEX candidates_by_school ON candidates(season_id, school_code, exam_no)",
    ),
];

pub async fn drop_indexes(conn: &mut AnyConnection) -> sqlx::Result<()> {
    for (name, _) in INDEXES {
        sqlx::query(AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn create_indexes(conn: &mut AnyConnection) -> sqlx::Result<()> {
    for (_, sql) in INDEXES {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Opens a native PostgreSQL connection for COPY (the Any driver has no COPY).
pub async fn pg_connect(url: &str) -> sqlx::Result<PgConnection> {
    PgConnection::connect(url).await
}

pub fn copy_statement() -> String {
    format!("COPY candidates ({INSERT_COLUMNS}) FROM STDIN")
}

/// Appends one row in COPY's text format.
pub fn copy_line(out: &mut Vec<u8>, season_id: i64, r: &NewCandidate) {
    fn field(out: &mut Vec<u8>, s: &str) {
        for b in s.bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
        out.push(b'\t');
    }
    let item = |f: fn(&ItemScores) -> Score| {
        r.items
            .as_ref()
            .map_or("\\N".to_string(), |i| f(i).tenths().to_string())
    };
    field(out, &season_id.to_string());
    for s in [
        &r.exam_no,
        &r.reg_no,
        &r.name,
        &r.gender,
        &r.school_code,
        &r.class_name,
        &r.id_card,
        &r.student_no,
    ] {
        field(out, s);
    }
    field(out, &r.exam_date.to_string());
    field(out, &r.half_day);
    for n in [r.batch, r.room, r.seat, r.score.tenths()] {
        field(out, &n.to_string());
    }
    // NULL markers must not be escaped, so the item columns are written raw.
    let items = [
        item(|i| i.main),
        item(|i| i.secondary_one),
        item(|i| i.secondary_two),
        item(|i| i.tidying),
    ];
    out.extend_from_slice(items.join("\t").as_bytes());
    out.push(b'\n');
}

/// Candidates per school in a season.
pub async fn school_counts(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT school_code, COUNT(*) FROM candidates WHERE season_id = $1
         GROUP BY school_code ORDER BY school_code",
    )
    .bind(season_id)
    .fetch_all(conn)
    .await
}

pub async fn of_school(
    conn: &mut AnyConnection,
    season_id: i64,
    school_code: &str,
) -> sqlx::Result<Vec<Candidate>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM candidates WHERE season_id = $1 AND school_code = $2
         ORDER BY exam_no"
    )))
    .bind(season_id)
    .bind(school_code)
    .fetch_all(conn)
    .await
}

pub async fn count(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM candidates WHERE season_id = $1")
        .bind(season_id)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// Every candidate of a season in a stable order (for comparing imports).
pub async fn all(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<Vec<Candidate>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM candidates WHERE season_id = $1 ORDER BY exam_no"
    )))
    .bind(season_id)
    .fetch_all(conn)
    .await
}

pub async fn by_exam_no(
    conn: &mut AnyConnection,
    season_id: i64,
    exam_no: &str,
) -> sqlx::Result<Option<Candidate>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM candidates WHERE season_id = $1 AND exam_no = $2"
    )))
    .bind(season_id)
    .bind(exam_no)
    .fetch_optional(conn)
    .await
}

pub async fn by_id(conn: &mut AnyConnection, id: i64) -> sqlx::Result<Option<Candidate>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM candidates WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}
