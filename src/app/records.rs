//! Official records read from the database: 附件6 复核汇总表 of a district, a city-direct school
//! or the whole city (grouped by those units, 附件6 注2), for the command line and for `/export`
//! in chat. Every export is audited.

use super::App;
use super::policy::{self, Action, Subject};
use crate::domain::UnitKind;
use crate::domain::review::{State, batch_unit};
use crate::export::review_summary::{self, Line, Section, Table};
use crate::store::batches;
use crate::store::outbox::{self, Outgoing};
use crate::store::units::Unit;
use crate::store::{audit, people, seasons, units};
use anyhow::{Context, bail};
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::{BTreeMap, HashMap};

/// The file kinds a table is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Xlsx,
    /// UTF-8 with a byte-order mark, for Excel.
    Csv,
}

impl FileKind {
    /// By the file name's extension: .csv, or .xlsx otherwise.
    pub fn of(path: &std::path::Path) -> FileKind {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => FileKind::Csv,
            _ => FileKind::Xlsx,
        }
    }
}

/// A written record: its file name, bytes, and the candidates it lists.
pub struct Record {
    pub name: String,
    pub bytes: Vec<u8>,
    pub lines: usize,
}

/// Where a request's line of 附件6 stands: 复核后成绩 once the group has signed.
fn line(row: &batches::SummaryRow, school: &str) -> Line {
    let state = State::parse(&row.state);
    let signed = matches!(
        state,
        Some(State::Reporting | State::Rechecking | State::Completed)
    );
    let note = match state {
        _ if signed => review_summary::remark(
            row.result_kind.as_deref(),
            row.result_category.as_deref(),
            row.result_note.as_deref(),
        ),
        Some(State::Rejected) => "已驳回".to_string(),
        _ => "复核中".to_string(),
    };
    Line {
        school: school.to_string(),
        name: row.cand.name.clone(),
        reg_no: row.cand.reg_no.clone(),
        exam_no: row.cand.exam_no.clone(),
        sitting: row.cand.sitting(),
        original: row.original_score,
        reviewed: signed.then(|| row.result_score.unwrap_or(row.original_score)),
        note,
    }
}

impl App {
    /// 附件6 of `unit`: a district's (its schools' candidates with requests), a city-direct
    /// school's (its own), or the city's (every unit's, grouped). Only schools `in_scope`
    /// admits are read. A candidate filed for twice (the first request ended without a
    /// result) has one line, the latest request's; withdrawn requests are not listed.
    async fn summary_table(
        &self,
        conn: &mut AnyConnection,
        unit: &str,
        in_scope: impl Fn(&Unit) -> bool,
    ) -> anyhow::Result<Table> {
        let season = seasons::current(conn).await?.context("no current season")?;
        let all: HashMap<String, Unit> = units::all(conn)
            .await?
            .into_iter()
            .map(|u| (u.code.clone(), u))
            .collect();
        let target = all
            .get(unit)
            .with_context(|| format!("there is no unit {unit}"))?;
        if target.kind == UnitKind::School && !target.city_direct {
            bail!(
                "{} ({unit}) reports with its district: 附件6 is one per district and one per \
                 city-direct school",
                target.name
            );
        }
        let city_code = units::city_code(conn).await?;
        let city = all
            .get(&city_code)
            .map_or(String::new(), |c| c.name.clone());
        let mut latest: BTreeMap<i64, batches::SummaryRow> = BTreeMap::new();
        for row in batches::summary_rows(conn, season.id).await? {
            latest.insert(row.cand.id, row);
        }
        let mut rows: Vec<&batches::SummaryRow> = latest.values().collect();
        rows.sort_by_key(|r| r.request_id);
        let mut sections: BTreeMap<String, Section> = BTreeMap::new();
        for row in rows {
            let Some(school) = all.get(&row.cand.school_code) else {
                continue;
            };
            let district = school
                .parent_code
                .as_deref()
                .filter(|_| !school.city_direct);
            let batch = batch_unit(&school.code, district);
            let wanted = target.kind == UnitKind::City || batch == unit;
            if !wanted || !in_scope(school) {
                continue;
            }
            let name = all.get(batch).map_or(batch.to_string(), |u| u.name.clone());
            sections
                .entry(batch.to_string())
                .or_insert_with(|| Section {
                    unit: name,
                    lines: Vec::new(),
                })
                .lines
                .push(line(row, &school.name));
        }
        let mut sections: Vec<Section> = sections.into_values().collect();
        if sections.is_empty() {
            // An empty form still says whose it is.
            sections.push(Section {
                unit: target.name.clone(),
                lines: Vec::new(),
            });
        }
        Ok(Table {
            year: season.year,
            city,
            unit: target.name.clone(),
            sections,
        })
    }

