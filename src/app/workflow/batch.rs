//! District batches (附件6 注2: 区属考生以区为单位、市直属学校考生以学校为单位统一报送): a signed
//! result waits in its unit's batch; the unit's review group sees one card for the batch (what
//! waits to be sent, what is still being reviewed, each a tap away) and sends it to the city
//! with one 上报, which carries exactly the batch's requests and their 附件6.

use super::{App, Ctx};
use crate::app::callback::Callback;
use crate::app::policy::Action;
use crate::buttons::{Buttons, button};
use crate::domain::Score;
use crate::domain::deadline::display;
use crate::domain::review::{State, batch_unit};
use crate::export::review_summary::{self, Line};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::batches::{self, Item};
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use crate::store::seasons;
use serde_json::{Value, json};

/// Requests a batch card lists by name in each of its two parts; the rest are counted (the
/// 附件6 sent with the 上报 lists every one).
const CARD_READY: usize = 30;
const CARD_WORKING: usize = 20;

/// A unit's card as its holders get it: kept under `key` (`batch_cards`), its text and its
/// 上报 button while anything waits.
pub(crate) struct UnitCard<'a> {
    pub key: &'a str,
    pub body: &'a str,
    pub buttons: Option<&'a crate::buttons::Buttons>,
}

/// The unit whose 上报 carries this request (its district, or its city-direct school) and the
/// unit's name.
pub(crate) fn batch_of(ctx: &Ctx) -> (&str, &str) {
    match &ctx.district {
        Some(d) => (batch_unit(&ctx.school.code, Some(&d.code)), &d.name),
        None => (batch_unit(&ctx.school.code, None), &ctx.school.name),
    }
}

/// The request's line of 附件6: 复核后成绩 once the group has signed its result.
pub(crate) fn summary_line(ctx: &Ctx) -> Line {
    let signed = matches!(
        ctx.state(),
        State::Reporting | State::Rechecking | State::Completed
    );
    Line {
        school: ctx.school.name.clone(),
        name: ctx.cand.name.clone(),
        reg_no: ctx.cand.reg_no.clone(),
        exam_no: ctx.cand.exam_no.clone(),
        sitting: ctx.cand.sitting(),
        original: ctx.req.original_score,
        reviewed: ctx
            .req
            .result_score
            .filter(|_| signed)
            .or(signed.then_some(ctx.req.original_score)),
        note: if signed {
            let req = &ctx.req;
            review_summary::remark(
                req.result_kind.as_deref(),
                req.result_category.as_deref(),
                req.result_note.as_deref(),
            )
        } else {
            String::new()
        },
    }
}

fn score(tenths: i64) -> String {
    Score::from_tenths(tenths.max(0) as u32).to_string()
}

fn item_json(i: &Item) -> Value {
    json!({
        "id": i.id,
        "name": i.name,
        "school": i.school,
        "state": i.state,
        "original": score(i.original_score),
        "result": i.result_score.map(score),
        "corrected": i.result_kind.as_deref() == Some("corrected"),
        "category": i.result_category,
    })
}

