//! 上报: a unit (a district, or a city-direct school) sends what waits for it to the city in one
//! tap, with its 汇总表 — a review batch's signed results with 附件6 (附件6 注2), or the 免考
//! applications its county agreed with 附件3. Both are this one use case: asked of the unit
//! before anything of it is read, every waiting request locked, the count the card showed
//! checked, each request noted, the form to the sender and the city, the unit's cards closed.
//! What differs is the purpose's: the form, who in the city receives it, and where the requests
//! go next.

use super::decide::refusal;
use super::{App, Ctx, batch_of, summary_line};
use crate::app::callback::Press;
use crate::app::policy::{self, Action, Denied, Subject};
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::domain::workflow::Purpose;
use crate::domain::{Role, UnitKind};
use crate::export::{exemption_summary, review_summary};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::batches;
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use crate::store::reviews::{self, NewEvent};
use crate::store::seasons::Season;
use crate::store::{audit, seasons, units};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Requests the sender's message lists by name; the rest are counted (the form lists all).
const LISTED: usize = 30;

/// The key a unit's 上报 card is kept under (`batch_cards`): a person may hold both a review
/// batch's and the 免考 list's of one unit.
pub(crate) fn report_card_key(purpose: Purpose, unit: &str) -> String {
    match purpose {
        Purpose::Review => unit.to_string(),
        Purpose::Exemption => format!("x:{unit}"),
    }
}

impl App {
    /// The 上报 card's button: every request of `purpose` that waits for the unit goes to the
    /// city, in one transaction, with the unit's form to the city and to the sender. A card that
    /// showed another count is old: it is brought up to date and nothing is sent.
    pub async fn send_up(
        &self,
        user_id: i64,
        chat_id: i64,
        purpose: Purpose,
        unit: &str,
        shown: usize,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        let city = units::city_of(&mut tx, unit).await?;
        let Some(season) = seasons::current(&mut tx, &city).await? else {
            return Ok(Press::Refused);
        };
        // Asked of the unit itself before anything of it is read or locked: a stranger's
        // crafted press learns nothing of what waits.
        let bound = people::of_user(&mut tx, user_id).await?;
        if let Err(d) = self
            .may_send_up(&mut tx, user_id, &bound, purpose, unit)
            .await?
        {
            return Ok(refusal(d));
        }
        // 附件6 注2: a summary reaching the city after the window's end is not accepted.
        if purpose.in_the_review_window()
            && self
                .review_window(&season)
                .is_some_and(|w| !w.open(self.clock.now()))
        {
            let press = self
                .refuse_late_report(&mut tx, user_id, chat_id, &season, unit)
                .await?;
            self.commit_told(tx).await?;
            return Ok(press);
        }
        let (waiting, now_waiting) = self
            .lock_reporting(&mut tx, purpose, season.id, unit)
            .await?;
        let Some(first) = waiting.first() else {
            return Ok(Press::Stale);
        };
        if purpose.in_the_review_window() && self.refuse_if_sealed(&mut tx, chat_id, first).await? {
            self.commit_told(tx).await?;
            return Ok(Press::Stale);
        }
        // Each request as its own route has it (a route changed mid-season may differ).
        let mut me = None;
        for ctx in &waiting {
            match self.allowed(user_id, &bound, Action::Report, ctx) {
                Ok(b) => me = Some(b),
                Err(d) => return Ok(refusal(d)),
            }
        }
        let me = me.expect("one or more wait");
        if purpose.lapses_when_the_exam_begins() && self.exam_begun(&season) {
            return Ok(Press::Denied(Denied::NoRole));
        }
        let locked: Vec<i64> = waiting.iter().map(|c| c.req.id).collect();
        if waiting.len() != shown || locked != now_waiting {
            self.refresh_report_card(&mut tx, first, Some(user_id), false)
                .await?;
            self.commit_told(tx).await?;
            return Ok(Press::Stale);
        }
        let now = self.clock.now();
        for ctx in &waiting {
            let event = NewEvent {
                request_id: ctx.req.id,
                user_id,
                actor_name: &me.name,
                actor_role: me.role.slug(),
                step: None,
                round: ctx.req.round,
                action: "report",
                comment: "",
            };
            let detail = format!("{} {} sent up by {unit}", purpose.kind(), ctx.req.id);
            self.note_event(&mut tx, &event, &detail).await?;
        }
        let record = self.sent_up_form(&mut tx, &waiting, &season, now).await?;
        let listed: Vec<Value> = waiting
            .iter()
            .take(LISTED)
            .map(|c| json!({"id": c.req.id, "name": c.cand.name, "school": c.school.name}))
            .collect();
        let data = json!({"unit": batch_of(first).1, "count": waiting.len(), "actor": me.name,
                          "at": display(now, season.tz), "recheck": first.route.recheck.enabled,
                          "items": listed, "more": waiting.len().saturating_sub(LISTED)});
        let (sent, closed) = match purpose {
            Purpose::Review => (tpl::REVIEW_BATCH_SENT, tpl::REVIEW_BATCH_REPORTED),
            Purpose::Exemption => (tpl::EXEMPT_REPORTED, tpl::EXEMPT_REPORT_SENT),
        };
        // Where the requests go next, and who in the city gets the form first.
        match purpose {
            Purpose::Review => {
                let mut city_people = Vec::new();
                if first.route.recheck.enabled {
                    let role = first.route.recheck.role;
                    city_people.extend(people::holders(&mut tx, role, &first.city).await?);
                }
                city_people
                    .extend(people::all_holders(&mut tx, Role::CityAdmin, &first.city).await?);
                let chats: Vec<i64> = city_people.iter().map(|p| p.chat_id).collect();
                self.send_up_record(&mut tx, chat_id, &chats, sent, &data, &record)
                    .await?;
                // Each goes on as it would have alone: to the 复审 (its card after the form
                // it is listed in), or done.
                for ctx in &waiting {
                    self.pass_to_city(&mut tx, ctx).await?;
                }
            }
            Purpose::Exemption => {
                let Some((moved, deciders)) = self.to_the_citys_level(&mut tx, &waiting).await?
                else {
                    return Ok(Press::Stale);
                };
                let chats: Vec<i64> = deciders.iter().map(|d| d.chat_id).collect();
                self.send_up_record(&mut tx, chat_id, &chats, sent, &data, &record)
                    .await?;
                // Each one's card after the list it is in.
                for ctx in &moved {
                    self.announce_stage(&mut tx, ctx).await?;
                }
                let detail = format!("附件3 of {unit}: {} applications sent up", waiting.len());
                let actor = crate::app::Actor::Person(user_id).label();
                audit(&mut tx, now, &actor, "exemption-report", &detail).await?;
            }
        }
        let closed = self.render.render(closed, &data)?;
        let key = report_card_key(purpose, unit);
        for outbox_id in batches::take_cards(&mut tx, &key).await? {
            outbox::edit(&mut tx, outbox_id, &closed, now).await?;
        }
        self.commit_told(tx).await?;
        Ok(Press::Accepted)
    }

