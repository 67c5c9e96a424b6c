//! The scores file: one row per candidate, columns named as the city's sheet names them. Every
//! row is checked; a row that passes becomes a `NewCandidate`.

use super::Problem;
use super::table::Columns;
use crate::domain::Score;
use crate::domain::ids::{IdCardNo, IdPattern, StudentNo};
use crate::domain::score::{ItemMaxima, ItemScores};
use crate::store::candidates::NewCandidate;
use chrono::NaiveDate;
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

/// What a row is checked against, plus the duplicates seen so far.
pub struct Checker {
    cols: Columns,
    has_items: bool,
    schools: HashSet<String>,
    exam_no: IdPattern,
    reg_no: IdPattern,
    full: Score,
    maxima: ItemMaxima,
    seen: HashMap<String, usize>,
}

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
            cols,
            has_items: present == ITEMS.len(),
            schools,
            exam_no,
            reg_no,
            full,
            maxima,
            seen: HashMap::new(),
        })
    }

    /// Checks one row; every problem in it is pushed to `problems`.
    pub fn check(
        &mut self,
        n: usize,
        cells: &[String],
        problems: &mut Vec<Problem>,
    ) -> Option<NewCandidate> {
        let before = problems.len();
        let cell = |i: usize| self.cols.get(cells, i);
        let mut bad = |col: &str, value: &str, reason: String| {
            problems.push(Problem::new(n, col, value, reason));
        };

        let exam_no = self
            .exam_no
            .check(cell(0))
            .map_err(|e| bad("准考证号", cell(0), e.0))
            .ok();
        if let Some(no) = &exam_no {
            if let Some(first) = self.seen.get(no) {
                bad("准考证号", cell(0), format!("与第{first}行重复"));
            } else {
                self.seen.insert(no.clone(), n);
            }
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
        let exam_date = parse_date(cell(8))
            .ok_or(())
            .map_err(|_| bad("考试日期", cell(8), "应为日期，如 2023-04-27".into()))
            .ok();
        let half_day = match cell(9) {
            "上午" | "上" => Some("上午"),
            "下午" | "下" => Some("下午"),
            other => {
                bad("午别", other, "应为 上午 或 下午".into());
                None
            }
        };
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
        let score = Score::parse(cell(13), self.full)
            .map_err(|e| bad("成绩", cell(13), e))
            .ok();
        let items = if self.has_items {
            let base = REQUIRED.len();
            let limits = [
                self.maxima.main,
                self.maxima.secondary_one,
                self.maxima.secondary_two,
                self.maxima.tidying,
            ];
            let texts: Vec<&str> = (0..4).map(|i| cell(base + i)).collect();
            if texts.iter().all(|t| t.is_empty()) {
                None
            } else {
                let parsed: Vec<Option<Score>> = (0..4)
                    .map(|i| {
                        Score::parse(texts[i], Score::from_points(limits[i]))
                            .map_err(|e| bad(ITEMS[i], texts[i], e))
                            .ok()
                    })
                    .collect();
                match parsed[..] {
                    [
                        Some(main),
                        Some(secondary_one),
                        Some(secondary_two),
                        Some(tidying),
                    ] => {
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
                    _ => None,
                }
            }
        } else {
            None
        };
        if problems.len() != before {
            return None;
        }
        Some(NewCandidate {
            exam_no: exam_no?,
            reg_no: reg_no?,
            name: name.to_string(),
            gender: gender.to_string(),
            school_code: school.to_string(),
            class_name: class_name.to_string(),
            id_card: id_card?.as_str().to_string(),
            student_no: student_no?.as_str().to_string(),
            exam_date: exam_date?,
            half_day: half_day?.to_string(),
            batch: batch?,
            room: room?,
            seat: seat?,
            score: score?,
            items,
        })
    }
}

/// Dates as offices type them: 2023-04-27, 2023/4/27, 2023.4.27, 2023年4月27日.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let cleaned: String = s
        .trim()
        .replace(['/', '.', '年', '月'], "-")
        .trim_end_matches('日')
        .to_string();
    NaiveDate::parse_from_str(&cleaned, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_office_spellings() {
        let d = NaiveDate::from_ymd_opt(2023, 4, 27);
        for s in ["2023-04-27", "2023/4/27", "2023.4.27", "2023年4月27日"] {
            assert_eq!(parse_date(s), d, "{s}");
        }
        assert_eq!(parse_date("27/4/2023"), None);
        assert_eq!(parse_date("2023-02-30"), None);
    }
}
