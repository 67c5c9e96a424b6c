//! A request's card (附件5, or 附件2 for a 免考 application): what it shows, and sending,
//! closing and folding the copies of it each holder gets.

use super::{App, CARD_COMMENT, CARD_OPINIONS, Ctx, RECHECK_NAME, batch};
use crate::app::callback::Callback;
use crate::app::policy;
use crate::buttons::{Buttons, button};
use crate::domain::Score;
use crate::domain::deadline::display;
use crate::domain::ids::mask;
use crate::domain::review::State;
use crate::domain::stage::{Choice, Stage};
use crate::domain::workflow::Purpose;
use crate::render::cut_comment;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::card_lists;
use crate::store::from_ms;
use crate::store::outbox::{self, Outgoing};
use crate::store::people::Binding;
use crate::store::reviews;
use serde_json::{Value, json};

impl App {
    /// The 附件5 card: the form's fields in order, the opinions given so far, and the result.
    pub(crate) async fn card_data(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<Value> {
        let route = &ctx.route;
        let tz = ctx.season.tz;
        let events = reviews::events(conn, ctx.req.id).await?;
        let all: Vec<&reviews::Event> = events.iter().filter(|e| e.action != "file").collect();
        // A card shows the latest opinions, each cut short, so that it always fits in one
        // message (its buttons must never be lost); the whole text is one tap away.
        let earlier = all.len().saturating_sub(CARD_OPINIONS);
        let cut = earlier > 0 || all.iter().any(|e| e.comment.chars().count() > CARD_COMMENT);
        let opinions: Vec<Value> = all[earlier..]
            .iter()
            .map(|e| {
                let level = match e.step {
                    Some(s) if (s as usize) < route.steps.len() => {
                        route.steps[s as usize].name.clone()
                    }
                    _ if ["record", "confirm", "dispute", "report"]
                        .contains(&e.action.as_str()) =>
                    {
                        ctx.group_name()
                    }
                    _ if e.action.starts_with("recheck") => RECHECK_NAME.into(),
                    _ => String::new(),
                };
                json!({
                    "level": level,
                    "actor": e.actor_name,
                    "action": e.action,
                    "comment": cut_comment(&e.comment, CARD_COMMENT),
                    "at": display(from_ms(e.at), tz),
                })
            })
            .collect();
        // Each purpose shows its own form's fields.
        match ctx.purpose() {
            Purpose::Exemption => return Ok(self.exemption_card_data(ctx, opinions, earlier, cut)),
            Purpose::Review => {}
        }
        let c = &ctx.cand;
        let items = |v: Option<i64>| v.map(|t| Score::from_tenths(t as u32).to_string());
        Ok(json!({
            "id": ctx.req.id,
            "state": ctx.req.state,
            "level": self.level_name(ctx),
            "name": c.name,
            "gender": c.gender,
            "class_name": c.class_name,
            "school": ctx.school.name,
            "district": ctx.district.as_ref().map(|d| d.name.clone()),
            "city_direct": ctx.school.city_direct,
            "id_card": mask(&c.id_card),
            "student_no": mask(&c.student_no),
            "reg_no": c.reg_no,
            "exam_no": c.exam_no,
            "score": Score::from_tenths(ctx.req.original_score as u32).to_string(),
            "current_score": c.score().to_string(),
            "items": c.item_main.map(|_| json!([items(c.item_main), items(c.item_sec1), items(c.item_sec2), items(c.item_tidy)])),
            "contact": ctx.req.contact,
            "sitting": c.sitting(),
            "reason": ctx.req.reason,
            "filer": ctx.req.filer_name,
            "filed_at": display(from_ms(ctx.req.created_at), tz),
            "signed_form": ctx.req.signed_form().is_some(),
            "opinions": opinions,
            "earlier": earlier,
            "cut": cut,
            "result": self.result_data(ctx),
            "group": ctx.group_name(),
        }))
    }

    pub(crate) fn result_data(&self, ctx: &Ctx) -> Value {
        match (&ctx.req.result_kind, ctx.req.result_score) {
            (Some(kind), Some(score)) => json!({
                "kind": kind,
                "score": Score::from_tenths(score as u32).to_string(),
                "original": Score::from_tenths(ctx.req.original_score as u32).to_string(),
                "category": ctx.req.result_category,
                "note": ctx.req.result_note,
            }),
            _ => Value::Null,
        }
    }

    /// Where the request stands, in words of the forms (班主任, 校长, 城区, 市级复核小组).
    pub(crate) fn level_name(&self, ctx: &Ctx) -> String {
        match ctx.state() {
            State::Pending => ctx
                .route
                .steps
                .get(ctx.req.step as usize)
                .map_or(String::new(), |s| s.name.clone()),
            State::Recording | State::Confirming => ctx.group_name(),
            State::Reporting => format!("{}上报", batch::batch_of(ctx).1),
            State::Rechecking => RECHECK_NAME.into(),
            _ => String::new(),
        }
    }

    pub(crate) async fn render_card(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<String> {
        let data = self.card_data(conn, ctx).await?;
        self.render.render(ctx.card_template(), &data)
    }

    /// The buttons under every card of a request, below its decisions: the candidate's signed
    /// form, and every opinion in full when the card cut some.
    pub(crate) fn card_extras(
        &self,
        ctx: &Ctx,
        card_data: &Value,
    ) -> anyhow::Result<Vec<Vec<crate::buttons::Button>>> {
        let mut rows = Vec::new();
        if ctx.purpose().has_exhibits() {
            let data = Callback::Exhibits { id: ctx.req.id }.encode();
            rows.push(vec![button(self.render.text(tpl::BUTTON_EXHIBITS)?, data)]);
        }
        if ctx.req.signed_form().is_some() {
            let data = Callback::SignedForm { id: ctx.req.id }.encode();
            rows.push(vec![button(
                self.render.text(tpl::BUTTON_SIGNED_FORM)?,
                data,
            )]);
        }
        if card_data["cut"] == true {
            let data = Callback::FullText { id: ctx.req.id }.encode();
            rows.push(vec![button(self.render.text(tpl::BUTTON_FULL_TEXT)?, data)]);
        }
        Ok(rows)
    }

    /// Queues a card with buttons to each person and remembers it under `stage`.
    pub(crate) async fn send_cards(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        stage: Stage,
        people: &[Binding],
        heading: &str,
        buttons: &[(&str, Choice)],
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let card_data = self.card_data(conn, ctx).await?;
        let card = self.render.render(ctx.card_template(), &card_data)?;
        let heading = match heading {
            tpl::REVIEW_CARD_HEADING => ctx.purpose().card_heading(),
            _ => heading,
        };
        let heading = self.render.render(
            heading,
            &json!({"id": ctx.req.id, "level": self.level_name(ctx),
                    "may_reject": policy::may_reject(&ctx.route, ctx.req.step as usize).is_ok()}),
        )?;
        let body = format!("{heading}\n\n{card}");
        let row: Vec<crate::buttons::Button> = buttons
            .iter()
            .map(|(label, action)| {
                let data = Callback::Review {
                    id: ctx.req.id,
                    stage,
                    action: *action,
                }
                .encode();
                Ok(button(self.render.text(label)?, data))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut rows = vec![row];
        rows.extend(self.card_extras(ctx, &card_data)?);
        let markup = Buttons::rows(rows);
        let mut queued = Vec::new();
        for p in people {
            let msg = Outgoing {
                chat_id: p.chat_id,
                body: body.clone(),
                buttons: Some(markup.clone()),
                dedupe_key: Some(format!(
                    "card:{}:{stage}:{}",
                    ctx.req.id, p.telegram_user_id
                )),
                foldable: true,
                ..Outgoing::default()
            };
            if let Some(id) = outbox::enqueue_returning(conn, &msg, now).await? {
                reviews::add_card(conn, ctx.req.id, &stage.to_string(), p.telegram_user_id, id)
                    .await?;
                queued.push((p.chat_id, p.telegram_user_id));
            }
        }
        self.fold_cards(conn, &queued).await
    }

    /// After a decision: every copy of the stage's card shows who decided what, without buttons.
    pub(crate) async fn close_cards(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        stage: Stage,
        outcome: &Value,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let card = self.render_card(conn, ctx).await?;
        let footer = ctx.purpose().card_closed();
        let footer = self.render.render(footer, outcome)?;
        let body = format!("{card}\n\n{footer}");
        // A card still folded unseen leaves its batch card; one that went out is edited.
        let mut lists = Vec::new();
        for (user_id, outbox_id) in reviews::cards(conn, ctx.req.id, &stage.to_string()).await? {
            match card_lists::drop_folded(conn, outbox_id).await? {
                Some(chat_id) => lists.push((chat_id, user_id)),
                None => outbox::edit(conn, outbox_id, &body, now).await?,
            }
        }
        self.redraw_card_lists(conn, &lists).await
    }
}
