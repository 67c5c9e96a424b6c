//! 附件2 免考申请表 of one application, laid out as the paper form (A4 portrait): the
//! candidate's fields with the 一寸 photo beside them, then the reason and each level's opinion
//! with the person's name and time where the paper has a signature.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Image, Workbook};

/// What the form shows, as text (and the photo).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    pub year: i32,
    pub city: String,
    pub name: String,
    pub gender: String,
    pub age: String,
    pub school: String,
    pub class_name: String,
    pub id_card: String,
    pub student_no: String,
    pub reg_no: String,
    pub exam_no: String,
    pub contact_person: String,
    pub contact: String,
    /// 学生本人申请事由 (the reason and the kind of proof), and who filed it when.
    pub reason: String,
    pub filed: String,
    /// 家长意见: one line (the signed application page was received, or not).
    pub parent: Vec<String>,
    /// 班主任意见, 所在学校意见 (审核小组组长 and 校长), 县级审核意见 (at least three
    /// signatures), 市级审核意见: one line per opinion, already formatted by the caller.
    pub homeroom: Vec<String>,
    pub school_opinions: Vec<String>,
    pub county: Vec<String>,
    pub city_opinions: Vec<String>,
    /// The unit that stamps it (the county, or the city-direct school).
    pub unit: String,
    /// The candidate's 一寸 photo as image bytes (JPEG/PNG) when the caller has it; None, or
    /// bytes that are not a readable image, print a box saying "照片见电子档案" instead.
    pub photo: Option<Vec<u8>>,
}

/// What the photo cell says when there is no picture to put in it.
const NO_PHOTO: &str = "照片见电子档案";

/// Column widths in characters: label, value, label, value, 年龄's label and value, the photo.
const WIDTHS: [f64; 7] = [10.0, 20.0, 11.0, 14.0, 6.0, 8.0, 14.0];
const LAST_COL: u16 = 6;
const PHOTO_COL: u16 = 6;
/// The candidate's fields take rows 2..7, under 附件2 and the title; the photo spans them all.
const FIELD_TOP: u32 = 2;
const FIELD_ROWS: u32 = 5;
/// Height of a field row in points (30 pixels: rust_xlsxwriter turns points into pixels ×4/3).
const FIELD_ROW_PT: f64 = 22.5;
/// Pixels kept clear around the photo, so it does not cover the cell's border.
const PHOTO_MARGIN: f64 = 4.0;
/// Index in `boxes` of 家长意见, which shares its row with 班主任意见 (the next box) as on the
/// paper.
const PARENT: usize = 1;

/// The form's title: "{年}年{市}中招实验考试免考申请表".
pub fn title(year: i32, city: &str) -> String {
    format!("{year}年{city}中招实验考试免考申请表")
}

