//! The shape the two 汇总表 share (附件3 免考汇总表, 附件6 复核汇总表): a title, the 盖章 line
//! naming the unit that stamps it, the headings, and one section per reporting unit (a county,
//! or a city-direct school), headed by the unit's name in the city's combined table; laid out
//! as the paper form, A4 landscape, the header rows repeated on every printed page. What each
//! form's lines hold is its own (`Line`).

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

/// Rows above the table that every printed page repeats: the title, the 盖章 line, the headings.
pub const HEADER_ROWS: u32 = 3;

/// What one form is: its sheet's name, its columns and their widths, and how it counts.
pub struct Form {
    /// As the documents name it (附件6).
    pub name: &'static str,
    pub sheet: &'static str,
    /// The headings, 序号 first.
    pub columns: &'static [&'static str],
    pub widths: &'static [f64],
    /// Whether 序号 restarts in each unit's section or runs on across them.
    pub numbering: Numbering,
    pub title: fn(year: i32, city: &str, approved: bool) -> String,
    pub stamp_line: fn(unit: &str) -> String,
    /// The file's name before its extension.
    pub file_stem: fn(unit: &str, approved: bool) -> String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    PerUnit,
    RunsOn,
}

/// A cell after 序号.
pub enum Cell<'a> {
    Text(&'a str),
    /// Tenths of a point, printed with one decimal.
    Points(i64),
    Blank,
}

/// A candidate's line of one form.
pub trait Line {
    const FORM: Form;
    /// Its cells after 序号, in the columns' order.
    fn cells(&self) -> Vec<Cell<'_>>;
}

/// The lines of one unit that reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Section<L> {
    pub unit: String,
    pub lines: Vec<L>,
}

/// One unit's table (one section named as the unit), or the city's combined table (the city's
/// name on the 盖章 line, a heading row before each unit's lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Table<L> {
    pub year: i32,
    pub city: String,
    /// Who stamps it.
    pub unit: String,
    pub sections: Vec<Section<L>>,
    /// The city's final list of what it approved (附件3's 免考名单), a record of its own,
    /// rather than the form a county sends up.
    pub approved: bool,
}

impl<L: Line> Table<L> {
    /// One unit's table, as it goes up with the unit's 上报.
    pub fn of_unit(year: i32, city: &str, unit: &str, lines: Vec<L>) -> Self {
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

    /// The candidates it lists.
    pub fn lines(&self) -> usize {
        self.sections.iter().map(|s| s.lines.len()).sum()
    }

    pub fn title(&self) -> String {
        (L::FORM.title)(self.year, &self.city, self.approved)
    }

    pub fn file_stem(&self) -> String {
        (L::FORM.file_stem)(&self.unit, self.approved)
    }

    /// Whether its sections are other units than the one that stamps it (the city's table).
    fn grouped(&self) -> bool {
        self.sections.iter().any(|s| s.unit != self.unit)
    }

    /// Every row below the headings: a unit's heading (grouped tables), or a numbered line.
    fn rows(&self) -> Vec<Row<'_, L>> {
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
            if L::FORM.numbering == Numbering::PerUnit {
                n = 0;
            }
            for line in &section.lines {
                n += 1;
                rows.push(Row::Line(n, line));
            }
        }
        rows
    }
}

enum Row<'a, L> {
    Heading(String),
    Line(usize, &'a L),
}

/// The table as an .xlsx: A4 landscape, the header rows on every page, borders, fitted to the
/// page width, page numbers in the footer. Text is written as text (a name beginning with `=`
/// stays a name, not a formula).
pub fn xlsx<L: Line>(table: &Table<L>) -> anyhow::Result<Vec<u8>> {
    let form = L::FORM;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(form.sheet)?;
    let last_col = (form.columns.len() - 1) as u16;
    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    sheet.merge_range(0, 0, 0, last_col, &table.title(), &title_format)?;
    let stamp = (form.stamp_line)(&table.unit);
    sheet.merge_range(1, 0, 1, last_col, &stamp, &Format::new())?;
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let heading = cell.clone().set_bold().set_align(FormatAlign::Center);
    for (col, text) in form.columns.iter().enumerate() {
        sheet.write_string_with_format(2, col as u16, *text, &heading)?;
    }
    let score = cell.clone().set_num_format("0.0");
    let unit_heading = cell.clone().set_bold();
    for (i, r) in table.rows().into_iter().enumerate() {
        let row = HEADER_ROWS + i as u32;
        match r {
            Row::Heading(text) => {
                sheet.merge_range(row, 0, row, last_col, &text, &unit_heading)?;
            }
            Row::Line(n, line) => {
                sheet.write_number_with_format(row, 0, n as f64, &cell)?;
                for (col, value) in line.cells().into_iter().enumerate() {
                    let col = col as u16 + 1;
                    match value {
                        Cell::Text(text) => {
                            sheet.write_string_with_format(row, col, text, &cell)?
                        }
                        Cell::Points(t) => {
                            sheet.write_number_with_format(row, col, t as f64 / 10.0, &score)?
                        }
                        Cell::Blank => sheet.write_blank(row, col, &cell)?,
                    };
                }
            }
        }
    }
    for (col, width) in form.widths.iter().enumerate() {
        sheet.set_column_width(col as u16, *width)?;
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
pub fn csv<L: Line>(table: &Table<L>) -> anyhow::Result<Vec<u8>> {
    let form = L::FORM;
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = ::csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(&mut out);
        w.write_record([table.title()])?;
        w.write_record([(form.stamp_line)(&table.unit)])?;
        w.write_record(form.columns)?;
        for r in table.rows() {
            match r {
                // A unit's name comes from the units' table; guard it like any other text.
                Row::Heading(text) => w.write_record([as_text(&text)])?,
                Row::Line(n, line) => {
                    let mut record = vec![n.to_string()];
                    record.extend(line.cells().into_iter().map(|c| match c {
                        Cell::Text(text) => as_text(text),
                        Cell::Points(t) => {
                            crate::domain::Score::from_tenths(t.max(0) as u32).to_string()
                        }
                        Cell::Blank => String::new(),
                    }));
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

/// Reading a form back, for the forms' tests.
#[cfg(test)]
pub(crate) mod read {
    use calamine::{Data, Reader, Xlsx};

    pub fn xlsx(bytes: Vec<u8>) -> Vec<Vec<Data>> {
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        sheet.rows().map(|r| r.to_vec()).collect()
    }

    pub fn csv(bytes: &[u8]) -> Vec<Vec<String>> {
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
}
