//! Decisions at the approval levels: approve, reject and return (both with a reason), and the
//! filer's withdrawal. Every press is checked again here, inside the transaction: the presser
//! must hold the step's role for this request's unit, and the request must still be at the stage
//! the card was sent for (a guarded update on its version).

use super::{App, Ctx, stage_key};
use crate::app::Actor;
use crate::app::callback::Callback;
use crate::app::callback::Press;
use crate::app::dialogue::{Flow, Kind, Next, NoPress, Prompt, Session, Shown, StepCode};
use crate::app::policy::{self, Action, Denied};
use crate::buttons::{Buttons, button};
use crate::domain::Role;
use crate::domain::review::{self, State};
use crate::domain::stage::{Choice, Stage};
use crate::domain::workflow::Purpose;
use crate::domain::workflow::Rule;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::audit;
use crate::store::card_lists;
use crate::store::people::{self, Binding};
use crate::store::reviews::{self, NewEvent};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The reason a rejection, a return, a dispute or a send-back asks for, being typed: the
/// request, and the stage its card was for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Why {
    pub request: i64,
    pub stage: Stage,
    pub action: Choice,
    #[serde(default)]
    pub purpose: Purpose,
}

/// The reason's one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reason;

impl StepCode for Reason {
    const ALL: &'static [Reason] = &[Reason];
    fn code(self) -> &'static str {
        "reason"
    }
}

impl Flow for Why {
    type Step = Reason;
    type Press = NoPress;
    type After = ();

    fn previous(_: &Session<Self>) -> Option<Reason> {
        None
    }

    fn request(&self) -> Option<i64> {
        Some(self.request)
    }

    async fn prompt(
        _: &App,
        _: &mut Conn,
        s: &mut Session<Self>,
    ) -> anyhow::Result<Shown<NoPress>> {
        let data = serde_json::to_value(&s.state)?;
        Ok(Shown::Prompt(Prompt::new(tpl::DLG_WHY_REASON, data)))
    }

    async fn text(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        text: &str,
    ) -> anyhow::Result<Next<Self>> {
        let reason = text.trim();
        let length = reason.chars().count();
        if reason.is_empty() || length > review::REASON_MAX {
            let hint = json!({"length": length, "max": review::REASON_MAX});
            return Ok(Next::Say(tpl::REVIEW_BAD_REASON, hint));
        }
        app.decide_with_reason(conn, s.user, s.chat, &s.state, reason)
            .await?;
        Ok(Next::End)
    }

    async fn press(
        _: &App,
        _: &mut Conn,
        _: &mut Session<Self>,
        press: NoPress,
    ) -> anyhow::Result<Next<Self>> {
        match press {}
    }
}