impl App {
    /// Who may send the request's unit's batch: the members of the group that reviews it.
    async fn reporters(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<Vec<Binding>> {
        let members = self.group_members(conn, ctx).await?;
        Ok(self.able(members, Action::Report, ctx))
    }

    /// The batch card of the request's unit as it stands now, and its 上报 button while
    /// anything waits for it.
    async fn batch_card(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
    ) -> anyhow::Result<(String, Option<crate::buttons::Buttons>)> {
        let (unit, unit_name) = batch_of(ctx);
        // Bounded reads: a district of any size costs the same few rows.
        let season = ctx.season.id;
        let ready = batches::items(conn, season, unit, batches::READY, CARD_READY).await?;
        let working = batches::items(conn, season, unit, batches::WITH_GROUP, CARD_WORKING).await?;
        let ready_count = batches::count(conn, season, unit, batches::READY).await?;
        let working_count = batches::count(conn, season, unit, batches::WITH_GROUP).await?;
        let data = json!({
            "unit": unit_name,
            "group": ctx.group_name(),
            "ready": ready.iter().map(item_json).collect::<Vec<_>>(),
            "ready_count": ready_count,
            "ready_more": ready_count.saturating_sub(ready.len()),
            "working": working.iter().map(item_json).collect::<Vec<_>>(),
            "working_count": working_count,
            "working_more": working_count.saturating_sub(working.len()),
            "recheck": ctx.route.recheck.enabled,
            "at": display(self.clock.now(), ctx.season.tz),
        });
        let body = self.render.render(tpl::REVIEW_BATCH_CARD, &data)?;
        let press = Callback::Report {
            unit: unit.to_string(),
            count: ready_count,
        };
        let markup = self.report_button(tpl::BUTTON_REPORT, ready_count, press)?;
        Ok((body, markup))
    }

    /// The 上报 button under a unit's card, while anything waits to be sent up.
    pub(crate) fn report_button(
        &self,
        label: &str,
        count: usize,
        press: Callback,
    ) -> anyhow::Result<Option<Buttons>> {
        if count == 0 {
            return Ok(None);
        }
        let label = self.render.render(label, &json!({"count": count}))?;
        let row = vec![button(label, press.encode())];
        Ok(Some(Buttons::rows(vec![row])))
    }

    /// Brings the batch card of the request's unit up to date for its reporters (`only` this
    /// person when given): the card a person holds is edited; one who holds none, or asks
    /// for it afresh (`fresh`), gets a new one.
    pub(crate) async fn refresh_batch(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        only: Option<i64>,
        fresh: bool,
    ) -> anyhow::Result<()> {
        let (unit, _) = batch_of(ctx);
        batches::lock(conn, unit).await?;
        let (body, markup) = self.batch_card(conn, ctx).await?;
        let reporters = self.reporters(conn, ctx).await?;
        let card = UnitCard {
            key: unit,
            body: &body,
            buttons: markup.as_ref(),
        };
        self.post_unit_card(conn, &card, reporters, only, fresh)
            .await
    }

    /// Puts a unit's card (a review batch's, or the 免考 applications waiting to be sent up)
    /// before each of `holders` (`only` this person when given): the card a person holds is
    /// edited; one who holds none, or asks for it afresh (`fresh`), gets a new one, and the
    /// earlier one loses its button (one live 上报 button per person and unit).
    pub(crate) async fn post_unit_card(
        &self,
        conn: &mut Conn,
        card: &UnitCard<'_>,
        mut holders: Vec<Binding>,
        only: Option<i64>,
        fresh: bool,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        // One order for every writer of the unit's cards (`take_cards` too).
        holders.sort_by_key(|p| p.telegram_user_id);
        holders.dedup_by_key(|p| p.telegram_user_id);
        for p in holders {
            let user = p.telegram_user_id;
            if only.is_some_and(|u| u != user) {
                continue;
            }
            match batches::card(conn, card.key, user).await? {
                Some(outbox_id) if !fresh => {
                    outbox::edit_with(conn, outbox_id, card.body, card.buttons, now).await?;
                }
                earlier => {
                    if let Some(outbox_id) = earlier {
                        outbox::edit(conn, outbox_id, card.body, now).await?;
                    }
                    let msg = Outgoing {
                        chat_id: p.chat_id,
                        body: card.body.to_string(),
                        buttons: card.buttons.cloned(),
                        is_reply: fresh,
                        ..Outgoing::default()
                    };
                    if let Some(id) = outbox::enqueue_returning(conn, &msg, now).await? {
                        batches::set_card(conn, card.key, user, id).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// `/batch`: the batch card of every unit whose results this person sends, afresh.
    pub async fn batch_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let city = self.city_of_user(&mut tx, user_id).await?;
        let Some(season) = seasons::current(&mut tx, &city).await? else {
            self.tell(&mut tx, chat_id, tpl::REVIEW_BATCH_NONE, &json!({}))
                .await?;
            return self.commit_told(tx).await;
        };
        let bound = people::of_user(&mut tx, user_id).await?;
        // One request of each unit stands for its batch (the permission model reads a request).
        let mut shown: Vec<String> = Vec::new();
        for id in batches::open_with_group(&mut tx, season.id).await? {
            let Some(ctx) = self.load_ctx(&mut tx, id).await? else {
                continue;
            };
            let unit = batch_of(&ctx).0.to_string();
            if !ctx.route.report
                || shown.contains(&unit)
                || self.allowed(user_id, &bound, Action::Report, &ctx).is_err()
            {
                continue;
            }
            self.refresh_batch(&mut tx, &ctx, Some(user_id), true)
                .await?;
            shown.push(unit);
        }
        if shown.is_empty() {
            self.tell(&mut tx, chat_id, tpl::REVIEW_BATCH_NONE, &json!({}))
                .await?;
        }
        self.commit_told(tx).await
    }
}
