//! The scores file: one row per candidate, columns named as the city's sheet names them. Every
//! row is checked; a row that passes becomes a `NewCandidate`, which borrows its texts from the
//! row's cells so that a million rows cost no allocation each.

use super::roster::Roster;
use super::table::Columns;
use super::{Problem, Problems};
use crate::domain::Score;
use crate::domain::ids::{IdCardNo, IdPattern, StudentNo};
use crate::domain::score::{ItemMaxima, ItemScores};
use crate::store::candidates::{Load, NewCandidate, Sitting};
use chrono::{Datelike, NaiveDate};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

pub const REQUIRED: [&str; 14] = [
    "准考证号",
    "报名序号",
    "姓名",
    "性别",
    "学校代码",
    "班级",
    "身份证号",
    "学籍号",
    "考试日期",
    "午别",
    "批次",
    "场次",
    "座号",
    "成绩",
];
pub const ITEMS: [&str; 4] = ["主实验", "副实验一", "副实验二", "整理器材"];

/// The registration columns: the roster has these (and optionally the sitting), a scores file
/// all of `REQUIRED`.
const IDENTITY: usize = 8;
/// The sitting columns follow the registration ones in `REQUIRED`.
const SITTING: std::ops::Range<usize> = 8..13;
/// What a 免考 candidate's 成绩 cell may say instead of a score.
pub const EXEMPT_MARK: &str = "免考";

/// What a row is checked against, plus the duplicates seen so far.
pub struct Checker {
    load: Load,
    cols: Columns,
    has_items: bool,
    /// The roster's optional sitting columns are all there.
    has_sitting: bool,
    schools: HashSet<String>,
    exam_no: IdPattern,
    reg_no: IdPattern,
    full: Score,
    maxima: ItemMaxima,
    seen: SeenExamNos,
    /// A scores file on a season with a roster is matched against it.
    roster: Option<Roster>,
    exempt_score: Score,
    /// Why a 准考证号 the roster lacks is refused: the season's roster, or one batch's part of it.
    not_on_roster: &'static str,
}

const NOT_REGISTERED: &str = "报名名单中没有此准考证号";

impl Checker {
    pub fn new(
        header: &[String],
        schools: HashSet<String>,
        exam_no: IdPattern,
        reg_no: IdPattern,
        full: Score,
        maxima: ItemMaxima,
    ) -> anyhow::Result<Self> {
        let cols = Columns::locate(header, &REQUIRED, &ITEMS)?;
        let present = (0..ITEMS.len())
            .filter(|i| cols.has(REQUIRED.len() + i))
            .count();
        if present != 0 && present != ITEMS.len() {
            anyhow::bail!(
                "item score columns must come all four together: {}",
                ITEMS.join(", ")
            );
        }
        Ok(Self {
            load: Load::Scores,
            cols,
            has_items: present == ITEMS.len(),
            has_sitting: true,
            schools,
            exam_no,
            reg_no,
            full,
            maxima,
            seen: SeenExamNos::default(),
            roster: None,
            exempt_score: Score::from_tenths(0),
            not_on_roster: NOT_REGISTERED,
        })
    }

    /// A checker for the roster (`import candidates`): the registration columns, and the
    /// sitting columns all five or none.
    pub fn for_roster(
        header: &[String],
        schools: HashSet<String>,
        exam_no: IdPattern,
        reg_no: IdPattern,
    ) -> anyhow::Result<Self> {
        let cols = Columns::locate(header, &REQUIRED[..IDENTITY], &REQUIRED[SITTING])?;
        let present = SITTING.filter(|i| cols.has(*i)).count();
        if present != 0 && present != SITTING.len() {
            anyhow::bail!(
                "sitting columns must come all five together: {}",
                REQUIRED[SITTING].join(", ")
            );
        }
        Ok(Self {
            load: Load::Roster,
            cols,
            has_items: false,
            has_sitting: present == SITTING.len(),
            schools,
            exam_no,
            reg_no,
            full: Score::from_tenths(0),
            maxima: ItemMaxima::default(),
            seen: SeenExamNos::default(),
            roster: None,
            exempt_score: Score::from_tenths(0),
            not_on_roster: NOT_REGISTERED,
        })
    }

    /// Matches a scores file against the season's roster: every row's 准考证号 must be on it
    /// with the same 姓名 and 身份证号; a 免考 candidate gets `exempt_score` and no exam score.
    pub fn match_roster(&mut self, roster: Roster, exempt_score: Score) {
        self.roster = Some(roster);
        self.exempt_score = exempt_score;
    }

    /// Matches one 登分 batch's entry against the batch's part of the roster: a candidate of
    /// another county or half-day is refused like an unregistered one, and says so.
    pub fn match_batch(&mut self, roster: Roster, exempt_score: Score) {
        self.match_roster(roster, exempt_score);
        self.not_on_roster = "不是本批次（本考区、本半天）的考生";
    }

