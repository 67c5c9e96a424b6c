//! 附件3 sent up: an application agreed at the level below the city's (the county's three
//! signatures) waits for its county's 上报. The county's officers hold one card listing what
//! waits; one tap sends every waiting application of the county to the city together with the
//! county's 附件3 (each line with the county's opinion and its signers; `review::send_up`), and
//! only then does the city decide. A city-direct school's applications go up from whoever holds that level for
//! it. The city's final list (the approved candidates) stays a record of its own.

use crate::app::App;
use crate::app::callback::Callback;
use crate::app::policy::Action;
use crate::app::workflow::{Ctx, UnitCard, batch_of, report_card_key};
use crate::domain::exemption::Details;
use crate::domain::workflow::Purpose;
use crate::export::exemption_summary::Line;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::batches::{self, Application};
use crate::store::people::Binding;
use crate::store::reviews;
use serde_json::json;

/// Applications a card lists by name; the rest are counted (附件3 lists every one).
const CARD_LISTED: usize = 30;

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
        let key = report_card_key(Purpose::Exemption, unit);
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
        let press = Callback::ReportExemptions {
            unit: unit.to_string(),
            count,
        };
        let markup = self.report_button(tpl::BUTTON_REPORT_EXEMPTIONS, count, press)?;
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

    /// 附件3's lines of the applications sent up: each with the county's opinion.
    pub(crate) async fn exemption_lines(
        &self,
        conn: &mut Conn,
        waiting: &[Ctx],
    ) -> anyhow::Result<Vec<Line>> {
        let mut lines = Vec::new();
        for ctx in waiting {
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
                note: self.county_opinion(conn, ctx).await?,
            });
        }
        Ok(lines)
    }
}
