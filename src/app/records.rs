//! Official records read from the database: 附件6 复核汇总表 of a district, a city-direct school
//! or the whole city (grouped by those units, 附件6 注2), for the command line and for `/export`
//! in chat. Every export is audited.

use super::App;
use super::policy::{self, Action, Subject};
use crate::domain::review::{State, batch_unit};
use crate::domain::workflow::Purpose;
use crate::domain::{Role, UnitKind};
use crate::export::review_summary::{self, Line};
use crate::export::summary::{self, Section, Table};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::batches;
use crate::store::outbox::{self, Outgoing};
use crate::store::seasons::Season;
use crate::store::units::Unit;
use crate::store::{audit, people, reminders, seasons, units};
use anyhow::{Context, bail};
use serde_json::json;
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
        Some(State::Lapsed) => "逾期未报，不予受理".to_string(),
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

/// A season's lines of one 汇总表 by reporting unit (a district, or a city-direct school), in
/// code order, with its city's units, read once.
pub(crate) struct Reported<L> {
    year: i32,
    city: Unit,
    pub(crate) units: HashMap<String, Unit>,
    pub(crate) sections: BTreeMap<String, Section<L>>,
}

impl<L: summary::Line + Clone> Reported<L> {
    pub(crate) async fn load(conn: &mut Conn, season: &Season) -> anyhow::Result<Self> {
        let units: HashMap<String, Unit> = units::of_city(conn, &season.city_code)
            .await?
            .into_iter()
            .map(|u| (u.code.clone(), u))
            .collect();
        let city = units
            .get(&season.city_code)
            .context("no city unit")?
            .clone();
        Ok(Reported {
            year: season.year,
            city,
            units,
            sections: BTreeMap::new(),
        })
    }

    /// Adds a line to the section of the unit that reports for `school`.
    pub(crate) fn place(&mut self, school: &Unit, line: L) {
        let district = school
            .parent_code
            .as_deref()
            .filter(|_| !school.city_direct);
        let unit = batch_unit(&school.code, district);
        let name = self
            .units
            .get(unit)
            .map_or(unit.to_string(), |u| u.name.clone());
        self.sections
            .entry(unit.to_string())
            .or_insert_with(|| Section {
                unit: name,
                lines: Vec::new(),
            })
            .lines
            .push(line);
    }

    /// The form of `unit`: a district's, a city-direct school's, or the city's (every unit's,
    /// grouped). `approved`: the city's final list rather than the form sent up.
    pub(crate) fn table(&self, unit: &str, approved: bool) -> anyhow::Result<Table<L>> {
        let (target, sections) =
            unit_sections(&self.units, &self.sections, unit, L::FORM.name, |u| {
                Section {
                    unit: u.name.clone(),
                    lines: Vec::new(),
                }
            })?;
        Ok(Table {
            year: self.year,
            city: self.city.name.clone(),
            unit: target.name.clone(),
            sections,
            approved,
        })
    }
}

/// A table as the file an office receives.
pub(crate) fn summary_record<L: summary::Line>(
    table: &Table<L>,
    kind: FileKind,
) -> anyhow::Result<Record> {
    let (bytes, ext) = match kind {
        FileKind::Xlsx => (summary::xlsx(table)?, "xlsx"),
        FileKind::Csv => (summary::csv(table)?, "csv"),
    };
    Ok(Record {
        name: format!("{}.{ext}", table.file_stem()),
        bytes,
        lines: table.lines(),
    })
}

/// The sections of a reporting unit's table (附件6, 附件3): the city's takes every unit's, a
/// district's or a city-direct school's its own; an empty form still says whose it is. An
/// ordinary school reports with its district, so it has no table of its own.
pub(crate) fn unit_sections<'u, S: Clone>(
    units: &'u HashMap<String, Unit>,
    sections: &BTreeMap<String, S>,
    unit: &str,
    form: &str,
    empty: impl FnOnce(&Unit) -> S,
) -> anyhow::Result<(&'u Unit, Vec<S>)> {
    let target = units
        .get(unit)
        .with_context(|| format!("there is no unit {unit}"))?;
    if target.kind == UnitKind::School && !target.city_direct {
        bail!(
            "{} ({unit}) reports with its district: {form} is one per district and one per \
             city-direct school",
            target.name
        );
    }
    let mut out: Vec<S> = sections
        .iter()
        .filter(|(code, _)| target.kind == UnitKind::City || code.as_str() == unit)
        .map(|(_, s)| s.clone())
        .collect();
    if out.is_empty() {
        out.push(empty(target));
    }
    Ok((target, out))
}