impl App {
    /// A button on a review card: "rv:<request>:<stage>:<action>".
    pub async fn review_button(
        &self,
        user_id: i64,
        chat_id: i64,
        id: i64,
        stage: Stage,
        action: Choice,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        let Some(ctx) = self.lock_ctx(&mut tx, id).await? else {
            return Ok(Press::Refused);
        };
        let bound = people::of_user(&mut tx, user_id).await?;
        // A card folded into a batch card acts only once a page of it showed the card: no
        // button may act on an item its holder has not been shown.
        if !card_lists::card_was_shown(&mut tx, user_id, id, &stage.to_string()).await? {
            return Ok(Press::Refused);
        }
        // While the score library is sealed no result moves (附件4 二.5).
        if stage.moves_a_result() && self.refuse_if_sealed(&mut tx, chat_id, &ctx).await? {
            tx.commit().await?;
            self.outbox_wake.notify_one();
            return Ok(Press::Stale);
        }
        // Once the exam has begun no level decides a 免考 application (it lapses).
        let at_a_level = matches!(stage, Stage::Level { .. });
        let lapsed = ctx.purpose().lapses_when_the_exam_begins() && self.exam_begun(&ctx.season);
        if at_a_level && lapsed {
            let data = json!({"id": ctx.req.id});
            self.tell(&mut tx, chat_id, tpl::EXEMPT_EXAM_BEGUN, &data)
                .await?;
            tx.commit().await?;
            self.outbox_wake.notify_one();
            return Ok(Press::Stale);
        }
        let press = match (stage, action) {
            (Stage::Withdraw, Choice::Withdraw) => {
                self.withdraw(&mut tx, user_id, chat_id, &ctx).await?
            }
            (Stage::Returned { .. }, Choice::Amend) => {
                self.start_amendment(&mut tx, user_id, chat_id, &ctx)
                    .await?
            }
            (Stage::Level { step, .. }, Choice::Approve | Choice::Reject | Choice::Return) => {
                let Ok(step) = usize::try_from(step) else {
                    return Ok(Press::Refused);
                };
                let me = match self.allowed(user_id, &bound, Action::Decide { step }, &ctx) {
                    Ok(me) => me,
                    Err(d) => return Ok(refusal(d)),
                };
                if ctx.state() != State::Pending || stage_key(&ctx.req) != stage {
                    return Ok(Press::Stale);
                }
                if action == Choice::Reject
                    && let Err(d) = policy::may_reject(&ctx.route, step)
                {
                    return Ok(refusal(d));
                }
                if action == Choice::Return
                    && let Err(d) = self.may_return(&ctx)
                {
                    return Ok(refusal(d));
                }
                match action {
                    Choice::Approve => self.approve(&mut tx, &ctx, &me).await?,
                    _ => {
                        self.ask_reason(&mut tx, user_id, chat_id, &ctx, stage, action)
                            .await?
                    }
                }
            }
            (Stage::Record { .. }, Choice::Keep | Choice::Correct) => {
                if let Err(d) = self.allowed(user_id, &bound, Action::Record, &ctx) {
                    return Ok(refusal(d));
                }
                if ctx.state() != State::Recording || stage_key(&ctx.req) != stage {
                    return Ok(Press::Stale);
                }
                self.start_record(&mut tx, user_id, chat_id, &ctx, action)
                    .await?
            }
            (Stage::Confirm { .. }, Choice::Sign | Choice::Dispute) => {
                let me = match self.allowed(user_id, &bound, Action::Sign, &ctx) {
                    Ok(me) => me,
                    Err(d) => return Ok(refusal(d)),
                };
                if ctx.state() != State::Confirming || stage_key(&ctx.req) != stage {
                    return Ok(Press::Stale);
                }
                if action == Choice::Sign {
                    self.confirm_result(&mut tx, &ctx, &me).await?
                } else {
                    self.ask_reason(&mut tx, user_id, chat_id, &ctx, stage, action)
                        .await?
                }
            }
            (Stage::Recheck { .. }, Choice::Agree | Choice::SendBack) => {
                let me = match self.allowed(user_id, &bound, Action::Recheck, &ctx) {
                    Ok(me) => me,
                    Err(d) => return Ok(refusal(d)),
                };
                if ctx.state() != State::Rechecking || stage_key(&ctx.req) != stage {
                    return Ok(Press::Stale);
                }
                if action == Choice::Agree {
                    self.recheck_agree(&mut tx, &ctx, &me).await?
                } else if let Err(d) = self.may_send_back(&ctx) {
                    return Ok(refusal(d));
                } else {
                    self.ask_reason(&mut tx, user_id, chat_id, &ctx, stage, action)
                        .await?
                }
            }
            _ => Press::Refused,
        };
        if press == Press::Accepted {
            // What this person has done leaves their batch card at once, also while the stage
            // waits for others (a group's other signatures, an "all" level's other approvers).
            if matches!(action, Choice::Approve | Choice::Sign | Choice::Agree) {
                self.drop_own_folded_card(&mut tx, id, &stage.to_string(), user_id)
                    .await?;
            }
            tx.commit().await?;
            self.outbox_wake.notify_one();
        }
        Ok(press)
    }

