//! The workflow engine: a request (a score review's 附件5 or a 免考 application's 附件2) on the
//! route its unit keeps — the approval levels, the review group's countersigned result and the
//! city's 复审, 上报 with the unit's 汇总表 — and what each person may see of it. What differs
//! between the purposes is data (`domain::purpose`) or the purpose's own module
//! (`app::review`, `app::exemption`). Every change is one transaction with a guarded update on
//! the request's version; the messages it causes go through the outbox.

mod batch;
pub(crate) use batch::{UnitCard, batch_of, summary_line};
mod cards;
pub(crate) mod decide;
mod filing;
mod folding;
mod form;
pub(crate) use filing::{Amendment, NewFiling};
pub(crate) use form::{Identifiers, applicant_line};
mod send_up;
pub(crate) use send_up::report_card_key;
pub(crate) mod recording;
pub(crate) mod result;
mod views;
mod window;

pub use views::PendingItem;

use super::App;
use super::policy::{self, Action, Denied, Subject};
use crate::domain::review::State;
use crate::domain::stage::{Choice, Stage};
use crate::domain::workflow::{Purpose, Route, Scope};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::candidates::{self, Candidate};
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use crate::store::reviews::{self, Request};
use crate::store::seasons::{self, Season};
use crate::store::units::{self, Unit};
use anyhow::Context;
use serde_json::{Value, json};

/// Everything about a request that cards and views show.
pub(crate) struct Ctx {
    pub req: Request,
    pub cand: Candidate,
    pub school: Unit,
    pub district: Option<Unit>,
    pub season: Season,
    /// The city's unit code (whose bindings are city people).
    pub city: String,
    /// Every approval given on the request so far, any round: (user, step).
    pub approvals: Vec<(i64, i64)>,
    /// Who confirmed the current result (this round).
    pub signers: Vec<i64>,
    /// Who gave the city's 复审 同意 to the current result (this round).
    pub rechecked: Vec<i64>,
    /// The route the request was filed on.
    pub route: Route,
}

impl Ctx {
    pub fn state(&self) -> State {
        self.req.state()
    }

    /// The request as the permission model sees it.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            city: &self.city,
            province: "",
            school: &self.school.code,
            district: self.district.as_ref().map(|d| d.code.as_str()),
            class: &self.cand.class_name,
            filer: Some(self.req.filer_user_id),
            recorded_by: self.req.recorded_by,
            approvals: &self.approvals,
            signers: &self.signers,
            rechecked: &self.rechecked,
        }
    }

    /// What the request is: what differs between a review and a 免考 application.
    pub fn purpose(&self) -> Purpose {
        self.route.purpose
    }

    /// The template of this request's card (附件5's fields, or 附件2's).
    pub fn card_template(&self) -> &'static str {
        self.purpose().card_template()
    }

    /// The unit whose review group reviews this request.
    pub fn group_unit(&self) -> &str {
        let district = self.district.as_ref().map(|d| d.code.as_str());
        self.route.group.unit_of(&self.city, district)
    }

    /// The group's name as the forms write it (东湖区复核小组, 市直学校复核小组, 市级复核小组).
    pub fn group_name(&self) -> String {
        let district = self.district.as_ref().map(|d| d.name.as_str());
        self.route.group.title(district)
    }
}

/// The stage of the cards sent for the request's current position.
pub(crate) fn stage_key(req: &Request) -> Stage {
    Stage::of(req.state(), req.step, req.round)
}

/// The city's 复审 as the forms name it (附件5 市级复审结果).
pub(crate) const RECHECK_NAME: &str = "市级复审";

/// Opinions a card shows (the latest), and characters of each comment on it.
const CARD_OPINIONS: usize = 8;
const CARD_COMMENT: usize = 80;

impl App {
    /// The review route of a city's new requests (its own `[cities.…review]`, else the
    /// deployment's).
    pub(crate) fn route(&self, city: &str) -> Route {
        self.config.review_route(city)
    }

