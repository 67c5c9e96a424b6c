//! 附件6 复核汇总表: the table a district (or a city-direct school) stamps and sends to the
//! city's 装备中心 with its review requests, laid out as the paper form and set up to print.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

/// The form's column headings, in its order.
pub const COLUMNS: [&str; 9] = [
    "序号",
    "学校",
    "姓名",
    "报名序号",
    "准考证号",
    "考试时间、批次、场次、座号（×月×日×午×批×场×号）",
    "原始成绩",
    "复核后成绩",
    "备注",
];

/// Rows above the table that every printed page repeats: the title, the 盖章 line, the headings.
pub const HEADER_ROWS: u32 = 3;

/// One candidate's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub school: String,
    pub name: String,
    pub reg_no: String,
    pub exam_no: String,
    /// 考试时间、批次、场次、座号.
    pub sitting: String,
    /// Tenths of a point.
    pub original: i64,
    /// Tenths of a point; None until the review group has signed a result.
    pub reviewed: Option<i64>,
    pub note: String,
}

/// The form's title: "{年}年{市}中招实验考试成绩复核汇总表".
pub fn title(year: i32, city: &str) -> String {
    format!("{year}年{city}中招实验考试成绩复核汇总表")
}

/// The 盖章 line, naming the unit that stamps the form.
pub fn stamp_line(unit: &str) -> String {
    format!("县（区）/学校（盖章）：{unit}")
}

/// The table as an .xlsx: A4 landscape, the header rows on every page, borders, fitted to the
/// page width, page numbers in the footer. Text is written as text (a name beginning with `=`
/// stays a name, not a formula).
pub fn xlsx(year: i32, city: &str, unit: &str, lines: &[Line]) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("复核汇总表")?;
    let last_col = (COLUMNS.len() - 1) as u16;
    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    sheet.merge_range(0, 0, 0, last_col, &title(year, city), &title_format)?;
    sheet.merge_range(1, 0, 1, last_col, &stamp_line(unit), &Format::new())?;
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let heading = cell.clone().set_bold().set_align(FormatAlign::Center);
    for (col, text) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(2, col as u16, *text, &heading)?;
    }
    let score = cell.clone().set_num_format("0.0");
    for (i, line) in lines.iter().enumerate() {
        let row = HEADER_ROWS + i as u32;
        sheet.write_number_with_format(row, 0, (i + 1) as f64, &cell)?;
        for (col, text) in [
            &line.school,
            &line.name,
            &line.reg_no,
            &line.exam_no,
            &line.sitting,
        ]
        .into_iter()
        .enumerate()
        {
            sheet.write_string_with_format(row, col as u16 + 1, text, &cell)?;
        }
        sheet.write_number_with_format(row, 6, points(line.original), &score)?;
        match line.reviewed {
            Some(t) => sheet.write_number_with_format(row, 7, points(t), &score)?,
            None => sheet.write_blank(row, 7, &cell)?,
        };
        sheet.write_string_with_format(row, 8, &line.note, &cell)?;
    }
    for (col, width) in [6, 22, 10, 14, 14, 30, 9, 10, 24].into_iter().enumerate() {
        sheet.set_column_width(col as u16, width)?;
    }
    sheet
        .set_paper_size(9) // A4
        .set_landscape()
        .set_print_fit_to_pages(1, 0)
        .set_print_center_horizontally(true)
        .set_footer("&C第 &P 页，共 &N 页");
    sheet.set_repeat_rows(0, HEADER_ROWS - 1)?;
    Ok(book.save_to_buffer()?)
}

fn points(tenths: i64) -> f64 {
    tenths as f64 / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};

    fn read(bytes: Vec<u8>) -> Vec<Vec<Data>> {
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        sheet.rows().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn the_form_reads_as_on_paper_and_text_stays_text() {
        let line = Line {
            school: "第1中学".into(),
            name: "=HYPERLINK(\"x\") <&> \"李\" 😀".into(),
            reg_no: "+001".into(),
            exam_no: "-0001".into(),
            sitting: "@4月26日上午第1批第1场1号".into(),
            original: 385,
            reviewed: None,
            note: String::new(),
        };
        let rows = read(xlsx(2023, "青山市", "东湖区", std::slice::from_ref(&line)).unwrap());
        assert_eq!(rows[0][0], Data::String(title(2023, "青山市")));
        assert_eq!(rows[1][0], Data::String(stamp_line("东湖区")));
        let headings: Vec<Data> = COLUMNS
            .iter()
            .map(|c| Data::String(c.to_string()))
            .collect();
        assert_eq!(rows[2], headings);
        let row = &rows[3];
        assert_eq!(row[0], Data::Float(1.0));
        for (cell, text) in
            row[2..6]
                .iter()
                .zip([&line.name, &line.reg_no, &line.exam_no, &line.sitting])
        {
            assert_eq!(
                cell,
                &Data::String(text.clone()),
                "written as text, verbatim"
            );
        }
        assert_eq!(row[6], Data::Float(38.5));
        assert_eq!(
            row[7],
            Data::Empty,
            "no 复核后成绩 before the group has signed"
        );
    }
}
