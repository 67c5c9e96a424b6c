//! 附件3 sent up: an application agreed at the level below the city's (the county's three
//! signatures) waits for its county's 上报. The county's officers hold one card listing what
//! waits; one tap sends every waiting application of the county to the city together with the
//! county's 附件3 (each line with the county's opinion and its signers), and only then does the
//! city decide. A city-direct school's applications go up from whoever holds that level for
//! it. The city's final list (the approved candidates) stays a record of its own.

use crate::app::App;
use crate::app::callback::Callback;
use crate::app::policy::{self, Action, Denied, Subject};
use crate::app::review::{Ctx, Press, UnitCard, batch_of, button, keyboard};
use crate::domain::UnitKind;
use crate::domain::deadline::display;
use crate::domain::exemption::Details;
use crate::domain::review::State;
use crate::domain::workflow::Purpose;
use crate::export::exemption_summary::{self, Line, Table};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::batches::{self, Application};
use crate::store::outbox;
use crate::store::people::{self, Binding};
use crate::store::reviews::{self, NewEvent};
use crate::store::{audit, seasons, units};
use serde_json::json;

/// Applications a card lists by name; the rest are counted (附件3 lists every one).
const CARD_LISTED: usize = 30;

/// The key an exemption card is kept under for a unit (a person may also hold the unit's
/// review batch card).
fn card_key(unit: &str) -> String {
    format!("x:{unit}")
}

