//! The board's pages: handlebars templates (`pages/`), HTML-escaped by default, each set in
//! one frame that links the board's own style sheet and script.

use super::chart::{self, Scale};
use crate::app::board::charts::Stacks;
use crate::app::board::notices::{NoticeBoard, NoticeState};
use crate::app::board::{Filter, Row, Sort, Window};
use crate::app::entry::board::{EntryLine, stage_name};
use crate::domain::deadline::{countdown, display};
use crate::domain::entry::Stage;
use crate::domain::review::State;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handlebars::Handlebars;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const CSS: &str = include_str!("pages/board.css");
pub const JS: &str = include_str!("pages/board.js");

const TEMPLATES: [(&str, &str); 8] = [
    ("frame", include_str!("pages/frame.hbs")),
    ("sign_in", include_str!("pages/sign_in.hbs")),
    ("requests", include_str!("pages/requests.hbs")),
    ("entry", include_str!("pages/entry.hbs")),
    ("notices", include_str!("pages/notices.hbs")),
    ("charts", include_str!("pages/charts.hbs")),
    ("detail", include_str!("pages/detail.hbs")),
    ("refused", include_str!("pages/refused.hbs")),
];

/// The states a filter offers, in the order a request meets them.
const STATES: [(State, &str); 10] = [
    (State::Pending, "审核中"),
    (State::Returned, "已退回待修改"),
    (State::Recording, "复核小组复核中"),
    (State::Confirming, "复核结果待签字"),
    (State::Reporting, "待上报"),
    (State::Rechecking, "市级复审中"),
    (State::Completed, "已完成"),
    (State::Rejected, "已驳回"),
    (State::Withdrawn, "已撤回"),
    (State::Lapsed, "逾期未报"),
];

const SORTS: [(Sort, &str, &str); 3] = [
    (Sort::Oldest, "oldest", "等待最久在前"),
    (Sort::Newest, "newest", "最新在前"),
    (Sort::School, "school", "按区县、学校"),
];