    /// Each waiting application moves on to the city's level: the applications as they stand
    /// now, and their deciders there, once each. None when one moved meanwhile.
    async fn to_the_citys_level(
        &self,
        conn: &mut Conn,
        waiting: &[Ctx],
    ) -> anyhow::Result<Option<(Vec<Ctx>, Vec<Binding>)>> {
        let now = self.clock.now();
        let mut applications = Vec::new();
        let mut deciders: Vec<Binding> = Vec::new();
        for ctx in waiting {
            let req = &ctx.req;
            let moved =
                reviews::transition(conn, req, State::Pending, req.step, req.round, now).await?;
            if !moved {
                return Ok(None);
            }
            let now_ctx = self.load_ctx(conn, req.id).await?.expect("request exists");
            for b in self
                .step_holders(conn, &now_ctx, now_ctx.req.step as usize)
                .await?
            {
                if !deciders.iter().any(|d| d.chat_id == b.chat_id) {
                    deciders.push(b);
                }
            }
            applications.push(now_ctx);
        }
        Ok(Some((applications, deciders)))
    }

    /// The unit's form as it goes up (附件6 with the results, 附件3 with the county's opinion
    /// on each line): its file name and bytes.
    async fn sent_up_form(
        &self,
        conn: &mut Conn,
        waiting: &[Ctx],
        season: &Season,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, Vec<u8>)> {
        let first = &waiting[0];
        let unit_name = batch_of(first).1.to_string();
        let city_name = units::get(conn, &first.city)
            .await?
            .map_or(String::new(), |c| c.name);
        let at = now.with_timezone(&season.tz).format("%Y%m%d%H%M");
        Ok(match first.purpose() {
            Purpose::Review => {
                let lines = waiting.iter().map(summary_line).collect();
                let table =
                    review_summary::Table::of_unit(season.year, &city_name, &unit_name, lines);
                let name = format!("{}_{at}.xlsx", table.file_stem());
                (name, review_summary::xlsx(&table)?)
            }
            Purpose::Exemption => {
                let lines = self.exemption_lines(conn, waiting).await?;
                let table =
                    exemption_summary::Table::of_unit(season.year, &city_name, &unit_name, lines);
                let name = format!("{}_上报_{at}.xlsx", table.file_stem());
                (name, exemption_summary::xlsx(&table)?)
            }
        })
    }

