//! What the bot reads from outside, as fuzz targets: every entry point takes arbitrary bytes,
//! runs one reader or parser the way the bot does, and panics when a property breaks. The same
//! functions run under cargo-fuzz (`fuzz/`, coverage-guided, long runs) and under proptest in
//! `cargo test` (a fixed number of inputs, and every file of the corpus in `fuzz/corpus/`).
//!
//! The properties: no panic; a refusal names its row and column (files) or says what is wrong
//! (fields); what is accepted reads back to itself.

use exam_review_bot::app::callback::Callback;
use exam_review_bot::config::Config;
use exam_review_bot::domain::ids::{IdCardNo, IdPattern, StudentNo};
use exam_review_bot::domain::{Score, UnitKind};
use exam_review_bot::import::Problems;
use exam_review_bot::import::scores::{Checker, parse_date};
use exam_review_bot::import::table::Table;
use exam_review_bot::store::units::Unit;
use std::collections::HashSet;

/// Rows read of one input at most: a fuzz input is small, but a row of it can repeat.
const MAX_ROWS: usize = 10_000;

/// A fuzz target: it panics when a property breaks.
pub type Target = fn(&[u8]);

/// The targets by name, for the harnesses that pick one.
pub const TARGETS: [(&str, Target); 6] = [
    ("csv", csv),
    ("xlsx", xlsx),
    ("rows", rows),
    ("callback", callback),
    ("inputs", inputs),
    ("config", config),
];

/// A CSV file as an office sends it (UTF-8 or GB18030), read as a table and, by its header,
/// checked as a roster, a scores file, a units file or a people roster.
pub fn csv(bytes: &[u8]) {
    match Table::from_csv_bytes(bytes.to_vec()) {
        Ok(table) => check_table(table),
        Err(e) => assert_says_something(&format!("{e:#}")),
    }
}

/// An .xlsx file, streamed as an import streams it.
pub fn xlsx(bytes: &[u8]) {
    let max_cells = (bytes.len() as u64).saturating_mul(64);
    match Table::from_xlsx_bytes(bytes.to_vec(), max_cells) {
        Ok(table) => check_table(table),
        Err(e) => assert_says_something(&format!("{e:#}")),
    }
}

/// Rows under a scores file's full header (every column, the item scores too): the cells come
/// from the input, one line a row, cells split by tabs, so that the fuzzer works on the row
/// checks rather than on finding the header.
pub fn rows(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut header: Vec<&str> = exam_review_bot::import::scores::REQUIRED.to_vec();
    header.extend(exam_review_bot::import::scores::ITEMS);
    let mut csv_text = header.join(",");
    for line in text.lines().take(MAX_ROWS) {
        csv_text.push('\n');
        let cells: Vec<String> = line
            .split('\t')
            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        csv_text.push_str(&cells.join(","));
    }
    csv(csv_text.as_bytes());
}

/// Button data a client could craft: refused, or a button the bot could have sent that reads
/// back to the same button.
pub fn callback(bytes: &[u8]) {
    let Ok(data) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Some(parsed) = Callback::parse(data) {
        let encoded = parsed.encode();
        assert!(
            encoded.len() <= exam_review_bot::render::limits::CALLBACK_DATA,
            "{data:?} parsed to a button of {} bytes",
            encoded.len()
        );
        assert_eq!(Callback::parse(&encoded), Some(parsed), "{data:?}");
    }
}

/// What people type in dialogues: scores, 身份证号, 学籍号, phone numbers, dates, times,
/// reasons. Each is refused with words, or accepted as a value that reads back to itself.
pub fn inputs(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();
    for max in [0, 1, 300, 600, u32::MAX] {
        match Score::parse(text, Score::from_tenths(max)) {
            Ok(s) => {
                assert!(s.tenths() <= max, "{text:?} above {max}");
                assert_eq!(Score::parse(&s.to_string(), s), Ok(s), "{text:?}");
            }
            Err(why) => assert_says_something(&why),
        }
    }
    match IdCardNo::parse(text) {
        Ok(id) => {
            assert_eq!(id.as_str().len(), 18, "{text:?}");
            assert_eq!(IdCardNo::parse(id.as_str()).as_ref(), Ok(&id), "{text:?}");
            let student = format!("G{id}");
            assert!(StudentNo::parse(&student, Some(&id)).is_ok(), "{text:?}");
        }
        Err(e) => assert_says_something(&e.0),
    }
    if let Err(e) = StudentNo::parse(text, None) {
        assert_says_something(&e.0);
    }
    if let Some(phone) = exam_review_bot::domain::review::contact(text) {
        assert_eq!(
            exam_review_bot::domain::review::contact(&phone).as_ref(),
            Some(&phone),
            "{text:?}"
        );
        assert!(phone.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
    }
    if let Some(day) = parse_date(text) {
        assert_eq!(parse_date(&day.to_string()), Some(day), "{text:?}");
    }
    match exam_review_bot::domain::schedule::parse_hm(text) {
        Ok(t) => assert_eq!(
            exam_review_bot::domain::schedule::parse_hm(&t.format("%H:%M").to_string()),
            Ok(t)
        ),
        Err(why) => assert_says_something(&why),
    }
    if let Ok(reason) = exam_review_bot::domain::review::reason(text) {
        assert!(reason.chars().count() <= exam_review_bot::domain::review::REASON_MAX);
    }
    for pattern in default_patterns() {
        match pattern.check(text) {
            Ok(id) => assert_eq!(pattern.check(id), Ok(id), "{text:?}"),
            Err(e) => assert_says_something(&e.0),
        }
    }
}

/// The default 准考证号 and 报名序号 patterns, compiled once.
fn default_patterns() -> &'static [IdPattern; 2] {
    static PATTERNS: std::sync::OnceLock<[IdPattern; 2]> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        let ids = Config::default().identifiers;
        [&ids.exam_no_pattern, &ids.reg_no_pattern]
            .map(|p| IdPattern::new(p).expect("the default patterns compile"))
    })
}