    /// After the last row: the roster's candidates the file did not score (the 免考 ones among
    /// them are the caller's to add), or None without a roster.
    pub fn take_roster(&mut self) -> Option<Roster> {
        self.roster.take()
    }

    /// Checks one row; every problem in it is pushed to `problems`.
    pub fn check<'c>(
        &mut self,
        n: usize,
        cells: &'c [String],
        problems: &mut Problems,
    ) -> Option<NewCandidate<'c>> {
        let before = problems.len();
        let cols = &self.cols;
        let cell = |i: usize| -> &'c str { cols.get(cells, i) };
        let mut bad = |col: &str, value: &str, reason: String| {
            problems.push(Problem::new(n, col, value, reason));
        };

        let exam_no = self
            .exam_no
            .check(cell(0))
            .map_err(|e| bad("准考证号", cell(0), e.0))
            .ok();
        if let Some(no) = exam_no
            && let Some(first) = self.seen.first_row(no, n)
        {
            bad("准考证号", cell(0), format!("与第{first}行重复"));
        }
        let reg_no = self
            .reg_no
            .check(cell(1))
            .map_err(|e| bad("报名序号", cell(1), e.0))
            .ok();
        let name = cell(2);
        if name.is_empty() || name.chars().count() > 50 {
            bad("姓名", name, "不能为空，最多50字".into());
        }
        let gender = cell(3);
        if gender != "男" && gender != "女" {
            bad("性别", gender, "应为 男 或 女".into());
        }
        let school = cell(4);
        if !self.schools.contains(school) {
            bad("学校代码", school, "未知的学校代码（请先导入单位）".into());
        }
        let class_name = cell(5);
        if class_name.is_empty() {
            bad("班级", class_name, "不能为空".into());
        }
        let id_card = IdCardNo::parse(cell(6))
            .map_err(|e| bad("身份证号", cell(6), e.0))
            .ok();
        let student_no = StudentNo::parse(cell(7), id_card.as_ref())
            .map_err(|e| bad("学籍号", cell(7), e.0))
            .ok();
        // On the roster: the same person (姓名, 身份证号), and whether they are 免考.
        let mut exempt = false;
        if let (Some(roster), Some(no)) = (self.roster.as_mut(), exam_no) {
            match roster.visit(no) {
                None => bad("准考证号", no, self.not_on_roster.into()),
                Some(entry) => {
                    if entry.name != Roster::fingerprint(name) {
                        bad("姓名", name, "与报名名单中的姓名不符".into());
                    }
                    if let Some(id) = &id_card
                        && entry.id_card != Roster::fingerprint(id.as_str())
                    {
                        bad("身份证号", cell(6), "与报名名单中的身份证号不符".into());
                    }
                    if entry.school != Roster::fingerprint(school) {
                        bad("学校代码", school, "与报名名单中的学校不符".into());
                    }
                    if let Some(reg) = reg_no
                        && entry.reg_no != Roster::fingerprint(reg)
                    {
                        bad("报名序号", reg, "与报名名单中的报名序号不符".into());
                    }
                    exempt = entry.exempt;
                }
            }
        }
        let sitting = if self.has_sitting {
            let exam_date = parse_date(cell(8))
                .ok_or(())
                .map_err(|_| bad("考试日期", cell(8), "应为日期，如 2023-04-27".into()))
                .ok();
            let half_day = Sitting::half_day(cell(9))
                .ok_or(())
                .map_err(|_| bad("午别", cell(9), "应为 上午 或 下午".into()))
                .ok();
            let mut number = |i: usize, col: &str| match cell(i).parse::<u32>() {
                Ok(v) if v > 0 => Some(v),
                _ => {
                    bad(col, cell(i), "应为正整数".into());
                    None
                }
            };
            let batch = number(10, "批次");
            let room = number(11, "场次");
            let seat = number(12, "座号");
            Some((exam_date, half_day, batch, room, seat))
        } else {
            None
        };
        let (score, items) = match self.load {
            Load::Roster => (Some(Score::from_tenths(0)), None),
            Load::Scores if exempt => {
                let marked = matches!(cell(13).trim(), "" | EXEMPT_MARK);
                let items_given = self.has_items
                    && (0..ITEMS.len()).any(|i| !cell(REQUIRED.len() + i).is_empty());
                if !marked || items_given {
                    bad(
                        "成绩",
                        cell(13),
                        format!(
                            "该考生已批准免考，不应有考试成绩（请留空或填“{EXEMPT_MARK}”，按规定给{}分）",
                            self.exempt_score
                        ),
                    );
                }
                (Some(self.exempt_score), None)
            }
            Load::Scores => {
                let score = Score::parse(cell(13), self.full)
                    .map_err(|e| bad("成绩", cell(13), e))
                    .ok();
                let items = self.items(cell, score, &mut bad);
                (score, items)
            }
        };
        if problems.len() != before {
            return None;
        }
        let sitting = match sitting {
            Some((d, h, b, r, s)) => Some(Sitting {
                exam_date: d?,
                half_day: h?,
                batch: b?,
                room: r?,
                seat: s?,
            }),
            None => None,
        };
        Some(NewCandidate {
            exam_no: exam_no?,
            reg_no: reg_no?,
            name,
            gender,
            school_code: school,
            class_name,
            id_card: id_card?.into_inner(),
            student_no: student_no?.into_inner(),
            sitting,
            score: score?,
            items,
            exempt,
        })
    }

    /// The four item scores when the file has them and the row fills them: each in its
    /// range, and their sum the total (合分).
    fn items<'c>(
        &self,
        cell: impl Fn(usize) -> &'c str,
        score: Option<Score>,
        bad: &mut impl FnMut(&str, &str, String),
    ) -> Option<ItemScores> {
        if !self.has_items {
            return None;
        }
        let base = REQUIRED.len();
        let limits = [
            self.maxima.main,
            self.maxima.secondary_one,
            self.maxima.secondary_two,
            self.maxima.tidying,
        ];
        let texts: [&str; 4] = std::array::from_fn(|i| cell(base + i));
        if texts.iter().all(|t| t.is_empty()) {
            return None;
        }
        let parsed: [Option<Score>; 4] = std::array::from_fn(|i| {
            Score::parse(texts[i], Score::from_points(limits[i]))
                .map_err(|e| bad(ITEMS[i], texts[i], e))
                .ok()
        });
        let [
            Some(main),
            Some(secondary_one),
            Some(secondary_two),
            Some(tidying),
        ] = parsed
        else {
            return None;
        };
        let items = ItemScores {
            main,
            secondary_one,
            secondary_two,
            tidying,
        };
        if let Some(total) = score
            && items.sum() != total
        {
            bad(
                "成绩",
                cell(13),
                format!("合分错误：各项之和为{}，与成绩{}不符", items.sum(), total),
            );
        }
        Some(items)
    }
}