    fn summary_record(&self, table: &Table, kind: FileKind) -> anyhow::Result<Record> {
        let lines = table.sections.iter().map(|s| s.lines.len()).sum();
        let (bytes, ext) = match kind {
            FileKind::Xlsx => (review_summary::xlsx(table)?, "xlsx"),
            FileKind::Csv => (review_summary::csv(table)?, "csv"),
        };
        Ok(Record {
            name: format!("附件6_复核汇总表_{}.{ext}", table.unit),
            bytes,
            lines,
        })
    }

    /// `export review-summary --unit CODE`: the terminal is the city's, so every school is in
    /// scope.
    pub async fn export_review_summary(
        &self,
        unit: &str,
        kind: FileKind,
    ) -> anyhow::Result<Record> {
        let mut tx = self.db.begin().await?;
        let table = self.summary_table(&mut tx, unit, |_| true).await?;
        let record = self.summary_record(&table, kind)?;
        let detail = format!("附件6 of {unit}: {} lines", record.lines);
        audit(
            &mut tx,
            self.clock.now(),
            "cli",
            "export-review-summary",
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// `/export`: a city admin receives the city's 附件6 (every unit, grouped), a district
    /// officer their district's, as a document. The permission model says which schools each
    /// may read (the same answer as /status).
    pub async fn export_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user_id).await?;
        let city_code = units::city_code(&mut tx).await?;
        let route = self.route();
        let unit = bound
            .iter()
            .find(|b| b.role == crate::domain::Role::CityAdmin && b.unit_code == city_code)
            .or_else(|| {
                bound
                    .iter()
                    .find(|b| b.role == crate::domain::Role::DistrictOfficer)
            })
            .map(|b| b.unit_code.clone());
        let season = seasons::current(&mut tx).await?;
        let Some(unit) = unit.filter(|_| season.is_some()) else {
            let template = match (bound.is_empty(), season.is_some()) {
                (true, _) => "not_bound",
                (false, true) => "not_allowed",
                (false, false) => "export_nothing",
            };
            drop(tx);
            let body = self.render.render(template, &json!({}))?;
            return self.reply(chat_id, body, None).await;
        };
        let in_scope = |school: &Unit| {
            let district = school
                .parent_code
                .as_deref()
                .filter(|_| !school.city_direct);
            let subject = Subject {
                city: &city_code,
                school: &school.code,
                district,
                ..Subject::default()
            };
            policy::check(&route, user_id, &bound, Action::Status, &subject).is_ok()
        };
        let table = self.summary_table(&mut tx, &unit, in_scope).await?;
        let record = self.summary_record(&table, FileKind::Xlsx)?;
        let caption = self.render.render(
            "export_summary",
            &json!({"unit": table.unit, "lines": record.lines}),
        )?;
        let msg = Outgoing {
            chat_id,
            body: caption,
            document: Some((record.name.clone(), record.bytes)),
            is_reply: true,
            ..Outgoing::default()
        };
        outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        let actor = crate::app::Actor::Telegram(user_id).label();
        let detail = format!("附件6 of {unit}: {} lines", record.lines);
        audit(
            &mut tx,
            self.clock.now(),
            &actor,
            "export-review-summary",
            &detail,
        )
        .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}
