//! The review group (附件4 二.4–二.5: the district's 复核小组, or the city-direct schools'): one
//! member records 维持原成绩 or 更正成绩 (with the new total, item scores when the candidate has
//! them, the category 漏评 / 合分错误 and a note); every other member, the discipline inspector
//! included, confirms or disputes. When all have signed (enough of them, the required roles
//! among them), the city's 复审 gives 同意 or returns it to the group; then the score changes
//! (the old one stays in history) and the result goes down to the school.

use super::recording::{Outcome, Recording};
use super::{App, Ctx, RECHECK_NAME, stage_key};
use crate::app::callback::Press;
use crate::app::policy::Action;
use crate::domain::Role;
use crate::domain::Score;
use crate::domain::review::State;
use crate::domain::stage::Choice;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::people::{self, Binding};
use crate::store::reviews::{self, NewEvent, RecordedResult};
use serde_json::json;

impl App {
    pub(crate) async fn submit_record(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        rec: &Recording,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let Some(ctx) = self
            .lock_dialogue_request(conn, chat_id, rec.request)
            .await?
        else {
            return Ok(());
        };
        let id = ctx.req.id;
        // While the score library is sealed no result is recorded (附件4 二.5): a recording
        // dialogue begun before the seal, and 本页全部维持原成绩, are refused here as each
        // card's own button is.
        if self.refuse_if_sealed(conn, chat_id, &ctx).await? {
            return Ok(());
        }
        let bound = people::of_user(conn, user_id).await?;
        let me = match self.allowed(user_id, &bound, Action::Record, &ctx) {
            Ok(me) => me,
            Err(d) => return self.tell(conn, chat_id, d.template(), &json!({})).await,
        };
        let members = self.eligible_members(conn, &ctx).await?;
        let stage = stage_key(&ctx.req);
        if ctx.state() != State::Recording || rec.stage != stage {
            return self
                .tell(
                    conn,
                    chat_id,
                    tpl::REVIEW_ALREADY_HANDLED,
                    &json!({"id": id}),
                )
                .await;
        }
        let kind = rec.kind.code();
        let score = match (rec.kind, rec.score) {
            (Outcome::Corrected, Some(score)) => i64::from(score),
            _ => ctx.req.original_score,
        };
        let items = rec
            .items
            .as_ref()
            .map(|a| a.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
        let result = RecordedResult {
            kind,
            score,
            items,
            category: rec.category.as_deref(),
            note: rec.note.as_deref().unwrap_or_default(),
            recorded_by: user_id,
        };
        if !reviews::record_result(conn, &ctx.req, &result, now).await? {
            return self
                .tell(
                    conn,
                    chat_id,
                    tpl::REVIEW_ALREADY_HANDLED,
                    &json!({"id": id}),
                )
                .await;
        }
        self.note_event(
            conn,
            &NewEvent {
                request_id: id,
                user_id,
                actor_name: &me.name,
                actor_role: me.role.slug(),
                step: None,
                round: ctx.req.round,
                action: "record",
                comment: result.note,
            },
            &format!("request {id}: {kind} {score}"),
        )
        .await?;
        let ctx = self.load_ctx(conn, id).await?.expect("request exists");
        let outcome =
            json!({"action": "record", "actor": me.name, "level": ctx.group_name(), "reason": ""});
        self.close_cards(conn, &ctx, stage, &outcome).await?;
        let others: Vec<Binding> = members
            .into_iter()
            .filter(|m| m.telegram_user_id != user_id)
            .collect();
        if others.is_empty() {
            // Nobody else to sign: a group of one signs by recording, when its rules allow one;
            // otherwise the recorder has just heard who is missing.
            if self.group_signed(conn, &ctx, chat_id).await? {
                return self.finish_group(conn, &ctx).await;
            }
            return Ok(());
        }
        let confirm_stage = stage_key(&ctx.req);
        self.send_cards(
            conn,
            &ctx,
            confirm_stage,
            &others,
            tpl::REVIEW_CONFIRM_HEADING,
            &[
                (tpl::BUTTON_CONFIRM, Choice::Sign),
                (tpl::BUTTON_DISPUTE, Choice::Dispute),
            ],
        )
        .await?;
        self.tell(
            conn,
            chat_id,
            tpl::REVIEW_RECORDED,
            &json!({"id": id, "others": others.len()}),
        )
        .await
    }

    pub(crate) async fn confirm_result(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        me: &Binding,
    ) -> anyhow::Result<Press> {
        let event = signature(ctx, me, "confirm");
        let detail = format!("request {} round {}", ctx.req.id, ctx.req.round);
        if !self.note_event(conn, &event, &detail).await? {
            return Ok(Press::Stale);
        }
        let ctx = &self
            .load_ctx(conn, ctx.req.id)
            .await?
            .expect("request exists");
        if self.group_signed(conn, ctx, me.chat_id).await? {
            self.finish_group(conn, ctx).await?;
        }
        Ok(Press::Accepted)
    }

    /// Whether the group's result is signed: every member but the recorder has confirmed, at
    /// least `min_size` signatures in all, and the required roles among the signers. When it is
    /// not, the person who just signed (in `chat`) hears how far it is and who is missing.
    async fn group_signed(&self, conn: &mut Conn, ctx: &Ctx, chat: i64) -> anyhow::Result<bool> {
        let group = &ctx.route.group;
        let bindings = self.group_bindings(conn, ctx).await?;
        let members = self.eligible_members(conn, ctx).await?;
        // A signature counts while its signer is still in the group: a revoked one's is void.
        let confirmed: Vec<i64> = ctx
            .signers
            .iter()
            .copied()
            .filter(|u| members.iter().any(|m| m.telegram_user_id == *u))
            .collect();
        // The recorder's signature counts while they are still in the group, as everyone's.
        let recorder = ctx
            .req
            .recorded_by
            .filter(|r| members.iter().any(|m| m.telegram_user_id == *r));
        let all_others = members
            .iter()
            .filter(|m| Some(m.telegram_user_id) != ctx.req.recorded_by)
            .all(|m| confirmed.contains(&m.telegram_user_id));
        let signed_roles: Vec<Role> = bindings
            .iter()
            .filter(|b| {
                confirmed.contains(&b.telegram_user_id) || Some(b.telegram_user_id) == recorder
            })
            .map(|b| b.role)
            .collect();
        let missing = group.missing(&signed_roles);
        let signatures = confirmed.len() + usize::from(recorder.is_some());
        let min = group.min_size as usize;
        if all_others && signatures >= min && missing.is_empty() {
            return Ok(true);
        }
        let missing: Vec<&str> = missing.iter().map(|r| r.slug()).collect();
        self.tell(
            conn,
            chat,
            tpl::REVIEW_CONFIRM_RECORDED,
            &json!({"id": ctx.req.id, "signed": signatures,
                    "needed": min.max(members.len()), "missing": missing,
                    "group": ctx.group_name()}),
        )
        .await?;
        Ok(false)
    }

    /// The group has signed: into its unit's batch for the 上报, or on to the city as
    /// `pass_to_city` says.
    async fn finish_group(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<()> {
        let next = if ctx.route.report {
            State::Reporting
        } else if ctx.route.recheck.enabled {
            State::Rechecking
        } else {
            return self.complete(conn, ctx).await;
        };
        let now = self.clock.now();
        let stage = stage_key(&ctx.req);
        let (step, round) = (ctx.req.step, ctx.req.round);
        if !reviews::transition(conn, &ctx.req, next, step, round, now).await? {
            return Ok(());
        }
        let signed = self
            .load_ctx(conn, ctx.req.id)
            .await?
            .expect("request exists");
        let outcome = json!({"action": "signed", "actor": self.signatories(conn, &signed).await?.0,
                             "level": ctx.group_name(), "reason": "",
                             "report": next == State::Reporting});
        self.close_cards(conn, &signed, stage, &outcome).await?;
        self.announce_stage(conn, &signed).await?;
        if next == State::Rechecking {
            self.alert_if_no_recheckers(conn, &signed).await?;
        }
        Ok(())
    }

    /// A signed result leaves its unit with the 上报: to the city's 复审, or, where the route
    /// has none, done.
    pub(crate) async fn pass_to_city(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<()> {
        if !ctx.route.recheck.enabled {
            return self.complete(conn, ctx).await;
        }
        let (step, round) = (ctx.req.step, ctx.req.round);
        let now = self.clock.now();
        if !reviews::transition(conn, &ctx.req, State::Rechecking, step, round, now).await? {
            return Ok(());
        }
        let sent = self
            .load_ctx(conn, ctx.req.id)
            .await?
            .expect("request exists");
        self.announce_stage(conn, &sent).await?;
        self.alert_if_no_recheckers(conn, &sent).await
    }

    /// Nobody at the city to give the 复审: the admins hear it at once.
    async fn alert_if_no_recheckers(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<()> {
        if !self.eligible_recheckers(conn, ctx).await?.is_empty() {
            return Ok(());
        }
        let data = json!({"id": ctx.req.id, "school": ctx.school.name, "levels": [RECHECK_NAME], "blocked": [],
                          "group_short": false, "members": 0, "min": 0, "group": "",
                          "missing": []});
        for admin in people::all_holders(conn, Role::CityAdmin, &ctx.city).await? {
            self.tell(conn, admin.chat_id, tpl::REVIEW_NO_ONE_ADMIN, &data)
                .await?;
        }
        Ok(())
    }

    /// A city reviewer's 同意 to the group's result: once enough have given it, done.
    pub(crate) async fn recheck_agree(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        me: &Binding,
    ) -> anyhow::Result<Press> {
        let event = signature(ctx, me, "recheck");
        if !self
            .note_event(conn, &event, &format!("request {}", ctx.req.id))
            .await?
        {
            return Ok(Press::Stale);
        }
        let ctx = &self
            .load_ctx(conn, ctx.req.id)
            .await?
            .expect("request exists");
        let needed = ctx.route.recheck.signatures as usize;
        if ctx.rechecked.len() >= needed {
            self.complete(conn, ctx).await?;
        } else {
            self.tell(
                conn,
                me.chat_id,
                tpl::REVIEW_VOTE_RECORDED,
                &json!({"id": ctx.req.id, "votes": ctx.rechecked.len()}),
            )
            .await?;
        }
        Ok(Press::Accepted)
    }

    /// Who signed the current result: the group's (recorder first) and the city's 复审.
    async fn signatories(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<(String, String)> {
        let events = reviews::events(conn, ctx.req.id).await?;
        let names = |actions: &[&str]| -> String {
            events
                .iter()
                .filter(|e| e.round == ctx.req.round && actions.contains(&e.action.as_str()))
                .map(|e| e.actor_name.as_str())
                .collect::<Vec<_>>()
                .join("、")
        };
        Ok((names(&["record", "confirm"]), names(&["recheck"])))
    }

    /// Everyone signed: the score changes and the result goes down to the school.
    async fn complete(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<()> {
        let now = self.clock.now();
        let stage = stage_key(&ctx.req);
        if !reviews::transition(
            conn,
            &ctx.req,
            State::Completed,
            ctx.req.step,
            ctx.req.round,
            now,
        )
        .await?
        {
            return Ok(());
        }
        let corrected = ctx.req.result_kind.as_deref() == Some("corrected");
        let new_score = ctx.req.result_score.unwrap_or(ctx.req.original_score);
        if corrected {
            let c = &ctx.cand;
            let old_items = c.item_main.map(|m| {
                format!(
                    "{},{},{},{}",
                    m,
                    c.item_sec1.unwrap_or(0),
                    c.item_sec2.unwrap_or(0),
                    c.item_tidy.unwrap_or(0)
                )
            });
            let new_items = ctx.req.result_items.as_deref().and_then(|t| {
                let v: Vec<i64> = t.split(',').filter_map(|x| x.parse().ok()).collect();
                <[i64; 4]>::try_from(v).ok()
            });
            reviews::change_score(
                conn,
                c.id,
                ctx.req.id,
                (c.score, old_items),
                (new_score, new_items),
                now,
            )
            .await?;
        }
        let (group_signed, city_signed) = self.signatories(conn, ctx).await?;
        self.note_event(
            conn,
            &NewEvent {
                request_id: ctx.req.id,
                user_id: 0,
                actor_name: "",
                actor_role: "system",
                step: None,
                round: ctx.req.round,
                action: "complete",
                comment: "",
            },
            &format!(
                "request {}: {} → {}",
                ctx.req.id, ctx.req.original_score, new_score
            ),
        )
        .await?;
        let done = self
            .load_ctx(conn, ctx.req.id)
            .await?
            .expect("request exists");
        let signed = match city_signed.as_str() {
            "" => group_signed.clone(),
            city => format!("{group_signed}；{RECHECK_NAME} {city}"),
        };
        let outcome = json!({"action": "complete", "actor": signed, "level": "", "reason": ""});
        self.close_cards(conn, &done, stage, &outcome).await?;

        let info = json!({
            "id": ctx.req.id,
            "name": ctx.cand.name,
            "exam_no": ctx.cand.exam_no,
            "school": ctx.school.name,
            "original": Score::from_tenths(ctx.req.original_score as u32).to_string(),
            "new": Score::from_tenths(new_score as u32).to_string(),
            "corrected": corrected,
            "category": ctx.req.result_category,
            "note": ctx.req.result_note,
            "group": ctx.group_name(),
            "signatories": group_signed,
            "city_signatories": city_signed,
        });
        let mut chats: Vec<i64> = vec![ctx.req.filer_chat_id];
        let mut recipients: Vec<Binding> =
            people::holders(conn, Role::SchoolContact, &ctx.school.code).await?;
        recipients.extend(
            people::holders_in_class(
                conn,
                Role::HomeroomTeacher,
                &ctx.school.code,
                &ctx.cand.class_name,
            )
            .await?,
        );
        if let Some(d) = &ctx.district {
            recipients.extend(people::holders(conn, Role::DistrictOfficer, &d.code).await?);
        }
        chats.extend(recipients.iter().map(|b| b.chat_id));
        let mut seen = Vec::new();
        for chat in chats {
            if !seen.contains(&chat) {
                seen.push(chat);
                self.tell(conn, chat, tpl::REVIEW_RESULT, &info).await?;
            }
        }
        Ok(())
    }
}

/// A signature on the result of the request's current round: a group member's confirmation
/// or the city's 复审 同意 (one per person and round: see `reviews::add_event`).
fn signature<'a>(ctx: &Ctx, me: &'a Binding, action: &'a str) -> NewEvent<'a> {
    NewEvent {
        request_id: ctx.req.id,
        user_id: me.telegram_user_id,
        actor_name: &me.name,
        actor_role: me.role.slug(),
        step: None,
        round: ctx.req.round,
        action,
        comment: "",
    }
}
