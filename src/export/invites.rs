//! What goes back to the office that sent a people roster: `invites.xlsx`, each person's row
//! with their link, and `qr-codes.xlsx`, one A4 worksheet per unit with each person's name,
//! role, title and QR code, to print, cut and hand out (扫码加入).

use crate::domain::Role;
use crate::import::people::Person;
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Image, Workbook};
use std::collections::BTreeMap;

const LIST_COLUMNS: [(&str, f64); 10] = [
    ("行", 6.0),
    ("姓名", 12.0),
    ("角色", 16.0),
    ("单位代码", 12.0),
    ("单位", 24.0),
    ("班级", 12.0),
    ("手机", 14.0),
    ("职务", 12.0),
    ("邀请链接", 56.0),
    ("有效期至", 18.0),
];

/// An invite made for one person, with the link to hand them (on paper as a QR code).
#[derive(Debug, Clone)]
pub struct Issued {
    pub person: Person,
    pub unit_name: String,
    pub link: String,
    pub expires: DateTime<Utc>,
}

/// A4 in Excel's paper-size numbering.
const A4: u8 = 9;

/// The role as the card shows it, with the class of a homeroom teacher.
fn role_line(role: Role, class: Option<&str>) -> String {
    match class {
        Some(c) => format!("{} · {c}", role.label()),
        None => role.label().to_string(),
    }
}

/// `invites.xlsx`: one row per invite, in the roster's order, `tz` for the expiry.
pub fn list_workbook(issued: &[Issued], tz: chrono_tz::Tz) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("邀请链接")?;
    let bold = Format::new().set_bold().set_border(FormatBorder::Thin);
    let cell = Format::new().set_border(FormatBorder::Thin);
    for (col, (title, width)) in LIST_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *title, &bold)?;
        sheet.set_column_width(col as u16, *width)?;
    }
    for (i, inv) in issued.iter().enumerate() {
        let p = &inv.person;
        let row = i as u32 + 1;
        let expires = inv.expires.with_timezone(&tz).format("%Y-%m-%d %H:%M");
        let cells = [
            p.row.to_string(),
            p.name.clone(),
            p.role.label().to_string(),
            p.unit_code.clone(),
            inv.unit_name.clone(),
            p.class_name.clone().unwrap_or_default(),
            p.phone.clone().unwrap_or_default(),
            p.title.clone().unwrap_or_default(),
            inv.link.clone(),
            expires.to_string(),
        ];
        for (col, text) in cells.iter().enumerate() {
            sheet.write_string_with_format(row, col as u16, text, &cell)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(book.save_to_buffer()?)
}

/// A worksheet's name: at most 31 characters, none of `[]:*?/\`, no apostrophe at either end,
/// unique in the workbook whatever the case.
fn sheet_name(unit: &str, taken: &mut Vec<String>) -> String {
    let clean: String = unit
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c) && !c.is_control())
        .take(26)
        .collect();
    let clean = clean.trim_matches('\'').trim().to_string();
    let mut name = if clean.is_empty() {
        "单位".to_string()
    } else {
        clean
    };
    let base = name.clone();
    let mut n = 2;
    while taken
        .iter()
        .any(|t| t.to_lowercase() == name.to_lowercase())
    {
        name = format!("{base}{n}");
        n += 1;
    }
    taken.push(name.clone());
    name
}

/// Rows a card takes on the page: the QR code beside four lines of text.
const CARD_ROWS: u32 = 5;
/// The QR code's printed side in pixels (about 3.6 cm).
const QR_PX: u32 = 136;

/// `qr-codes.xlsx`: a worksheet per unit (by code, in the roster's order within), A4, two cards
/// across, each with the person's QR code, name, role, title and unit.
pub fn qr_workbook(issued: &[Issued], tz: chrono_tz::Tz) -> anyhow::Result<Vec<u8>> {
    let mut by_unit: BTreeMap<&str, Vec<&Issued>> = BTreeMap::new();
    for inv in issued {
        by_unit.entry(&inv.person.unit_code).or_default().push(inv);
    }
    let mut book = Workbook::new();
    let name_format = Format::new().set_bold().set_font_size(14);
    let text = Format::new().set_align(FormatAlign::Left);
    let mut taken = Vec::new();
    for people in by_unit.values() {
        let unit_name = &people[0].unit_name;
        let sheet = book.add_worksheet();
        sheet.set_name(sheet_name(unit_name, &mut taken))?;
        sheet.set_paper_size(A4);
        sheet.set_print_fit_to_pages(1, 0);
        sheet.set_header(format!("&C{unit_name} 扫码加入中招实验考试工作机器人"));
        for col in [0u16, 2] {
            sheet.set_column_width(col, 20.0)?;
            sheet.set_column_width(col + 1, 26.0)?;
        }
        for (i, inv) in people.iter().enumerate() {
            let p = &inv.person;
            let top = (i as u32 / 2) * (CARD_ROWS + 1);
            let col = (i as u16 % 2) * 2;
            for r in top..top + CARD_ROWS {
                sheet.set_row_height(r, 22.0)?;
            }
            let image = Image::new_from_buffer(&super::qr::png(&inv.link)?)?
                .set_scale_to_size(QR_PX, QR_PX, true)
                .set_alt_text(format!("{} 的邀请二维码", p.name));
            sheet.insert_image(top, col, &image)?;
            sheet.write_string_with_format(top, col + 1, &p.name, &name_format)?;
            let role = role_line(p.role, p.class_name.as_deref());
            sheet.write_string_with_format(top + 1, col + 1, &role, &text)?;
            if let Some(title) = &p.title {
                sheet.write_string_with_format(top + 2, col + 1, title, &text)?;
            }
            sheet.write_string_with_format(top + 3, col + 1, unit_name, &text)?;
            let expires = inv
                .expires
                .with_timezone(&tz)
                .format("%Y-%m-%d")
                .to_string();
            sheet.write_string_with_format(
                top + 4,
                col + 1,
                format!("有效期至 {expires}"),
                &text,
            )?;
        }
    }
    Ok(book.save_to_buffer()?)
}

/// Every file that goes back for a roster: the two workbooks, then a PNG per person under
/// `qr/` (row number and name, so that a list sorts as the roster did).
pub fn files(issued: &[Issued], tz: chrono_tz::Tz) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = vec![
        ("invites.xlsx".to_string(), list_workbook(issued, tz)?),
        ("qr-codes.xlsx".to_string(), qr_workbook(issued, tz)?),
    ];
    for inv in issued {
        let p = &inv.person;
        let safe = |s: &str| -> String {
            s.chars()
                .filter(|c| !"/\\:*?\"<>|.".contains(*c) && !c.is_control())
                .collect()
        };
        out.push((
            format!(
                "qr/{:04}-{}-{}.png",
                p.row,
                safe(&p.unit_code),
                safe(&p.name)
            ),
            super::qr::png(&inv.link)?,
        ));
    }
    Ok(out)
}
