//! A batch's day after its seal (`seal`): the county's 上报, the cutoff that makes an
//! unreported batch 缺考, the reminders before it, and the city accepting late a 缺考 batch
//! that was sealed in time.

use super::{App, Area};
use crate::app::Actor;
use crate::app::callback::Press;
use crate::app::policy::{self, Action};
use crate::config::LateReport;
use crate::domain::deadline::display;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::entry::{self as batches, Batch};
use crate::store::{audit, from_ms, people, seasons};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The longest written reason for lifting a 缺考.
const MAX_REASON: usize = 500;

impl App {
    pub(super) fn batch_data(&self, area: &Area, b: &Batch, tz: chrono_tz::Tz) -> Value {
        json!({
            "batch": b.id,
            "county": area.name(&b.county_code),
            "half_day": b.half_day_label(),
            "candidates": b.candidates,
            "cutoff": display(b.cutoff(), tz),
        })
    }

    pub(super) async fn lock_batch(&self, conn: &mut Conn, id: i64) -> anyhow::Result<()> {
        Ok(batches::lock(conn, id).await?)
    }

    /// The batch, if it is the current season's and that season is not published: a card of
    /// another season, or one pressed after publication, is stale.
    pub(super) async fn unpublished_batch(
        &self,
        conn: &mut Conn,
        id: i64,
    ) -> anyhow::Result<Option<(seasons::Season, Batch)>> {
        let Some(batch) = batches::get(conn, id).await? else {
            return Ok(None);
        };
        let Some(season) = seasons::current_by_id(conn, batch.season_id).await? else {
            return Ok(None);
        };
        Ok(
            (batch.season_id == season.id && season.published_at.is_none())
                .then_some((season, batch)),
        )
    }

