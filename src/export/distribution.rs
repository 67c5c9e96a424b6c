//! The score distribution that goes with a district's summary and the city's report at
//! publication: a workbook with the bands, a native Excel column chart of them, and the lines
//! it sums up (the district's schools, or the city's districts); and the same bands as a PNG.

use crate::domain::score::Distribution;
use rust_xlsxwriter::{Chart, ChartType, Format, FormatBorder, Workbook};

/// One line of the summary: a school of the district, or a district of the city.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Line {
    pub name: String,
    pub count: usize,
    pub average: String,
}

const BANDS_SHEET: &str = "成绩分布";

/// The bands as (label, count), lowest band first, as a chart reads left to right.
pub fn bands(dist: &Distribution) -> Vec<(String, u32)> {
    dist.bands
        .iter()
        .rev()
        .map(|b| (b.label.clone(), b.count))
        .collect()
}

/// The workbook: the bands with their chart on the first sheet, the lines on the second.
pub fn workbook(title: &str, dist: &Distribution, lines: &[Line]) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold().set_border(FormatBorder::Thin);
    let cell = Format::new().set_border(FormatBorder::Thin);
    let bands = bands(dist);
    {
        let sheet = book.add_worksheet();
        sheet.set_name(BANDS_SHEET)?;
        sheet.write_string(0, 0, title)?;
        sheet.write_string_with_format(1, 0, "分数段", &bold)?;
        sheet.write_string_with_format(1, 1, "人数", &bold)?;
        sheet.set_column_width(0, 14)?;
        for (i, (label, count)) in bands.iter().enumerate() {
            let row = i as u32 + 2;
            sheet.write_string_with_format(row, 0, label, &cell)?;
            sheet.write_number_with_format(row, 1, f64::from(*count), &cell)?;
        }
        let last = bands.len() as u32 + 1;
        let summary = [
            ("人数", dist.count.to_string()),
            ("平均分", dist.average.clone()),
            ("最高分", dist.highest.clone()),
            ("最低分", dist.lowest.clone()),
        ];
        for (i, (label, value)) in summary.iter().enumerate() {
            sheet.write_string(last + 2 + i as u32, 0, *label)?;
            sheet.write_string(last + 2 + i as u32, 1, value)?;
        }
        // Nobody scored (every candidate 缺考 or 免考): a table with no bands and no chart.
        if !bands.is_empty() {
            let mut chart = Chart::new(ChartType::Column);
            chart
                .add_series()
                .set_name("人数")
                .set_categories((BANDS_SHEET, 2, 0, last, 0))
                .set_values((BANDS_SHEET, 2, 1, last, 1));
            chart.title().set_name(title);
            chart.legend().set_hidden();
            sheet.insert_chart(1, 3, &chart)?;
        }
    }
    let sheet = book.add_worksheet();
    sheet.set_name("明细")?;
    for (col, head) in ["名称", "人数", "平均分"].iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *head, &bold)?;
    }
    sheet.set_column_width(0, 28)?;
    for (i, l) in lines.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string_with_format(row, 0, &l.name, &cell)?;
        sheet.write_number_with_format(row, 1, l.count as f64, &cell)?;
        sheet.write_string_with_format(row, 2, &l.average, &cell)?;
    }
    Ok(book.save_to_buffer()?)
}

/// The bands as a picture.
pub fn png(dist: &Distribution) -> anyhow::Result<Vec<u8>> {
    super::chart::bars(&bands(dist))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Score;

    #[test]
    fn a_unit_where_nobody_scored_gets_a_table_without_a_chart() {
        let dist = Distribution::of(&[], Score::from_points(30));
        let book = workbook("无成绩", &dist, &[]).unwrap();
        assert!(!book.windows(14).any(|w| w == b"xl/charts/char"));
        assert!(png(&dist).is_ok());
    }
}
