//! Where every purpose's filing ends: a new request filed on its unit's route, and a returned
//! one sent up again with its amended content. Who may file, and what the form holds, are the
//! purpose's (`app::review`, `app::exemption`); the steps a request then takes are the route's.

use super::{App, Ctx};
use crate::app::callback::Press;
use crate::app::policy::{self, Action, Subject};
use crate::domain::Role;
use crate::domain::attachment::Attachment;
use crate::domain::review::{State, batch_unit};
use crate::domain::workflow::Purpose;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::people::{self, Binding};
use crate::store::reviews::{self, NewEvent, NewRequest};
use crate::store::seasons::Season;
use crate::store::units::Unit;
use anyhow::Context;
use serde_json::json;

impl App {
    /// The filer pressed "amend and resubmit" on a returned request: each purpose amends its
    /// own form, in its own dialogue.
    pub(crate) async fn start_amendment(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        ctx: &Ctx,
    ) -> anyhow::Result<Press> {
        let bound = people::of_user(conn, user_id).await?;
        if let Err(d) = self.allowed(user_id, &bound, Action::Withdraw, ctx) {
            return Ok(Press::Denied(d));
        }
        if ctx.state() != State::Returned {
            return Ok(Press::Stale);
        }
        match ctx.purpose() {
            Purpose::Exemption => {
                self.start_exemption_amendment(conn, user_id, chat_id, ctx)
                    .await?;
                Ok(Press::Accepted)
            }
            Purpose::Review => {
                self.start_review_amendment(conn, user_id, chat_id, ctx)
                    .await
            }
        }
    }

    /// Files a new request of either purpose on its unit's route, which it keeps (the
    /// district's or city-direct school's 实施细则 where they have their own, else the city's):
    /// the filer's own first level signed by filing, the events, and its first level told. A
    /// request whose every level was its filer's goes straight to what follows the levels.
    /// None when someone filed for the candidate a moment ago.
    pub(crate) async fn file_request(
        &self,
        conn: &mut Conn,
        f: NewFiling<'_>,
    ) -> anyhow::Result<Option<Ctx>> {
        let now = self.clock.now();
        let (purpose, school) = (f.purpose, f.school);
        let city = &f.season.city_code;
        let district = school
            .parent_code
            .as_deref()
            .filter(|_| !school.city_direct);
        let unit = batch_unit(&school.code, district);
        let route = match purpose {
            Purpose::Review => self.config.review_route_of_unit(city, unit),
            Purpose::Exemption => self.config.exemption_route_of_unit(city, unit),
        };
        let subject = Subject {
            city,
            school: &school.code,
            district,
            class: f.class_name,
            ..Subject::default()
        };
        let (first, signed) = policy::starting_level(&route, school.city_direct, f.bound, &subject);
        let user_id = f.filer.telegram_user_id;
        let new = NewRequest {
            season_id: f.season.id,
            candidate_id: f.candidate_id,
            school_code: &school.code,
            filer_user_id: user_id,
            filer_chat_id: f.chat_id,
            filer_name: &f.filer.name,
            reason: f.reason,
            contact: f.contact,
            step: first.map_or(route.steps.len() as i64, |s| s as i64),
            original_score: f.original_score,
            signed_form: f.signed_form,
            route: &serde_json::to_string(&route)?,
            kind: purpose.kind(),
            details: f.details,
        };
        let Some(id) = reviews::insert(conn, &new, now).await? else {
            return Ok(None);
        };
        let event = |action, step: Option<i64>, role| NewEvent {
            request_id: id,
            user_id,
            actor_name: &f.filer.name,
            actor_role: role,
            step,
            round: 1,
            action,
            comment: "",
        };
        let kind = purpose.kind();
        let detail = format!("{kind} {id} for {}", f.exam_no);
        self.note_event(conn, &event("file", None, f.filer.role.slug()), &detail)
            .await?;
        if let Some((step, signer)) = &signed {
            let e = event("approve", Some(*step as i64), signer.role.slug());
            self.note_event(conn, &e, &format!("{kind} {id} signed by its filer"))
                .await?;
        }
        if first.is_none() {
            let new = reviews::get(conn, id)
                .await?
                .context("request just filed")?;
            let to = purpose.after_the_levels();
            let moved = reviews::transition(conn, &new, to, new.step, new.round, now);
            anyhow::ensure!(moved.await?, "request {id} changed while it was filed");
        }
        let ctx = self
            .load_ctx(conn, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("request {id}"))?;
        self.announce_stage(conn, &ctx).await?;
        Ok(Some(ctx))
    }

    /// A level with nobody bound must not stall silently: the filer and the city admins hear
    /// which one.
    pub(crate) async fn warn_empty_levels(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        filer_chat: i64,
    ) -> anyhow::Result<()> {
        let route = &ctx.route;
        // A level nobody is bound to, and one whose only people may not act on this request
        // (they filed it, or signed another of its levels): each said as it is.
        let (mut empty, mut blocked) = (Vec::new(), Vec::new());
        for step in route.applicable(ctx.school.city_direct) {
            if step < ctx.req.step as usize || !self.step_holders(conn, ctx, step).await?.is_empty()
            {
                continue;
            }
            let name = route.steps[step].name.clone();
            match self.step_bound(conn, ctx, step).await?.is_empty() {
                true => empty.push(name),
                false => blocked.push(name),
            }
        }
        let group = &ctx.route.group;
        // A 免考 application has no review group.
        let bindings = match ctx.purpose().has_a_group() {
            true => self.group_bindings(conn, ctx).await?,
            false => Vec::new(),
        };
        let held: Vec<Role> = bindings.iter().map(|b| b.role).collect();
        let missing: Vec<&str> = group.missing(&held).iter().map(|r| r.slug()).collect();
        let members = self.group_members(conn, ctx).await?.len();
        let min = group.min_size as usize;
        let group_short = members < min && ctx.purpose().has_a_group();
        if empty.is_empty() && blocked.is_empty() && !group_short && missing.is_empty() {
            return Ok(());
        }
        let data = json!({
            "id": ctx.req.id, "school": ctx.school.name, "levels": empty, "blocked": blocked,
            "group_short": group_short, "members": members, "min": min,
            "group": ctx.group_name(), "missing": missing,
        });
        self.tell(conn, filer_chat, tpl::REVIEW_NO_ONE, &data)
            .await?;
        for admin in people::all_holders(conn, Role::CityAdmin, &ctx.city).await? {
            self.tell(conn, admin.chat_id, tpl::REVIEW_NO_ONE_ADMIN, &data)
                .await?;
        }
        Ok(())
    }