    /// 上报 on a report card: the county's officer sends the county's sealed batches of that
    /// day to the city, each before its cutoff.
    pub async fn report_batches(&self, user: i64, chat: i64, id: i64) -> anyhow::Result<Press> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let Some((season, batch)) = self.unpublished_batch(&mut tx, id).await? else {
            return Ok(Press::Stale);
        };
        let area = Area::load(&mut tx, &season.city_code).await?;
        let bound = people::of_user(&mut tx, user).await?;
        let subject = area.subject(&batch.county_code, &[]);
        let route = self.route(&season.city_code);
        if let Err(d) = policy::check(&route, user, &bound, Action::ReportBatch, &subject) {
            return Ok(Press::Denied(d));
        }
        let day: Vec<Batch> = batches::all(&mut tx, season.id)
            .await?
            .into_iter()
            .filter(|b| b.county_code == batch.county_code && b.exam_date == batch.exam_date)
            .collect();
        let mut reported = Vec::new();
        let mut waiting = Vec::new();
        let mut late = Vec::new();
        for b in &day {
            if b.reported_at.is_some() {
                continue;
            }
            let in_time = now < b.cutoff();
            if b.sealed_at.is_none() || b.is_absent() {
                waiting.push(self.batch_data(&area, b, season.tz));
            } else if !in_time {
                late.push(self.batch_data(&area, b, season.tz));
            } else {
                self.lock_batch(&mut tx, b.id).await?;
                if batches::report(&mut tx, b.id, user, now).await? {
                    reported.push(self.batch_data(&area, b, season.tz));
                }
            }
        }
        let data = json!({
            "county": area.name(&batch.county_code),
            "date": batch.exam_date,
            "reported": reported,
            "waiting": waiting,
            "late": late,
            "by": bound.first().map(|b| b.name.clone()),
            "at": display(now, season.tz),
        });
        if reported.is_empty() {
            self.tell(&mut tx, chat, tpl::ENTRY_REPORT_NOTHING, &data)
                .await?;
        } else {
            let ids: Vec<String> = reported
                .iter()
                .map(|b| format!("#{}", b["batch"]))
                .collect();
            audit(
                &mut tx,
                now,
                &Actor::Person(user).label(),
                "entry-report",
                &format!(
                    "{} {}: batches {} reported to the city",
                    batch.county_code,
                    batch.exam_date,
                    ids.join(", ")
                ),
            )
            .await?;
            let mut told = self
                .county_people(&mut tx, &area, &batch.county_code)
                .await?;
            told.extend(self.city_admin_chats(&mut tx, &area).await?);
            told.push(chat);
            told.sort_unstable();
            told.dedup();
            for c in told {
                self.tell(&mut tx, c, tpl::ENTRY_REPORTED, &data).await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }

    /// `/lift N 理由`: a city admin accepts 缺考 batch N late with a written reason, when its
    /// entries agreed and its seal came before the cutoff (`entry.late_report`).
    pub async fn lift_command(&self, user: i64, chat: i64, args: &str) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let (id, reason) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        let id = id.trim_start_matches('#').parse::<i64>().ok();
        let reason = reason.trim();
        let bound = people::of_user(&mut tx, user).await?;
        let city = self.city_of_user(&mut tx, user).await?;
        let area = Area::load(&mut tx, &city).await?;
        let subject = area.subject(&area.city, &[]);
        let route = self.route(&city);
        if let Err(d) = policy::check(&route, user, &bound, Action::LiftAbsence, &subject) {
            self.tell(&mut tx, chat, d.template(), &json!({})).await?;
            return self.commit_told(tx).await;
        }
        // A batch number and a reason of 1 to MAX_REASON characters, or the usage.
        let reason_ok = (1..=MAX_REASON).contains(&reason.chars().count());
        let (Some(id), true) = (id, reason_ok) else {
            self.tell(
                &mut tx,
                chat,
                tpl::ENTRY_LIFT_USAGE,
                &json!({"max": MAX_REASON}),
            )
            .await?;
            return self.commit_told(tx).await;
        };
        // The batch's row lock first: a publication holding the batches' locks is seen whole.
        self.lock_batch(&mut tx, id).await?;
        let batch = batches::get(&mut tx, id).await?;
        // Another city's batch is no batch of this admin's: it is not found.
        let season = match &batch {
            Some(b) => seasons::current_by_id(&mut tx, b.season_id)
                .await?
                .filter(|s| s.city_code == area.city),
            None => None,
        };
        if season.as_ref().is_some_and(|s| s.published_at.is_some()) {
            self.tell(&mut tx, chat, tpl::ENTRY_PUBLISHED, &json!({}))
                .await?;
            return self.commit_told(tx).await;
        }
        let found = match (season, batch) {
            (Some(s), Some(b)) if b.season_id == s.id && b.is_absent() => Some((s, b)),
            _ => None,
        };
        let Some((season, batch)) = found else {
            self.tell(&mut tx, chat, tpl::ENTRY_NOT_ABSENT, &json!({"batch": id}))
                .await?;
            return self.commit_told(tx).await;
        };
        // 附件7 四: 逾期不报的视为缺考. Only data that was in the bot, agreed and sealed, before
        // the cutoff may be taken late, and only where the city's configuration allows it.
        let mut data = self.batch_data(&area, &batch, season.tz);
        if self.config.entry.late_report == LateReport::Never {
            self.tell(&mut tx, chat, tpl::ENTRY_LIFT_NEVER, &data)
                .await?;
            return self.commit_told(tx).await;
        }
        if !batch.sealed_in_time() {
            self.tell(&mut tx, chat, tpl::ENTRY_LIFT_NOT_SEALED, &data)
                .await?;
            return self.commit_told(tx).await;
        }
        if batches::accept_late(&mut tx, id, user, reason, now).await? {
            audit(
                &mut tx,
                now,
                &Actor::Person(user).label(),
                "entry-lift",
                &format!(
                    "batch #{id} ({} {}): sealed before the cutoff, accepted late: {reason}",
                    batch.county_code,
                    batch.half_day_label()
                ),
            )
            .await?;
            data["sealed"] = json!(batch.sealed_at.map(|t| display(from_ms(t), season.tz)));
            data["reason"] = json!(reason);
            data["by"] = json!(bound.first().map(|b| b.name.clone()));
            let mut told = self
                .county_people(&mut tx, &area, &batch.county_code)
                .await?;
            told.extend(self.city_admin_chats(&mut tx, &area).await?);
            told.sort_unstable();
            told.dedup();
            for c in told {
                self.tell(&mut tx, c, tpl::ENTRY_LIFTED, &data).await?;
            }
        }
        self.commit_told(tx).await
    }

