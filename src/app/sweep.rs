//! The sweep: one pass over what is due at a moment. The scheduler's tick, `exam-review-bot
//! sweep --at`, the tests and the demo all call it. Each due reminder moment is claimed by
//! inserting its key; only the transaction that inserted it queues the messages. On PostgreSQL
//! an advisory lock lets one instance sweep at a time; the others skip the tick.

use super::App;
use super::dialogue::Kind as Dialogue;
use super::workflow::RECHECK_NAME;
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::domain::schedule::{self, Kind, Moment, SeasonTimes};
use crate::domain::workflow::{Purpose, Routes, Scope};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::outbox::{self, Outgoing};
use crate::store::people::Binding;
use crate::store::reminders;
use crate::store::reviews::{self, OpenItem};
use crate::store::seasons::{self, Season};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What one sweep sent: (moment key, people told).
#[derive(Debug, Default)]
pub struct SweepReport {
    pub sent: Vec<(String, usize)>,
    /// Another instance was sweeping (PostgreSQL).
    pub skipped: bool,
}

const SWEEP_LOCK: i64 = 0x6578_616d_7377; // "examsw"

/// Which open requests a moment is about: a season's reviews, or its 免考 applications.
#[derive(Debug, Clone, Copy)]
struct Open {
    season_id: i64,
    purpose: Purpose,
}

/// Open requests are read a window of this many ids at a time: a digest's memory stays the
/// same however many are open (read whole, every digest raised the heap's high-water mark a
/// little further as the requests piled up; the soak showed it). Windows of ids, not LIMIT
/// after an id: each window is an index range, where LIMIT would make every page scan and
/// join all the open requests after it, then sort them.
const PAGE: i64 = 500;

/// A digest lists this many of a person's items, then how many more.
const DIGEST_ITEMS: usize = 20;

/// One person's part of a digest: their chat, how many items wait for them, and the first
/// `DIGEST_ITEMS` (only those are shown, so only those are kept).
struct Waiting {
    chat: i64,
    count: usize,
    items: Vec<Value>,
}

impl App {
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<SweepReport> {
        let mut held = self.db.hold_for_writing().await?;
        let mut tx = held.begin().await?;
        if !crate::store::try_advisory_lock(&mut tx, SWEEP_LOCK).await? {
            return Ok(SweepReport {
                skipped: true,
                ..SweepReport::default()
            });
        }
        // Each city keeps its own season and its own clock of deadlines; one pass walks them
        // all under the one lock, each city's messages to that city's people only.
        let mut report = SweepReport::default();
        for season in seasons::all_current(&mut tx).await? {
            // A savepoint per city: one city's failure (its data half imported, say) rolls
            // back that city's pass only, and the other cities' reminders still go out.
            let mut city = crate::store::savepoint(&mut tx).await?;
            let mut sent = SweepReport::default();
            match self.sweep_season(&mut city, &season, now, &mut sent).await {
                Ok(()) => {
                    city.commit().await?;
                    report.sent.extend(sent.sent);
                }
                Err(e) => {
                    city.rollback().await?;
                    tracing::error!(city = %season.city_code, "sweep of the city failed: {e:#}");
                }
            }
        }
        tx.commit().await?;
        // A digest read every open request once: pages no ordinary work will read again
        // before the next one. Left in the connection's cache they raised the process's memory
        // a step at each digest, connection after connection, until every cache of the pool
        // was full (the soak, RELIABILITY.md); released, the cache keeps the bot's working set.
        if !report.sent.is_empty() {
            held.release_cache().await?;
        }
        drop(held);
        if !report.sent.is_empty() {
            self.outbox_wake.notify_one();
        }
        Ok(report)
    }

