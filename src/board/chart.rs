//! The board's charts, drawn on the server as inline SVG: no script draws them, and the page's
//! style sheet colours them (a series is a class, `s0`, `s1` …), so they follow the theme.

use crate::app::board::charts::Stacks;
use handlebars::html_escape;
use std::fmt::Write;

/// Colours the style sheet has: series past them reuse them.
const PALETTE: usize = 8;

const WIDTH: u32 = 640;
const LABELS: u32 = 120;
const TOTALS: u32 = 56;
const ROW: u32 = 24;
const GAP: u32 = 8;

/// How a bar's length is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Every bar is whole: its parts are shares of it (a district's candidates by band).
    Share,
    /// Bars are as long as their totals, the longest the full width (a day's work).
    Count,
}

/// One bar a row, its parts stacked left to right; each part says what it is when pointed at.
/// Empty when there is nothing to draw.
pub fn stacked(stacks: &Stacks, scale: Scale, what: &str) -> String {
    if stacks.bars.is_empty() {
        return String::new();
    }
    let room = f64::from(WIDTH - LABELS - TOTALS);
    let longest = stacks
        .bars
        .iter()
        .map(|(_, parts)| parts.iter().sum::<u32>())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = stacks.bars.len() as u32 * (ROW + GAP) + GAP;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="stacked" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        html_escape(what)
    );
    for (row, (label, parts)) in stacks.bars.iter().enumerate() {
        let total: u32 = parts.iter().sum();
        let y = GAP + row as u32 * (ROW + GAP);
        let middle = y + ROW / 2 + 5;
        let _ = write!(
            svg,
            r#"<text class="label" x="{}" y="{middle}" text-anchor="end">{}</text>"#,
            LABELS - 8,
            html_escape(label)
        );
        let whole = match scale {
            Scale::Share => f64::from(total.max(1)),
            Scale::Count => f64::from(longest),
        };
        let mut x = f64::from(LABELS);
        for (i, &count) in parts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let width = room * f64::from(count) / whole;
            let series = stacks.series.get(i).map_or("", String::as_str);
            let share = 100.0 * f64::from(count) / f64::from(total.max(1));
            let _ = write!(
                svg,
                r#"<rect class="s{}" x="{x:.1}" y="{y}" width="{width:.1}" height="{ROW}"><title>{} · {}：{count}（{share:.0}%）</title></rect>"#,
                i % PALETTE,
                html_escape(label),
                html_escape(series)
            );
            x += width;
        }
        let _ = write!(
            svg,
            r#"<text class="total" x="{}" y="{middle}">{total}</text>"#,
            WIDTH - TOTALS + 6
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The series' names with their colours, for under the chart.
pub fn legend(stacks: &Stacks) -> String {
    let mut html = String::from(r#"<ul class="legend">"#);
    for (i, name) in stacks.series.iter().enumerate() {
        let _ = write!(
            html,
            r#"<li><span class="swatch s{}"></span>{}</li>"#,
            i % PALETTE,
            html_escape(name)
        );
    }
    html.push_str("</ul>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks() -> Stacks {
        Stacks {
            series: vec!["满分".into(), "<60%".into()],
            bars: vec![
                ("城区<script>".into(), vec![3, 1]),
                ("郊区".into(), vec![0, 2]),
            ],
        }
    }

    #[test]
    fn every_label_is_escaped_and_every_part_says_what_it_is() {
        let svg = stacked(&stacks(), Scale::Share, "成绩分布");
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("城区&lt;script&gt; · 满分：3（75%）"), "{svg}");
        assert!(svg.contains("郊区 · &lt;60%：2（100%）"), "{svg}");
        // A part of nothing is not drawn.
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(legend(&stacks()).contains("&lt;60%"));
    }

    #[test]
    fn shares_fill_the_bar_and_counts_scale_to_the_longest() {
        let share = stacked(&stacks(), Scale::Share, "");
        // 郊区's one part is the whole bar: 640 − 120 − 56.
        assert!(share.contains(r#"width="464.0""#), "{share}");
        let count = stacked(&stacks(), Scale::Count, "");
        // 郊区's 2 of the longest bar's 4.
        assert!(count.contains(r#"width="232.0""#), "{count}");
    }

    #[test]
    fn nothing_to_draw_draws_nothing() {
        assert_eq!(stacked(&Stacks::default(), Scale::Count, "x"), "");
    }
}