    pub(crate) async fn commit_told(&self, tx: crate::store::WriteTx) -> anyhow::Result<()> {
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// The sweep's part: reminders before each cutoff, and at the cutoff every batch not
    /// reported marked 缺考 (once: the guarded update decides), the county and the city told.
    /// Returns how many batches were marked, and how many reminders went out.
    pub(crate) async fn entry_sweep(
        &self,
        conn: &mut Conn,
        season: &seasons::Season,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(usize, usize)> {
        if season.published_at.is_some() {
            return Ok((0, 0));
        }
        let all = batches::all(conn, season.id).await?;
        if all.is_empty() {
            return Ok((0, 0));
        }
        let area = Area::load(conn, &season.city_code).await?;
        let mut marked = 0;
        for b in batches::overdue(conn, season.id, now).await? {
            self.lock_batch(conn, b.id).await?;
            if !batches::mark_absent(conn, b.id, now).await? {
                continue;
            }
            marked += 1;
            audit(
                conn,
                now,
                "bot",
                "entry-absent",
                &format!(
                    "batch #{} ({} {}): not reported by {}; {} candidates 缺考",
                    b.id,
                    b.county_code,
                    b.half_day_label(),
                    display(b.cutoff(), season.tz),
                    b.candidates
                ),
            )
            .await?;
            let data = self.batch_data(&area, &b, season.tz);
            let mut told = self.county_people(conn, &area, &b.county_code).await?;
            told.extend(self.city_admin_chats(conn, &area).await?);
            told.sort_unstable();
            told.dedup();
            for c in told {
                self.tell(conn, c, tpl::ENTRY_ABSENT, &data).await?;
            }
        }
        let reminded = self.entry_reminders(conn, season, &area, &all, now).await?;
        Ok((marked, reminded))
    }

    /// Before the cutoff: each county with batches not yet reported is reminded (clerks,
    /// inspector, officer), and the city admins get the day's list of what is missing. The
    /// latest reminder due is sent, once (its key claimed in `reminders_sent`).
    async fn entry_reminders(
        &self,
        conn: &mut Conn,
        season: &seasons::Season,
        area: &Area,
        all: &[Batch],
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let mut sent = 0;
        let mut hours = self.config.entry.remind_before_hours.clone();
        hours.sort_unstable_by(|a, b| b.cmp(a));
        // (county, date, hours) → batches not reported, and (date, hours) for the city.
        let mut county_due: BTreeMap<(String, String, u32), Vec<Value>> = BTreeMap::new();
        let mut city_due: BTreeMap<(String, u32), Vec<Value>> = BTreeMap::new();
        for b in all {
            if b.reported_at.is_some() || b.absent_at.is_some() || now >= b.cutoff() {
                continue;
            }
            let Some(h) = hours
                .iter()
                .copied()
                .filter(|h| b.cutoff() - Duration::hours(i64::from(*h)) <= now)
                .min()
            else {
                continue;
            };
            let mut data = self.batch_data(area, b, season.tz);
            data["stage"] = json!(b.stage());
            county_due
                .entry((b.county_code.clone(), b.exam_date.clone(), h))
                .or_default()
                .push(data.clone());
            city_due
                .entry((b.exam_date.clone(), h))
                .or_default()
                .push(data);
        }
        for ((county, date, h), list) in county_due {
            let key = format!("entry:{}:{county}:{date}:{h}h", season.id);
            if !self.claim(conn, &key, now).await? {
                continue;
            }
            let data = json!({"county": area.name(&county), "date": date, "hours": h,
                              "batches": list, "cutoff": list[0]["cutoff"]});
            for c in self.county_people(conn, area, &county).await? {
                self.tell(conn, c, tpl::ENTRY_REMINDER, &data).await?;
                sent += 1;
            }
        }
        for ((date, h), list) in city_due {
            let key = format!("entry-city:{}:{date}:{h}h", season.id);
            if !self.claim(conn, &key, now).await? {
                continue;
            }
            let data = json!({"date": date, "hours": h, "batches": list,
                              "cutoff": list[0]["cutoff"]});
            for c in self.city_admin_chats(conn, area).await? {
                self.tell(conn, c, tpl::ENTRY_MISSING_CITY, &data).await?;
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Claims a reminder's key; true for the one sweep that inserted it.
    async fn claim(&self, conn: &mut Conn, key: &str, now: DateTime<Utc>) -> anyhow::Result<bool> {
        Ok(crate::store::reminders::claim(conn, key, now, now).await?)
    }
}