    /// The city's configured route for this kind of request: what a request filed before
    /// routes were kept (or whose stored route does not read) climbs.
    pub(crate) fn configured_route(&self, city: &str, purpose: Purpose) -> Route {
        match purpose {
            Purpose::Exemption => self.config.exemption_of(city).route(),
            Purpose::Review => self.route(city),
        }
    }

    /// Loads a request for changing it: takes its row lock first (see `reviews::lock`).
    pub(crate) async fn lock_ctx(&self, conn: &mut Conn, id: i64) -> anyhow::Result<Option<Ctx>> {
        reviews::lock(conn, id).await?;
        self.load_ctx(conn, id).await
    }

    /// Locks the request a dialogue is about; tells the user and returns
    /// None when it no longer exists.
    pub(crate) async fn lock_dialogue_request(
        &self,
        conn: &mut Conn,
        chat_id: i64,
        id: i64,
    ) -> anyhow::Result<Option<Ctx>> {
        let ctx = self.lock_ctx(conn, id).await?;
        if ctx.is_none() {
            self.tell(conn, chat_id, tpl::REVIEW_NOT_FOUND, &json!({"id": id}))
                .await?;
        }
        Ok(ctx)
    }

    pub(crate) async fn load_ctx(&self, conn: &mut Conn, id: i64) -> anyhow::Result<Option<Ctx>> {
        let Some(req) = reviews::get(conn, id).await? else {
            return Ok(None);
        };
        // An exemption names the roster's candidate (there are no scores before the exam).
        let cand = match req.kind.as_str() {
            "exemption" => crate::store::roster::by_id(conn, req.candidate_id)
                .await?
                .map(|r| r.as_candidate()),
            _ => candidates::by_id(conn, req.candidate_id).await?,
        }
        .context("candidate of a request")?;
        let school = units::get(conn, &req.school_code)
            .await?
            .context("school of a request")?;
        let district = match (&school.parent_code, school.city_direct) {
            (Some(p), false) => units::get(conn, p).await?,
            _ => None,
        };
        // The request's own season, and the city it belongs to: nothing of another city's
        // season or people enters its context.
        let season = seasons::by_id(conn, req.season_id)
            .await?
            .context("season of a request")?;
        let city = season.city_code.clone();
        let approvals = reviews::approvals(conn, id).await?;
        let signers = reviews::votes(conn, id, req.round, None, "confirm").await?;
        let rechecked = reviews::votes(conn, id, req.round, None, "recheck").await?;
        let route = self.route_of(&req, &city);
        Ok(Some(Ctx {
            req,
            cand,
            school,
            district,
            season,
            city,
            approvals,
            signers,
            rechecked,
            route,
        }))
    }

    /// The route a request climbs: the one it was filed on, else (filed before routes were
    /// kept, or unreadable) its city's configured one; its kind decides its purpose.
    pub(crate) fn route_of(&self, req: &Request, city: &str) -> Route {
        // The kind decides what a request is; the stored route, which levels it climbs.
        let exemption = req.kind == Purpose::Exemption.kind();
        let purpose = if exemption {
            Purpose::Exemption
        } else {
            Purpose::Review
        };
        let configured = || self.configured_route(city, purpose);
        let mut route = match req.route.as_deref().map(serde_json::from_str::<Route>) {
            Some(Ok(route)) => route,
            // Filed before routes were kept: the configured route, as before. A route that
            // does not read is treated the same (as `Routes` does), and said in the log.
            None => configured(),
            Some(Err(e)) => {
                tracing::warn!(
                    "request {} has an unreadable route ({e}); using the configured one",
                    req.id
                );
                configured()
            }
        };
        if exemption {
            route.purpose = Purpose::Exemption;
        }
        route
    }