/// A configuration file: refused with a message, or accepted as one every part of the bot can
/// use (deadlines computed, routes built, times read).
pub fn config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let config: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => return assert_says_something(&e.to_string()),
    };
    if let Err(e) = config.check() {
        return assert_says_something(&format!("{e:#}"));
    }
    let tz = chrono_tz::Asia::Shanghai;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 4, 28).expect("a date");
    let published = config.publish_rule().deadline_after(day, tz);
    let closes = config.review_rule().deadline_after(
        exam_review_bot::domain::deadline::local_date(published, tz),
        tz,
    );
    assert!(closes >= published);
    exam_review_bot::domain::deadline::display(closes, tz);
    config.entry.report_by().expect("checked");
    // The deployment's sections (a city without its own) and every city's.
    let cities = std::iter::once("").chain(config.cities.keys().map(String::as_str));
    for city in cities {
        config.review_route(city);
        let exemption = config.exemption_of(city);
        exemption.route();
        for full in [0, 30, 300, 1000] {
            let exempt = exemption.score(Score::from_points(full));
            assert!(exempt <= Score::from_points(full), "{exempt} above {full}");
        }
    }
    let maxima = config.rules.item_maxima;
    let _ = [
        maxima.main,
        maxima.secondary_one,
        maxima.secondary_two,
        maxima.tidying,
    ]
    .map(Score::from_points);
    config.reminders.quiet(published, tz);
    // Every reminder moment of a season before and after publication.
    for published_at in [None, Some(published)] {
        let season = exam_review_bot::domain::schedule::SeasonTimes {
            id: 1,
            tz,
            publish_deadline: published,
            published_at,
            review_deadline: published_at.map(|_| closes),
            filing_closes: None,
            exemption_closes: Some(published),
        };
        let moments = exam_review_bot::domain::schedule::moments(&season, &config.reminders);
        exam_review_bot::domain::schedule::due(&moments, published, &config.reminders, tz);
    }
    for h in &config.entry.remind_before_hours {
        let cutoff = exam_review_bot::domain::entry::cutoff(
            day,
            config.entry.report_by().expect("checked"),
            tz,
        );
        assert!(
            cutoff
                .checked_sub_signed(chrono::Duration::hours(i64::from(*h)))
                .is_some()
        );
    }
}

/// Reads every row of a table and checks them as each kind of file whose header it has. Every
/// problem names a row of the file and a column.
fn check_table(table: Table) {
    let header = table.header.clone();
    let people = exam_review_bot::import::people::is_header(&header);
    let units = header.iter().any(|h| h == "上级代码");
    if people {
        if let Ok(checked) = exam_review_bot::import::people::check(table, &unit_tree()) {
            assert_problems(checked.err().unwrap_or_default());
        }
    } else if units {
        if let Ok(checked) = exam_review_bot::import::units::check(table, &[], None) {
            assert_problems(checked.err().unwrap_or_default());
        }
    } else {
        check_candidates(table, &header);
    }
}

fn check_candidates(mut table: Table, header: &[String]) {
    let schools: HashSet<String> = unit_tree()
        .into_iter()
        .filter(|u| u.kind == UnitKind::School)
        .map(|u| u.code)
        .collect();
    let patterns = || {
        let [exam_no, reg_no] = default_patterns().clone();
        (exam_no, reg_no)
    };
    let (exam_no, reg_no) = patterns();
    let scores = Checker::new(
        header,
        schools.clone(),
        exam_no,
        reg_no,
        Score::from_points(30),
        Default::default(),
    );
    let (exam_no, reg_no) = patterns();
    let mut checker = match scores {
        Ok(c) => c,
        Err(_) => match Checker::for_roster(header, schools, exam_no, reg_no) {
            Ok(c) => c,
            // Neither header: the import refuses the file before any row.
            Err(e) => return assert_says_something(&format!("{e:#}")),
        },
    };
    let mut cells = Vec::new();
    let mut problems = Problems::new();
    for _ in 0..MAX_ROWS {
        match table.next_row(&mut cells) {
            None => break,
            Some(Err(p)) => problems.push(p),
            Some(Ok(n)) => {
                let before = problems.len();
                let accepted = checker.check(n, &cells, &mut problems).is_some();
                assert!(
                    accepted != (problems.len() > before),
                    "row {n} both accepted and refused, or neither: {cells:?}"
                );
                let kept = problems.iter().len();
                let new = kept.saturating_sub(before);
                assert!(problems.iter().skip(kept - new).all(|p| p.row == n));
            }
        }
    }
    assert_problems(problems);
}

/// The sample city with two districts and three schools: what the files are checked against
/// (the seed corpus is written from the same sample).
fn unit_tree() -> Vec<Unit> {
    exam_review_bot::sample::units(2, 3)
        .into_iter()
        .map(|u| Unit {
            kind: UnitKind::from_label(u.kind).expect("sample kinds are labels"),
            parent_code: Some(u.parent).filter(|p| !p.is_empty()),
            code: u.code,
            name: u.name,
            city_direct: u.city_direct,
            city_code: String::new(),
        })
        .collect()
}

fn assert_problems(problems: Problems) {
    for p in &problems {
        assert!(!p.column.is_empty(), "a problem without its column: {p}");
        assert_says_something(&p.reason);
    }
}

fn assert_says_something(why: &str) {
    assert!(!why.trim().is_empty(), "a refusal without words");
}

#[cfg(test)]
mod tests;
