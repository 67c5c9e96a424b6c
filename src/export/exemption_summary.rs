//! 附件3 免考汇总表: the list a county (or a city-direct school) stamps and sends to the city
//! with its 免考 applications, laid out as the paper form and set up to print the same way as
//! the 附件6 summary (see `review_summary`).

use super::summary::{self, Cell, Form, Numbering};
pub use super::summary::{HEADER_ROWS, csv, xlsx};

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

/// A 附件3 of one unit, or the city's; or the city's final list of the approved.
pub type Table = summary::Table<Line>;
pub type Section = summary::Section<Line>;

impl summary::Line for Line {
    // 序号 runs on across the units, so the city's table counts its candidates in its last
    // number.
    const FORM: Form = Form {
        name: "附件3",
        sheet: "免考汇总表",
        columns: &COLUMNS,
        widths: &[6.0, 22.0, 10.0, 10.0, 14.0, 14.0, 16.0, 24.0],
        numbering: Numbering::RunsOn,
        title: |year, city, approved| match approved {
            true => approved_title(year, city),
            false => title(year, city),
        },
        stamp_line,
        file_stem: |unit, approved| match approved {
            true => format!("免考名单_市级审核_{unit}"),
            false => format!("附件3_免考汇总表_{unit}"),
        },
    };

    fn cells(&self) -> Vec<Cell<'_>> {
        self.texts().into_iter().map(Cell::Text).collect()
    }
}

/// The form's title: "{年}年{市}中招实验考试免考汇总表".
pub fn title(year: i32, city: &str) -> String {
    format!("{year}年{city}中招实验考试免考汇总表")
}

/// The city's final list's title.
pub fn approved_title(year: i32, city: &str) -> String {
    format!("{year}年{city}中招实验考试免考名单（市级审核同意）")
}

/// The 盖章 line, naming the unit that stamps the form.
pub fn stamp_line(unit: &str) -> String {
    format!("县市区盖章：{unit}")
}

#[cfg(test)]
mod tests {
    use super::summary::read;
    use super::*;
    use calamine::Data;

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
        let rows = read::xlsx(xlsx(&table).unwrap());
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

        let records = read::csv(&csv(&table).unwrap());
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
        let rows = read::xlsx(xlsx(&table).unwrap());
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

        let records = read::csv(&csv(&table).unwrap());
        let firsts: Vec<&str> = records[3..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            firsts,
            ["温县（2 人）", "1", "2", "市直第一中学（1 人）", "3"]
        );
    }
}