    /// A request as a view shows it (the season board), from rows read in bulk, on its route
    /// (`route_of`): no votes are loaded, so it answers `Action::See` and where the request stands, and nothing that
    /// decides.
    pub(crate) fn view_ctx(
        &self,
        req: Request,
        cand: Candidate,
        school: Unit,
        district: Option<Unit>,
        season: &Season,
        route: Route,
    ) -> Ctx {
        let city = season.city_code.clone();
        Ctx {
            req,
            cand,
            school,
            district,
            season: season.clone(),
            city,
            approvals: Vec::new(),
            signers: Vec::new(),
            rechecked: Vec::new(),
            route,
        }
    }

    /// The people who act at approval step `step` for this request.
    pub(crate) async fn step_holders(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        step: usize,
    ) -> anyhow::Result<Vec<Binding>> {
        let found = self.step_bound(conn, ctx, step).await?;
        // The duty rules keep the filer and whoever approved another level off the step.
        Ok(self.able(found, Action::Decide { step }, ctx))
    }

    /// Everyone bound under a step's role in its unit for this request, whether or not the
    /// duty rules let them act on it.
    pub(crate) async fn step_bound(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        step: usize,
    ) -> anyhow::Result<Vec<Binding>> {
        let Some(s) = ctx.route.steps.get(step) else {
            return Ok(Vec::new());
        };
        if let (role, true) = s.holder(ctx.district.is_none()) {
            return people::holders(conn, role, &ctx.city).await;
        }
        let found = match s.unit {
            Scope::Class => {
                people::holders_in_class(conn, s.role, &ctx.school.code, &ctx.cand.class_name)
                    .await?
            }
            Scope::School => people::holders(conn, s.role, &ctx.school.code).await?,
            Scope::District => match &ctx.district {
                Some(d) => people::holders(conn, s.role, &d.code).await?,
                None => Vec::new(),
            },
            Scope::City => people::all_holders(conn, s.role, &ctx.city).await?,
        };
        Ok(found)
    }

    /// The request's review group: everyone bound under one of the group's roles in the
    /// group's unit, each binding (a person holding two of the roles appears twice).
    pub(crate) async fn group_bindings(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
    ) -> anyhow::Result<Vec<Binding>> {
        let mut found = Vec::new();
        for role in &ctx.route.group.roles {
            found.extend(people::holders(conn, *role, ctx.group_unit()).await?);
        }
        Ok(found)
    }

    /// The request's review group, one entry per person.
    pub(crate) async fn group_members(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
    ) -> anyhow::Result<Vec<Binding>> {
        let mut members: Vec<Binding> = Vec::new();
        for b in self.group_bindings(conn, ctx).await? {
            if !members
                .iter()
                .any(|m| m.telegram_user_id == b.telegram_user_id)
            {
                members.push(b);
            }
        }
        Ok(members)
    }

    /// Tells the applicant's side: the filer, and for a 免考 application also the school's
    /// contacts (附件2: the applicant and the school hear every step), each once.
    pub(crate) async fn tell_applicants(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        template: &str,
        data: &Value,
        buttons: Option<crate::buttons::Buttons>,
    ) -> anyhow::Result<()> {
        self.tell_with(conn, ctx.req.filer_chat_id, template, data, buttons)
            .await?;
        if !ctx.purpose().tells_the_school() {
            return Ok(());
        }
        let mut told = vec![ctx.req.filer_user_id];
        for b in people::holders(conn, crate::domain::Role::SchoolContact, &ctx.school.code).await?
        {
            if !told.contains(&b.telegram_user_id) {
                told.push(b.telegram_user_id);
                self.tell(conn, b.chat_id, template, data).await?;
            }
        }
        Ok(())
    }

    /// Queues a plain message from a template.
    pub(crate) async fn tell(
        &self,
        conn: &mut Conn,
        chat_id: i64,
        template: &str,
        data: &Value,
    ) -> anyhow::Result<()> {
        self.tell_with(conn, chat_id, template, data, None).await
    }

