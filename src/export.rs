//! Spreadsheets sent to offices. Columns follow the official forms (附件6) where they apply, so
//! offices can lay them next to paper.

pub mod board;
pub mod chart;
pub mod distribution;
pub mod exemption_form;
pub mod exemption_summary;
pub mod invites;
pub mod qr;
pub mod review_form;
pub mod review_summary;
pub mod summary;

use crate::store::candidates::Candidate;
use rust_xlsxwriter::{Format, Workbook};

/// Score column headings of a school's notice, 附件6 order first.
pub const SCHOOL_SCORE_COLUMNS: [&str; 12] = [
    "序号",
    "学校",
    "姓名",
    "报名序号",
    "准考证号",
    "考试时间、批次、场次、座号",
    "成绩",
    "班级",
    "主实验",
    "副实验一",
    "副实验二",
    "整理器材",
];

pub fn school_scores(school_name: &str, candidates: &[Candidate]) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("成绩")?;
    let bold = Format::new().set_bold();
    for (col, heading) in SCHOOL_SCORE_COLUMNS.iter().enumerate() {
        sheet.write_with_format(0, col as u16, *heading, &bold)?;
    }
    let item = |v: Option<i64>| v.map(|t| crate::domain::Score::from_tenths(t as u32).to_string());
    for (i, c) in candidates.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write(row, 0, i as u32 + 1)?;
        sheet.write(row, 1, school_name)?;
        sheet.write(row, 2, &c.name)?;
        sheet.write(row, 3, &c.reg_no)?;
        sheet.write(row, 4, &c.exam_no)?;
        sheet.write(row, 5, c.sitting())?;
        sheet.write(row, 6, c.score().to_string())?;
        sheet.write(row, 7, &c.class_name)?;
        for (j, v) in [c.item_main, c.item_sec1, c.item_sec2, c.item_tidy]
            .into_iter()
            .enumerate()
        {
            if let Some(text) = item(v) {
                sheet.write(row, 8 + j as u16, text)?;
            }
        }
    }
    sheet.set_column_width(5, 26)?;
    sheet.set_column_width(1, 20)?;
    Ok(book.save_to_buffer()?)
}