    /// Tells the presser the library is sealed (and by whom) and commits only that; true when
    /// sealed.
    pub(super) async fn refuse_if_sealed(
        &self,
        tx: &mut Conn,
        chat_id: i64,
        ctx: &Ctx,
    ) -> anyhow::Result<bool> {
        let Some(seal) = crate::store::seals::in_force(tx, ctx.season.id).await? else {
            return Ok(false);
        };
        let at =
            crate::domain::deadline::display(crate::store::from_ms(seal.sealed_at), ctx.season.tz);
        self.tell(
            tx,
            chat_id,
            tpl::REVIEW_SEALED,
            &json!({"at": at, "by": seal.sealed_by, "id": ctx.req.id}),
        )
        .await?;
        Ok(true)
    }

    /// A decision that needs its reason (驳回, 退回修改, 异议, 退回复核小组): the reason dialogue
    /// starts, remembering the stage the card was for.
    async fn ask_reason(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        ctx: &Ctx,
        stage: Stage,
        action: Choice,
    ) -> anyhow::Result<Press> {
        let why = Why {
            request: ctx.req.id,
            stage,
            action,
            purpose: ctx.purpose(),
        };
        let mut s = Session::new(user_id, chat_id, Kind::Why, Reason, why);
        self.enter(conn, &mut s).await?;
        Ok(Press::Accepted)
    }

    async fn approve(&self, conn: &mut Conn, ctx: &Ctx, me: &Binding) -> anyhow::Result<Press> {
        let now = self.clock.now();
        let route = &ctx.route;
        let step = ctx.req.step as usize;
        let event = NewEvent {
            request_id: ctx.req.id,
            user_id: me.telegram_user_id,
            actor_name: &me.name,
            actor_role: me.role.slug(),
            step: Some(ctx.req.step),
            round: ctx.req.round,
            action: "approve",
            comment: "",
        };
        // One opinion a person at a level: who refused does not also agree.
        if step_votes(conn, ctx, "reject")
            .await?
            .contains(&me.telegram_user_id)
        {
            return Ok(refusal(Denied::AlreadyDecided));
        }
        let detail = format!("request {} step {}", ctx.req.id, ctx.req.step);
        if !self.note_event(conn, &event, &detail).await? {
            return Ok(Press::Stale);
        }
        let votes = step_votes(conn, ctx, "approve").await?;
        // A vote counts while its caster still holds the step: a revoked person's is void.
        let holders = self.step_holders(conn, ctx, step).await?;
        let votes: Vec<i64> = votes
            .into_iter()
            .filter(|v| holders.iter().any(|h| h.telegram_user_id == *v))
            .collect();
        if !route.steps[step].rule.satisfied(votes.len(), holders.len()) {
            self.tell(
                conn,
                me.chat_id,
                tpl::REVIEW_VOTE_RECORDED,
                &json!({"id": ctx.req.id, "votes": votes.len()}),
            )
            .await?;
            return Ok(Press::Accepted);
        }
        let stage = stage_key(&ctx.req);
        let sent_up = route.sent_up_by(ctx.school.city_direct) == Some(step);
        let (to, next) = match route.step_from(step + 1, ctx.school.city_direct) {
            // 附件3: agreed below the city, it waits for its county's 上报.
            Some(n) if sent_up => (State::Reporting, n as i64),
            Some(n) => (State::Pending, n as i64),
            // A 免考 application's last level decides it; a review goes on to its group.
            None => (ctx.purpose().after_the_levels(), route.steps.len() as i64),
        };
        if !reviews::transition(conn, &ctx.req, to, next, ctx.req.round, now).await? {
            return Ok(Press::Stale);
        }
        audit(
            conn,
            now,
            &Actor::Person(me.telegram_user_id).label(),
            "review-approve",
            &format!("request {} at {}", ctx.req.id, route.steps[step].name),
        )
        .await?;
        let level = route.steps[step].name.clone();
        let outcome = json!({"action": "approve", "actor": me.name, "level": level, "reason": ""});
        let now_ctx = self
            .load_ctx(conn, ctx.req.id)
            .await?
            .expect("request exists");
        self.close_cards(conn, &now_ctx, stage, &outcome).await?;
        if to == State::Completed {
            self.exemption_approved(conn, &now_ctx, me).await?;
            return Ok(Press::Accepted);
        }
        self.announce_stage(conn, &now_ctx).await?;
        let progress = json!({"id": ctx.req.id, "name": ctx.cand.name, "level": level,
                              "actor": me.name, "next": self.level_name(&now_ctx)});
        self.tell_applicants(conn, ctx, tpl::REVIEW_PROGRESS, &progress, None)
            .await?;
        Ok(Press::Accepted)
    }

