//! 附件6 复核汇总表: the table a district (or a city-direct school) stamps and sends to the
//! city's 装备中心 with its review requests, laid out as the paper form and set up to print.

use super::summary::{self, Cell, Form, Numbering};
pub use super::summary::{HEADER_ROWS, csv, xlsx};

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

/// A 附件6 of one unit, or the city's.
pub type Table = summary::Table<Line>;
pub type Section = summary::Section<Line>;

impl summary::Line for Line {
    const FORM: Form = Form {
        name: "附件6",
        sheet: "复核汇总表",
        columns: &COLUMNS,
        widths: &[6.0, 22.0, 10.0, 14.0, 14.0, 30.0, 9.0, 10.0, 24.0],
        numbering: Numbering::PerUnit,
        title: |year, city, _| title(year, city),
        stamp_line,
        file_stem: |unit, _| format!("附件6_复核汇总表_{unit}"),
    };

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Text(&self.school),
            Cell::Text(&self.name),
            Cell::Text(&self.reg_no),
            Cell::Text(&self.exam_no),
            Cell::Text(&self.sitting),
            Cell::Points(self.original),
            self.reviewed.map_or(Cell::Blank, Cell::Points),
            Cell::Text(&self.note),
        ]
    }
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

#[cfg(test)]
mod tests {
    use super::summary::read;
    use super::*;
    use calamine::Data;

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
        let rows = read::xlsx(xlsx(&table).unwrap());
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