    /// One city's season: its due reminders, lapsed 免考, 登分 cutoffs and the review's close.
    async fn sweep_season(
        &self,
        tx: &mut Conn,
        season: &Season,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> anyhow::Result<()> {
        let times = SeasonTimes {
            id: season.id,
            tz: season.tz,
            publish_deadline: season.publish_deadline,
            published_at: season.published_at,
            review_deadline: season.review_deadline,
            filing_closes: self.review_window(season).map(|w| w.filing_closes),
            exemption_closes: season.exemption_closes,
        };
        // First, so that the window's close reports them: the review's window has ended: requests whose result has not reached the city lapse.
        let late = self.lapse_late_requests(tx, season).await?;
        if late > 0 {
            report.sent.push(("reviews-lapsed".into(), late));
        }
        let config = &self.config.reminders;
        let due = schedule::due(&schedule::moments(&times, config), now, config, season.tz);
        for moment in due {
            if !reminders::claim(tx, &moment.key, moment.at, now).await? {
                continue;
            }
            let exemption = matches!(
                moment.kind,
                Kind::ExemptDigest | Kind::ExemptUrgent(_) | Kind::ExemptClosed
            );
            let open = Open {
                season_id: season.id,
                purpose: match exemption {
                    true => Purpose::Exemption,
                    false => Purpose::Review,
                },
            };
            let tz = season.tz;
            let base = json!({
                "year": season.year,
                "publish_deadline": display(season.publish_deadline, tz),
                "review_deadline": season.review_deadline.map(|d| display(d, tz)),
                "filing_closes": self.review_window(season).map(|w| display(w.filing_closes, tz)),
                "exemption_closes": season.exemption_closes.map(|d| display(d, tz)),
                "now": display(now, tz),
            });
            let n = self.fire(tx, season, &moment, now, base, open).await?;
            reminders::set_recipients(tx, &moment.key, n).await?;
            report.sent.push((moment.key.clone(), n));
        }
        // The exam has begun: 免考 applications still open lapse.
        let lapsed = self.lapse_exemptions(tx, season).await?;
        if lapsed > 0 {
            report.sent.push(("exemptions-lapsed".into(), lapsed));
        }
        // 登分: reminders before each half-day's cutoff, and 缺考 at it.
        let (absent, reminded) = self.entry_sweep(tx, season, now).await?;
        if absent > 0 {
            report.sent.push(("entry-absent".into(), absent));
        }
        if reminded > 0 {
            report.sent.push(("entry-reminders".into(), reminded));
        }
        // The window has passed and nothing is open: the review closes, its records go out.
        if let Some(told) = self.close_when_all_ended(tx, season, now).await? {
            report.sent.push(("review-closed".into(), told));
        }
        Ok(())
    }

    /// The highest request id of `open`'s season and kind (0 when none): where the windows end.
    async fn last_id(&self, conn: &mut Conn, open: Open) -> anyhow::Result<i64> {
        Ok(reviews::last_id(conn, open.season_id, open.purpose.kind()).await?)
    }

    /// The open requests of `open` with ids in (after, after + PAGE], in id order.
    async fn open_page(
        &self,
        conn: &mut Conn,
        open: Open,
        after: i64,
    ) -> anyhow::Result<Vec<OpenItem>> {
        let roster = matches!(open.purpose, Purpose::Exemption);
        Ok(reviews::open_page(
            conn,
            open.season_id,
            open.purpose.kind(),
            roster,
            after,
            PAGE,
        )
        .await?)
    }

    /// Who acts on each open item now: user id → (chat, their items). An urgent reminder is
    /// about reaching the city before the window ends, so it leaves out what the city's 复审
    /// already holds.
    async fn waiting_people(
        &self,
        conn: &mut Conn,
        city: &str,
        open: Open,
        urgent: bool,
    ) -> anyhow::Result<BTreeMap<i64, Waiting>> {
        let mut routes = Routes::new(self.configured_route(city, open.purpose));
        let bindings: Vec<Binding> = active_bindings(conn, city).await?;
        // Who has signed the result on the table, or given it the city's 复审.
        let signed: HashSet<(i64, i64, i64)> = signatures(conn).await?;
        let mut out: BTreeMap<i64, Waiting> = BTreeMap::new();
        // Who is listed for the item at hand (one holding two roles on it is listed once).
        let mut listed: (i64, HashSet<i64>) = (0, HashSet::new());
        let mut add = |b: &Binding, item: &OpenItem, level: &str| {
            if listed.0 != item.id {
                listed = (item.id, HashSet::new());
            }
            if listed.1.insert(b.telegram_user_id) {
                let entry = out.entry(b.telegram_user_id).or_insert(Waiting {
                    chat: b.chat_id,
                    count: 0,
                    items: Vec::new(),
                });
                entry.count += 1;
                if entry.items.len() < DIGEST_ITEMS {
                    entry.items.push(json!({"id": item.id, "name": item.name, "school": item.school_name, "level": level}));
                }
            }
        };
        // People by (role, unit): one lookup per item instead of a scan over everyone.
        let mut by_unit: HashMap<(Role, &str), Vec<&Binding>> = HashMap::new();
        for b in &bindings {
            by_unit
                .entry((b.role, b.unit_code.as_str()))
                .or_default()
                .push(b);
        }
        let nobody: Vec<&Binding> = Vec::new();
        let last = self.last_id(conn, open).await?;
        let mut after = 0;
        while after < last {
            let page = self.open_page(conn, open, after).await?;
            after += PAGE;
            for item in &page {
                match State::parse(&item.state) {
                    Some(State::Pending) => {
                        let route = routes.of(item.route.as_deref());
                        let Some(step) = route.steps.get(item.step as usize) else {
                            continue;
                        };
                        let holders: Vec<&Binding> = match step.unit {
                            Scope::Class => by_unit
                                .get(&(step.role, item.school_code.as_str()))
                                .unwrap_or(&nobody)
                                .iter()
                                .filter(|b| {
                                    b.class_name.as_deref() == Some(item.class_name.as_str())
                                })
                                .copied()
                                .collect(),
                            Scope::School => by_unit
                                .get(&(step.role, item.school_code.as_str()))
                                .unwrap_or(&nobody)
                                .clone(),
                            Scope::District => match item.district_code.as_deref() {
                                Some(d) => by_unit.get(&(step.role, d)).unwrap_or(&nobody).clone(),
                                // A city-direct school's district level, where the city's
                                // people hold it.
                                None => match step.holder(true) {
                                    (role, true) => {
                                        by_unit.get(&(role, city)).unwrap_or(&nobody).clone()
                                    }
                                    _ => Vec::new(),
                                },
                            },
                            Scope::City => {
                                bindings.iter().filter(|b| b.role == step.role).collect()
                            }
                        };
                        for b in holders {
                            add(b, item, &step.name);
                        }
                    }
                    // A 免考 application waiting for its county's 上报 (附件3): the holders of the
                    // level that sends it up are reminded, not any review group.
                    Some(State::Reporting) if open.purpose == Purpose::Exemption => {
                        let route = routes.of(item.route.as_deref());
                        let city_direct = item.district_code.is_none();
                        let Some(step) = route
                            .sent_up_by(city_direct)
                            .and_then(|i| route.steps.get(i))
                        else {
                            continue;
                        };
                        let (role, by_the_city) = step.holder(city_direct);
                        let unit = match (by_the_city, step.unit, item.district_code.as_deref()) {
                            (true, _, _) | (_, Scope::City, _) => city,
                            (_, Scope::District, Some(d)) => d,
                            _ => item.school_code.as_str(),
                        };
                        let level = format!("{}（待上报附件3）", step.name);
                        for b in by_unit.get(&(role, unit)).unwrap_or(&nobody) {
                            add(b, item, &level);
                        }
                    }
                    Some(
                        State::Recording | State::Confirming | State::Reporting | State::Rechecking,
                    ) if !(urgent && item.state == "rechecking") => {
                        let route = routes.of(item.route.as_deref());
                        let district = item.district_code.as_deref();
                        let (roles, unit, level) = if item.state == "rechecking" {
                            (vec![route.recheck.role], city, RECHECK_NAME.to_string())
                        } else {
                            let name = district.map(|_| item.district_name.as_str());
                            let unit = route.group.unit_of(city, district);
                            let mut level = route.group.title(name);
                            if item.state == "reporting" {
                                level.push_str("（待上报）");
                            }
                            (route.group.roles.clone(), unit, level)
                        };
                        for role in roles {
                            for b in by_unit.get(&(role, unit)).unwrap_or(&nobody) {
                                let user = b.telegram_user_id;
                                // Nobody signs to record a result or to send the batch.
                                let done =
                                    !matches!(item.state.as_str(), "recording" | "reporting")
                                        && (item.recorded_by == Some(user)
                                            || signed.contains(&(item.id, item.round, user)));
                                if !done {
                                    add(b, item, &level);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// Queues the messages of one moment; returns how many people were told.
    async fn fire(
        &self,
        conn: &mut Conn,
        season: &Season,
        moment: &Moment,
        now: DateTime<Utc>,
        base: Value,
        open: Open,
    ) -> anyhow::Result<usize> {
        let city = season.city_code.as_str();
        let admins = crate::store::people::all_holders(conn, Role::CityAdmin, city).await?;
        let mut told = 0;
        let send = |chat: i64, body: String| Outgoing {
            chat_id: chat,
            body,
            dedupe_key: Some(format!("reminder:{}:{chat}", moment.key)),
            batch: Some("reminders".into()),
            ..Outgoing::default()
        };
        let mut queue: Vec<Outgoing> = Vec::new();
        match &moment.kind {
            Kind::PublishSoon(hours) => {
                let mut data = base.clone();
                data["hours"] = json!(hours);
                let body = self.render.render(tpl::REMINDER_PUBLISH, &data)?;
                queue.extend(admins.iter().map(|a| send(a.chat_id, body.clone())));
            }
            Kind::PublishLate => {
                let body = self.render.render(tpl::REMINDER_PUBLISH_LATE, &base)?;
                queue.extend(admins.iter().map(|a| send(a.chat_id, body.clone())));
            }
            Kind::Digest | Kind::Urgent(_) | Kind::ExemptDigest | Kind::ExemptUrgent(_) => {
                let urgent = matches!(moment.kind, Kind::Urgent(_) | Kind::ExemptUrgent(_));
                let template = match moment.kind {
                    Kind::Urgent(_) => tpl::REMINDER_URGENT,
                    Kind::Digest => tpl::REMINDER_DIGEST,
                    Kind::ExemptUrgent(_) => tpl::REMINDER_EXEMPT_URGENT,
                    _ => tpl::REMINDER_EXEMPT_DIGEST,
                };
                for (_, waiting) in self.waiting_people(conn, city, open, urgent).await? {
                    let chat = waiting.chat;
                    let mut data = base.clone();
                    data["count"] = json!(waiting.count);
                    data["more"] = json!(waiting.count - waiting.items.len());
                    data["items"] = json!(waiting.items);
                    data["left"] = json!(left(now, moment.deadline));
                    if let Kind::Urgent(h) | Kind::ExemptUrgent(h) = moment.kind {
                        data["hours"] = json!(h);
                    }
                    queue.push(send(chat, self.render.render(template, &data)?));
                }
            }
            Kind::FilingClosed => {
                // Whoever was in the middle of filing hears that it closed. An amendment goes
                // on: a return has its own time (`review.amend_hours`), checked at submit.
                for (_, chat) in self.end_dialogues(conn, city, &[Dialogue::File]).await? {
                    queue.push(send(
                        chat,
                        self.render.render(tpl::REMINDER_FILING_CLOSED, &base)?,
                    ));
                }
            }
            Kind::ExemptClosed => {
                let mut data = base.clone();
                data.as_object_mut().expect("object").extend(
                    self.board_counts(conn, city, open)
                        .await?
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
                let body = self.render.render(tpl::REMINDER_EXEMPT_CLOSED, &data)?;
                queue.extend(admins.iter().map(|a| send(a.chat_id, body.clone())));
                for (_, chat) in self.end_dialogues(conn, city, &[Dialogue::Exempt]).await? {
                    let body = self
                        .render
                        .render(tpl::REMINDER_EXEMPT_FILING_CLOSED, &base)?;
                    queue.push(send(chat, body));
                }
                told += self
                    .send_exemption_summaries(conn, season, &moment.key, now)
                    .await?;
            }
            Kind::AdminDaily | Kind::ReviewClosed => {
                let mut data = base.clone();
                data.as_object_mut().expect("object").extend(
                    self.board_counts(conn, city, open)
                        .await?
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
                let template = if moment.kind == Kind::AdminDaily {
                    tpl::REMINDER_ADMIN_DAILY
                } else {
                    let lapsed =
                        reviews::count_in(conn, Purpose::Review.kind(), season.id, State::Lapsed)
                            .await?;
                    data["lapsed"] = json!(lapsed);
                    tpl::REMINDER_REVIEW_CLOSED
                };
                let body = self.render.render(template, &data)?;
                queue.extend(admins.iter().map(|a| send(a.chat_id, body.clone())));
                if moment.kind == Kind::ReviewClosed {
                    // The window has ended: whoever was still filing or amending hears so.
                    let filing = [Dialogue::File, Dialogue::Amend];
                    for (_, chat) in self.end_dialogues(conn, city, &filing).await? {
                        queue.push(send(
                            chat,
                            self.render.render(tpl::REMINDER_FILING_CLOSED, &base)?,
                        ));
                    }
                }
            }
        }
        for msg in &queue {
            if outbox::enqueue(conn, msg, now).await? {
                told += 1;
            }
        }
        Ok(told)
    }

    /// Open requests by level and by district, for the admins' digest and the deadline list.
    async fn board_counts(&self, conn: &mut Conn, city: &str, open: Open) -> anyhow::Result<Value> {
        let mut routes = Routes::new(self.configured_route(city, open.purpose));
        let mut by_level: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_district: BTreeMap<String, usize> = BTreeMap::new();
        let mut list = Vec::new();
        let (mut total, mut at_risk) = (0, 0);
        let last = self.last_id(conn, open).await?;
        let mut after = 0;
        while after < last {
            let page = self.open_page(conn, open, after).await?;
            after += PAGE;
            total += page.len();
            at_risk += page.iter().filter(|i| i.state == "pending").count();
            for i in &page {
                let level = match State::parse(&i.state) {
                    Some(State::Pending) => routes
                        .of(i.route.as_deref())
                        .steps
                        .get(i.step as usize)
                        .map_or(String::new(), |s| s.name.clone()),
                    Some(State::Rechecking) => RECHECK_NAME.to_string(),
                    Some(State::Reporting) => "待上报".to_string(),
                    _ => {
                        let district = i.district_code.as_ref().map(|_| i.district_name.as_str());
                        routes.of(i.route.as_deref()).group.title(district)
                    }
                };
                *by_level.entry(level.clone()).or_default() += 1;
                *by_district.entry(i.district_name.clone()).or_default() += 1;
                if list.len() < 50 {
                    list.push(
                    json!({"id": i.id, "name": i.name, "school": i.school_name, "level": level}),
                );
                }
            }
        }
        Ok(json!({
            "open": total,
            "at_risk": at_risk,
            "by_level": by_level.into_iter().map(|(k, v)| json!({"level": k, "count": v})).collect::<Vec<_>>(),
            "by_district": by_district.into_iter().map(|(k, v)| json!({"district": k, "count": v})).collect::<Vec<_>>(),
            "items": list,
            "more": total.saturating_sub(50),
        }))
    }
}

fn left(now: DateTime<Utc>, deadline: DateTime<Utc>) -> String {
    let minutes = (deadline - now).num_minutes().max(0);
    let (h, m) = (minutes / 60, minutes % 60);
    if h >= 24 {
        format!("{}天{}小时", h / 24, h % 24)
    } else {
        format!("{h}小时{m}分钟")
    }
}

/// Everyone bound in the city, every role.
async fn active_bindings(conn: &mut Conn, city: &str) -> anyhow::Result<Vec<Binding>> {
    let mut out = Vec::new();
    for role in Role::ALL {
        out.extend(crate::store::people::all_holders(conn, role, city).await?);
    }
    Ok(out)
}

async fn signatures(conn: &mut Conn) -> anyhow::Result<HashSet<(i64, i64, i64)>> {
    let rows = crate::store::reviews::pending_signatures(conn).await?;
    Ok(rows.into_iter().collect())
}