    /// The reason for a rejection, a return or a dispute has been typed.
    pub(crate) async fn decide_with_reason(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        why: &Why,
        reason: &str,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let (id, stage, action) = (why.request, why.stage, why.action);
        let Some(ctx) = self.lock_dialogue_request(conn, chat_id, id).await? else {
            return Ok(());
        };
        // The state the reason was asked in: a returned request keeps its pending stage key,
        // so the key alone would let a second holder's late reason return it again.
        let (asked_in, wanted) = match action {
            Choice::Dispute => (State::Confirming, Action::Sign),
            Choice::SendBack => (State::Rechecking, Action::Recheck),
            _ => (
                State::Pending,
                Action::Decide {
                    step: ctx.req.step as usize,
                },
            ),
        };
        if stage_key(&ctx.req) != stage || ctx.state() != asked_in {
            return self
                .tell(
                    conn,
                    chat_id,
                    tpl::REVIEW_ALREADY_HANDLED,
                    &json!({"id": id}),
                )
                .await;
        }
        if ctx.purpose().lapses_when_the_exam_begins() && self.exam_begun(&ctx.season) {
            return self
                .tell(conn, chat_id, tpl::EXEMPT_EXAM_BEGUN, &json!({"id": id}))
                .await;
        }
        let bound = people::of_user(conn, user_id).await?;
        let veto = match action {
            Choice::Reject => policy::may_reject(&ctx.route, ctx.req.step as usize),
            Choice::Return => self.may_return(&ctx),
            Choice::SendBack => self.may_send_back(&ctx),
            _ => Ok(()),
        };
        let me = match self
            .allowed(user_id, &bound, wanted, &ctx)
            .and_then(|me| veto.map(|()| me))
        {
            Ok(me) => me,
            Err(d) => return self.tell(conn, chat_id, d.template(), &json!({})).await,
        };
        // A level several people sign gives its 不同意 as it gives its 同意: with as many
        // signatures (附件2 县级: 签名（至少三人）). One dissent is recorded and counted.
        let level_rule = ctx.route.steps.get(ctx.req.step as usize).map(|s| s.rule);
        let counted = action == Choice::Reject && level_rule.is_some_and(|r| r != Rule::AnyOne);
        if counted && !self.dissent(conn, &ctx, &me, reason).await? {
            return Ok(());
        }
        let (to, step, round, event_action) = match action {
            Choice::Reject => (State::Rejected, ctx.req.step, ctx.req.round, "reject"),
            Choice::Return => (State::Returned, ctx.req.step, ctx.req.round, "return"),
            Choice::Dispute => (State::Recording, ctx.req.step, ctx.req.round + 1, "dispute"),
            // 退回复核小组: the group records and signs again, in a new round.
            Choice::SendBack => (
                State::Recording,
                ctx.req.step,
                ctx.req.round + 1,
                "recheck_return",
            ),
            _ => return Ok(()),
        };
        if !reviews::transition(conn, &ctx.req, to, step, round, now).await? {
            return self
                .tell(
                    conn,
                    chat_id,
                    tpl::REVIEW_ALREADY_HANDLED,
                    &json!({"id": id}),
                )
                .await;
        }
        let event_step =
            (!matches!(action, Choice::Dispute | Choice::SendBack)).then_some(ctx.req.step);
        // A counted dissent's event is already written.
        if !counted {
            self.note_event(
                conn,
                &NewEvent {
                    request_id: id,
                    user_id,
                    actor_name: &me.name,
                    actor_role: me.role.slug(),
                    step: event_step,
                    round: ctx.req.round,
                    action: event_action,
                    comment: reason,
                },
                &format!("request {id}: {reason}"),
            )
            .await?;
        }
        let level = self.level_name(&ctx);
        let outcome =
            json!({"action": event_action, "actor": me.name, "level": level, "reason": reason});
        let now_ctx = self.load_ctx(conn, id).await?.expect("request exists");
        self.close_cards(conn, &now_ctx, stage, &outcome).await?;
        let info = json!({"id": id, "name": ctx.cand.name, "level": level, "actor": me.name, "reason": reason});
        match to {
            State::Rejected => {
                let template = ctx.purpose().refused();
                self.tell_applicants(conn, &ctx, template, &info, None)
                    .await?
            }
            State::Returned => {
                let markup = Buttons::rows(vec![vec![
                    button(
                        self.render.text(tpl::BUTTON_AMEND)?,
                        Callback::Review {
                            id,
                            stage: Stage::Returned {
                                round: ctx.req.round,
                            },
                            action: Choice::Amend,
                        }
                        .encode(),
                    ),
                    button(
                        self.render.text(tpl::BUTTON_WITHDRAW)?,
                        Callback::Review {
                            id,
                            stage: Stage::Withdraw,
                            action: Choice::Withdraw,
                        }
                        .encode(),
                    ),
                ]]);
                self.tell_applicants(conn, &ctx, tpl::REVIEW_RETURNED, &info, Some(markup))
                    .await?;
            }
            _ => {
                // A dispute or the city's return: the group records again; the recorder hears
                // why, and the group's new cards show it.
                if let Some(recorder) = ctx.req.recorded_by {
                    let info = json!({"id": id, "name": ctx.cand.name, "level": level,
                                      "actor": me.name, "reason": reason, "action": action.code()});
                    for b in people::of_user(conn, recorder).await?.into_iter().take(1) {
                        self.tell(conn, b.chat_id, tpl::REVIEW_DISPUTED, &info)
                            .await?;
                    }
                }
                self.announce_stage(conn, &now_ctx).await?;
            }
        }
        Ok(())
    }

