//! 附件3 免考汇总表: the list a county (or a city-direct school) stamps and sends to the city
//! with its 免考 applications, laid out as the paper form and set up to print the same way as
//! the 附件6 summary (see `review_summary`).

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

/// The form's column headings, in its order.
pub const COLUMNS: [&str; 8] = [
    "序号",
    "学校",
    "姓名",
    "班级",
    "报名序号",
    "准考证号",
    "联系方式",
    "备注",
];

/// Rows above the table that every printed page repeats: the title, the 盖章 line, the headings.
pub const HEADER_ROWS: u32 = 3;

/// One candidate's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub school: String,
    pub name: String,
    pub class_name: String,
    pub reg_no: String,
    pub exam_no: String,
    pub contact: String,
    pub note: String,
}

impl Line {
    /// The texts after 序号, in the columns' order.
    fn texts(&self) -> [&str; 7] {
        [
            self.school.as_str(),
            self.name.as_str(),
            self.class_name.as_str(),
            self.reg_no.as_str(),
            self.exam_no.as_str(),
            self.contact.as_str(),
            self.note.as_str(),
        ]
    }
}

/// The lines of one unit that reports (a county, or a city-direct school).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub unit: String,
    pub lines: Vec<Line>,
}

/// A 附件3: one unit's (one section named as the unit), or the city's combined table (the
/// city's name on the 盖章 line, a heading row before each unit's lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub year: i32,
    pub city: String,
    /// Who stamps it.
    pub unit: String,
    pub sections: Vec<Section>,
    /// The city's final list of the candidates it approved, a record of its own, rather than
    /// the 附件3 a county sends up before the city decides.
    pub approved: bool,
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
            approved: false,
        }
    }

    /// Whether its sections are other units than the one that stamps it (the city's table).
    fn grouped(&self) -> bool {
        self.sections.iter().any(|s| s.unit != self.unit)
    }

    /// Every row below the headings: a unit's heading (grouped tables), or a line. 序号 runs on
    /// across the units, so the city's table counts its candidates in its last number.
    fn rows(&self) -> Vec<Row<'_>> {
        let grouped = self.grouped();
        let mut rows = Vec::new();
        let mut n = 0;
        for section in &self.sections {
            if grouped {
                rows.push(Row::Heading(format!(
                    "{}（{} 人）",
                    section.unit,
                    section.lines.len()
                )));
            }
            for line in &section.lines {
                n += 1;
                rows.push(Row::Line(n, line));
            }
        }
        rows
    }
}

enum Row<'a> {
    Heading(String),
    Line(usize, &'a Line),
}

/// The form's title: "{年}年{市}中招实验考试免考汇总表".
pub fn title(year: i32, city: &str) -> String {
    format!("{year}年{city}中招实验考试免考汇总表")
}

/// The city's final list's title.
pub fn approved_title(year: i32, city: &str) -> String {
    format!("{year}年{city}中招实验考试免考名单（市级审核同意）")
}

impl Table {
    fn title(&self) -> String {
        match self.approved {
            true => approved_title(self.year, &self.city),
            false => title(self.year, &self.city),
        }
    }
}

/// The 盖章 line, naming the unit that stamps the form.
pub fn stamp_line(unit: &str) -> String {
    format!("县市区盖章：{unit}")
}

