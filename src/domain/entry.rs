//! 登分 (附件7) as rules: a county's half-day of scores is entered twice, the second time by the
//! same two clerks with their roles swapped (交叉轮换), and the two entries must agree field by
//! field before the county's 纪检监督 seals them. Nothing here does I/O.

use crate::domain::Score;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

/// Which entry an upload is: the first (录入) or the proofreading one (交叉校对).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }

    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "a" => Some(Side::A),
            "b" => Some(Side::B),
            _ => None,
        }
    }
}

/// Who entered (录入) and who read the scores out (报分), by Telegram user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub entered: i64,
    pub read: i64,
}

impl Pair {
    pub fn swapped(self) -> Pair {
        Pair {
            entered: self.read,
            read: self.entered,
        }
    }
}

/// The four at an entry (附件7 二: 一人报分，一人录入，另两人分别监督报分与录入): the pair, and
/// who watched the reading out and who watched the entering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crew {
    pub pair: Pair,
    pub watched_reading: i64,
    pub watched_entering: i64,
}

impl Crew {
    pub fn people(&self) -> [i64; 4] {
        [
            self.pair.read,
            self.pair.entered,
            self.watched_reading,
            self.watched_entering,
        ]
    }

    /// Four different people: nobody watches their own work or does two jobs.
    pub fn distinct(&self) -> bool {
        let p = self.people();
        (0..4).all(|i| (i + 1..4).all(|j| p[i] != p[j]))
    }

    /// The proofreading entry's crew: reader and enterer swap (附件7 三), the watchers stay.
    pub fn swapped(self) -> Crew {
        Crew {
            pair: self.pair.swapped(),
            ..self
        }
    }
}

/// Why an upload's pair of clerks is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairRefused {
    /// One person cannot both read out and enter.
    SamePerson,
    /// The batch's first entry was made by `first`: only they, again (a corrected first entry),
    /// or they with their roles swapped (the proofreading entry) may upload.
    NotSwapped { first: Pair },
}

/// Which side an upload by `pair` is, given the batch's first entry (if any). The same pair
/// again corrects the first entry; the pair swapped gives (or corrects) the second.
pub fn side_for(first: Option<Pair>, pair: Pair) -> Result<Side, PairRefused> {
    if pair.entered == pair.read {
        return Err(PairRefused::SamePerson);
    }
    match first {
        None => Ok(Side::A),
        Some(f) if f == pair => Ok(Side::A),
        Some(f) if f.swapped() == pair => Ok(Side::B),
        Some(f) => Err(PairRefused::NotSwapped { first: f }),
    }
}

/// One candidate's row of an entry, as checked.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct EntryRow {
    pub exam_no: String,
    pub name: String,
    /// Tenths of a point.
    pub score: i64,
    pub item_main: Option<i64>,
    pub item_sec1: Option<i64>,
    pub item_sec2: Option<i64>,
    pub item_tidy: Option<i64>,
    pub exempt: i64,
}

/// A field on which the two entries of one candidate differ (or a candidate one entry lacks).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    pub exam_no: String,
    pub name: String,
    pub field: &'static str,
    pub a: String,
    pub b: String,
}

/// What an entry lacks, in a mismatch's value.
pub const MISSING: &str = "（无此行）";

fn points(tenths: Option<i64>) -> String {
    match tenths {
        Some(t) => Score::from_tenths(t.clamp(0, u32::MAX as i64) as u32).to_string(),
        None => "（空）".into(),
    }
}

/// Every difference between the two entries, field by field, in 准考证号 order. Both lists
/// must be sorted by 准考证号 (as the store reads them).
pub fn reconcile(a: &[EntryRow], b: &[EntryRow]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let lacking = |r: &EntryRow, a_has: bool| Mismatch {
        exam_no: r.exam_no.clone(),
        name: r.name.clone(),
        field: "准考证号",
        a: if a_has {
            r.exam_no.clone()
        } else {
            MISSING.into()
        },
        b: if a_has {
            MISSING.into()
        } else {
            r.exam_no.clone()
        },
    };
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.exam_no.as_str().cmp(y.exam_no.as_str()),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                out.push(lacking(&a[i], true));
                i += 1;
            }
            Ordering::Greater => {
                out.push(lacking(&b[j], false));
                j += 1;
            }
            Ordering::Equal => {
                compare(&a[i], &b[j], &mut out);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn compare(x: &EntryRow, y: &EntryRow, out: &mut Vec<Mismatch>) {
    let mut differ = |field: &'static str, a: String, b: String| {
        if a != b {
            out.push(Mismatch {
                exam_no: x.exam_no.clone(),
                name: x.name.clone(),
                field,
                a,
                b,
            });
        }
    };
    differ("姓名", x.name.clone(), y.name.clone());
    let score = |r: &EntryRow| {
        if r.exempt != 0 {
            "免考".to_string()
        } else {
            points(Some(r.score))
        }
    };
    differ("成绩", score(x), score(y));
    differ("主实验", points(x.item_main), points(y.item_main));
    differ("副实验一", points(x.item_sec1), points(y.item_sec1));
    differ("副实验二", points(x.item_sec2), points(y.item_sec2));
    differ("整理器材", points(x.item_tidy), points(y.item_tidy));
}

