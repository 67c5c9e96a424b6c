//! 免考 applications (附件2, 附件3) on the review's workflow engine: the same requests table,
//! events, cards, guarded transitions and permission model, on a route of their own
//! (`Route::exemption_default`, `[exemption]`). What is theirs alone is here: the dialogue
//! that fills 附件2, filing and resubmitting, the card's fields, the exhibits, the result, and
//! the records (`records`).

pub(crate) mod dialogue;
mod records;
mod report;

use super::App;
use super::policy::{self, Action, FILERS, Subject};
use super::workflow::{Amendment, Ctx, NewFiling};
use crate::app::callback::Press;
use crate::app::dialogue::{Kind, Next, Session};
use crate::domain::attachment::Attachment;
use crate::domain::deadline::display;
use crate::domain::exemption::{Details, window_open};
use crate::domain::ids::mask;
use crate::domain::review::{State, batch_unit};
use crate::domain::workflow::Purpose;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::candidates::Candidate;
use crate::store::outbox::{self, Outgoing};
use crate::store::people::{self, Binding};
use crate::store::reviews;
use crate::store::{from_ms, roster, seasons, units};
use dialogue::{Application, Step};
use serde_json::{Value, json};

const KIND: &str = "exemption";

impl App {
    /// `/exempt`: a homeroom teacher (for their class) or a school contact starts a 免考
    /// application, while the window is open.
    pub async fn exempt_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user_id).await?;
        let reply = if bound.is_empty() {
            Some((tpl::NOT_BOUND, json!({})))
        } else if !bound.iter().any(|b| FILERS.contains(&b.role)) {
            Some((tpl::EXEMPT_NOT_FILER, json!({})))
        } else {
            self.exemption_window(&mut tx, user_id).await?.err()
        };
        match reply {
            Some((template, data)) => self.tell(&mut tx, chat_id, template, &data).await?,
            None => {
                let start = Application::default();
                let mut s = Session::new(user_id, chat_id, Kind::Exempt, Step::ExamNo, start);
                self.enter(&mut tx, &mut s).await?
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Whether applications are accepted now: Ok(the close, as shown), or the template and
    /// data that say why not.
    async fn exemption_window(
        &self,
        conn: &mut Conn,
        user_id: i64,
    ) -> anyhow::Result<Result<String, (&'static str, Value)>> {
        let city = self.city_of_user(conn, user_id).await?;
        let Some(season) = seasons::current(conn, &city).await? else {
            return Ok(Err((tpl::EXEMPT_NOT_OPEN, json!({}))));
        };
        Ok(match season.exemption_closes {
            Some(c) if window_open(Some(c), self.clock.now()) => Ok(display(c, season.tz)),
            Some(c) => Err((tpl::EXEMPT_CLOSED, json!({"closes": display(c, season.tz)}))),
            None => Err((tpl::EXEMPT_NOT_OPEN, json!({}))),
        })
    }

    /// The permission model's subject for a roster candidate.
    async fn roster_subject(
        &self,
        conn: &mut Conn,
        cand: &roster::Row,
    ) -> anyhow::Result<(String, Option<String>)> {
        let school = units::get(conn, &cand.school_code).await?;
        let district = school
            .as_ref()
            .filter(|s| !s.city_direct)
            .and_then(|s| s.parent_code.clone());
        let city = school.map(|s| s.city_code).unwrap_or_default();
        Ok((city, district))
    }

    /// The roster's candidate of that 准考证号 whom this person may apply for, or what the
    /// dialogue does instead: someone else's candidate looks exactly like an unknown number.
    async fn find_exempt_candidate(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        exam_no: &str,
    ) -> anyhow::Result<Result<roster::Row, Next<Application>>> {
        let city = self.city_of_user(conn, user_id).await?;
        let cand = match seasons::current(conn, &city).await? {
            Some(s) => roster::by_exam_no(conn, s.id, exam_no).await?,
            None => None,
        };
        let bound = people::of_user(conn, user_id).await?;
        let cand = match cand {
            Some(c) if self.may_apply(conn, user_id, &bound, &c).await?.is_ok() => c,
            _ => {
                let data = json!({"exam_no": exam_no});
                return Ok(Err(Next::Say(tpl::EXEMPT_NO_CANDIDATE, data)));
            }
        };
        let open = reviews::open_of_candidate(conn, KIND, cand.id).await?;
        let done = reviews::result_of_candidate(conn, KIND, cand.id).await?;
        if let Some(req) = open.or(done) {
            let data = json!({"id": req.id, "name": cand.name, "state": req.state});
            self.tell(conn, chat_id, tpl::EXEMPT_EXISTS, &data).await?;
            return Ok(Err(Next::End));
        }
        Ok(Ok(cand))
    }

    async fn may_apply(
        &self,
        conn: &mut Conn,
        user_id: i64,
        bound: &[Binding],
        cand: &roster::Row,
    ) -> anyhow::Result<Result<Binding, policy::Denied>> {
        let (city, district) = self.roster_subject(conn, cand).await?;
        let subject = Subject {
            city: &city,
            school: &cand.school_code,
            district: district.as_deref(),
            class: &cand.class_name,
            ..Subject::default()
        };
        let unit = batch_unit(&cand.school_code, district.as_deref());
        let route = self.config.exemption_route_of_unit(&city, unit);
        Ok(policy::check(
            &route,
            user_id,
            bound,
            Action::File,
            &subject,
        ))
    }

    /// The whole 附件2 as it will be filed, for the confirm step.
    async fn exemption_preview(
        &self,
        conn: &mut Conn,
        a: &Application,
    ) -> anyhow::Result<Option<String>> {
        let cand = match a.candidate_id {
            Some(id) => roster::by_id(conn, id).await?,
            None => None,
        };
        let (Some(cand), Some(details)) = (cand, a.details()) else {
            return Ok(None);
        };
        let school = units::get(conn, &cand.school_code).await?;
        let school = school.map(|s| s.name);
        let fields = form_fields(&cand.as_candidate(), school.as_deref(), &details);
        Ok(Some(self.render.render(tpl::EXEMPTION_FORM, &fields)?))
    }

    /// The confirm step's 提交: a new application, or a returned one resubmitted.
    pub(crate) async fn submit_exemption(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        a: &Application,
        details: Details,
    ) -> anyhow::Result<()> {
        if let Some(request) = a.request {
            let json = serde_json::to_string(&details)?;
            let amendment = Amendment {
                reason: &details.reason,
                contact: &details.contact,
                details: Some(&json),
                form: Attachment::parse(&details.page),
            };
            return self
                .resubmit(conn, user_id, chat_id, request, amendment)
                .await;
        }
        let city = self.city_of_user(conn, user_id).await?;
        let season = seasons::current(conn, &city)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no season"))?;
        let Some(cand) = roster::by_id(conn, a.candidate_id.unwrap_or(0)).await? else {
            return self
                .tell(
                    conn,
                    chat_id,
                    tpl::EXEMPT_NO_CANDIDATE,
                    &json!({"exam_no": ""}),
                )
                .await;
        };
        let bound = people::of_user(conn, user_id).await?;
        let filer = match self.may_apply(conn, user_id, &bound, &cand).await? {
            Ok(filer) => filer,
            Err(d) => return self.tell(conn, chat_id, d.template(), &json!({})).await,
        };
        let school = units::get(conn, &cand.school_code)
            .await?
            .ok_or_else(|| anyhow::anyhow!("school"))?;
        let details_json = serde_json::to_string(&details)?;
        let page = Attachment::parse(&details.page);
        let filing = NewFiling {
            purpose: Purpose::Exemption,
            season: &season,
            school: &school,
            candidate_id: cand.id,
            exam_no: &cand.exam_no,
            class_name: &cand.class_name,
            filer: &filer,
            bound: &bound,
            chat_id,
            reason: &details.reason,
            contact: &details.contact,
            original_score: 0,
            signed_form: page.as_ref(),
            details: Some(&details_json),
        };
        let Some(ctx) = self.file_request(conn, filing).await? else {
            // Someone applied for this candidate a moment ago.
            let open = reviews::open_of_candidate(conn, KIND, cand.id).await?;
            let data = json!({"id": open.map(|r| r.id), "name": cand.name, "state": "pending"});
            return self.tell(conn, chat_id, tpl::EXEMPT_EXISTS, &data).await;
        };
        let id = ctx.req.id;
        let closes = season.exemption_closes.map(|c| display(c, season.tz));
        let filed = json!({"id": id, "name": cand.name, "level": self.level_name(&ctx),
                           "closes": closes, "filer": filer.name});
        self.tell_applicants(conn, &ctx, tpl::EXEMPT_FILED, &filed, None)
            .await?;
        if ctx.state() == State::Completed {
            self.exemption_approved(conn, &ctx, &filer).await?;
        }
        self.warn_empty_levels(conn, &ctx, chat_id).await
    }

    /// The filer pressed 修改并重新提交 on a returned application: the dialogue opens at its
    /// confirm step with what was filed, to change what the return asked for.
    pub(crate) async fn start_exemption_amendment(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        ctx: &Ctx,
    ) -> anyhow::Result<()> {
        let filed = ctx
            .req
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str::<Details>(d).ok());
        let amending = Application::amending(ctx.req.id, ctx.req.candidate_id, filed);
        let mut s = Session::new(user_id, chat_id, Kind::Exempt, Step::Confirm, amending);
        self.enter(conn, &mut s).await
    }

    /// The card's fields: 附件2's, and the opinions so far.
    pub(crate) fn exemption_card_data(
        &self,
        ctx: &Ctx,
        opinions: Vec<Value>,
        earlier: usize,
        cut: bool,
    ) -> Value {
        let details = ctx
            .req
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let mut data = match details {
            Some(d) => form_fields(&ctx.cand, Some(&ctx.school.name), &d),
            None => json!({}),
        };
        let fields = [
            ("id", json!(ctx.req.id)),
            ("state", json!(ctx.req.state)),
            ("level", json!(self.level_name(ctx))),
            ("filer", json!(ctx.req.filer_name)),
            (
                "filed_at",
                json!(display(from_ms(ctx.req.created_at), ctx.season.tz)),
            ),
            ("opinions", json!(opinions)),
            ("earlier", json!(earlier)),
            ("cut", json!(cut)),
            (
                "score",
                json!(
                    self.config
                        .exemption_of(&ctx.city)
                        .score(ctx.season.full_score)
                        .to_string()
                ),
            ),
            (
                "district",
                json!(ctx.district.as_ref().map(|d| d.name.clone())),
            ),
            ("city_direct", json!(ctx.school.city_direct)),
        ];
        for (k, v) in fields {
            data[k] = v;
        }
        data
    }

    /// The last level agreed: the candidate is 免考. The applicant's side hears it with the
    /// score the candidate will be given.
    pub(crate) async fn exemption_approved(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        by: &Binding,
    ) -> anyhow::Result<()> {
        let score = self
            .config
            .exemption_of(&ctx.season.city_code)
            .score(ctx.season.full_score);
        let data = json!({"id": ctx.req.id, "name": ctx.cand.name, "actor": by.name,
                          "score": score.to_string(), "full": ctx.season.full_score.to_string()});
        self.tell_applicants(conn, ctx, tpl::EXEMPT_APPROVED, &data, None)
            .await
    }

    /// Whether the exam has begun (the first exam day, 00:00 in the season's time zone): from
    /// then on the candidate sits the exam or not, and no level decides an application.
    pub(crate) fn exam_begun(&self, season: &crate::store::seasons::Season) -> bool {
        use chrono::TimeZone;
        let midnight = season.age_day().and_hms_opt(0, 0, 0).expect("a valid time");
        season
            .tz
            .from_local_datetime(&midnight)
            .earliest()
            .is_some_and(|start| self.clock.now() >= start.to_utc())
    }

    /// The sweep's part once the exam has begun: every application still open lapses (its
    /// cards say so, the applicant's side is told), so that the scores import finds none open.
    pub(crate) async fn lapse_exemptions(
        &self,
        tx: &mut Conn,
        season: &crate::store::seasons::Season,
    ) -> anyhow::Result<usize> {
        if season.exemption_closes.is_none() || !self.exam_begun(season) {
            return Ok(0);
        }
        let open = reviews::open_ids(tx, Purpose::Exemption.kind(), season.id).await?;
        let mut lapsed = 0;
        for id in open {
            let Some(ctx) = self.lock_ctx(tx, id).await? else {
                continue;
            };
            let detail = format!("exemption {id} lapsed: the exam began");
            if !self.lapse(tx, &ctx, State::Withdrawn, &detail).await? {
                continue;
            }
            let level = self.level_name(&ctx);
            let info = json!({"id": id, "name": ctx.cand.name, "level": level});
            self.tell_applicants(tx, &ctx, tpl::EXEMPT_LAPSED, &info, None)
                .await?;
            lapsed += 1;
        }
        Ok(lapsed)
    }

    /// The 📎 button under an exemption's card: its photo, proofs and signed page, to someone
    /// who may see it, each as the file it was sent as.
    pub async fn exhibits_button(
        &self,
        user_id: i64,
        chat_id: i64,
        id: i64,
    ) -> anyhow::Result<Press> {
        let files = {
            let mut conn = self.db.pool.acquire().await?;
            let bound = people::of_user(&mut conn, user_id).await?;
            let Some(ctx) = self.load_ctx(&mut conn, id).await? else {
                return Ok(Press::Refused);
            };
            if !ctx.purpose().has_exhibits()
                || self.allowed(user_id, &bound, Action::See, &ctx).is_err()
            {
                return Ok(Press::Refused);
            }
            let Some(d) = ctx
                .req
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str::<Details>(d).ok())
            else {
                return Ok(Press::Stale);
            };
            let mut files = vec![("photo", 0, d.photo.clone())];
            files.extend(
                d.proofs
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ("proof", i + 1, p.clone())),
            );
            files.push(("page", 0, d.page.clone()));
            let mut out = Vec::new();
            for (what, n, file) in files {
                let caption = self.render.render(
                    tpl::EXEMPT_EXHIBIT,
                    &json!({"id": id, "name": ctx.cand.name, "what": what, "n": n,
                            "of": d.proofs.len()}),
                )?;
                if let Some(file) = Attachment::parse(&file) {
                    out.push((caption, file));
                }
            }
            out
        };
        let mut tx = self.db.begin().await?;
        for (caption, file) in files {
            let msg = Outgoing {
                chat_id,
                body: caption,
                file: Some(file),
                is_reply: true,
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }
}

/// The fields of 附件2 in its order, for the card and the confirm step's preview.
fn form_fields(c: &Candidate, school: Option<&str>, d: &Details) -> Value {
    json!({
        "name": c.name, "gender": c.gender, "age": d.age, "school": school,
        "class_name": c.class_name, "id_card": mask(&c.id_card),
        "student_no": mask(&c.student_no), "reg_no": c.reg_no, "exam_no": c.exam_no,
        "contact_person": d.contact_person, "contact": d.contact, "proof": d.proof.label(),
        "reason": d.reason, "proofs": d.proofs.len(),
    })
}