/// The table as an .xlsx: A4 landscape, the header rows on every page, borders, fitted to the
/// page width, page numbers in the footer. Text is written as text (a name beginning with `=`
/// stays a name, not a formula).
pub fn xlsx(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("免考汇总表")?;
    let last_col = (COLUMNS.len() - 1) as u16;
    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    sheet.merge_range(0, 0, 0, last_col, &table.title(), &title_format)?;
    sheet.merge_range(1, 0, 1, last_col, &stamp_line(&table.unit), &Format::new())?;
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let heading = cell.clone().set_bold().set_align(FormatAlign::Center);
    for (col, text) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(2, col as u16, *text, &heading)?;
    }
    let unit_heading = cell.clone().set_bold();
    for (i, r) in table.rows().into_iter().enumerate() {
        let row = HEADER_ROWS + i as u32;
        match r {
            Row::Heading(text) => {
                sheet.merge_range(row, 0, row, last_col, &text, &unit_heading)?;
            }
            Row::Line(n, line) => {
                sheet.write_number_with_format(row, 0, n as f64, &cell)?;
                for (col, text) in line.texts().into_iter().enumerate() {
                    sheet.write_string_with_format(row, col as u16 + 1, text, &cell)?;
                }
            }
        }
    }
    for (col, width) in [6, 22, 10, 10, 14, 14, 16, 24].into_iter().enumerate() {
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
        w.write_record([table.title()])?;
        w.write_record([stamp_line(&table.unit)])?;
        w.write_record(COLUMNS)?;
        for r in table.rows() {
            match r {
                // A unit's name comes from the units' table; guard it like any other text.
                Row::Heading(text) => w.write_record([as_text(&text)])?,
                Row::Line(n, line) => {
                    let mut record = vec![n.to_string()];
                    record.extend(line.texts().into_iter().map(as_text));
                    w.write_record(record)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};

    fn read(bytes: Vec<u8>) -> Vec<Vec<Data>> {
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        sheet.rows().map(|r| r.to_vec()).collect()
    }

    fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
        let body = bytes
            .strip_prefix(b"\xEF\xBB\xBF".as_slice())
            .expect("a UTF-8 byte-order mark first");
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    fn line(name: &str) -> Line {
        Line {
            school: "第1中学".into(),
            name: name.into(),
            class_name: "九（3）班".into(),
            reg_no: "230101001".into(),
            exam_no: "0101001".into(),
            contact: "13800000000".into(),
            note: "残疾证".into(),
        }
    }

    #[test]
    fn the_form_reads_as_on_paper_and_text_stays_text() {
        let tricky = Line {
            reg_no: "+001".into(),
            exam_no: "-0001".into(),
            contact: "@家长 13800000000".into(),
            note: "=HYPERLINK(\"x\")".into(),
            ..line("<王&\"小\"明😀>")
        };
        let table = Table::of_unit(2023, "焦作市", "温县", vec![tricky.clone()]);
        let rows = read(xlsx(&table).unwrap());
        assert_eq!(rows[0][0], Data::String(title(2023, "焦作市")));
        assert_eq!(
            rows[0][0],
            Data::String("2023年焦作市中招实验考试免考汇总表".into())
        );
        assert_eq!(rows[1][0], Data::String("县市区盖章：温县".into()));
        for (col, heading) in COLUMNS.iter().enumerate() {
            assert_eq!(
                rows[2][col],
                Data::String(heading.to_string()),
                "column {col}"
            );
        }
        assert_eq!(rows[2].len(), COLUMNS.len());
        assert_eq!(rows.len(), 4, "one unit's table has no unit heading row");
        let row = &rows[3];
        assert_eq!(row[0], Data::Float(1.0));
        assert_eq!(row[2], Data::String("<王&\"小\"明😀>".into()));
        for (cell, text) in row[1..].iter().zip(tricky.texts()) {
            assert_eq!(
                cell,
                &Data::String(text.to_string()),
                "written as text, verbatim"
            );
        }

        let records = read_csv(&csv(&table).unwrap());
        assert_eq!(records[0], [title(2023, "焦作市")]);
        assert_eq!(records[1], [stamp_line("温县")]);
        assert_eq!(records[2], COLUMNS);
        assert_eq!(
            records[3],
            [
                "1",
                "第1中学",
                "<王&\"小\"明😀>",
                "九（3）班",
                "'+001",
                "'-0001",
                "'@家长 13800000000",
                "'=HYPERLINK(\"x\")",
            ],
            "verbatim, and a leading ' on what Excel would take for a formula"
        );
        assert_eq!(records.len(), 4);
    }

    #[test]
    fn the_citys_table_heads_each_unit_and_numbers_on() {
        let table = Table {
            year: 2023,
            city: "焦作市".into(),
            unit: "焦作市".into(),
            sections: vec![
                Section {
                    unit: "温县".into(),
                    lines: vec![line("甲"), line("乙")],
                },
                Section {
                    unit: "市直第一中学".into(),
                    lines: vec![line("丙")],
                },
            ],
            approved: true,
        };
        let rows = read(xlsx(&table).unwrap());
        assert_eq!(rows[1][0], Data::String(stamp_line("焦作市")));
        let firsts: Vec<Data> = rows[3..].iter().map(|r| r[0].clone()).collect();
        assert_eq!(
            firsts,
            [
                Data::String("温县（2 人）".into()),
                Data::Float(1.0),
                Data::Float(2.0),
                Data::String("市直第一中学（1 人）".into()),
                Data::Float(3.0),
            ]
        );
        assert_eq!(rows[7][2], Data::String("丙".into()));

        let records = read_csv(&csv(&table).unwrap());
        let firsts: Vec<&str> = records[3..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            firsts,
            ["温县（2 人）", "1", "2", "市直第一中学（1 人）", "3"]
        );
    }
}
