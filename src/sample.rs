//! A fictional city with schools and candidates, for the demo, the tests and the benchmarks.
//! Deterministic for a given seed. No name here belongs to a real person or school.

use crate::app::App;
use crate::app::scores::ImportSummary;
use crate::domain::ids::check_char;
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::path::Path;

pub const CITY_CODE: &str = "9900";
pub const CITY_NAME: &str = "青山市";
pub const DISTRICTS: [&str; 10] = [
    "东湖区",
    "西山区",
    "南岭区",
    "北原区",
    "中和区",
    "青河县",
    "白石县",
    "柳林县",
    "桃源县",
    "松峰县",
];
const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
const GIVEN: [&str; 24] = [
    "子涵", "欣怡", "梓轩", "浩然", "雨萱", "一诺", "宇航", "思远", "佳怡", "俊杰", "若曦", "明哲",
    "嘉懿", "文博", "语桐", "天佑", "可馨", "志强", "晨阳", "诗琪", "家豪", "静怡", "博文", "安然",
];
pub const UNITS_HEADER: [&str; 5] = ["代码", "名称", "类型", "上级代码", "市直属"];
pub const SCORES_HEADER: [&str; 18] = [
    "准考证号",
    "报名序号",
    "姓名",
    "性别",
    "学校代码",
    "班级",
    "身份证号",
    "学籍号",
    "考试日期",
    "午别",
    "批次",
    "场次",
    "座号",
    "成绩",
    "主实验",
    "副实验一",
    "副实验二",
    "整理器材",
];

#[derive(Debug, Clone)]
pub struct SampleUnit {
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub parent: String,
    pub city_direct: bool,
}

/// The city, its districts (the first `districts` of DISTRICTS, repeated with numbers beyond ten)
/// and `schools` schools; the last school is city-direct.
pub fn units(districts: usize, schools: usize) -> Vec<SampleUnit> {
    let mut out = vec![SampleUnit {
        code: CITY_CODE.into(),
        name: CITY_NAME.into(),
        kind: "市",
        parent: String::new(),
        city_direct: false,
    }];
    for d in 0..districts {
        let base = DISTRICTS[d % DISTRICTS.len()];
        let name = if d < DISTRICTS.len() {
            base.to_string()
        } else {
            format!("{base}{}", d / DISTRICTS.len() + 1)
        };
        out.push(SampleUnit {
            code: district_code(d),
            name,
            kind: "县区",
            parent: CITY_CODE.into(),
            city_direct: false,
        });
    }
    for s in 0..schools {
        let city_direct = s + 1 == schools;
        let d = s % districts.max(1);
        let (name, parent) = if city_direct {
            (format!("{CITY_NAME}实验中学"), CITY_CODE.to_string())
        } else {
            (
                format!("{}第{}中学", out[d + 1].name, s / districts.max(1) + 1),
                district_code(d),
            )
        };
        out.push(SampleUnit {
            code: school_code(s),
            name,
            kind: "学校",
            parent,
            city_direct,
        });
    }
    out
}

pub fn district_code(d: usize) -> String {
    format!("D{:03}", d + 1)
}

pub fn school_code(s: usize) -> String {
    format!("S{:05}", s + 1)
}

/// The code of city `k` of a sample province; city 0 is the sample city itself.
pub fn city_code(k: usize) -> String {
    match k {
        0 => CITY_CODE.into(),
        _ => format!("99{k:02}"),
    }
}

/// A sample unit's code in city `k` (D001 → D03001, S00001 → S0300001 in city 3); city 0's
/// codes are the sample's own.
pub fn in_city(k: usize, code: &str) -> String {
    if k == 0 {
        code.to_string()
    } else if code == CITY_CODE {
        city_code(k)
    } else {
        let (head, rest) = code.split_at(1);
        format!("{head}{k:02}{rest}")
    }
}

/// City `k` of a sample province: the sample tree under city `k`'s codes and its own names,
/// under `province` when one is given.
pub fn city_units(
    k: usize,
    districts: usize,
    schools: usize,
    province: Option<&str>,
) -> Vec<SampleUnit> {
    let city_name = match k {
        0 => CITY_NAME.to_string(),
        _ => format!("青山{k}市"),
    };
    units(districts, schools)
        .into_iter()
        .map(|u| SampleUnit {
            code: in_city(k, &u.code),
            name: u.name.replace(CITY_NAME, &city_name),
            parent: match u.parent.as_str() {
                "" => province.unwrap_or_default().to_string(),
                p => in_city(k, p),
            },
            ..u
        })
        .map(|u| match u.kind {
            "市" => SampleUnit {
                name: city_name.clone(),
                ..u
            },
            _ => u,
        })
        .collect()
}