/// Who receives a unit's table when it is sent out: the city admins the city's, a district's
/// officers its own, a city-direct school's contacts theirs when it has lines; nobody else.
pub(crate) async fn table_recipients(
    conn: &mut Conn,
    unit: &Unit,
    has_lines: bool,
) -> anyhow::Result<Vec<people::Binding>> {
    Ok(match unit.kind {
        UnitKind::City => people::all_holders(conn, Role::CityAdmin, &unit.code).await?,
        UnitKind::District => people::holders(conn, Role::DistrictOfficer, &unit.code).await?,
        UnitKind::School if unit.city_direct && has_lines => {
            people::holders(conn, Role::SchoolContact, &unit.code).await?
        }
        UnitKind::School | UnitKind::Province => Vec::new(),
    })
}

impl App {
    /// Every unit's 附件6 lines of the season (of its city), of the schools `in_scope` admits. A
    /// candidate filed for twice (the first request ended without a result) has one line, the
    /// latest request's; withdrawn requests are not listed.
    async fn summaries(
        &self,
        conn: &mut Conn,
        season: &Season,
        in_scope: impl Fn(&Unit) -> bool,
    ) -> anyhow::Result<Reported<Line>> {
        let mut latest: BTreeMap<i64, batches::SummaryRow> = BTreeMap::new();
        for row in batches::summary_rows(conn, season.id).await? {
            latest.insert(row.cand.id, row);
        }
        let mut rows: Vec<&batches::SummaryRow> = latest.values().collect();
        rows.sort_by_key(|r| r.request_id);
        let mut reported = Reported::load(conn, season).await?;
        for row in rows {
            let Some(school) = reported.units.get(&row.cand.school_code).cloned() else {
                continue;
            };
            if in_scope(&school) {
                reported.place(&school, line(row, &school.name));
            }
        }
        Ok(reported)
    }

    async fn summary_table(
        &self,
        conn: &mut Conn,
        season: &Season,
        unit: &str,
        in_scope: impl Fn(&Unit) -> bool,
    ) -> anyhow::Result<Table<Line>> {
        self.summaries(conn, season, in_scope)
            .await?
            .table(unit, false)
    }

    /// Each reporting unit's table to its office, and the city's to the city admins
    /// (`table_recipients`), once per chat however often this runs (`key`). Returns how many
    /// chats were sent one.
    pub(crate) async fn send_tables<L: summary::Line + Clone>(
        &self,
        tx: &mut Conn,
        reported: &Reported<L>,
        approved: bool,
        key: &str,
        now: chrono::DateTime<chrono::Utc>,
        caption: impl Fn(&Table<L>, usize) -> anyhow::Result<String>,
    ) -> anyhow::Result<usize> {
        let mut told = 0;
        let mut units: Vec<&Unit> = reported.units.values().collect();
        units.sort_by(|a, b| a.code.cmp(&b.code));
        for unit in units {
            let has_lines = reported.sections.contains_key(&unit.code);
            let people = table_recipients(tx, unit, has_lines).await?;
            if people.is_empty() {
                continue;
            }
            let table = reported.table(&unit.code, approved)?;
            let record = summary_record(&table, FileKind::Xlsx)?;
            let body = caption(&table, record.lines)?;
            for p in people {
                let msg = Outgoing {
                    chat_id: p.chat_id,
                    body: body.clone(),
                    document: Some((record.name.clone(), record.bytes.clone())),
                    dedupe_key: Some(format!("{key}:{}:{}", unit.code, p.chat_id)),
                    ..Outgoing::default()
                };
                if outbox::enqueue(tx, &msg, now).await? {
                    told += 1;
                }
            }
        }
        Ok(told)
    }

    /// `export review-summary --unit CODE`: 附件6 of a district, a city-direct school or the
    /// city.
    pub async fn export_review_summary(
        &self,
        unit: &str,
        kind: FileKind,
    ) -> anyhow::Result<Record> {
        self.export_summary(Purpose::Review, unit, kind).await
    }

    /// `export exemption-summary --unit CODE`: the approved 免考 candidates of a county, a
    /// city-direct school or the city (附件3's final list).
    pub async fn export_exemption_summary(
        &self,
        unit: &str,
        kind: FileKind,
    ) -> anyhow::Result<Record> {
        self.export_summary(Purpose::Exemption, unit, kind).await
    }

