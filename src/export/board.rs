//! A view of the season board as a spreadsheet: the page's own columns and rows, one sheet,
//! every cell text (a 准考证号 must not become a number).

use rust_xlsxwriter::{Format, Workbook};

pub fn workbook(
    sheet_name: &str,
    headings: &[&str],
    rows: &[Vec<String>],
) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name)?;
    let bold = Format::new().set_bold();
    for (col, heading) in headings.iter().enumerate() {
        sheet.write_with_format(0, col as u16, *heading, &bold)?;
    }
    for (i, row) in rows.iter().enumerate() {
        for (col, cell) in row.iter().enumerate() {
            sheet.write_string(i as u32 + 1, col as u16, cell)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofit();
    Ok(book.save_to_buffer()?)
}