/// City `k`'s scores: `scores_csv` with the schools under city `k`'s codes.
pub fn city_scores_csv(k: usize, candidates: usize, schools: usize, seed: u64) -> String {
    let text = scores_csv(candidates, schools, seed);
    if k == 0 {
        return text;
    }
    let mut out = String::with_capacity(text.len() + candidates * 2);
    for (i, line) in text.lines().enumerate() {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        if i > 0 {
            cells[4] = in_city(k, &cells[4]);
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

pub fn units_csv(units: &[SampleUnit]) -> String {
    let mut out = UNITS_HEADER.join(",");
    out.push('\n');
    for u in units {
        let direct = if u.city_direct { "是" } else { "" };
        writeln!(
            out,
            "{},{},{},{},{}",
            u.code, u.name, u.kind, u.parent, direct
        )
        .unwrap();
    }
    out
}

/// A valid 身份证号 for candidate number `n` (born 2008/2009).
pub fn id_card(n: usize) -> String {
    let region = 410800 + (n / 100_000) % 100;
    let day = 1 + n % 28;
    let month = 1 + (n / 28) % 12;
    let year = 2008 + (n / 336) % 2;
    let seq = n % 1000;
    let first17 = format!("{region}{year}{month:02}{day:02}{seq:03}");
    format!("{first17}{}", check_char(first17.as_bytes()) as char)
}

/// The 18 cells of candidate `n` of school `school` (a scores row in SCORES_HEADER order).
pub fn candidate_row(rng: &mut StdRng, n: usize, school: usize) -> [String; 18] {
    let main = rng.random_range(8..=16u32);
    let one = rng.random_range(3..=6u32);
    let two = rng.random_range(3..=6u32);
    let tidy = rng.random_range(1..=2u32);
    let id = id_card(n);
    let name = format!(
        "{}{}",
        SURNAMES[rng.random_range(0..SURNAMES.len())],
        GIVEN[rng.random_range(0..GIVEN.len())]
    );
    [
        format!("2023{:08}", n + 1),
        format!("BM{:07}", n + 1),
        name,
        if n.is_multiple_of(2) { "男" } else { "女" }.to_string(),
        school_code(school),
        format!("九年级{}班", 1 + n % 6),
        id.clone(),
        format!("G{id}"),
        format!("2023-04-{}", 26 + n % 3),
        if n % 4 < 2 { "上午" } else { "下午" }.to_string(),
        (1 + n % 5).to_string(),
        (1 + n % 12).to_string(),
        (1 + n % 30).to_string(),
        (main + one + two + tidy).to_string(),
        main.to_string(),
        one.to_string(),
        two.to_string(),
        tidy.to_string(),
    ]
}

/// `candidates` rows spread evenly over `schools` schools, as CSV text (UTF-8).
pub fn scores_csv(candidates: usize, schools: usize, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = String::with_capacity(candidates * 140);
    out.push_str(&SCORES_HEADER.join(","));
    out.push('\n');
    for n in 0..candidates {
        let row = candidate_row(&mut rng, n, n % schools.max(1));
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The roster of the same candidates as `scores_csv` with the same seed: the registration and
/// sitting columns (the first thirteen), no scores.
pub fn roster_csv(candidates: usize, schools: usize, seed: u64) -> String {
    let scores = scores_csv(candidates, schools, seed);
    let mut out = String::with_capacity(scores.len());
    for line in scores.lines() {
        let cells: Vec<&str> = line.split(',').take(13).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// One 登分 batch's sheet: the rows of a `scores_csv` text whose school is one of `schools`
/// and whose sitting is `date` `half_day` (the header kept).
pub fn batch_csv(scores: &str, schools: &[String], date: &str, half_day: &str) -> String {
    let mut out = String::new();
    for (i, line) in scores.lines().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let member = cells.len() > 9
            && schools.iter().any(|s| s == cells[4])
            && cells[8] == date
            && cells[9] == half_day;
        if i == 0 || member {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The same rows as an .xlsx workbook (numbers as numbers, as Excel would store them).
pub fn scores_xlsx(csv_text: &str) -> anyhow::Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, line) in csv_text.lines().enumerate() {
        for (c, cell) in line.split(',').enumerate() {
            let numeric = r > 0 && (10..=17).contains(&c);
            match cell.parse::<f64>() {
                Ok(v) if numeric => sheet.write(r as u32, c as u16, v)?,
                _ => sheet.write(r as u32, c as u16, cell)?,
            };
        }
    }
    Ok(book.save_to_buffer()?)
}

/// GB18030 bytes of a text, as Excel on a Chinese Windows saves CSV.
pub fn gb18030(text: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(text).0.into_owned()
}

/// Sets up a sample city in `app` through the same use cases as the command line: its units,
/// the 2023 season (last exam day 2023-04-28, Beijing time, full score 30) made current, and
/// `candidates` candidates of the given seed. The two files are written into `dir`.
pub async fn load_city(
    app: &App,
    dir: &Path,
    districts: usize,
    schools: usize,
    candidates: usize,
    seed: u64,
) -> anyhow::Result<ImportSummary> {
    load_units_and_season(app, dir, districts, schools).await?;
    let scores_file = dir.join("scores.csv");
    crate::store::write_private(
        &scores_file,
        scores_csv(candidates, schools, seed).as_bytes(),
    )?;
    app.import_scores(&scores_file).await
}

/// The same city before its exam: the units, the season, and the roster of the candidates
/// `load_city` would score (no scores yet).
pub async fn load_city_before_exam(
    app: &App,
    dir: &Path,
    districts: usize,
    schools: usize,
    candidates: usize,
    seed: u64,
) -> anyhow::Result<ImportSummary> {
    load_units_and_season(app, dir, districts, schools).await?;
    let roster_file = dir.join("roster.csv");
    crate::store::write_private(
        &roster_file,
        roster_csv(candidates, schools, seed).as_bytes(),
    )?;
    app.import_candidates(&roster_file).await
}

/// The units (written to `dir/units.csv`) and the 2023 season, through the command line's use
/// cases.
pub async fn load_units_and_season(
    app: &App,
    dir: &Path,
    districts: usize,
    schools: usize,
) -> anyhow::Result<()> {
    let units_file = dir.join("units.csv");
    crate::store::write_private(
        &units_file,
        units_csv(&units(districts, schools)).as_bytes(),
    )?;
    app.import_units(&units_file).await?;
    let last_exam_day = NaiveDate::from_ymd_opt(2023, 4, 28).expect("a valid date");
    app.set_season(2023, last_exam_day, chrono_tz::Asia::Shanghai, 30)
        .await?;
    Ok(())
}