pub struct Pages(Handlebars<'static>);

impl Pages {
    pub fn new() -> Pages {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_partial("tabs", include_str!("pages/tabs.hbs"))
            .expect("the board's tabs parse");
        for (name, source) in TEMPLATES {
            hb.register_template_string(name, source)
                .expect("the board's templates parse");
        }
        Pages(hb)
    }

    fn framed(&self, title: &str, name: &str, data: &Value) -> anyhow::Result<String> {
        let body = self.0.render(name, data)?;
        Ok(self
            .0
            .render("frame", &json!({"title": title, "body": body}))?)
    }

    pub fn sign_in(&self) -> String {
        self.framed("本季进度看板", "sign_in", &json!({}))
            .expect("the sign-in page renders")
    }

    pub fn refused(&self, heading: &str, why: &str) -> String {
        self.framed(heading, "refused", &json!({"heading": heading, "why": why}))
            .expect("the refusal page renders")
    }

    pub fn no_season(&self) -> String {
        self.refused("尚无考季", "本市还没有本年度的考季。")
    }

    pub fn detail(&self, id: i64, text: &str) -> String {
        // `text` is the chat's rendering of /request N: Telegram's HTML, every value in it
        // already escaped by the chat's templates.
        self.framed(&format!("申请 #{id}"), "detail", &json!({"detail": text}))
            .expect("the detail page renders")
    }

    pub fn requests(
        &self,
        year: i32,
        filter: &Filter,
        page: usize,
        rows: &[Row],
        seen: &[Row],
        window: &Window,
    ) -> anyhow::Result<String> {
        let districts: BTreeMap<&str, &str> = seen
            .iter()
            .filter_map(|r| Some((r.district_code.as_deref()?, r.district.as_deref()?)))
            .collect();
        let schools: BTreeMap<&str, &str> = seen
            .iter()
            .filter(|r| {
                filter.district.is_none() || r.district_code.as_ref() == filter.district.as_ref()
            })
            .map(|r| (r.school_code.as_str(), r.school.as_str()))
            .collect();
        let options = |pairs: BTreeMap<&str, &str>, chosen: Option<&String>| -> Vec<Value> {
            pairs
                .into_iter()
                .map(|(code, name)| {
                    json!({"code": code, "name": name,
                           "selected": chosen.is_some_and(|c| c == code)})
                })
                .collect()
        };
        let levels: std::collections::BTreeSet<&str> =
            seen.iter().map(|r| r.stage.as_str()).collect();
        let levels: Vec<Value> = levels
            .into_iter()
            .map(|l| json!({"name": l, "selected": filter.level.as_deref() == Some(l)}))
            .collect();
        let states: Vec<Value> = STATES
            .iter()
            .map(|(s, name)| {
                json!({"code": s.as_str(), "name": name, "selected": filter.state == Some(*s)})
            })
            .collect();
        let sorts: Vec<Value> = SORTS
            .iter()
            .map(|(s, code, name)| json!({"code": code, "name": name, "selected": filter.sort == *s}))
            .collect();
        let pages = rows.len().div_ceil(PAGE_ROWS).max(1);
        let page = page.min(pages - 1);
        let lines: Vec<Value> = rows
            .iter()
            .skip(page * PAGE_ROWS)
            .take(PAGE_ROWS)
            .map(|r| {
                let mut line = json!(r);
                line["age"] = json!(r.age_hours.map_or_else(|| "—".to_string(), age));
                line["kind"] = json!(purpose_name(r));
                line["district"] = json!(district_name(r));
                line["signed"] = json!(r.signed.map(|n| format!("已签 {n} 人")));
                line
            })
            .collect();
        let data = json!({
            "year": year,
            "window": window,
            "purpose": filter.purpose.map(|p| p.kind()),
            "districts": options(districts, filter.district.as_ref()),
            "schools": options(schools, filter.school.as_ref()),
            "states": states,
            "levels": levels,
            "sorts": sorts,
            "query": filter.query.clone().unwrap_or_default(),
            "count": rows.len(),
            "total": seen.len(),
            "filtered": rows.len() != seen.len(),
            "rows": lines,
            "download": format!("/board/requests.xlsx?{}", view_query(filter)),
            "paged": pages > 1,
            "page": page + 1,
            "pages": pages,
            "earlier": (page > 0).then(|| format!("/board/requests?{}&page={}", view_query(filter), page - 1)),
            "later": (page + 1 < pages).then(|| format!("/board/requests?{}&page={}", view_query(filter), page + 1)),
        });
        self.framed("复核与免考", "requests", &data)
    }
}

impl Pages {
    /// The 登分 tab: every county × half-day batch the person may see, with its cutoff's
    /// countdown while it is not yet reported.
    pub fn entry(&self, lines: &[EntryLine], now: DateTime<Utc>, tz: Tz) -> anyhow::Result<String> {
        let count = |stages: &[Stage]| lines.iter().filter(|l| stages.contains(&l.stage)).count();
        let yes = |b: bool| if b { "已收到" } else { "未收到" };
        let rows: Vec<Value> = lines
            .iter()
            .map(|l| {
                let waiting = !matches!(l.stage, Stage::Reported | Stage::Absent);
                json!({
                    "batch": l.batch,
                    "stage": l.stage,
                    "county": l.county,
                    "half_day": l.half_day,
                    "candidates": l.candidates,
                    "first": yes(l.first),
                    "second": yes(l.second),
                    "mismatches": l.mismatches.map_or_else(|| "—".to_string(), |m| m.to_string()),
                    "crew_first": l.crews[0],
                    "crew_second": l.crews[1],
                    "stage_name": stage_name(l.stage),
                    "cutoff": l.cutoff,
                    "countdown": waiting.then(|| countdown(now, l.cutoff_at)),
                    "overdue": waiting && now >= l.cutoff_at,
                })
            })
            .collect();
        let data = json!({
            "total": lines.len(),
            "sealed": count(&[Stage::Sealed]),
            "reported": count(&[Stage::Reported]),
            "absent": count(&[Stage::Absent]),
            "now": display(now, tz),
            "lines": rows,
        });
        self.framed("登分进度", "entry", &data)
    }

    /// The 公布 tab: each school's notice, and the 2-day deadline.
    pub fn notices(&self, notices: &NoticeBoard) -> anyhow::Result<String> {
        let count = |s: NoticeState| notices.lines.iter().filter(|l| l.state == s).count();
        let rows: Vec<Value> = notices
            .lines
            .iter()
            .map(|l| {
                let mut row = json!(l);
                row["words"] = json!(l.state.words());
                row
            })
            .collect();
        let data = json!({
            "year": notices.year,
            "published_at": notices.published_at,
            "deadline": notices.deadline,
            "countdown": notices.countdown,
            "late": notices.late,
            "count": notices.lines.len(),
            "delivered": count(NoticeState::Delivered),
            "queued": count(NoticeState::Queued),
            "unreachable": count(NoticeState::Unreachable),
            "no_contact": count(NoticeState::NoContact),
            "not_sent": count(NoticeState::NotSent),
            "lines": rows,
        });
        self.framed("成绩公布", "notices", &data)
    }

    /// The charts tab.
    pub fn charts(
        &self,
        year: i32,
        scores: Option<&Stacks>,
        work: &Stacks,
    ) -> anyhow::Result<String> {
        // Published scores of no school this person follows are no chart at all.
        let published = scores.is_some();
        let scores = scores.filter(|s| !s.bars.is_empty());
        let data = json!({
            "year": year,
            "published": published,
            "scores": scores.map(|s| chart::stacked(s, Scale::Share, "各区县成绩分布")),
            "scores_legend": scores.map(chart::legend),
            "work": (!work.bars.is_empty()).then(|| chart::stacked(work, Scale::Count, "每日各环节处理的申请")),
            "work_legend": chart::legend(work),
        });
        self.framed("图表", "charts", &data)
    }
}

/// A page that needs nothing served: the style sheet inlined, the script left out, and the
/// tabs' links sent to the files `file_of` names.
pub fn standalone(page: &str, file_of: impl Fn(&str) -> String) -> String {
    let mut page = page
        .replace(
            r#"<link rel="stylesheet" href="/board/board.css">"#,
            &format!("<style>\n{CSS}</style>"),
        )
        .replace(r#"<script src="/board/board.js" defer></script>"#, "");
    for tab in ["requests", "entry", "notices", "charts"] {
        let link = format!(r#"href="/board/{tab}""#);
        page = page.replace(&link, &format!(r#"href="{}""#, file_of(tab)));
    }
    page
}

/// Rows on one page: a city's 14,000 requests are read a page at a time, or downloaded whole.
pub const PAGE_ROWS: usize = 200;

/// The filters of a view as an address's query, for its download and its other pages.
fn view_query(filter: &Filter) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(p) = filter.purpose {
        query.append_pair("purpose", p.kind());
    }
    for (name, value) in [
        ("district", &filter.district),
        ("school", &filter.school),
        ("level", &filter.level),
        ("q", &filter.query),
    ] {
        if let Some(v) = value {
            query.append_pair(name, v);
        }
    }
    if let Some(s) = filter.state {
        query.append_pair("state", s.as_str());
    }
    if let Some((_, code, _)) = SORTS.iter().find(|(s, _, _)| *s == filter.sort) {
        query.append_pair("sort", code);
    }
    query.finish()
}

/// The columns of the requests' table, on the page and in its download.
pub const COLUMNS: [&str; 8] = [
    "编号",
    "类别",
    "考生",
    "准考证号",
    "学校",
    "区县",
    "当前环节",
    "提交时间",
];

/// One row's cells under `COLUMNS`, as the page shows them.
pub fn cells(row: &Row) -> Vec<String> {
    vec![
        row.id.to_string(),
        purpose_name(row).to_string(),
        row.name.clone(),
        row.exam_no.clone(),
        row.school.clone(),
        district_name(row).to_string(),
        match (row.holder.as_str(), row.signed) {
            ("", None) => row.stage.clone(),
            ("", Some(n)) => format!("{}（已签 {n} 人）", row.stage),
            (holder, _) => format!("{}（{holder}）", row.stage),
        },
        row.filed_at.clone(),
    ]
}

fn purpose_name(row: &Row) -> &'static str {
    match row.purpose {
        crate::domain::workflow::Purpose::Review => "复核",
        crate::domain::workflow::Purpose::Exemption => "免考",
    }
}

fn district_name(row: &Row) -> &str {
    row.district.as_deref().unwrap_or("市直")
}

/// "3天5小时" since a request was filed.
fn age(hours: i64) -> String {
    match (hours / 24, hours % 24) {
        (0, h) => format!("{h}小时"),
        (d, h) => format!("{d}天{h}小时"),
    }
}
