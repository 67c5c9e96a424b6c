//! Reading and checking the files offices send: units and scores. Checks collect every problem
//! with its row and column; nothing is written unless the whole file is clean.

pub mod people;
pub mod roster;
pub mod scores;
pub mod table;
pub mod units;

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
    pub fn new(row: usize, column: &str, value: &str, reason: impl Into<String>) -> Self {
        let value = match column {
            "身份证号" | "学籍号" => crate::domain::ids::mask(value),
            _ => value.to_string(),
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

/// The outcome of a refused import: the problems, in file order.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) found; nothing was imported", problems.len())]
pub struct Refused {
    pub problems: Vec<Problem>,
}