/// The 准考证号 seen so far and the row of each. They are usually all digits, kept as numbers
/// then: a million of them cost no allocation each and a third of the memory.
#[derive(Default)]
struct SeenExamNos {
    numbers: HashMap<u64, usize, foldhash::fast::RandomState>,
    others: HashMap<String, usize, foldhash::fast::RandomState>,
}

impl SeenExamNos {
    /// The row where `exam_no` was first seen, or None (and it is remembered as seen on `row`).
    fn first_row(&mut self, exam_no: &str, row: usize) -> Option<usize> {
        // Up to 19 digits always fit in a u64; a leading zero would make "01" and "1" one key.
        let numeric = (1..=19).contains(&exam_no.len())
            && !exam_no.starts_with('0')
            && exam_no.bytes().all(|b| b.is_ascii_digit());
        if numeric {
            let key = exam_no.parse().expect("checked: 1 to 19 digits");
            return match self.numbers.entry(key) {
                Entry::Occupied(e) => Some(*e.get()),
                Entry::Vacant(e) => {
                    e.insert(row);
                    None
                }
            };
        }
        match self.others.get(exam_no) {
            Some(first) => Some(*first),
            None => {
                self.others.insert(exam_no.to_string(), row);
                None
            }
        }
    }
}

/// Dates as offices type them: 2023-04-27, 2023/4/27, 2023.4.27, 2023年4月27日. Years have four
/// digits (the stored form is always YYYY-MM-DD, ten characters).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    // The common spelling, without allocating: a million rows are read.
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |n, d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        return NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
            .filter(|d| d.year() >= 1000);
    }
    let cleaned: String = s
        .trim()
        .replace(['/', '.', '年', '月'], "-")
        .trim_end_matches('日')
        .to_string();
    NaiveDate::parse_from_str(&cleaned, "%Y-%m-%d")
        .ok()
        .filter(|d| (1000..=9999).contains(&d.year()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_exam_numbers_are_found_in_either_form() {
        let mut seen = SeenExamNos::default();
        for (no, row) in [("202300000001", 2), ("A-17", 3), ("0202300000001", 4)] {
            assert_eq!(seen.first_row(no, row), None, "{no}");
        }
        assert_eq!(seen.first_row("202300000001", 9), Some(2));
        assert_eq!(seen.first_row("A-17", 9), Some(3));
        assert_eq!(seen.first_row("0202300000001", 9), Some(4));
        // Twenty digits do not fit a u64 and are compared as text.
        assert_eq!(seen.first_row("12345678901234567890", 5), None);
        assert_eq!(seen.first_row("12345678901234567890", 9), Some(5));
    }

    #[test]
    fn dates_in_office_spellings() {
        let d = NaiveDate::from_ymd_opt(2023, 4, 27);
        for s in ["2023-04-27", "2023/4/27", "2023.4.27", "2023年4月27日"] {
            assert_eq!(parse_date(s), d, "{s}");
        }
        assert_eq!(parse_date("27/4/2023"), None);
        assert_eq!(parse_date("2023-02-30"), None);
        assert_eq!(parse_date("+10000-01-01"), None);
        assert_eq!(parse_date("-123-01-01"), None);
        assert_eq!(parse_date("0999-01-01"), None);
    }
}