    pub(crate) async fn tell_with(
        &self,
        conn: &mut Conn,
        chat_id: i64,
        template: &str,
        data: &Value,
        buttons: Option<crate::buttons::Buttons>,
    ) -> anyhow::Result<()> {
        // A plain notice is never edited: it may go out together with the next ones.
        let msg = Outgoing {
            chat_id,
            body: self.render.render(template, data)?,
            mergeable: buttons.is_none(),
            buttons,
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, self.clock.now()).await?;
        Ok(())
    }

    /// Sends the cards for where the request now stands (an approval step, the group, the
    /// city's 复审).
    pub(crate) async fn announce_stage(&self, conn: &mut Conn, ctx: &Ctx) -> anyhow::Result<()> {
        self.announce_stage_to(conn, ctx, None).await
    }

    /// The same, to `only` this person when given (someone bound after the stage began: a
    /// group short of its 纪检监督 gets one, and they need the card to sign). A person who
    /// has the card already gets no second one (the outbox's dedupe key).
    pub(crate) async fn announce_stage_to(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        only: Option<i64>,
    ) -> anyhow::Result<()> {
        let stage = stage_key(&ctx.req);
        let keep = |people: Vec<Binding>| -> Vec<Binding> {
            people
                .into_iter()
                .filter(|b| only.is_none_or(|u| u == b.telegram_user_id))
                .collect()
        };
        match ctx.state() {
            State::Pending => {
                let step = ctx.req.step as usize;
                let holders = keep(self.step_holders(conn, ctx, step).await?);
                // 驳回 only where the route gives the level a veto (none below the group by
                // default).
                let reject = ctx.purpose().reject_label();
                let buttons: &[(&str, Choice)] = match policy::may_reject(&ctx.route, step) {
                    Ok(()) => &[
                        (tpl::BUTTON_APPROVE, Choice::Approve),
                        (reject, Choice::Reject),
                        (tpl::BUTTON_RETURN, Choice::Return),
                    ],
                    Err(_) => &[
                        (tpl::BUTTON_APPROVE, Choice::Approve),
                        (tpl::BUTTON_RETURN, Choice::Return),
                    ],
                };
                self.send_cards(
                    conn,
                    ctx,
                    stage,
                    &holders,
                    tpl::REVIEW_CARD_HEADING,
                    buttons,
                )
                .await
            }
            State::Recording => {
                let members = keep(self.eligible_members(conn, ctx).await?);
                self.send_cards(
                    conn,
                    ctx,
                    stage,
                    &members,
                    tpl::REVIEW_RECORD_HEADING,
                    &[
                        (tpl::BUTTON_KEEP, Choice::Keep),
                        (tpl::BUTTON_CORRECT, Choice::Correct),
                    ],
                )
                .await
            }
            // Cards to sign go out when the result is recorded (`submit_record`); this is for
            // a member who joins afterwards.
            State::Confirming => {
                let unsigned: Vec<Binding> = self
                    .eligible_members(conn, ctx)
                    .await?
                    .into_iter()
                    .filter(|m| {
                        let one = std::slice::from_ref(m);
                        self.allowed(m.telegram_user_id, one, Action::Sign, ctx)
                            .is_ok()
                    })
                    .collect();
                self.send_cards(
                    conn,
                    ctx,
                    stage,
                    &keep(unsigned),
                    tpl::REVIEW_CONFIRM_HEADING,
                    &[
                        (tpl::BUTTON_CONFIRM, Choice::Sign),
                        (tpl::BUTTON_DISPUTE, Choice::Dispute),
                    ],
                )
                .await
            }
            // One card for the unit's batch, not one per request.
            State::Reporting => self.refresh_report_card(conn, ctx, only, false).await,
            State::Rechecking => {
                let reviewers = keep(self.eligible_recheckers(conn, ctx).await?);
                self.send_cards(
                    conn,
                    ctx,
                    stage,
                    &reviewers,
                    tpl::REVIEW_RECHECK_HEADING,
                    &[
                        (tpl::BUTTON_RECHECK_AGREE, Choice::Agree),
                        (tpl::BUTTON_RECHECK_RETURN, Choice::SendBack),
                    ],
                )
                .await
            }
            _ => Ok(()),
        }
    }