    /// A returned request's new content, sent up again from the first level, whatever its
    /// purpose: the content changed, so every level sees it again (the first one skipped when
    /// the filer gives it their opinion by filing, as at the first filing).
    pub(crate) async fn resubmit(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        id: i64,
        new: Amendment<'_>,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let Some(ctx) = self.lock_dialogue_request(conn, chat_id, id).await? else {
            return Ok(());
        };
        let handled = json!({"id": id});
        if ctx.req.filer_user_id != user_id || ctx.state() != State::Returned {
            return self
                .tell(conn, chat_id, tpl::REVIEW_ALREADY_HANDLED, &handled)
                .await;
        }
        if ctx.purpose().in_the_review_window()
            && let Err(extra) = self.amend_open(&ctx)
        {
            return self
                .tell(conn, chat_id, tpl::REVIEW_AMEND_CLOSED, &extra)
                .await;
        }
        let (reason, contact) = (new.reason, new.contact);
        let form = new.form.as_ref();
        reviews::amend(conn, id, reason, contact, new.details, form).await?;
        let bound = people::of_user(conn, user_id).await?;
        let anew = Subject {
            filer: None,
            recorded_by: None,
            approvals: &[],
            signers: &[],
            rechecked: &[],
            ..ctx.subject()
        };
        let (first, signed) =
            policy::starting_level(&ctx.route, ctx.school.city_direct, &bound, &anew);
        let (to, step) = match first {
            Some(s) => (State::Pending, s as i64),
            None => (
                ctx.purpose().after_the_levels(),
                ctx.route.steps.len() as i64,
            ),
        };
        let round = ctx.req.round + 1;
        if !reviews::transition(conn, &ctx.req, to, step, round, now).await? {
            return self
                .tell(conn, chat_id, tpl::REVIEW_ALREADY_HANDLED, &handled)
                .await;
        }
        // The audit chain keeps what the amendment replaced (the request keeps only the new).
        let mut detail = format!(
            "{} {id} amended: reason {:?} → {reason:?}; contact {:?} → {contact:?}",
            ctx.purpose().kind(),
            ctx.req.reason,
            ctx.req.contact,
        );
        if form.is_some() {
            detail.push_str("; new signed form");
        }
        if let Some(details) = new.details {
            let old = ctx.req.details.as_deref().unwrap_or("");
            detail.push_str(&format!("; details {old} → {details}"));
        }
        let event = |action, step: Option<i64>, role: &'static str| NewEvent {
            request_id: id,
            user_id,
            actor_name: &ctx.req.filer_name,
            actor_role: role,
            step,
            round,
            action,
            comment: "",
        };
        self.note_event(conn, &event("resubmit", None, "filer"), &detail)
            .await?;
        if let Some((step, signer)) = &signed {
            let e = event("approve", Some(*step as i64), signer.role.slug());
            self.note_event(conn, &e, &format!("request {id} signed by its filer"))
                .await?;
        }
        let ctx = self
            .load_ctx(conn, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("request {id}"))?;
        self.announce_stage(conn, &ctx).await?;
        if let (State::Completed, Some((_, signer))) = (ctx.state(), &signed) {
            self.exemption_approved(conn, &ctx, signer).await?;
        }
        let info = json!({"id": id, "level": self.level_name(&ctx)});
        self.tell_applicants(conn, &ctx, tpl::REVIEW_RESUBMITTED, &info, None)
            .await
    }
}

/// A new request as its purpose's use case has checked it: for whom, by whom, with what.
pub(crate) struct NewFiling<'a> {
    pub purpose: Purpose,
    pub season: &'a Season,
    pub school: &'a Unit,
    pub candidate_id: i64,
    pub exam_no: &'a str,
    pub class_name: &'a str,
    pub filer: &'a Binding,
    /// The filer's bindings: their own first level is signed by filing.
    pub bound: &'a [Binding],
    pub chat_id: i64,
    pub reason: &'a str,
    pub contact: &'a str,
    /// Tenths of a point (a review's score; 0 for a 免考 application).
    pub original_score: i64,
    /// The signed 附件5, or 附件2's signed page.
    pub signed_form: Option<&'a Attachment>,
    /// 附件2's fields as JSON.
    pub details: Option<&'a str>,
}

/// What an amendment brings: the form's new content, as each purpose's dialogue gathered it.
pub(crate) struct Amendment<'a> {
    pub reason: &'a str,
    pub contact: &'a str,
    /// 附件2's fields as JSON (a 免考 application); None keeps what was filed.
    pub details: Option<&'a str>,
    /// A new signed form (附件5) or application page (附件2); None keeps the one filed.
    pub form: Option<Attachment>,
}
