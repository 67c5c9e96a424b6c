//! 附件5 成绩复核申请表 of one request, laid out as the paper form (A4 portrait): the
//! candidate's fields, 考试情况, the reason, and each level's opinion with the person's name and
//! time where the paper has a signature.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

/// What the form shows, as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    pub year: i32,
    pub city: String,
    pub name: String,
    pub gender: String,
    pub class_name: String,
    pub school: String,
    pub id_card: String,
    pub student_no: String,
    pub reg_no: String,
    pub exam_no: String,
    pub score: String,
    pub contact: String,
    pub sitting: String,
    /// 本人申请理由, and who filed it when.
    pub reason: String,
    pub filed: String,
    /// 所在学校意见: the school's levels, one line each.
    pub school_opinions: Vec<String>,
    /// 所在城区意见: the review group's result, its signatures, the 上报.
    pub district_opinions: Vec<String>,
    /// 市级复审结果.
    pub recheck: Vec<String>,
    pub note: Vec<String>,
    /// Who stamps it (the district, or the city-direct school).
    pub unit: String,
}

/// The form's title.
pub fn title(year: i32, city: &str) -> String {
    format!("{year}年{city}中招实验考试成绩复核申请表")
}

/// The boxes below the candidate's fields, in the paper's order: label, lines.
pub fn boxes(form: &Form) -> Vec<(&'static str, String)> {
    vec![
        ("考试情况", form.sitting.clone()),
        ("本人申请理由", format!("{}\n{}", form.reason, form.filed)),
        ("所在学校意见", form.school_opinions.join("\n")),
        ("所在城区意见", form.district_opinions.join("\n")),
        ("市级复审结果", form.recheck.join("\n")),
        ("备注", form.note.join("\n")),
    ]
}

pub fn xlsx(form: &Form) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("复核申请表")?;
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let label = cell.clone().set_bold().set_align(FormatAlign::Center);
    sheet.write_string(0, 0, "附件5")?;
    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    sheet.merge_range(1, 0, 1, 3, &title(form.year, &form.city), &title_format)?;
    let pairs = [
        [("姓名", &form.name), ("性别", &form.gender)],
        [("班级", &form.class_name), ("毕业学校", &form.school)],
        [("身份证号", &form.id_card), ("学籍号", &form.student_no)],
        [("报名序号", &form.reg_no), ("准考证号", &form.exam_no)],
        [("考试成绩", &form.score), ("联系方式", &form.contact)],
    ];
    let mut row = 2;
    for pair in pairs {
        for (i, (name, value)) in pair.into_iter().enumerate() {
            let col = i as u16 * 2;
            sheet.write_string_with_format(row, col, name, &label)?;
            sheet.write_string_with_format(row, col + 1, value, &cell)?;
        }
        sheet.set_row_height(row, 24)?;
        row += 1;
    }
    for (name, text) in boxes(form) {
        sheet.write_string_with_format(row, 0, name, &label)?;
        sheet.merge_range(row, 1, row, 3, &text, &cell)?;
        let lines = text.lines().count().max(1) as f64;
        sheet.set_row_height(row, (lines * 16.0).max(40.0))?;
        row += 1;
    }
    sheet.write_string(row + 1, 0, format!("县（区）/学校（盖章）：{}", form.unit))?;
    for (col, width) in [14, 34, 12, 34].into_iter().enumerate() {
        sheet.set_column_width(col as u16, width)?;
    }
    sheet
        .set_paper_size(9) // A4
        .set_portrait()
        .set_print_fit_to_pages(1, 1)
        .set_print_center_horizontally(true);
    Ok(book.save_to_buffer()?)
}
