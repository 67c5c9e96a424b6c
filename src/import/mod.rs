//! Reading and checking the files offices send: units and scores. Checks collect the problems
//! with their row and column (the first `Problems::KEPT` kept, the rest counted); nothing is
//! written unless the whole file is clean.

pub mod bombs;
pub mod people;
pub mod roster;
pub mod scores;
pub mod table;
mod text;
pub mod units;
mod unpack;

use std::fmt;

/// One thing wrong with one cell (or one row, when `column` names the row's key). Row 0 is
/// about the roster rather than a row of the file: a registered candidate the file left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub row: usize,
    pub column: String,
    pub value: String,
    pub reason: String,
}

impl Problem {
    /// A 身份证号 or 学籍号 is kept masked: refusals are printed, logged and sent in chat.
    /// A value is shown up to `VALUE_CHARS` characters: a cell of a megabyte is quoted, not
    /// repeated.
    pub fn new(row: usize, column: &str, value: &str, reason: impl Into<String>) -> Self {
        let value = match column {
            "身份证号" | "学籍号" => crate::domain::ids::mask(value),
            _ => match value.char_indices().nth(VALUE_CHARS) {
                Some((cut, _)) => format!("{}…", &value[..cut]),
                None => value.to_string(),
            },
        };
        Self {
            row,
            column: column.to_string(),
            value,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            0 => write!(
                f,
                "roster, column {}, value \"{}\": {}",
                self.column, self.value, self.reason
            ),
            row => write!(
                f,
                "row {row}, column {}, value \"{}\": {}",
                self.column, self.value, self.reason
            ),
        }
    }
}

/// The column a problem of the whole file names.
pub const WHOLE_FILE: &str = "(文件)";

/// How much of a cell a problem quotes.
const VALUE_CHARS: usize = 60;

/// A file's problems as a check finds them: the first `KEPT` in file order, and how many there
/// were in all. A file of a million bad rows costs the same memory as one of two hundred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    kept: Vec<Problem>,
    total: usize,
}

impl Problems {
    /// More than anyone reads in chat or a terminal; the count says the rest.
    pub const KEPT: usize = 200;

    pub fn new() -> Self {
        Self::default()
    }

    /// A problem of the whole file (a bound crossed, a file unreadable from some row on) is
    /// kept first, whatever came before it: it is the one to read.
    pub fn push(&mut self, p: Problem) {
        self.total += 1;
        if p.column == WHOLE_FILE {
            self.kept.truncate(Self::KEPT - 1);
            let at = self
                .kept
                .iter()
                .take_while(|k| k.column == WHOLE_FILE)
                .count();
            self.kept.insert(at, p);
        } else if self.kept.len() < Self::KEPT {
            self.kept.push(p);
        }
    }

    /// Every problem found, kept or only counted (a check compares it before and after a row).
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The problems kept, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.kept.iter()
    }

    /// The problems found but not kept.
    pub fn more(&self) -> usize {
        self.total - self.kept.len()
    }

    /// Orders the kept problems by row (a check that finds some only after the last row).
    pub fn sort_by_row(&mut self) {
        self.kept.sort_by_key(|p| p.row);
    }
}

impl std::ops::Index<usize> for Problems {
    type Output = Problem;
    /// The `i`th problem kept.
    fn index(&self, i: usize) -> &Problem {
        &self.kept[i]
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The outcome of a refused import: its problems.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) found; nothing was imported", problems.len())]
pub struct Refused {
    pub problems: Problems,
}