    /// A unit's 汇总表 of `purpose` for the terminal, which is the city's: every school is in
    /// scope. Audited.
    async fn export_summary(
        &self,
        purpose: Purpose,
        unit: &str,
        kind: FileKind,
    ) -> anyhow::Result<Record> {
        let mut tx = self.db.begin().await?;
        // The unit's own city's season: a province's terminal names the unit, and its city
        // follows.
        let city = units::city_of(&mut tx, unit).await?;
        if city.is_empty() {
            bail!("there is no unit {unit} in any city");
        }
        let season = seasons::current(&mut tx, &city)
            .await?
            .context("no current season")?;
        let (record, action) = match purpose {
            Purpose::Review => {
                let table = self.summary_table(&mut tx, &season, unit, |_| true).await?;
                (summary_record(&table, kind)?, "export-review-summary")
            }
            Purpose::Exemption => {
                let approved = self.approved_exemptions(&mut tx, &season, |_| true).await?;
                let table = approved.table(unit, true)?;
                (summary_record(&table, kind)?, "export-exemption-summary")
            }
        };
        let detail = format!(
            "{} of {unit}: {} lines",
            purpose.summary_form(),
            record.lines
        );
        audit(&mut tx, self.clock.now(), "cli", action, &detail).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// `/export`: a city admin receives the city's 附件6 (every unit, grouped), a district
    /// officer their district's, as a document. The permission model says which schools each
    /// may read (the same answer as /status).
    pub async fn export_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user_id).await?;
        let city_code = self.city_of_user(&mut tx, user_id).await?;
        let route = self.route(&city_code);
        let unit = bound
            .iter()
            .find(|b| b.role == crate::domain::Role::CityAdmin && b.unit_code == city_code)
            .or_else(|| {
                bound
                    .iter()
                    .find(|b| b.role == crate::domain::Role::DistrictOfficer)
            })
            .map(|b| b.unit_code.clone());
        let season = seasons::current(&mut tx, &city_code).await?;
        let Some((unit, season)) = unit.zip(season.clone()) else {
            let template = match (bound.is_empty(), season.is_some()) {
                (true, _) => tpl::NOT_BOUND,
                (false, true) => tpl::NOT_ALLOWED,
                (false, false) => tpl::EXPORT_NOTHING,
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
        let table = self
            .summary_table(&mut tx, &season, &unit, &in_scope)
            .await?;
        let record = summary_record(&table, FileKind::Xlsx)?;
        let caption = self.render.render(
            tpl::EXPORT_SUMMARY,
            &json!({"unit": table.unit, "lines": record.lines}),
        )?;
        let mut sent = vec![(caption, record, "export-review-summary", "附件6")];
        // Before the exam it is the 免考 season: a season with a roster has its 附件3 too.
        if crate::store::roster::count(&mut tx, season.id).await? > 0 {
            let approved = self
                .approved_exemptions(&mut tx, &season, &in_scope)
                .await?;
            let table = approved.table(&unit, true)?;
            let record = summary_record(&table, FileKind::Xlsx)?;
            let caption = self.render.render(
                tpl::EXPORT_EXEMPTION_SUMMARY,
                &json!({"unit": table.unit, "lines": record.lines}),
            )?;
            sent.push((caption, record, "export-exemption-summary", "附件3"));
        }
        let actor = crate::app::Actor::Person(user_id).label();
        for (caption, record, action, form) in sent {
            let msg = Outgoing {
                chat_id,
                body: caption,
                document: Some((record.name.clone(), record.bytes)),
                is_reply: true,
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
            let detail = format!("{form} of {unit}: {} lines", record.lines);
            audit(&mut tx, self.clock.now(), &actor, action, &detail).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

/// How closing the review went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// Closed now: the tables went to this many chats; `open` requests were still open.
    Closed {
        open: i64,
        told: usize,
    },
    /// The filing window is still open (until this time, as shown).
    NotYet {
        deadline: String,
    },
    Already,
}

/// The claim that makes closing happen once per season (kept with the reminders: a moment
/// that fires once).
fn closing_key(season: i64) -> String {
    format!("review-closed:{season}")
}

impl App {
    /// Closes the season's review (the window has passed, and either every request has ended
    /// or a city admin closes it): every district's officers receive their district's 附件6,
    /// each city-direct school with requests its own (to its contacts), the city admins the
    /// city's. Once per season.
    pub(crate) async fn close_review_in(
        &self,
        tx: &mut Conn,
        season: &seasons::Season,
        now: chrono::DateTime<chrono::Utc>,
        by: Option<(&str, &str)>,
    ) -> anyhow::Result<Close> {
        let (by, actor) = match by {
            Some((name, actor)) => (Some(name), actor),
            None => (None, "system"),
        };
        match season.review_deadline {
            Some(d) if now >= d => {}
            Some(d) => {
                return Ok(Close::NotYet {
                    deadline: crate::domain::deadline::display(d, season.tz),
                });
            }
            None => {
                return Ok(Close::NotYet {
                    deadline: String::new(),
                });
            }
        }
        let key = closing_key(season.id);
        let claimed = reminders::claim(tx, &key, now, now).await?;
        if !claimed {
            return Ok(Close::Already);
        }
        let open = open_requests(tx, season.id).await?;
        let summaries = self.summaries(tx, season, |_| true).await?;
        let caption = |table: &Table<Line>, lines: usize| {
            self.render.render(
                tpl::REVIEW_CLOSED_RECORDS,
                &json!({"year": season.year, "unit": table.unit, "lines": lines,
                        "open": open, "by": by}),
            )
        };
        let told = self
            .send_tables(tx, &summaries, false, &key, now, caption)
            .await?;
        reminders::set_recipients(tx, &key, told).await?;
        let detail = format!(
            "season {} review closed{}: {open} requests open, 附件6 to {told} chats",
            season.year,
            by.map_or(String::new(), |b| format!(" by {b}"))
        );
        audit(tx, now, actor, "review-close", &detail).await?;
        Ok(Close::Closed { open, told })
    }

    /// The sweep's part: once the window has passed and every request has ended, the review
    /// closes by itself.
    pub(crate) async fn close_when_all_ended(
        &self,
        tx: &mut Conn,
        season: &seasons::Season,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Option<usize>> {
        if season.review_deadline.is_none_or(|d| now < d) {
            return Ok(None);
        }
        let done = reminders::claimed(tx, &closing_key(season.id)).await?;
        if done || open_requests(tx, season.id).await? > 0 {
            return Ok(None);
        }
        match self.close_review_in(tx, season, now, None).await? {
            Close::Closed { told, .. } => Ok(Some(told)),
            _ => Ok(None),
        }
    }

    /// `/close`: a city admin ends the review after the window, with requests still open if
    /// need be (they stay actionable; the tables mark them 复核中).
    pub async fn close_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        if let Err(denied) = self.may_publish(user_id).await? {
            return self
                .reply(chat_id, self.render.text(denied.template())?, None)
                .await;
        }
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let city = self.city_of_user(&mut tx, user_id).await?;
        let Some(season) = seasons::current(&mut tx, &city).await? else {
            drop(tx);
            return self
                .reply(
                    chat_id,
                    self.render.render(tpl::EXPORT_NOTHING, &json!({}))?,
                    None,
                )
                .await;
        };
        let me = people::of_user(&mut tx, user_id)
            .await?
            .into_iter()
            .find(|b| b.role == Role::CityAdmin)
            .map_or_else(String::new, |b| b.name);
        let actor = crate::app::Actor::Person(user_id).label();
        let outcome = self
            .close_review_in(&mut tx, &season, now, Some((&me, &actor)))
            .await?;
        let data = match &outcome {
            Close::Closed { open, told } => json!({"closed": true, "open": open, "told": told}),
            Close::NotYet { deadline } => json!({"not_yet": true, "deadline": deadline}),
            Close::Already => json!({"already": true}),
        };
        let msg = Outgoing {
            chat_id,
            body: self.render.render(tpl::REVIEW_CLOSE_REPLY, &data)?,
            is_reply: true,
            ..Outgoing::default()
        };
        outbox::enqueue(&mut tx, &msg, now).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

/// Whether the season's review has been closed (by a city admin, or by itself).
pub(crate) async fn review_closed(conn: &mut Conn, season_id: i64) -> anyhow::Result<bool> {
    Ok(reminders::claimed(conn, &closing_key(season_id)).await?)
}

/// The season's review requests still open.
pub(crate) async fn open_requests(conn: &mut Conn, season_id: i64) -> anyhow::Result<i64> {
    Ok(crate::store::reviews::count_open(conn, "review", season_id).await?)
}