    /// Brings the unit's 上报 card up to date for its senders (`only` this person when given).
    pub(crate) async fn refresh_report_card(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        only: Option<i64>,
        fresh: bool,
    ) -> anyhow::Result<()> {
        match ctx.purpose() {
            Purpose::Review => self.refresh_batch(conn, ctx, only, fresh).await,
            Purpose::Exemption => self.refresh_exemption_report(conn, ctx, only, fresh).await,
        }
    }

    /// The record a 上报 carries, to whoever sent it, as the answer to their press, and to each
    /// of the city's chats it goes to, once; `reporter` in the template's data tells which.
    async fn send_up_record(
        &self,
        conn: &mut Conn,
        reporter_chat: i64,
        city_chats: &[i64],
        template: &str,
        data: &Value,
        (name, bytes): &(String, Vec<u8>),
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut chats = vec![(reporter_chat, true)];
        for c in city_chats {
            if !chats.iter().any(|(seen, _)| seen == c) {
                chats.push((*c, false));
            }
        }
        for (chat, reporter) in chats {
            let mut data = data.clone();
            data["reporter"] = json!(reporter);
            let msg = Outgoing {
                chat_id: chat,
                body: self.render.render(template, &data)?,
                document: Some((name.clone(), bytes.clone())),
                is_reply: reporter,
                ..Outgoing::default()
            };
            outbox::enqueue(conn, &msg, now).await?;
        }
        Ok(())
    }

    /// The unit's requests of `purpose` waiting for its 上报, each locked (in id order: another
    /// 上报 of the same unit waits here and then finds them gone on), then the unit itself, and
    /// the ids that wait once it is locked: one joined meanwhile makes the two differ.
    pub(crate) async fn lock_reporting(
        &self,
        conn: &mut Conn,
        purpose: Purpose,
        season: i64,
        unit: &str,
    ) -> anyhow::Result<(Vec<Ctx>, Vec<i64>)> {
        let mut locked = Vec::new();
        for id in batches::reporting(conn, purpose.kind(), season, unit).await? {
            if let Some(ctx) = self.lock_ctx(conn, id).await?
                && ctx.state() == State::Reporting
            {
                locked.push(ctx);
            }
        }
        batches::lock(conn, unit).await?;
        let now_waiting = batches::reporting(conn, purpose.kind(), season, unit).await?;
        Ok((locked, now_waiting))
    }

    /// Whether this person sends `unit`'s requests of `purpose` up: the permission model asked
    /// about the unit (a district, or a city-direct school) on the unit's route. Anything else
    /// is not a unit that reports.
    async fn may_send_up(
        &self,
        conn: &mut Conn,
        user_id: i64,
        bound: &[Binding],
        purpose: Purpose,
        unit: &str,
    ) -> anyhow::Result<Result<(), Denied>> {
        let Some(target) = units::get(conn, unit).await? else {
            return Ok(Err(Denied::NoRole));
        };
        let district = match (target.kind, target.city_direct) {
            (UnitKind::District, _) => Some(unit),
            (UnitKind::School, true) => None,
            _ => return Ok(Err(Denied::NoRole)),
        };
        let subject = Subject {
            city: &target.city_code,
            school: if district.is_some() { "" } else { unit },
            district,
            ..Subject::default()
        };
        let route = match purpose {
            Purpose::Review => self.config.review_route_of_unit(&target.city_code, unit),
            Purpose::Exemption => self.config.exemption_route_of_unit(&target.city_code, unit),
        };
        Ok(policy::check(&route, user_id, bound, Action::Report, &subject).map(|_| ()))
    }
}