impl App {
    /// Who sends the application's county list up: the holders of the level below the city's.
    async fn senders_up(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<Vec<Binding>> {
        let Some(step) = ctx.route.sent_up_by(ctx.school.city_direct) else {
            return Ok(Vec::new());
        };
        let holders = self.step_holders(conn, ctx, step).await?;
        Ok(holders
            .into_iter()
            .filter(|b| {
                let one = std::slice::from_ref(b);
                self.allowed(b.telegram_user_id, one, Action::Report, ctx)
                    .is_ok()
            })
            .collect())
    }

    /// Brings the unit's 附件3 card up to date for its senders (`only` this person when
    /// given): edited where one is held, sent where none is (or `fresh`).
    pub(crate) async fn refresh_exemption_report(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        only: Option<i64>,
        fresh: bool,
    ) -> anyhow::Result<()> {
        let (unit, unit_name) = batch_of(ctx);
        let key = card_key(unit);
        batches::lock(conn, unit).await?;
        let waiting =
            batches::waiting_applications(conn, ctx.season.id, unit, CARD_LISTED + 1).await?;
        let count = batches::reporting(conn, "exemption", ctx.season.id, unit)
            .await?
            .len();
        let listed: Vec<&Application> = waiting.iter().take(CARD_LISTED).collect();
        let data = json!({"unit": unit_name, "count": count, "items": listed,
                          "more": count.saturating_sub(listed.len())});
        let body = self.render.render(tpl::EXEMPT_REPORT_CARD, &data)?;
        let markup = (count > 0)
            .then(|| -> anyhow::Result<crate::buttons::Buttons> {
                let label = self
                    .render
                    .render(tpl::BUTTON_REPORT_EXEMPTIONS, &json!({"count": count}))?;
                let press = Callback::ReportExemptions {
                    unit: unit.to_string(),
                    count,
                };
                Ok(keyboard(vec![vec![button(label, press.encode())]]))
            })
            .transpose()?;
        let senders = self.senders_up(conn, ctx).await?;
        let card = UnitCard {
            key: &key,
            body: &body,
            buttons: markup.as_ref(),
        };
        self.post_unit_card(conn, &card, senders, only, fresh).await
    }

    /// The county's opinion on an application as 附件3's 备注 gives it: who agreed at the level
    /// it was sent up from (this round), and who dissented, with why.
    async fn county_opinion(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<String> {
        let step = ctx
            .route
            .sent_up_by(ctx.school.city_direct)
            .map(|s| s as i64);
        let level = step
            .and_then(|s| ctx.route.steps.get(s as usize))
            .map_or(String::new(), |s| s.name.clone());
        let mut agreed = Vec::new();
        let mut dissent = Vec::new();
        for e in reviews::events(conn, ctx.req.id).await? {
            if e.step != step || e.round != ctx.req.round {
                continue;
            }
            match e.action.as_str() {
                "approve" => agreed.push(e.actor_name),
                "reject" => dissent.push(format!("{}（{}）", e.actor_name, e.comment)),
                _ => {}
            }
        }
        let mut note = format!("{level}同意：{}", agreed.join("、"));
        if !dissent.is_empty() {
            note.push_str(&format!("；不同意：{}", dissent.join("、")));
        }
        Ok(note)
    }

    /// Whether this person sends `unit`'s applications up: the permission model asked about
    /// the unit (a district, or a city-direct school) on the unit's 免考 route.
    async fn may_send_up(
        &self,
        conn: &mut Conn,
        user_id: i64,
        bound: &[Binding],
        unit: &str,
    ) -> anyhow::Result<bool> {
        let Some(target) = units::get(conn, unit).await? else {
            return Ok(false);
        };
        let district = match (target.kind, target.city_direct) {
            (UnitKind::District, _) => Some(unit),
            (UnitKind::School, true) => None,
            _ => return Ok(false),
        };
        let subject = Subject {
            city: &target.city_code,
            school: if district.is_some() { "" } else { unit },
            district,
            ..Subject::default()
        };
        let route = self.config.exemption_route_of_unit(&target.city_code, unit);
        Ok(policy::check(&route, user_id, bound, Action::Report, &subject).is_ok())
    }

    /// The 附件3 card's 上报: every application of the unit that waits goes to the city, in one
    /// transaction, with the county's 附件3 to the city's deciders and to the sender. A card
    /// that showed another count is old: it is brought up to date and nothing is sent.
    pub async fn report_exemptions(
        &self,
        user_id: i64,
        chat_id: i64,
        unit: &str,
        shown: usize,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        let city = units::city_of(&mut tx, unit).await?;
        let Some(season) = seasons::current(&mut tx, &city).await? else {
            return Ok(Press::Refused);
        };
        let bound = people::of_user(&mut tx, user_id).await?;
        // Asked of the unit itself before anything of it is read or locked: a stranger's
        // crafted press learns nothing of what waits.
        if !self.may_send_up(&mut tx, user_id, &bound, unit).await? {
            return Ok(Press::Refused);
        }
        let (waiting, now_waiting) = self
            .lock_reporting(&mut tx, Purpose::Exemption, season.id, unit)
            .await?;
        let Some(first) = waiting.first() else {
            return Ok(Press::Stale);
        };
        let mut me = None;
        for ctx in &waiting {
            match self.allowed(user_id, &bound, Action::Report, ctx) {
                Ok(b) => me = Some(b),
                Err(d) => return Ok(Press::Denied(d)),
            }
        }
        let me = me.expect("one or more wait");
        if self.exam_begun(&season) {
            return Ok(Press::Denied(Denied::NoRole));
        }
        let locked: Vec<i64> = waiting.iter().map(|c| c.req.id).collect();
        if waiting.len() != shown || locked != now_waiting {
            self.refresh_exemption_report(&mut tx, first, Some(user_id), false)
                .await?;
            tx.commit().await?;
            self.outbox_wake.notify_one();
            return Ok(Press::Stale);
        }
        let now = self.clock.now();
        let (_, unit_name) = batch_of(first);
        let unit_name = unit_name.to_string();
        let city_name = units::get(&mut tx, &first.city)
            .await?
            .map_or(String::new(), |c| c.name);
        let mut lines = Vec::new();
        for ctx in &waiting {
            let details: Option<Details> = ctx
                .req
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok());
            lines.push(Line {
                school: ctx.school.name.clone(),
                name: ctx.cand.name.clone(),
                class_name: ctx.cand.class_name.clone(),
                reg_no: ctx.cand.reg_no.clone(),
                exam_no: ctx.cand.exam_no.clone(),
                contact: details
                    .as_ref()
                    .map_or(String::new(), |d| d.contact.clone()),
                note: self.county_opinion(&mut tx, ctx).await?,
            });
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
            let detail = format!("exemption {} sent up with the 附件3 of {unit}", ctx.req.id);
            self.note_event(&mut tx, &event, &detail).await?;
        }
        let table = Table::of_unit(season.year, &city_name, &unit_name, lines);
        let xlsx = exemption_summary::xlsx(&table)?;
        let name = format!(
            "附件3_免考汇总表_{unit_name}_上报_{}.xlsx",
            now.with_timezone(&season.tz).format("%Y%m%d%H%M")
        );
        let data = json!({"unit": unit_name, "count": waiting.len(), "actor": me.name,
                          "at": display(now, season.tz)});
        // Each application goes on to the city's level; its deciders get the list first.
        let mut deciders: Vec<Binding> = Vec::new();
        for ctx in &waiting {
            if !reviews::transition(
                &mut tx,
                &ctx.req,
                State::Pending,
                ctx.req.step,
                ctx.req.round,
                now,
            )
            .await?
            {
                return Ok(Press::Stale);
            }
            let now_ctx = self
                .load_ctx(&mut tx, ctx.req.id)
                .await?
                .expect("request exists");
            for b in self
                .step_holders(&mut tx, &now_ctx, now_ctx.req.step as usize)
                .await?
            {
                if !deciders.iter().any(|d| d.chat_id == b.chat_id) {
                    deciders.push(b);
                }
            }
        }
        let city_chats: Vec<i64> = deciders.iter().map(|d| d.chat_id).collect();
        let record = (name.as_str(), xlsx.as_slice());
        self.send_up_record(
            &mut tx,
            chat_id,
            &city_chats,
            tpl::EXEMPT_REPORTED,
            &data,
            record,
        )
        .await?;
        for ctx in &waiting {
            let now_ctx = self
                .load_ctx(&mut tx, ctx.req.id)
                .await?
                .expect("request exists");
            self.announce_stage(&mut tx, &now_ctx).await?;
        }
        audit(
            &mut tx,
            now,
            &crate::app::Actor::Telegram(user_id).label(),
            "exemption-report",
            &format!("附件3 of {unit}: {} applications sent up", waiting.len()),
        )
        .await?;
        let closed = self.render.render(tpl::EXEMPT_REPORT_SENT, &data)?;
        for outbox_id in batches::take_cards(&mut tx, &card_key(unit)).await? {
            outbox::edit(&mut tx, outbox_id, &closed, now).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }
}
