//! Bulk insert of candidates (and the roster), and the roster's scan for matching a scores
//! file, on SQLite through SQLite's own C API.
//!
//! Through sqlx every value of every row is copied into sqlx's argument list, converted for the
//! Any driver, and sent to the connection's worker thread; at a million rows that costs more
//! than SQLite's own work. Here one prepared statement is bound straight from the rows and
//! stepped. sqlx documents this way out: `lock_handle` keeps its worker thread off the
//! connection while we use the raw handle, and `libsqlite3-sys` is the same library sqlx links.
//!
//! The rows arrive as `candidates::copy_row` wrote them (PostgreSQL's binary COPY tuples): the
//! import encodes each row once, whichever backend takes it.

use crate::store::candidates::{self, Load};
use anyhow::{Context, bail};
use libsqlite3_sys as ffi;
use sqlx::sqlite::SqliteConnection;
use std::ffi::{CStr, CString, c_int};
use std::ptr::{self, NonNull};

/// Whether INSERT's parameter `i` (1-based) is a text column; the others are integers (the
/// same for the roster's fourteen columns and a candidate's twenty).
fn is_text(i: c_int) -> bool {
    (2..=11).contains(&i)
}

/// Inserts the encoded rows in `tuples` into the open transaction on `conn`.
pub async fn insert(conn: &mut SqliteConnection, load: Load, tuples: &[u8]) -> anyhow::Result<()> {
    let insert = CString::new(candidates::insert_statement(load))?;
    let columns = load.fields();
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    let mut reader = Tuples { bytes: tuples };
    // SAFETY: the locked handle gives us the connection alone until it drops at the end of this
    // function, and the statement is finalized before that (by `Statement`'s drop). Texts are
    // bound with SQLITE_STATIC: they point into `tuples`, which outlives each step.
    unsafe {
        let stmt = Statement::prepare(db, &insert)?;
        while !reader.bytes.is_empty() {
            if reader.take_i16()? != columns {
                bail!("a bulk row does not have {columns} fields");
            }
            for i in 1..=c_int::from(columns) {
                let field = reader.take_field()?;
                match field {
                    None => ffi::sqlite3_bind_null(stmt.0, i),
                    Some(text) if is_text(i) => ffi::sqlite3_bind_text(
                        stmt.0,
                        i,
                        text.as_ptr().cast(),
                        text.len() as c_int,
                        ffi::SQLITE_STATIC(),
                    ),
                    Some(int) => {
                        let int: [u8; 8] = int.try_into().context("an integer field")?;
                        ffi::sqlite3_bind_int64(stmt.0, i, i64::from_be_bytes(int))
                    }
                };
            }
            if ffi::sqlite3_step(stmt.0) != ffi::SQLITE_DONE {
                bail!("inserting a candidate failed: {}", message(db));
            }
            ffi::sqlite3_reset(stmt.0);
        }
    }
    Ok(())
}

/// Reads every roster row of a season on `conn` (inside its open transaction) straight
/// through SQLite's C API and hands each row's 准考证号, 姓名, 身份证号, 学校代码 and 报名序号 to
/// `each` as texts borrowed for the call: a million and a half rows through sqlx cost seconds
/// of copying that matching does not need.
pub async fn scan_roster(
    conn: &mut SqliteConnection,
    season_id: i64,
    mut each: impl FnMut([&str; 5]),
) -> anyhow::Result<()> {
    const SELECT: &CStr = c"SELECT exam_no, name, id_card, school_code, reg_no FROM roster \
        WHERE season_id = ?";
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: as in `insert`, the locked handle is ours alone while the statement lives. A
    // column's text stays valid until the next step; each is read (text, then its length, as
    // SQLite documents) and handed on before that.
    unsafe {
        let stmt = Statement::prepare(db, SELECT)?;
        ffi::sqlite3_bind_int64(stmt.0, 1, season_id);
        loop {
            match ffi::sqlite3_step(stmt.0) {
                ffi::SQLITE_ROW => {
                    let text = |i: c_int| -> &str {
                        let p = ffi::sqlite3_column_text(stmt.0, i);
                        let n = ffi::sqlite3_column_bytes(stmt.0, i);
                        if p.is_null() || n <= 0 {
                            return "";
                        }
                        std::str::from_utf8(std::slice::from_raw_parts(p, n as usize)).unwrap_or("")
                    };
                    each([text(0), text(1), text(2), text(3), text(4)]);
                }
                ffi::SQLITE_DONE => break,
                _ => bail!("reading the roster failed: {}", message(db)),
            }
        }
    }
    Ok(())
}

/// A reader over binary COPY tuples.
struct Tuples<'a> {
    bytes: &'a [u8],
}

impl<'a> Tuples<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        if self.bytes.len() < n {
            bail!("a bulk row is cut short");
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn take_i16(&mut self) -> anyhow::Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }

    /// One field: its bytes, or None for NULL (length -1).
    fn take_field(&mut self) -> anyhow::Result<Option<&'a [u8]>> {
        let len = i32::from_be_bytes(self.take(4)?.try_into()?);
        match usize::try_from(len) {
            Ok(len) => self.take(len).map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// A prepared statement, finalized on drop.
struct Statement(*mut ffi::sqlite3_stmt);

impl Statement {
    /// SAFETY: `db` must be an open connection used by nobody else while the statement lives.
    unsafe fn prepare(db: NonNull<ffi::sqlite3>, sql: &CStr) -> anyhow::Result<Statement> {
        let mut stmt = ptr::null_mut();
        // SAFETY: as the caller promises; `sql` is a NUL-terminated string.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(db.as_ptr(), sql.as_ptr(), -1, &mut stmt, ptr::null_mut())
        };
        if rc != ffi::SQLITE_OK {
            bail!("preparing the candidate insert failed: {}", unsafe {
                message(db)
            });
        }
        Ok(Statement(stmt))
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: prepared by `prepare`, finalized once.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// SQLite's message for the last error on `db`.
unsafe fn message(db: NonNull<ffi::sqlite3>) -> String {
    // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the connection.
    unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned()
}