    /// Appends a request event and its audit line together; false when the same vote was
    /// already cast (nothing is written then).
    pub(crate) async fn note_event(
        &self,
        conn: &mut Conn,
        event: &reviews::NewEvent<'_>,
        detail: &str,
    ) -> anyhow::Result<bool> {
        let now = self.clock.now();
        if !reviews::add_event(conn, event, now).await? {
            return Ok(false);
        }
        let actor = match event.user_id {
            0 => "system".to_string(),
            id => crate::app::Actor::Person(id).label(),
        };
        let action = format!("review-{}", event.action);
        crate::store::audit(conn, now, &actor, &action, detail).await?;
        Ok(true)
    }
}

impl App {
    /// The permission model's answer for this person on this request (see `policy`).
    pub(crate) fn allowed(
        &self,
        user_id: i64,
        bound: &[Binding],
        action: Action,
        ctx: &Ctx,
    ) -> Result<Binding, Denied> {
        let me = policy::check(&ctx.route, user_id, bound, action, &ctx.subject())?;
        // After the review's window nothing below the city moves a request: a result reaches
        // the city in time or not at all (the city's 复审 takes what reached it).
        let below_city = matches!(
            action,
            Action::Decide { .. } | Action::Record | Action::Sign | Action::Report
        );
        let over = self
            .review_window(&ctx.season)
            .is_some_and(|w| !w.open(self.clock.now()));
        if below_city && over && ctx.purpose().in_the_review_window() {
            return Err(Denied::ReviewOver);
        }
        Ok(me)
    }

    /// The group members who may record or sign this request's result: the group, less anyone
    /// a duty rule keeps out (the filer, whoever approved a level of it).
    pub(crate) async fn eligible_members(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
    ) -> anyhow::Result<Vec<Binding>> {
        let members = self.group_members(conn, ctx).await?;
        Ok(self.able(members, Action::Record, ctx))
    }

    /// The city's people who may give this request's 复审 now.
    pub(crate) async fn eligible_recheckers(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
    ) -> anyhow::Result<Vec<Binding>> {
        let found = people::holders(conn, ctx.route.recheck.role, &ctx.city).await?;
        Ok(self.able(found, Action::Recheck, ctx))
    }

    /// Those of `people` whom the permission model lets do `action` on the request.
    fn able(&self, people: Vec<Binding>, action: Action, ctx: &Ctx) -> Vec<Binding> {
        people
            .into_iter()
            .filter(|b| {
                let one = std::slice::from_ref(b);
                self.allowed(b.telegram_user_id, one, action, ctx).is_ok()
            })
            .collect()
    }
}

impl App {
    /// Someone just bound: the cards of every request at a stage where they now act, read on a
    /// connection of its own and queued in one short transaction.
    pub(crate) async fn hand_over_cards(&self, user_id: i64) -> anyhow::Result<()> {
        let waiting = {
            let mut conn = self.db.pool.acquire().await?;
            self.pending_for(&mut conn, user_id).await?
        };
        if waiting.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        for item in waiting {
            if let Some(ctx) = self.lock_ctx(&mut tx, item.id).await? {
                self.announce_stage_to(&mut tx, &ctx, Some(user_id)).await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

impl App {
    /// The permission model's answer for one person, one action and one request, read from the
    /// database as every path reads it (for the permission-matrix test and for tooling).
    pub async fn permission(
        &self,
        user_id: i64,
        action: Action,
        request_id: i64,
    ) -> anyhow::Result<Result<(), Denied>> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        let ctx = self
            .load_ctx(&mut conn, request_id)
            .await?
            .with_context(|| format!("request {request_id}"))?;
        Ok(self.allowed(user_id, &bound, action, &ctx).map(|_| ()))
    }
}
