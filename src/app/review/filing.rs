//! The filing dialogue (/review) and the other chat dialogues of a review: amending a returned
//! request, giving a reason for a rejection, return or dispute, and recording the city result.
//! Each step's state is a row in `dialogues`; every prompt has a way back and a cancel.

use super::{App, Ctx, Press, button, keyboard};
use crate::app::callback::Callback;
use crate::app::policy::{self, Action, FILERS, Subject};
use crate::domain::Role;
use crate::domain::attachment::Attachment;
use crate::domain::deadline::display;
use crate::domain::ids::mask;
use crate::domain::review::{self, State, WindowClosed, filing_window};
use crate::store::candidates;
use crate::store::dialogues::{self, Dialogue};
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use crate::store::reviews::{self, NewEvent, NewRequest};
use crate::store::{seasons, units};
use serde_json::{Value, json};
use sqlx::AnyConnection;

const FILE: &str = "file";
const AMEND: &str = "amend";
pub(crate) const WHY: &str = "why";
pub(crate) const RECORD: &str = "record";

/// The step before this one, or None when this is the first (then "back" cancels).
fn previous(kind: &str, step: &str, data: &Value) -> Option<&'static str> {
    match (kind, step) {
        (FILE, "form") => Some("exam_no"),
        (FILE, "reason") if data["form"].is_string() => Some("form"),
        (FILE, "reason") => Some("exam_no"),
        (FILE | AMEND, "contact") => Some("reason"),
        (FILE | AMEND, "confirm") => Some("contact"),
        // Replacing the signed form is a side trip from the confirm step.
        (AMEND, "form") => Some("confirm"),
        (RECORD, "items") => Some("score"),
        (RECORD, "category") if data["has_items"].as_bool() == Some(true) => Some("items"),
        (RECORD, "category") => Some("score"),
        (RECORD, "note") if data["kind"] == "corrected" => Some("category"),
        (RECORD, "confirm") => Some("note"),
        _ => None,
    }
}

/// The buttons under a prompt: the step's own choices, then back (when there is a step before)
/// and cancel.
fn prompt_buttons(kind: &str, step: &str, data: &Value) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = match (kind, step) {
        (FILE, "confirm") => vec![("button_submit", "submit"), ("button_edit", "edit")],
        (AMEND, "confirm") => vec![
            ("button_resubmit", "submit"),
            ("button_edit", "edit"),
            ("button_replace_form", "form"),
        ],
        (RECORD, "category") => vec![("button_missed_item", "cat1"), ("button_wrong_sum", "cat2")],
        (RECORD, "confirm") => vec![("button_record", "submit"), ("button_edit", "edit")],
        _ => vec![],
    };
    if previous(kind, step, data).is_some() {
        out.push(("button_back", "back"));
    }
    out.push(("button_cancel", "cancel"));
    out
}

