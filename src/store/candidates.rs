//! Candidates and their scores. Imports replace a season's candidates in one transaction;
//! PostgreSQL takes them through COPY, SQLite through multi-row INSERTs.

use super::Backend;
use crate::domain::Score;
use crate::domain::score::ItemScores;
use chrono::{Datelike, NaiveDate};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use std::borrow::Cow;

/// One checked row of a scores file, its texts borrowed from the file's cells.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCandidate<'a> {
    pub exam_no: &'a str,
    pub reg_no: &'a str,
    pub name: &'a str,
    pub gender: &'a str,
    pub school_code: &'a str,
    pub class_name: &'a str,
    /// Upper-cased when the file had a lower-case x, hence not always borrowed.
    pub id_card: Cow<'a, str>,
    pub student_no: Cow<'a, str>,
    /// Always there in a scores file; optional in the roster, and absent for a 免考 candidate
    /// whom neither the scores file nor the roster seats.
    pub sitting: Option<Sitting>,
    pub score: Score,
    pub items: Option<ItemScores>,
    /// 免考: the score is the configured share, not an exam's.
    pub exempt: bool,
}

/// Where a candidate sits: 考试日期, 午别, 批次, 场次, 座号.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sitting {
    pub exam_date: NaiveDate,
    pub half_day: &'static str,
    pub batch: u32,
    pub room: u32,
    pub seat: u32,
}

impl Sitting {
    /// 午别 as stored ("上午" or "下午"), from a cell or a stored text.
    pub fn half_day(text: &str) -> Option<&'static str> {
        match text {
            "上午" | "上" => Some("上午"),
            "下午" | "下" => Some("下午"),
            _ => None,
        }
    }
}

/// A candidate as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
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
    /// 1 for a 免考 candidate (see `NewCandidate::exempt`).
    pub exempt: i64,
    /// 1 for a candidate of a 登分 batch not reported in time (缺考): no score.
    #[sqlx(default)]
    pub absent: i64,
}

impl Candidate {
    pub fn score(&self) -> Score {
        Score::from_tenths(self.score as u32)
    }

    pub fn is_exempt(&self) -> bool {
        self.exempt != 0
    }

    pub fn is_absent(&self) -> bool {
        self.absent != 0
    }

