//! District batches (附件6 注2: 区属考生以区为单位、市直属学校考生以学校为单位统一报送): a signed
//! result waits in its unit's batch; the unit's review group sees one card for the batch (what
//! waits to be sent, what is still being reviewed, each a tap away) and sends it to the city
//! with one 上报, which carries exactly the batch's requests and their 附件6.

use super::decide::refusal;
use super::{App, Ctx, Press, button, keyboard};
use crate::app::callback::Callback;
use crate::app::policy::{self, Action, Denied, Subject};
use crate::domain::Role;
use crate::domain::Score;
use crate::domain::UnitKind;
use crate::domain::deadline::display;
use crate::domain::review::{State, batch_unit};
use crate::domain::workflow::Purpose;
use crate::export::review_summary::{self, Line};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::batches::{self, Item};
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use crate::store::reviews::NewEvent;
use crate::store::{seasons, units};
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
        let markup = (ready_count > 0)
            .then(|| -> anyhow::Result<crate::buttons::Buttons> {
                let label = self
                    .render
                    .render(tpl::BUTTON_REPORT, &json!({"count": ready_count}))?;
                let data = Callback::Report {
                    unit: unit.to_string(),
                    count: ready_count,
                }
                .encode();
                Ok(keyboard(vec![vec![button(label, data)]]))
            })
            .transpose()?;
        Ok((body, markup))
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
            return self.commit_reply(tx).await;
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
        self.commit_reply(tx).await
    }

    /// A batch card's 上报: every signed result of the unit that waits goes to the city's 复审
    /// (or, with no 复审 on the route, is final), in one transaction, with the batch's 附件6 to
    /// the city and to the reporter. A card that showed another count is old: it is brought up
    /// to date and nothing is sent.
    pub async fn report_button(
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
        // Who may send this unit's batch is asked of the unit itself, before anything of it is
        // read or locked: a stranger's crafted press learns nothing of what waits.
        let bound = people::of_user(&mut tx, user_id).await?;
        if let Err(d) = self.may_report(&mut tx, user_id, &bound, unit).await? {
            return Ok(refusal(d));
        }
        // 附件6 注2: a summary reaching the city after the window's end is not accepted.
        if self
            .review_window(&season)
            .is_some_and(|w| !w.open(self.clock.now()))
        {
            let press = self
                .refuse_late_report(&mut tx, user_id, chat_id, &season, unit)
                .await?;
            self.commit_reply(tx).await?;
            return Ok(press);
        }
        let (batch, now_waiting) = self
            .lock_reporting(&mut tx, Purpose::Review, season.id, unit)
            .await?;
        let Some(first) = batch.first() else {
            return Ok(Press::Stale);
        };
        if self.refuse_if_sealed(&mut tx, chat_id, first).await? {
            self.commit_reply(tx).await?;
            return Ok(Press::Stale);
        }
        // Each request as its own route has it (a route changed mid-season may differ).
        let mut me = None;
        for ctx in &batch {
            match self.allowed(user_id, &bound, Action::Report, ctx) {
                Ok(b) => me = Some(b),
                Err(d) => return Ok(refusal(d)),
            }
        }
        let me = me.expect("a batch of one or more");
        let locked: Vec<i64> = batch.iter().map(|c| c.req.id).collect();
        if batch.len() != shown || locked != now_waiting {
            self.refresh_batch(&mut tx, first, Some(user_id), false)
                .await?;
            self.commit_reply(tx).await?;
            return Ok(Press::Stale);
        }
        let now = self.clock.now();
        let (_, unit_name) = batch_of(first);
        let unit_name = unit_name.to_string();
        let city = units::get(&mut tx, &first.city).await?;
        let city_name = city.map_or(String::new(), |c| c.name);
        let mut lines = Vec::new();
        for ctx in &batch {
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
            let detail = format!("request {} in the batch of {unit}", ctx.req.id);
            self.note_event(&mut tx, &event, &detail).await?;
            lines.push(summary_line(ctx));
        }
        let table = review_summary::Table::of_unit(season.year, &city_name, &unit_name, lines);
        let xlsx = review_summary::xlsx(&table)?;
        let at = display(now, season.tz);
        let name = format!(
            "附件6_复核汇总表_{unit_name}_{}.xlsx",
            now.with_timezone(&season.tz).format("%Y%m%d%H%M")
        );
        let listed: Vec<Value> = batch
            .iter()
            .take(CARD_READY)
            .map(|c| json!({"id": c.req.id, "name": c.cand.name, "school": c.school.name}))
            .collect();
        let data = json!({"unit": unit_name, "count": batch.len(), "actor": me.name, "at": at,
                          "recheck": first.route.recheck.enabled, "items": listed,
                          "more": batch.len().saturating_sub(CARD_READY)});
        let mut city_people = people::holders(&mut tx, first.route.recheck.role, &first.city)
            .await?
            .into_iter()
            .filter(|_| first.route.recheck.enabled)
            .collect::<Vec<_>>();
        city_people.extend(people::all_holders(&mut tx, Role::CityAdmin, &first.city).await?);
        let city_chats: Vec<i64> = city_people.iter().map(|p| p.chat_id).collect();
        let record = (name.as_str(), xlsx.as_slice());
        self.send_up_record(
            &mut tx,
            chat_id,
            &city_chats,
            tpl::REVIEW_BATCH_SENT,
            &data,
            record,
        )
        .await?;
        // Then each request goes on as it would have alone: to the 复审 (its card after the
        // summary it is listed in), or done.
        for ctx in &batch {
            self.pass_to_city(&mut tx, ctx).await?;
        }
        let closed = self.render.render(tpl::REVIEW_BATCH_REPORTED, &data)?;
        for outbox_id in batches::take_cards(&mut tx, unit).await? {
            outbox::edit(&mut tx, outbox_id, &closed, now).await?;
        }
        self.commit_reply(tx).await?;
        Ok(Press::Accepted)
    }

    /// The record a 上报 carries (附件6, 附件3), to whoever sent it, as the answer to their
    /// press, and to each of the city's chats it goes to, once; `reporter` in the template's
    /// data tells which.
    pub(crate) async fn send_up_record(
        &self,
        conn: &mut Conn,
        reporter_chat: i64,
        city_chats: &[i64],
        template: &str,
        data: &Value,
        (name, bytes): (&str, &[u8]),
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
                document: Some((name.to_string(), bytes.to_vec())),
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

    /// Whether this person may send `unit`'s batch: the permission model asked about the unit
    /// (a district, or a city-direct school) on the configured route. Anything else is not a
    /// unit that reports.
    async fn may_report(
        &self,
        conn: &mut Conn,
        user_id: i64,
        bound: &[Binding],
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
        let route = self.config.review_route_of_unit(&target.city_code, unit);
        Ok(policy::check(&route, user_id, bound, Action::Report, &subject).map(|_| ()))
    }

    async fn commit_reply(&self, tx: crate::store::WriteTx) -> anyhow::Result<()> {
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}