    /// A 不同意 at a level several people sign: recorded with its reason, and counted among the
    /// level's current holders. True when enough have given it for the level's opinion (the
    /// request then ends); otherwise the signer hears how many have.
    async fn dissent(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        me: &Binding,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let (id, round, step) = (ctx.req.id, ctx.req.round, ctx.req.step);
        if step_votes(conn, ctx, "approve")
            .await?
            .contains(&me.telegram_user_id)
        {
            let template = Denied::AlreadyDecided.template();
            self.tell(conn, me.chat_id, template, &json!({})).await?;
            return Ok(false);
        }
        let event = NewEvent {
            request_id: id,
            user_id: me.telegram_user_id,
            actor_name: &me.name,
            actor_role: me.role.slug(),
            step: Some(step),
            round,
            action: "reject",
            comment: reason,
        };
        if !self
            .note_event(conn, &event, &format!("request {id}: {reason}"))
            .await?
        {
            let data = json!({"id": id});
            self.tell(conn, me.chat_id, tpl::REVIEW_ALREADY_HANDLED, &data)
                .await?;
            return Ok(false);
        }
        let holders = self.step_holders(conn, ctx, step as usize).await?;
        let votes = step_votes(conn, ctx, "reject")
            .await?
            .into_iter()
            .filter(|v| holders.iter().any(|h| h.telegram_user_id == *v))
            .count();
        let rule = ctx.route.steps[step as usize].rule;
        if rule.satisfied(votes, holders.len()) {
            return Ok(true);
        }
        let data = json!({"id": id, "votes": votes, "level": self.level_name(ctx)});
        self.tell(conn, me.chat_id, tpl::REVIEW_DISSENT_RECORDED, &data)
            .await?;
        Ok(false)
    }

