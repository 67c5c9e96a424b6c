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

/// The lines of one unit that reports (a district, or a city-direct school).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub unit: String,
    pub lines: Vec<Line>,
}

/// A 附件6: one unit's (one section named as the unit), or the city's combined table (the
/// city's name on the 盖章 line, a heading row before each unit's lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub year: i32,
    pub city: String,
    /// Who stamps it.
    pub unit: String,
    pub sections: Vec<Section>,
}

impl Table {
    /// One unit's table, as it goes up with the unit's 上报.
    pub fn of_unit(year: i32, city: &str, unit: &str, lines: Vec<Line>) -> Table {
        Table {
            year,
            city: city.to_string(),
            unit: unit.to_string(),
            sections: vec![Section {
                unit: unit.to_string(),
                lines,
            }],
        }
    }

    /// Whether its sections are other units than the one that stamps it (the city's table).
    fn grouped(&self) -> bool {
        self.sections.iter().any(|s| s.unit != self.unit)
    }

    /// Every row below the headings, as text: a unit's heading (grouped tables), or a line
    /// numbered within its unit.
    fn rows(&self) -> Vec<Row<'_>> {
        let mut rows = Vec::new();
        for section in &self.sections {
            if self.grouped() {
                rows.push(Row::Heading(format!(
                    "{}（{} 人）",
                    section.unit,
                    section.lines.len()
                )));
            }
            for (i, line) in section.lines.iter().enumerate() {
                rows.push(Row::Line(i + 1, line));
            }
        }
        rows
    }
}

enum Row<'a> {
    Heading(String),
    Line(usize, &'a Line),
}

/// 附注 for a result (维持 / 更正 and its kind, then the group's note), from the request's
/// stored result.
pub fn remark(kind: Option<&str>, category: Option<&str>, note: Option<&str>) -> String {
    let kind = match (kind, category) {
        (Some("corrected"), Some(category)) => format!("更正：{category}"),
        (Some("corrected"), None) => "更正".to_string(),
        (Some(_), _) => "维持原成绩".to_string(),
        (None, _) => String::new(),
    };
    match note.map(str::trim) {
        Some(note) if !note.is_empty() && !kind.is_empty() => format!("{kind}；{note}"),
        _ => kind,
    }
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
pub fn xlsx(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("复核汇总表")?;
    let last_col = (COLUMNS.len() - 1) as u16;
    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let heading_title = title(table.year, &table.city);
    sheet.merge_range(0, 0, 0, last_col, &heading_title, &title_format)?;
    sheet.merge_range(1, 0, 1, last_col, &stamp_line(&table.unit), &Format::new())?;
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let heading = cell.clone().set_bold().set_align(FormatAlign::Center);
    for (col, text) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(2, col as u16, *text, &heading)?;
    }
    let score = cell.clone().set_num_format("0.0");
    let unit_heading = cell.clone().set_bold();
    for (i, r) in table.rows().into_iter().enumerate() {
        let row = HEADER_ROWS + i as u32;
        let line = match r {
            Row::Heading(text) => {
                sheet.merge_range(row, 0, row, last_col, &text, &unit_heading)?;
                continue;
            }
            Row::Line(n, line) => {
                sheet.write_number_with_format(row, 0, n as f64, &cell)?;
                line
            }
        };
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

/// The table as .csv, UTF-8 with a byte-order mark (so Excel reads it as UTF-8), in the same
/// rows as the .xlsx. A cell that Excel would take for a formula (beginning with `=`, `+`, `-`
/// or `@`) is given a leading `'`, which keeps it text.
pub fn csv(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = ::csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(&mut out);
        w.write_record([title(table.year, &table.city)])?;
        w.write_record([stamp_line(&table.unit)])?;
        w.write_record(COLUMNS)?;
        for r in table.rows() {
            match r {
                Row::Heading(text) => w.write_record([text])?,
                Row::Line(n, line) => {
                    let reviewed = line.reviewed.map_or(String::new(), score_text);
                    w.write_record([
                        n.to_string(),
                        as_text(&line.school),
                        as_text(&line.name),
                        as_text(&line.reg_no),
                        as_text(&line.exam_no),
                        as_text(&line.sitting),
                        score_text(line.original),
                        reviewed,
                        as_text(&line.note),
                    ])?;
                }
            }
        }
        w.flush()?;
    }
    Ok(out)
}

fn as_text(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn score_text(tenths: i64) -> String {
    crate::domain::Score::from_tenths(tenths.max(0) as u32).to_string()
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
        let table = Table::of_unit(2023, "青山市", "东湖区", vec![line.clone()]);
        let rows = read(xlsx(&table).unwrap());
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