impl App {
    /// Starts a dialogue step: saves it and queues its prompt, in the caller's transaction.
    pub(crate) async fn enter_step(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        chat_id: i64,
        kind: &str,
        step: &str,
        data: &Value,
    ) -> anyhow::Result<()> {
        dialogues::set(conn, user_id, chat_id, kind, step, data, self.clock.now()).await?;
        let row: Vec<Value> = prompt_buttons(kind, step, data)
            .into_iter()
            .map(|(label, action)| {
                Ok(button(
                    self.render.text(label)?,
                    Callback::Dialogue {
                        step: step.into(),
                        action: action.into(),
                    }
                    .encode(),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut prompt_data = data.clone();
        if kind == FILE
            && let Some(id) = data["candidate_id"].as_i64()
            && let Some(c) = candidates::by_id(conn, id).await?
        {
            prompt_data["candidate"] = json!({
                "name": c.name, "gender": c.gender, "class_name": c.class_name,
                "score": c.score().to_string(), "sitting": c.sitting(), "exam_no": c.exam_no,
            });
        }
        if kind == FILE {
            // "Step n of m": the signed form is one more step where the city asks for it.
            let steps: &[&str] = if self.config.review.require_signed_form {
                &["exam_no", "form", "reason", "contact", "confirm"]
            } else {
                &["exam_no", "reason", "contact", "confirm"]
            };
            let no = steps.iter().position(|s| *s == step).map_or(0, |i| i + 1);
            prompt_data["no"] = json!(no);
            prompt_data["of"] = json!(steps.len());
        }
        if kind == FILE || kind == AMEND {
            prompt_data["form"] = json!(data["form"].is_string());
        }
        if kind == FILE && step == "confirm" {
            prompt_data["summary"] = json!(self.dialogue_summary(conn, kind, data).await?);
        }
        let body = self
            .render
            .render(&format!("dlg_{kind}_{step}"), &prompt_data)?;
        let msg = Outgoing {
            chat_id,
            body,
            reply_markup: Some(keyboard(vec![row])),
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, self.clock.now()).await?;
        Ok(())
    }

    /// The 附件5 content as it will be filed.
    async fn dialogue_summary(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        data: &Value,
    ) -> anyhow::Result<Option<String>> {
        match kind {
            FILE => {
                let Some(cand) =
                    candidates::by_id(conn, data["candidate_id"].as_i64().unwrap_or(0)).await?
                else {
                    return Ok(None);
                };
                let school = units::get(conn, &cand.school_code).await?;
                let v = json!({
                    "name": cand.name, "gender": cand.gender, "class_name": cand.class_name,
                    "school": school.map(|s| s.name), "id_card": mask(&cand.id_card),
                    "student_no": mask(&cand.student_no), "reg_no": cand.reg_no, "exam_no": cand.exam_no,
                    "score": cand.score().to_string(), "contact": data["contact"],
                    "sitting": cand.sitting(), "reason": data["reason"],
                });
                Ok(Some(self.render.render("review_form", &v)?))
            }
            _ => Ok(None),
        }
    }

    /// `/review`: a school contact or homeroom teacher starts filing.
    pub async fn review_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user_id).await?;
        let reply = if bound.is_empty() {
            Some(("not_bound", json!({})))
        } else if !bound.iter().any(|b| FILERS.contains(&b.role)) {
            Some(("review_not_filer", json!({})))
        } else {
            self.window(&mut tx).await?.err()
        };
        match reply {
            Some((template, data)) => self.tell(&mut tx, chat_id, template, &data).await?,
            None => {
                self.enter_step(&mut tx, user_id, chat_id, FILE, "exam_no", &json!({}))
                    .await?
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Whether filing is open now: Ok(deadline), or the template and data that say why not.
    async fn window(
        &self,
        conn: &mut AnyConnection,
    ) -> anyhow::Result<Result<String, (&'static str, Value)>> {
        let Some(season) = seasons::current(conn).await? else {
            return Ok(Err(("review_not_published", json!({}))));
        };
        Ok(
            match filing_window(
                season.published_at,
                season.review_deadline,
                self.clock.now(),
            ) {
                Ok(d) => Ok(display(d, season.tz)),
                Err(WindowClosed::NotPublished) => Err(("review_not_published", json!({}))),
                Err(WindowClosed::Late { deadline }) => Err((
                    "review_late",
                    json!({"deadline": display(deadline, season.tz)}),
                )),
            },
        )
    }

    /// `/cancel`: ends whatever dialogue the user is in.
    pub async fn cancel(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let template = if people::of_user(&mut tx, user_id).await?.is_empty() {
            "not_bound"
        } else if dialogues::clear(&mut tx, user_id).await? {
            "dialogue_cancelled"
        } else {
            "cancel_nothing"
        };
        self.tell(&mut tx, chat_id, template, &json!({})).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// A text message while a dialogue may be open; false when there is none (the caller then
    /// answers as to any other text).
    pub async fn dialogue_text(
        &self,
        user_id: i64,
        chat_id: i64,
        text: &str,
    ) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        let Some(d) = dialogues::get(&mut tx, user_id).await? else {
            return Ok(false);
        };
        self.dialogue_input(&mut tx, &d, chat_id, text).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(true)
    }

    /// Anything but text while a dialogue is open: the signed form where filing asks for it (a
    /// photo, or a PDF or image file: `file`); anywhere else, or anything else, a hint, and the
    /// dialogue stays. False when there is no dialogue.
    pub async fn dialogue_non_text(
        &self,
        user_id: i64,
        chat_id: i64,
        file: Option<Attachment>,
    ) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        let Some(d) = dialogues::get(&mut tx, user_id).await? else {
            return Ok(false);
        };
        match (d.kind.as_str(), d.step.as_str(), file) {
            (FILE | AMEND, "form", Some(file)) => {
                let mut data = d.data();
                data["form"] = json!(file.to_string());
                let next = if d.kind == FILE { "reason" } else { "confirm" };
                self.enter_step(&mut tx, user_id, chat_id, &d.kind, next, &data)
                    .await?;
            }
            (FILE | AMEND, "form", None) => {
                self.tell(&mut tx, chat_id, "review_form_please", &json!({}))
                    .await?
            }
            _ => {
                self.tell(&mut tx, chat_id, "dialogue_text_please", &json!({}))
                    .await?
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(true)
    }

    async fn dialogue_input(
        &self,
        conn: &mut AnyConnection,
        d: &Dialogue,
        chat_id: i64,
        text: &str,
    ) -> anyhow::Result<()> {
        let mut data = d.data();
        let user_id = d.user_id;
        let again = |hint: &'static str, extra: Value| (hint, extra);
        let outcome: Result<&str, (&str, Value)> = match (d.kind.as_str(), d.step.as_str()) {
            (FILE, "exam_no") => match self.find_candidate(conn, user_id, text.trim()).await? {
                Found::Candidate(id) => {
                    data["candidate_id"] = json!(id);
                    Ok(if self.config.review.require_signed_form {
                        "form"
                    } else {
                        "reason"
                    })
                }
                Found::Nothing => Err(again(
                    "review_no_candidate",
                    json!({"exam_no": text.trim()}),
                )),
                Found::Decided(req) => {
                    dialogues::clear(conn, user_id).await?;
                    self.tell_result(conn, user_id, chat_id, req).await?;
                    return Ok(());
                }
                Found::Taken(req) => {
                    dialogues::clear(conn, user_id).await?;
                    self.tell(conn, chat_id, "review_exists_short", &json!({"id": req}))
                        .await?;
                    return Ok(());
                }
                Found::Open(req) => {
                    dialogues::clear(conn, user_id).await?;
                    let ctx = self.load_ctx(conn, req).await?;
                    if let Some(ctx) = ctx {
                        let card = self.render_card(conn, &ctx).await?;
                        self.tell(
                            conn,
                            chat_id,
                            "review_exists",
                            &json!({"id": req, "card": card}),
                        )
                        .await?;
                    }
                    return Ok(());
                }
            },
            (FILE | AMEND, "form") => Err(again("review_form_please", json!({}))),
            (FILE | AMEND, "reason") => match review::reason(text) {
                Ok(r) => {
                    data["reason"] = json!(r);
                    Ok("contact")
                }
                Err(n) => Err(again(
                    "review_bad_reason",
                    json!({"length": n, "max": review::REASON_MAX}),
                )),
            },
            (FILE | AMEND, "contact") => match review::contact(text) {
                Some(c) => {
                    data["contact"] = json!(c);
                    Ok("confirm")
                }
                None => Err(again("review_bad_contact", json!({}))),
            },
            (WHY, "reason") => {
                let reason = text.trim();
                if reason.is_empty() || reason.chars().count() > review::REASON_MAX {
                    Err(again(
                        "review_bad_reason",
                        json!({"length": reason.chars().count(), "max": review::REASON_MAX}),
                    ))
                } else {
                    dialogues::clear(conn, user_id).await?;
                    return self
                        .decide_with_reason(conn, user_id, chat_id, &data, reason)
                        .await;
                }
            }
            (RECORD, step) => match self.record_input(conn, step, &mut data, text).await? {
                Ok(next) => Ok(next),
                Err(hint) => Err(hint),
            },
            _ => Err(again("dialogue_use_buttons", json!({}))),
        };
        match outcome {
            Ok(next) => {
                self.enter_step(conn, user_id, chat_id, &d.kind, next, &data)
                    .await
            }
            Err((hint, extra)) => self.tell(conn, chat_id, hint, &extra).await,
        }
    }

    /// A dialogue button ("d:<step>:<action>"). Buttons of a step the user has left are stale.
    pub async fn dialogue_button(
        &self,
        user_id: i64,
        chat_id: i64,
        step: &str,
        action: &str,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        let Some(d) = dialogues::get(&mut tx, user_id).await? else {
            return Ok(Press::Stale);
        };
        if d.step != step {
            return Ok(Press::Stale);
        }
        let mut data = d.data();
        match action {
            "cancel" => {
                dialogues::clear(&mut tx, user_id).await?;
                self.tell(&mut tx, chat_id, "dialogue_cancelled", &json!({}))
                    .await?;
            }
            "back" => match previous(&d.kind, step, &data) {
                Some(prev) => {
                    self.enter_step(&mut tx, user_id, chat_id, &d.kind, prev, &data)
                        .await?
                }
                None => return Ok(Press::Stale),
            },
            "edit" if step == "confirm" => {
                let first = if d.kind == RECORD {
                    self.record_first_step(&data)
                } else {
                    "reason"
                };
                self.enter_step(&mut tx, user_id, chat_id, &d.kind, first, &data)
                    .await?;
            }
            "form" if d.kind == AMEND && step == "confirm" => {
                self.enter_step(&mut tx, user_id, chat_id, AMEND, "form", &data)
                    .await?;
            }
            "cat1" | "cat2" if d.kind == RECORD && step == "category" => {
                data["category"] = json!(if action == "cat1" {
                    "漏评"
                } else {
                    "合分错误"
                });
                self.enter_step(&mut tx, user_id, chat_id, RECORD, "note", &data)
                    .await?;
            }
            "submit" if step == "confirm" => {
                dialogues::clear(&mut tx, user_id).await?;
                match d.kind.as_str() {
                    FILE => self.submit_filing(&mut tx, user_id, chat_id, &data).await?,
                    AMEND => {
                        self.submit_amendment(&mut tx, user_id, chat_id, &data)
                            .await?
                    }
                    RECORD => self.submit_record(&mut tx, user_id, chat_id, &data).await?,
                    _ => return Ok(Press::Stale),
                }
            }
            _ => return Ok(Press::Refused),
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }

    async fn find_candidate(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        exam_no: &str,
    ) -> anyhow::Result<Found> {
        let Some(season) = seasons::current(conn).await? else {
            return Ok(Found::Nothing);
        };
        let Some(cand) = candidates::by_exam_no(conn, season.id, exam_no).await? else {
            return Ok(Found::Nothing);
        };
        let bound: Vec<Binding> = people::of_user(conn, user_id).await?;
        // Someone else's candidate (another school, another class) looks exactly like an unknown
        // number: nothing leaks.
        if self.may_file(conn, user_id, &bound, &cand).await?.is_err() {
            return Ok(Found::Nothing);
        }
        if let Some(open) = reviews::open_of_candidate(conn, cand.id).await? {
            // The open request's card only to those who may see it.
            let ctx = self.load_ctx(conn, open.id).await?;
            let visible = ctx
                .as_ref()
                .is_some_and(|c| self.allowed(user_id, &bound, Action::See, c).is_ok());
            return Ok(if visible {
                Found::Open(open.id)
            } else {
                Found::Taken(open.id)
            });
        }
        if let Some(done) = reviews::result_of_candidate(conn, cand.id).await? {
            return Ok(Found::Decided(done.id));
        }
        Ok(Found::Candidate(cand.id))
    }

    /// Tells the person that the candidate's review already has its result, with its card when
    /// they may see it. A request that ended without one (withdrawn, rejected) does not count.
    async fn tell_result(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        chat_id: i64,
        id: i64,
    ) -> anyhow::Result<()> {
        let bound = people::of_user(conn, user_id).await?;
        let card = match self.load_ctx(conn, id).await? {
            Some(ctx) if self.allowed(user_id, &bound, Action::See, &ctx).is_ok() => {
                self.render_card(conn, &ctx).await?
            }
            _ => String::new(),
        };
        self.tell(
            conn,
            chat_id,
            "review_has_result",
            &json!({"id": id, "card": card}),
        )
        .await
    }

    async fn submit_filing(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        chat_id: i64,
        data: &Value,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        if let Err((template, extra)) = self.window(conn).await? {
            return self.tell(conn, chat_id, template, &extra).await;
        }
        let season = seasons::current(conn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no season"))?;
        let cand = candidates::by_id(conn, data["candidate_id"].as_i64().unwrap_or(0))
            .await?
            .ok_or_else(|| anyhow::anyhow!("candidate vanished"))?;
        let bound = people::of_user(conn, user_id).await?;
        let filer = match self.may_file(conn, user_id, &bound, &cand).await? {
            Ok(filer) => filer,
            Err(d) => return self.tell(conn, chat_id, d.template(), &json!({})).await,
        };
        // A result reached while this filing was being typed. An open request's last signature
        // may be committing right now: wait for its row (PostgreSQL; SQLite's write lock
        // already orders the two), then look.
        if let Some(open) = reviews::open_of_candidate(conn, cand.id).await? {
            reviews::lock(conn, open.id).await?;
        }
        if let Some(done) = reviews::result_of_candidate(conn, cand.id).await? {
            return self.tell_result(conn, user_id, chat_id, done.id).await;
        }
        let form = data["form"].as_str().and_then(Attachment::parse);
        if self.config.review.require_signed_form && form.is_none() {
            // A filing begun before the form was asked for: it is asked for now.
            return self
                .enter_step(conn, user_id, chat_id, FILE, "form", data)
                .await;
        }
        let school = units::get(conn, &cand.school_code)
            .await?
            .ok_or_else(|| anyhow::anyhow!("school"))?;
        // The request keeps the route it is filed on (see `Route`).
        let route = self.route();
        let route_json = serde_json::to_string(&route)?;
        let first = route.step_from(0, school.city_direct);
        let new = NewRequest {
            season_id: season.id,
            candidate_id: cand.id,
            school_code: &cand.school_code,
            filer_user_id: user_id,
            filer_chat_id: chat_id,
            filer_name: &filer.name,
            reason: data["reason"].as_str().unwrap_or_default(),
            contact: data["contact"].as_str().unwrap_or_default(),
            step: first.map_or(route.steps.len() as i64, |s| s as i64),
            original_score: cand.score,
            signed_form: form.as_ref(),
            route: &route_json,
        };
        let Some(id) = reviews::insert(conn, &new, now).await? else {
            // Someone filed for this candidate a moment ago.
            let open = reviews::open_of_candidate(conn, cand.id)
                .await?
                .map(|r| r.id);
            return self
                .tell(conn, chat_id, "review_exists_short", &json!({"id": open}))
                .await;
        };
        if first.is_none() {
            sqlx::query("UPDATE review_requests SET state = 'recording' WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        self.note_event(
            conn,
            &NewEvent {
                request_id: id,
                user_id,
                actor_name: &filer.name,
                actor_role: filer.role.slug(),
                step: None,
                round: 1,
                action: "file",
                comment: "",
            },
            &format!("request {id} for {}", cand.exam_no),
        )
        .await?;
        let ctx = self
            .load_ctx(conn, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("request {id}"))?;
        self.announce_stage(conn, &ctx).await?;
        let deadline = season.review_deadline.map(|d| display(d, season.tz));
        self.tell(
            conn,
            chat_id,
            "review_filed",
            &json!({"id": id, "level": self.level_name(&ctx), "name": cand.name, "deadline": deadline}),
        )
        .await?;
        self.warn_empty_levels(conn, &ctx, chat_id).await
    }

    /// A level with nobody bound must not stall silently: the filer and the city admins hear
    /// which one.
    async fn warn_empty_levels(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx,
        filer_chat: i64,
    ) -> anyhow::Result<()> {
        let route = &ctx.route;
        let mut empty = Vec::new();
        for step in route.applicable(ctx.school.city_direct) {
            if step >= ctx.req.step as usize && self.step_holders(conn, ctx, step).await?.is_empty()
            {
                empty.push(route.steps[step].name.clone());
            }
        }
        let group = &ctx.route.group;
        let bindings = self.group_bindings(conn, ctx).await?;
        let held: Vec<Role> = bindings.iter().map(|b| b.role).collect();
        let missing: Vec<&str> = group.missing(&held).iter().map(|r| r.slug()).collect();
        let members = self.group_members(conn, ctx).await?.len();
        let min = group.min_size as usize;
        let group_short = members < min;
        if empty.is_empty() && !group_short && missing.is_empty() {
            return Ok(());
        }
        let data = json!({
            "id": ctx.req.id, "school": ctx.school.name, "levels": empty,
            "group_short": group_short, "members": members, "min": min,
            "group": ctx.group_name(), "missing": missing,
        });
        self.tell(conn, filer_chat, "review_no_one", &data).await?;
        for admin in people::all_holders(conn, Role::CityAdmin).await? {
            self.tell(conn, admin.chat_id, "review_no_one_admin", &data)
                .await?;
        }
        Ok(())
    }

    /// The filer pressed "amend and resubmit" on a returned request.
    pub(crate) async fn start_amendment(
        &self,
        conn: &mut AnyConnection,
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
        let data =
            json!({"request": ctx.req.id, "reason": ctx.req.reason, "contact": ctx.req.contact});
        self.enter_step(conn, user_id, chat_id, AMEND, "reason", &data)
            .await?;
        Ok(Press::Accepted)
    }

    async fn submit_amendment(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        chat_id: i64,
        data: &Value,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let Some(ctx) = self.lock_dialogue_request(conn, chat_id, data).await? else {
            return Ok(());
        };
        let id = ctx.req.id;
        if ctx.req.filer_user_id != user_id || ctx.state() != State::Returned {
            return self
                .tell(conn, chat_id, "review_already_handled", &json!({"id": id}))
                .await;
        }
        if let Err((template, extra)) = self.window(conn).await? {
            return self.tell(conn, chat_id, template, &extra).await;
        }
        let reason = data["reason"].as_str().unwrap_or_default();
        let contact = data["contact"].as_str().unwrap_or_default();
        let form = data["form"].as_str().and_then(Attachment::parse);
        reviews::amend(conn, id, reason, contact, form.as_ref()).await?;
        // The content changed, so every level sees it again, from the first.
        let first = ctx.route.step_from(0, ctx.school.city_direct);
        let (to, step) = match first {
            Some(s) => (State::Pending, s as i64),
            None => (State::Recording, ctx.route.steps.len() as i64),
        };
        let round = ctx.req.round + 1;
        if !reviews::transition(conn, &ctx.req, to, step, round, now).await? {
            return self
                .tell(conn, chat_id, "review_already_handled", &json!({"id": id}))
                .await;
        }
        // The audit chain keeps what the amendment replaced (the request keeps only the new).
        let detail = format!(
            "request {id} amended: reason {:?} → {reason:?}; contact {:?} → {contact:?}{}",
            ctx.req.reason,
            ctx.req.contact,
            if form.is_some() {
                "; new signed form"
            } else {
                ""
            }
        );
        self.note_event(
            conn,
            &NewEvent {
                request_id: id,
                user_id,
                actor_name: &ctx.req.filer_name,
                actor_role: "filer",
                step: None,
                round,
                action: "resubmit",
                comment: "",
            },
            &detail,
        )
        .await?;
        let ctx = self
            .load_ctx(conn, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("request {id}"))?;
        self.announce_stage(conn, &ctx).await?;
        self.tell(
            conn,
            chat_id,
            "review_resubmitted",
            &json!({"id": id, "level": self.level_name(&ctx)}),
        )
        .await
    }
}

enum Found {
    Candidate(i64),
    /// An open request this person may see.
    Open(i64),
    /// An open request filed by someone this person may not look over.
    Taken(i64),
    /// The candidate's review has its result: one review per candidate.
    Decided(i64),
    Nothing,
}

impl App {
    /// Whether this person may file for the candidate (the permission model, on the candidate's
    /// school, district and class).
    async fn may_file(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        bound: &[Binding],
        cand: &candidates::Candidate,
    ) -> anyhow::Result<Result<Binding, policy::Denied>> {
        let school = units::get(conn, &cand.school_code).await?;
        let district = school
            .as_ref()
            .filter(|s| !s.city_direct)
            .and_then(|s| s.parent_code.clone());
        let city = units::city_code(conn).await?;
        let subject = Subject {
            city: &city,
            school: &cand.school_code,
            district: district.as_deref(),
            class: &cand.class_name,
            ..Subject::default()
        };
        Ok(policy::check(
            &self.route(),
            user_id,
            bound,
            Action::File,
            &subject,
        ))
    }
}