/// The boxes below the candidate's fields, in the paper's order: label, lines.
pub fn boxes(form: &Form) -> Vec<(&'static str, String)> {
    let reason = [form.reason.as_str(), form.filed.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    vec![
        ("学生本人申请事由", reason),
        ("家长意见", form.parent.join("\n")),
        ("班主任意见", form.homeroom.join("\n")),
        ("所在学校意见", form.school_opinions.join("\n")),
        ("县级审核意见", form.county.join("\n")),
        ("市级审核意见", form.city_opinions.join("\n")),
    ]
}

/// The candidate's fields row by row as the paper has them: label, value.
fn grid(form: &Form) -> [Vec<(&'static str, &str)>; FIELD_ROWS as usize] {
    [
        vec![
            ("姓名", form.name.as_str()),
            ("性别", form.gender.as_str()),
            ("年龄", form.age.as_str()),
        ],
        vec![
            ("毕业学校", form.school.as_str()),
            ("班级", form.class_name.as_str()),
        ],
        vec![
            ("身份证号", form.id_card.as_str()),
            ("学籍号", form.student_no.as_str()),
        ],
        vec![
            ("报名序号", form.reg_no.as_str()),
            ("准考证号", form.exam_no.as_str()),
        ],
        vec![
            ("联系人", form.contact_person.as_str()),
            ("联系方式", form.contact.as_str()),
        ],
    ]
}

pub fn xlsx(form: &Form) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("免考申请表")?;
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let label = cell.clone().set_bold().set_align(FormatAlign::Center);
    sheet.write_string(0, 0, "附件2")?;
    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    sheet.merge_range(
        1,
        0,
        1,
        LAST_COL,
        &title(form.year, &form.city),
        &title_format,
    )?;

    for (r, pairs) in grid(form).into_iter().enumerate() {
        let row = FIELD_TOP + r as u32;
        for (i, &(name, value)) in pairs.iter().enumerate() {
            let col = i as u16 * 2;
            sheet.write_string_with_format(row, col, name, &label)?;
            // A row's last value runs up to the photo, as on the paper.
            if i + 1 == pairs.len() && col + 1 < PHOTO_COL - 1 {
                sheet.merge_range(row, col + 1, row, PHOTO_COL - 1, value, &cell)?;
            } else {
                sheet.write_string_with_format(row, col + 1, value, &cell)?;
            }
        }
        sheet.set_row_height(row, FIELD_ROW_PT)?;
    }
    let photo_bottom = FIELD_TOP + FIELD_ROWS - 1;
    match form.photo.as_deref().and_then(fitted_photo) {
        Some((image, x, y)) => {
            sheet.merge_range(FIELD_TOP, PHOTO_COL, photo_bottom, PHOTO_COL, "", &cell)?;
            sheet.insert_image_with_offset(FIELD_TOP, PHOTO_COL, &image, x, y)?;
        }
        None => {
            let boxed = cell.clone().set_align(FormatAlign::Center);
            sheet.merge_range(
                FIELD_TOP,
                PHOTO_COL,
                photo_bottom,
                PHOTO_COL,
                NO_PHOTO,
                &boxed,
            )?;
        }
    }

    let wide: f64 = WIDTHS[1..].iter().sum();
    let beside: f64 = WIDTHS[3..].iter().sum();
    let filled = boxes(form);
    let mut row = FIELD_TOP + FIELD_ROWS;
    for (i, (name, text)) in filled.iter().enumerate() {
        let height = match i {
            PARENT => {
                let (other, other_text) = &filled[PARENT + 1];
                sheet.write_string_with_format(row, 0, *name, &label)?;
                sheet.write_string_with_format(row, 1, text, &cell)?;
                sheet.write_string_with_format(row, 2, *other, &label)?;
                sheet.merge_range(row, 3, row, LAST_COL, other_text, &cell)?;
                box_height(text, WIDTHS[1]).max(box_height(other_text, beside))
            }
            _ if i == PARENT + 1 => continue,
            _ => {
                sheet.write_string_with_format(row, 0, *name, &label)?;
                sheet.merge_range(row, 1, row, LAST_COL, text, &cell)?;
                box_height(text, wide)
            }
        };
        sheet.set_row_height(row, height)?;
        row += 1;
    }
    sheet.write_string(row + 1, 0, format!("县（市）区盖章：{}", form.unit))?;

    for (col, width) in WIDTHS.into_iter().enumerate() {
        sheet.set_column_width(col as u16, width)?;
    }
    sheet
        .set_paper_size(9) // A4
        .set_portrait()
        .set_print_fit_to_pages(1, 1)
        .set_print_center_horizontally(true);
    Ok(book.save_to_buffer()?)
}

/// A box's row height in points for `text` in a cell `width` characters wide. Excel does not
/// grow a merged cell to fit its text, so count the lines as they will wrap (a CJK character
/// takes two widths) at 16 points each, and keep at least the paper's 40-point box for the
/// signatures.
fn box_height(text: &str, width: f64) -> f64 {
    let lines: f64 = text
        .split('\n')
        .map(|line| {
            let chars: usize = line.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
            (chars as f64 / width).ceil().max(1.0)
        })
        .sum();
    (lines * 16.0).max(40.0)
}

/// The photo cell's size in pixels as rust_xlsxwriter lays the sheet out: a column `w`
/// characters wide is round(w×7)+5 pixels (the default font's digit width and padding), a row
/// `h` points high round(h×4/3).
fn photo_cell() -> (f64, f64) {
    let width = (WIDTHS[PHOTO_COL as usize] * 7.0).round() + 5.0;
    let height = (FIELD_ROW_PT * 4.0 / 3.0).round() * FIELD_ROWS as f64;
    (width, height)
}

/// The photo scaled to fit inside the photo cell keeping its proportions, with its offset in
/// pixels from the cell's corner that centres it; None when the bytes are not an image
/// rust_xlsxwriter can read, so the form still goes out with the text box instead.
fn fitted_photo(bytes: &[u8]) -> Option<(Image, u32, u32)> {
    // Some rust_xlsxwriter releases panicked on truncated PNG/JPEG data rather than returning
    // an error; a bad upload must cost the picture, not the form.
    let image = std::panic::catch_unwind(|| Image::new_from_buffer(bytes))
        .ok()?
        .ok()?;
    // The size Excel shows it at unscaled: pixels at 96 dpi.
    let natural_width = image.width() * 96.0 / image.width_dpi();
    let natural_height = image.height() * 96.0 / image.height_dpi();
    let (cell_width, cell_height) = photo_cell();
    let room_width = cell_width - 2.0 * PHOTO_MARGIN;
    let room_height = cell_height - 2.0 * PHOTO_MARGIN;
    let fit = (room_width / natural_width).min(room_height / natural_height);
    if !fit.is_finite() || fit <= 0.0 {
        return None;
    }
    // The same scale `set_scale_to_size` picks when it keeps the aspect ratio.
    let image = image.set_scale_to_size(room_width, room_height, true);
    let x = ((cell_width - natural_width * fit) / 2.0).round().max(0.0) as u32;
    let y = ((cell_height - natural_height * fit) / 2.0)
        .round()
        .max(0.0) as u32;
    Some((image, x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};

    use fake_telegram::SAMPLE_PNG as PNG;

    fn form() -> Form {
        Form {
            year: 2023,
            city: "焦作市".into(),
            name: "<王&\"小\"明😀>".into(),
            gender: "男".into(),
            age: "15".into(),
            school: "温县第一初级中学".into(),
            class_name: "九（3）班".into(),
            id_card: "410825200801010011".into(),
            student_no: "G410825200801010011".into(),
            reg_no: "230101001".into(),
            exam_no: "0101001".into(),
            contact_person: "王大明".into(),
            contact: "13800000000".into(),
            reason: "=右手骨折，不能完成实验操作（医院诊断证明）".into(),
            filed: "王小明 · 2023-03-01 10:00".into(),
            parent: vec!["已收到家长签字的申请书".into()],
            homeroom: vec!["同意 · 李老师 · 2023-03-02 09:00".into()],
            school_opinions: vec![
                "同意 · 审核小组组长 张三 · 2023-03-03 10:00".into(),
                "同意 · 校长 赵四 · 2023-03-03 11:00".into(),
            ],
            county: vec![
                "同意 · 甲 · 2023-03-05 10:00".into(),
                "同意 · 乙 · 2023-03-05 10:10".into(),
                "同意 · 丙 · 2023-03-05 10:20".into(),
            ],
            city_opinions: vec![],
            unit: "温县".into(),
            photo: None,
        }
    }

    fn read(bytes: &[u8]) -> Vec<Vec<Data>> {
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        sheet.rows().map(|r| r.to_vec()).collect()
    }

    /// Every text on the sheet, row by row.
    fn texts(rows: &[Vec<Data>]) -> Vec<String> {
        rows.iter()
            .flatten()
            .filter_map(|c| match c {
                Data::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn has_picture(bytes: &[u8]) -> bool {
        // Zip entry names are stored uncompressed.
        bytes.windows(14).any(|w| w == b"xl/media/image")
    }

    #[test]
    fn the_form_reads_as_on_paper() {
        let form = form();
        let rows = read(&xlsx(&form).unwrap());
        assert_eq!(rows[0][0], Data::String("附件2".into()));
        assert_eq!(
            rows[1][0],
            Data::String("2023年焦作市中招实验考试免考申请表".into())
        );
        assert_eq!(rows[1][0], Data::String(title(2023, "焦作市")));
        let labels = [
            "姓名",
            "性别",
            "年龄",
            "毕业学校",
            "班级",
            "身份证号",
            "学籍号",
            "报名序号",
            "准考证号",
            "联系人",
            "联系方式",
            "学生本人申请事由",
            "家长意见",
            "班主任意见",
            "所在学校意见",
            "县级审核意见",
            "市级审核意见",
        ];
        let found: Vec<String> = texts(&rows)
            .into_iter()
            .filter(|t| labels.contains(&t.as_str()))
            .collect();
        assert_eq!(found, labels, "each label once, in the paper's order");
        let names: Vec<&str> = boxes(&form).iter().map(|(name, _)| *name).collect();
        assert_eq!(names, labels[11..]);

        // Values stand right of their labels, verbatim and as text.
        let beside = |label: &str| {
            rows.iter()
                .find_map(|r| {
                    let at = r.iter().position(|c| *c == Data::String(label.into()))?;
                    Some(r[at + 1].clone())
                })
                .unwrap()
        };
        assert_eq!(beside("姓名"), Data::String("<王&\"小\"明😀>".into()));
        assert_eq!(beside("联系方式"), Data::String("13800000000".into()));
        let reason = "=右手骨折，不能完成实验操作（医院诊断证明）\n王小明 · 2023-03-01 10:00";
        assert_eq!(boxes(&form)[0].1, reason);
        assert_eq!(beside("学生本人申请事由"), Data::String(reason.into()));
        assert_eq!(
            beside("家长意见"),
            Data::String("已收到家长签字的申请书".into())
        );
        assert_eq!(beside("县级审核意见"), Data::String(form.county.join("\n")));
        assert!(texts(&rows).contains(&"县（市）区盖章：温县".to_string()));
    }

    #[test]
    fn the_photo_goes_in_when_readable_and_the_box_says_where_it_is_otherwise() {
        let without = xlsx(&form()).unwrap();
        assert!(!has_picture(&without));
        assert!(texts(&read(&without)).contains(&NO_PHOTO.to_string()));

        let with = xlsx(&Form {
            photo: Some(PNG.to_vec()),
            ..form()
        })
        .unwrap();
        assert!(has_picture(&with));
        assert!(!texts(&read(&with)).contains(&NO_PHOTO.to_string()));

        // Text, and a PNG cut off before its size (rust_xlsxwriter reads no further than that).
        for bad in [
            b"not a picture at all, just some text".to_vec(),
            PNG[..20].to_vec(),
        ] {
            let bytes = xlsx(&Form {
                photo: Some(bad),
                ..form()
            })
            .unwrap();
            assert!(!has_picture(&bytes));
            assert!(texts(&read(&bytes)).contains(&NO_PHOTO.to_string()));
        }
    }

    #[test]
    fn the_photo_is_centred_inside_its_cell() {
        let (image, x, y) = fitted_photo(&PNG).unwrap();
        let (width, height) = photo_cell();
        // A square picture in a tall cell: as wide as the room, centred top to bottom.
        assert_eq!(x as f64, PHOTO_MARGIN);
        assert_eq!(
            y as f64,
            ((height - (width - 2.0 * PHOTO_MARGIN)) / 2.0).round()
        );
        assert_eq!((image.width(), image.height()), (1.0, 1.0));
    }
}
