//! The review's window (附件4 二(一): 成绩公布3日内进行复核; 附件6 注2: 逾期不予受理). Filing
//! closes `review.filing_closes_hours` before the window ends; a level below the group returns
//! a request only while filing is open; at the window's end nothing below the city moves, a
//! late 上报 is refused, and every request whose result has not reached the city is 逾期未报.

use super::batch::batch_of;
use super::{App, Ctx};
use crate::app::Actor;
use crate::app::callback::Press;
use crate::app::policy::Denied;
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::domain::review::{ReviewWindow, State};
use crate::domain::workflow::Purpose;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::people;
use crate::store::reviews::{self, NewEvent};
use crate::store::seasons::Season;
use crate::store::{audit, from_ms, units};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Requests a unit's 逾期未报 notice lists by name (/status counts them all).
const LAPSED_LISTED: usize = 30;

impl App {
    /// The season's review window in its city, once published.
    pub(crate) fn review_window(&self, season: &Season) -> Option<ReviewWindow> {
        let hours = self.config.review_of(&season.city_code).filing_closes_hours;
        season.review_deadline.map(|d| ReviewWindow::new(d, hours))
    }

    /// Whether the city's 复审 may send a result back to the group: only while the window is
    /// open, so that the group can record and sign again in time.
    pub(crate) fn may_send_back(&self, ctx: &Ctx) -> Result<(), Denied> {
        let over = self
            .review_window(&ctx.season)
            .is_some_and(|w| !w.open(self.clock.now()));
        if over && ctx.purpose().in_the_review_window() {
            Err(Denied::ReviewOver)
        } else {
            Ok(())
        }
    }

    /// Whether this request may be returned at its level now: only while filing is open.
    pub(crate) fn may_return(&self, ctx: &Ctx) -> Result<(), Denied> {
        let closed = self
            .review_window(&ctx.season)
            .is_some_and(|w| !w.may_return(self.clock.now()));
        if closed && ctx.purpose().in_the_review_window() {
            Err(Denied::ReturnsClosed)
        } else {
            Ok(())
        }
    }

    /// A returned request may be amended until filing closes, or `review.amend_hours` after
    /// its return when that is later, never past the review window's end; Err says until when.
    pub(crate) fn amend_open(&self, ctx: &Ctx) -> Result<(), Value> {
        let Some(window) = self.review_window(&ctx.season) else {
            return Ok(());
        };
        let hours = self.config.review_of(&ctx.city).amend_hours;
        let until = window.amend_until(from_ms(ctx.req.updated_at), hours);
        if self.clock.now() < until {
            Ok(())
        } else {
            Err(json!({"id": ctx.req.id, "until": display(until, ctx.season.tz)}))
        }
    }

    /// A 上报 pressed after the window's end: refused (逾期不予受理), the reporter and the city
    /// admins told, audited. The unit's requests are 逾期未报.
    pub(crate) async fn refuse_late_report(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        season: &Season,
        unit: &str,
    ) -> anyhow::Result<Press> {
        let now = self.clock.now();
        let unit_name = units::get(conn, unit)
            .await?
            .map_or(unit.into(), |u| u.name);
        let deadline = season.review_deadline.map(|d| display(d, season.tz));
        let data = json!({"unit": unit_name, "deadline": deadline, "at": display(now, season.tz)});
        audit(
            conn,
            now,
            &Actor::Person(user_id).label(),
            "review-report-late",
            &format!("{unit}: 上报 after the window's end refused"),
        )
        .await?;
        self.tell(conn, chat_id, tpl::REVIEW_REPORT_LATE, &data)
            .await?;
        for admin in people::all_holders(conn, Role::CityAdmin, &season.city_code).await? {
            if admin.chat_id != chat_id {
                self.tell(conn, admin.chat_id, tpl::REVIEW_REPORT_LATE_CITY, &data)
                    .await?;
            }
        }
        Ok(Press::Denied(Denied::ReviewOver))
    }