/// The agreed rows' fingerprint, recorded in the audit chain when the batch is sealed: any
/// later change to a sealed batch's scores shows as a different hash.
pub fn seal_hash(rows: &[EntryRow]) -> String {
    let mut h = Sha256::new();
    for r in rows {
        let opt = |v: Option<i64>| v.map_or(String::from("-"), |v| v.to_string());
        h.update(format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            r.exam_no,
            r.name,
            r.score,
            opt(r.item_main),
            opt(r.item_sec1),
            opt(r.item_sec2),
            opt(r.item_tidy),
            r.exempt
        ));
    }
    format!("{:x}", h.finalize())
}

/// The moment a half-day's batch must have been reported: `report_by` (local time) on its exam
/// day. A time that does not exist that day (a DST gap) is taken at its later reading.
pub fn cutoff(exam_date: NaiveDate, report_by: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let local = exam_date.and_time(report_by);
    tz.from_local_datetime(&local)
        .latest()
        .map(|t| t.to_utc())
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// Where a batch stands, from its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for entries, or for them to agree.
    Entering,
    /// Both entries agree; waiting for the inspector's seal.
    Agreed,
    Sealed,
    Reported,
    /// Not reported by the cutoff: its candidates are 缺考.
    Absent,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(no: &str, score: i64) -> EntryRow {
        EntryRow {
            exam_no: no.into(),
            name: format!("考生{no}"),
            score,
            item_main: Some(score - 60),
            item_sec1: Some(30),
            item_sec2: Some(20),
            item_tidy: Some(10),
            exempt: 0,
        }
    }

    #[test]
    fn a_crew_is_four_different_people() {
        let pair = Pair {
            entered: 1,
            read: 2,
        };
        let crew = Crew {
            pair,
            watched_reading: 3,
            watched_entering: 4,
        };
        assert!(crew.distinct() && crew.swapped().distinct());
        assert_eq!(crew.swapped().pair, pair.swapped());
        for twice in [1, 2, 3] {
            let c = Crew {
                watched_entering: twice,
                ..crew
            };
            assert!(!c.distinct(), "{c:?}");
        }
    }

    #[test]
    fn the_second_entry_is_the_first_pair_swapped() {
        let first = Pair {
            entered: 1,
            read: 2,
        };
        assert_eq!(side_for(None, first), Ok(Side::A));
        assert_eq!(side_for(Some(first), first), Ok(Side::A));
        assert_eq!(side_for(Some(first), first.swapped()), Ok(Side::B));
        let other = Pair {
            entered: 3,
            read: 1,
        };
        assert_eq!(
            side_for(Some(first), other),
            Err(PairRefused::NotSwapped { first })
        );
        assert_eq!(
            side_for(
                None,
                Pair {
                    entered: 4,
                    read: 4
                }
            ),
            Err(PairRefused::SamePerson)
        );
    }

    #[test]
    fn every_differing_field_is_listed_with_both_values() {
        let a = vec![row("0001", 250), row("0002", 240), row("0004", 200)];
        let mut b = vec![row("0001", 250), row("0002", 245), row("0003", 200)];
        b[1].item_main = Some(185);
        let m = reconcile(&a, &b);
        let got: Vec<(&str, &str, &str, &str)> = m
            .iter()
            .map(|m| (m.exam_no.as_str(), m.field, m.a.as_str(), m.b.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("0002", "成绩", "24", "24.5"),
                ("0002", "主实验", "18", "18.5"),
                ("0003", "准考证号", MISSING, "0003"),
                ("0004", "准考证号", "0004", MISSING),
            ]
        );
        assert!(reconcile(&a, &a).is_empty());
    }

    #[test]
    fn the_seal_hash_changes_with_any_score() {
        let a = vec![row("0001", 250)];
        let b = vec![row("0001", 251)];
        assert_ne!(seal_hash(&a), seal_hash(&b));
        assert_eq!(seal_hash(&a), seal_hash(&a.clone()));
    }
}