    async fn withdraw(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        ctx: &Ctx,
    ) -> anyhow::Result<Press> {
        let now = self.clock.now();
        let bound = people::of_user(conn, user_id).await?;
        if let Err(d) = self.allowed(user_id, &bound, Action::Withdraw, ctx) {
            return Ok(refusal(d));
        }
        if !ctx.state().withdrawable() {
            return Ok(Press::Stale);
        }
        let stage = stage_key(&ctx.req);
        if !reviews::transition(
            conn,
            &ctx.req,
            State::Withdrawn,
            ctx.req.step,
            ctx.req.round,
            now,
        )
        .await?
        {
            return Ok(Press::Stale);
        }
        self.note_event(
            conn,
            &NewEvent {
                request_id: ctx.req.id,
                user_id,
                actor_name: &ctx.req.filer_name,
                actor_role: "filer",
                step: None,
                round: ctx.req.round,
                action: "withdraw",
                comment: "",
            },
            &format!("request {}", ctx.req.id),
        )
        .await?;
        let level = self.level_name(ctx);
        let outcome = json!({"action": "withdraw", "actor": ctx.req.filer_name, "level": level, "reason": ""});
        let now_ctx = self
            .load_ctx(conn, ctx.req.id)
            .await?
            .expect("request exists");
        self.close_cards(conn, &now_ctx, stage, &outcome).await?;
        // Everyone who acted on it or holds its card now hears of it.
        let mut told = vec![user_id];
        let mut people_involved: Vec<i64> = reviews::events(conn, ctx.req.id)
            .await?
            .iter()
            .map(|e| e.user_id)
            .collect();
        people_involved.extend(
            reviews::cards(conn, ctx.req.id, &stage.to_string())
                .await?
                .into_iter()
                .map(|(u, _)| u),
        );
        // A 免考 application's school hears every step of it, its end too.
        if ctx.purpose().tells_the_school() {
            let contacts = people::holders(conn, Role::SchoolContact, &ctx.school.code).await?;
            people_involved.extend(contacts.iter().map(|b| b.telegram_user_id));
        }
        let info = json!({"id": ctx.req.id, "name": ctx.cand.name, "school": ctx.school.name, "filer": ctx.req.filer_name});
        for person in people_involved {
            if told.contains(&person) {
                continue;
            }
            told.push(person);
            if let Some(b) = people::of_user(conn, person).await?.first() {
                self.tell(conn, b.chat_id, tpl::REVIEW_WITHDRAWN, &info)
                    .await?;
            }
        }
        self.tell(conn, chat_id, tpl::REVIEW_WITHDRAWN_FILER, &info)
            .await?;
        self.drop_dialogues_about(conn, user_id, ctx.req.id).await?;
        Ok(Press::Accepted)
    }
}

/// Who gave `action` ("approve", "reject") at the request's current level this round.
async fn step_votes(conn: &mut Conn, ctx: &Ctx, action: &str) -> anyhow::Result<Vec<i64>> {
    Ok(reviews::votes(conn, ctx.req.id, ctx.req.round, Some(ctx.req.step), action).await?)
}

/// A refusal that only confirms what the card already showed is said plainly; one about a
/// request the person could not see is the generic refusal.
pub(super) fn refusal(d: Denied) -> Press {
    if d.hides_existence() {
        Press::Refused
    } else {
        Press::Denied(d)
    }
}