    /// Ends a request by the clock (a 免考 application when the exam begins, a review at the
    /// window's end): the guarded transition, the system's event, its cards closed. False when
    /// someone moved it first.
    pub(crate) async fn lapse(
        &self,
        tx: &mut Conn,
        ctx: &Ctx,
        to: State,
        detail: &str,
    ) -> anyhow::Result<bool> {
        let now = self.clock.now();
        let stage = super::stage_key(&ctx.req);
        let (step, round) = (ctx.req.step, ctx.req.round);
        if !reviews::transition(tx, &ctx.req, to, step, round, now).await? {
            return Ok(false);
        }
        let event = NewEvent {
            request_id: ctx.req.id,
            user_id: 0,
            actor_name: "系统",
            actor_role: "system",
            step: None,
            round,
            action: "lapse",
            comment: "",
        };
        self.note_event(tx, &event, detail).await?;
        let level = self.level_name(ctx);
        let outcome = json!({"action": "lapse", "actor": "", "level": level, "reason": ""});
        if let Some(now_ctx) = self.load_ctx(tx, ctx.req.id).await? {
            self.close_cards(tx, &now_ctx, stage, &outcome).await?;
        }
        Ok(true)
    }

    /// The sweep's part: once the window has ended, every review request whose result has not
    /// reached the city (anything open but the city's 复审) is 逾期未报. The filer is told, and
    /// each unit's group and the city admins get the unit's list. Returns how many lapsed.
    pub(crate) async fn lapse_late_requests(
        &self,
        tx: &mut Conn,
        season: &Season,
    ) -> anyhow::Result<usize> {
        let now = self.clock.now();
        if self.review_window(season).is_none_or(|w| w.open(now)) {
            return Ok(0);
        }
        let open = reviews::open_ids(tx, Purpose::Review.kind(), season.id).await?;
        // unit name → (group chats, the unit's lapsed requests)
        let mut by_unit: BTreeMap<String, (Vec<i64>, Vec<serde_json::Value>)> = BTreeMap::new();
        let mut lapsed = 0;
        for id in open {
            let Some(ctx) = self.lock_ctx(tx, id).await? else {
                continue;
            };
            if ctx.state() == State::Rechecking {
                continue;
            }
            let level = self.level_name(&ctx);
            let detail =
                format!("request {id} lapsed at {level}: not reported by the window's end");
            if !self.lapse(tx, &ctx, State::Lapsed, &detail).await? {
                continue;
            }
            let item = json!({"id": id, "name": ctx.cand.name, "school": ctx.school.name,
                              "level": level});
            self.tell_applicants(tx, &ctx, tpl::REVIEW_LAPSED, &item, None)
                .await?;
            let (_, unit_name) = batch_of(&ctx);
            let entry = by_unit.entry(unit_name.to_string()).or_default();
            if entry.0.is_empty() {
                entry.0 = self
                    .group_members(tx, &ctx)
                    .await?
                    .into_iter()
                    .map(|b| b.chat_id)
                    .collect();
            }
            entry.1.push(item);
            lapsed += 1;
        }
        let admins = people::all_holders(tx, Role::CityAdmin, &season.city_code).await?;
        let deadline = season.review_deadline.map(|d| display(d, season.tz));
        for (unit, (group, items)) in by_unit {
            // A long list is cut: the message stays within Telegram's 4,096 characters.
            let count = items.len();
            let listed: Vec<_> = items.into_iter().take(LAPSED_LISTED).collect();
            let data = json!({"unit": unit, "deadline": deadline, "count": count,
                              "items": listed, "more": count.saturating_sub(LAPSED_LISTED)});
            let mut chats = group;
            chats.extend(admins.iter().map(|a| a.chat_id));
            chats.sort_unstable();
            chats.dedup();
            for chat in chats {
                self.tell(tx, chat, tpl::REVIEW_LAPSED_UNIT, &data).await?;
            }
        }
        Ok(lapsed)
    }
}