    /// 考试情况 as the forms write it: "4月27日上午第2批第3场15号", or 免考.
    pub fn sitting(&self) -> String {
        if self.is_exempt() {
            return "免考".into();
        }
        if self.is_absent() {
            return "缺考".into();
        }
        if self.exam_date.is_empty() {
            return String::new();
        }
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
    student_no, exam_date, half_day, batch, room, seat, score, item_main, item_sec1, item_sec2, item_tidy, \
    exempt, absent";

const INSERT_COLUMNS: &str = "season_id, exam_no, reg_no, name, gender, school_code, class_name, \
    id_card, student_no, exam_date, half_day, batch, room, seat, score, item_main, item_sec1, \
    item_sec2, item_tidy, exempt";

/// The roster's columns as its bulk load writes them (the first fourteen of a candidate's).
const ROSTER_COLUMNS: &str = "season_id, exam_no, reg_no, name, gender, school_code, class_name, \
    id_card, student_no, exam_date, half_day, batch, room, seat";
pub async fn delete_season(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM candidates WHERE season_id = $1")
        .bind(season_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// What a bulk import drops before loading (as the latest migrations define it) and builds again
/// after: building an index over sorted keys once is several times cheaper than keeping it up
/// row by row. On PostgreSQL that includes the primary key's index, which otherwise costs the
/// load a second per million rows (nothing references candidates by a foreign key).
pub struct BulkLoad {
    pub drop: Vec<&'static str>,
    pub rebuild: Vec<&'static str>,
}

pub fn bulk_load(backend: Backend, load: Load) -> BulkLoad {
    if load == Load::Roster {
        let mut drop = vec![
            "DROP INDEX IF EXISTS roster_exam_no",
            "DROP INDEX IF EXISTS roster_by_school",
        ];
        let mut rebuild = vec![
            "CREATE UNIQUE INDEX roster_exam_no ON roster(season_id, exam_no)",
            "CREATE INDEX roster_by_school ON roster(season_id, school_code, class_name)",
        ];
        if backend == Backend::Postgres {
            drop.push("ALTER TABLE roster DROP CONSTRAINT roster_pkey");
            rebuild.insert(
                0,
                "ALTER TABLE roster ADD CONSTRAINT roster_pkey PRIMARY KEY (id)",
            );
        }
        return BulkLoad { drop, rebuild };
    }
    let mut drop = vec![
        "DROP INDEX IF EXISTS candidates_exam_no",
        "DROP INDEX IF EXISTS candidates_by_school",
    ];
    let mut rebuild =
        vec!["CREATE UNIQUE INDEX candidates_exam_no ON candidates(season_id, exam_no)"];
    match backend {
        // SQLite's planner needs the order in the index (migration 0005).
        Backend::Sqlite => rebuild.push(
            "CREATE INDEX candidates_by_school ON candidates(season_id, school_code, exam_no)",
        ),
        // PostgreSQL sorts a school's few hundred rows itself (migration 0006).
        Backend::Postgres => {
            drop.push("ALTER TABLE candidates DROP CONSTRAINT candidates_pkey");
            rebuild.insert(
                0,
                "ALTER TABLE candidates ADD CONSTRAINT candidates_pkey PRIMARY KEY (id)",
            );
            rebuild.push("CREATE INDEX candidates_by_school ON candidates(season_id, school_code)");
        }
    }
    BulkLoad { drop, rebuild }
}

/// Opens a native SQLite connection for the bulk insert (see `sqlite_bulk`), set up as the
/// pool's connections are, with a larger page cache: a million-row transaction otherwise
/// spills pages to the WAL and reads them back.
pub async fn sqlite_connect(url: &str) -> sqlx::Result<SqliteConnection> {
    let mut conn = SqliteConnection::connect(url).await?;
    for pragma in [
        "PRAGMA busy_timeout = 10000",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA cache_size = -262144",
    ] {
        sqlx::query(pragma).execute(&mut conn).await?;
    }
    Ok(conn)
}

/// Opens a native PostgreSQL connection for COPY (the Any driver has no COPY).
pub async fn pg_connect(url: &str) -> sqlx::Result<PgConnection> {
    PgConnection::connect(url).await
}

/// Which table a bulk load fills: the scored candidates, or the roster before the exam.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    Scores,
    Roster,
}

impl Load {
    /// Fields each encoded row has (see `copy_row`).
    pub fn fields(self) -> i16 {
        match self {
            Load::Scores => 20,
            Load::Roster => 14,
        }
    }
}

/// COPY in PostgreSQL's binary format: the server takes numbers as they are instead of parsing
/// text, and texts need no escaping.
pub fn copy_statement(load: Load) -> String {
    match load {
        Load::Scores => format!("COPY candidates ({INSERT_COLUMNS}) FROM STDIN (FORMAT binary)"),
        Load::Roster => format!("COPY roster ({ROSTER_COLUMNS}) FROM STDIN (FORMAT binary)"),
    }
}

/// The same rows as one INSERT statement's parameters, for SQLite's bulk writer.
pub fn insert_statement(load: Load) -> String {
    let (table, columns) = match load {
        Load::Scores => ("candidates", INSERT_COLUMNS),
        Load::Roster => ("roster", ROSTER_COLUMNS),
    };
    let marks = vec!["?"; load.fields() as usize].join(",");
    format!("INSERT INTO {table} ({columns}) VALUES ({marks})")
}

/// The binary COPY stream's header (signature, flags, header extension length).
pub const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary COPY stream's trailer (a field count of -1).
pub const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Appends one row in COPY's binary format: the field count, then each field as its length and
/// bytes (BIGINT as 8 bytes big-endian, TEXT as UTF-8), NULL as length -1. Nothing is allocated:
/// a million rows pass here. SQLite's bulk writer reads the same format (`sqlite_bulk`). The
/// roster's rows are a candidate's first fourteen fields, the sitting NULL when not given; a
/// scored candidate without a sitting (a 免考 one the files do not seat) has empty texts and
/// zeros there instead, as its table requires them.
pub fn copy_row(out: &mut Vec<u8>, load: Load, season_id: i64, r: &NewCandidate) {
    fn text(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn int(out: &mut Vec<u8>, v: i64) {
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
    fn null(out: &mut Vec<u8>) {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    }
    out.extend_from_slice(&load.fields().to_be_bytes());
    int(out, season_id);
    for s in [
        r.exam_no,
        r.reg_no,
        r.name,
        r.gender,
        r.school_code,
        r.class_name,
        &r.id_card,
        &r.student_no,
    ] {
        text(out, s);
    }
    match (&r.sitting, load) {
        (Some(s), _) => {
            // YYYY-MM-DD is 10 bytes; written straight into the stream after its length.
            let d = s.exam_date;
            out.extend_from_slice(&10i32.to_be_bytes());
            let _ = std::io::Write::write_fmt(
                out,
                format_args!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
            );
            text(out, s.half_day);
            for v in [s.batch, s.room, s.seat] {
                int(out, i64::from(v));
            }
        }
        (None, Load::Roster) => (0..5).for_each(|_| null(out)),
        (None, Load::Scores) => {
            text(out, "");
            text(out, "");
            (0..3).for_each(|_| int(out, 0));
        }
    }
    if load == Load::Roster {
        return;
    }
    int(out, i64::from(r.score.tenths()));
    match &r.items {
        Some(i) => {
            for s in [i.main, i.secondary_one, i.secondary_two, i.tidying] {
                int(out, i64::from(s.tenths()));
            }
        }
        None => (0..4).for_each(|_| null(out)),
    }
    int(out, i64::from(r.exempt));
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

/// Every candidate's school, score (in tenths) and whether they were 缺考, for a season's
/// distributions.
pub async fn scores_of_season(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<(String, i64, i64)>> {
    sqlx::query_as("SELECT school_code, score, absent FROM candidates WHERE season_id = $1")
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

/// The candidates a season's review requests name (the season board reads them at once).
pub async fn of_review_requests(
    conn: &mut AnyConnection,
    season_id: i64,
) -> sqlx::Result<Vec<Candidate>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM candidates WHERE id IN
           (SELECT candidate_id FROM review_requests WHERE season_id = $1 AND kind = 'review')"
    )))
    .bind(season_id)
    .fetch_all(conn)
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
