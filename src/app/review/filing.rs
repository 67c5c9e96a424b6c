//! Filing a review request (/review): who may file for which candidate, the window, and the
//! 附件5 as filed, handed to the engine's `file_request`. The dialogue that gathers it is
//! `dialogue`'s.

use crate::app::App;
use crate::app::policy::{self, Action, FILERS, Subject};
use crate::app::workflow::NewFiling;
use crate::domain::attachment::Attachment;
use crate::domain::deadline::display;
use crate::domain::ids::mask;
use crate::domain::review::{WindowClosed, filing_window};
use crate::domain::workflow::Purpose;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::candidates;
use crate::store::people::{self, Binding};
use crate::store::reviews::{self};
use crate::store::{seasons, units};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The kind of request this dialogue files (`Purpose::Review`).
const REVIEW: &str = "review";

/// What a filing (or an amendment) holds so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Filing {
    /// The candidate (filing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_id: Option<i64>,
    /// The returned request (amending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<i64>,
    /// The signed 附件5, as an attachment's reference.
    pub form: Option<String>,
    pub reason: Option<String>,
    pub contact: Option<String>,
    /// The first pass of a /review that came with everything: what it gave is not asked again.
    /// Going back or editing ends the first pass.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quick: bool,
}

impl Filing {
    pub(crate) fn form(&self) -> Option<Attachment> {
        self.form.as_deref().and_then(Attachment::parse)
    }
}

impl App {
    /// The 附件5 content as it will be filed.
    pub(super) async fn filing_summary(
        &self,
        conn: &mut Conn,
        filing: &Filing,
    ) -> anyhow::Result<Option<String>> {
        let Some(cand) = candidates::by_id(conn, filing.candidate_id.unwrap_or(0)).await? else {
            return Ok(None);
        };
        let school = units::get(conn, &cand.school_code).await?;
        let v = json!({
            "name": cand.name, "gender": cand.gender, "class_name": cand.class_name,
            "school": school.map(|s| s.name), "id_card": mask(&cand.id_card),
            "student_no": mask(&cand.student_no), "reg_no": cand.reg_no, "exam_no": cand.exam_no,
            "score": cand.score().to_string(), "contact": filing.contact,
            "sitting": cand.sitting(), "reason": filing.reason,
        });
        Ok(Some(self.render.render(tpl::REVIEW_FORM, &v)?))
    }

    /// Why this person may not file now (not bound, no filer's role, the window), as the
    /// template and data that say so; None when they may.
    pub(super) async fn filing_refused(
        &self,
        conn: &mut Conn,
        user_id: i64,
    ) -> anyhow::Result<Option<(&'static str, Value)>> {
        let bound = people::of_user(conn, user_id).await?;
        Ok(if bound.is_empty() {
            Some((tpl::NOT_BOUND, json!({})))
        } else if !bound.iter().any(|b| FILERS.contains(&b.role)) {
            Some((tpl::REVIEW_NOT_FILER, json!({})))
        } else {
            let city = self.city_of_user(conn, user_id).await?;
            self.window(conn, &city).await?.err()
        })
    }

    /// Whether filing is open now in the city: Ok(deadline), or the template and data that say
    /// why not.
    async fn window(
        &self,
        conn: &mut Conn,
        city: &str,
    ) -> anyhow::Result<Result<String, (&'static str, Value)>> {
        let Some(season) = seasons::current(conn, city).await? else {
            return Ok(Err((tpl::REVIEW_NOT_PUBLISHED, json!({}))));
        };
        Ok(
            match filing_window(
                season.published_at,
                self.review_window(&season).map(|w| w.filing_closes),
                self.clock.now(),
            ) {
                Ok(d) => Ok(display(d, season.tz)),
                Err(WindowClosed::NotPublished) => Err((tpl::REVIEW_NOT_PUBLISHED, json!({}))),
                Err(WindowClosed::Late { deadline }) => Err((
                    tpl::REVIEW_LATE,
                    json!({"deadline": display(deadline, season.tz)}),
                )),
            },
        )
    }

    pub(super) async fn find_candidate(
        &self,
        conn: &mut Conn,
        user_id: i64,
        exam_no: &str,
    ) -> anyhow::Result<Found> {
        // The person's own city's season: another city's 准考证号 is simply not found.
        let city = self.city_of_user(conn, user_id).await?;
        let Some(season) = seasons::current(conn, &city).await? else {
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
        if let Some(open) = reviews::open_of_candidate(conn, REVIEW, cand.id).await? {
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
        if let Some(done) = reviews::result_of_candidate(conn, REVIEW, cand.id).await? {
            return Ok(Found::Decided(done.id));
        }
        // A 免考 candidate sat no exam: there is no exam score to review.
        if cand.is_exempt() {
            return Ok(Found::Exempt);
        }
        Ok(Found::Candidate(cand.id))
    }

    /// Tells the person that the candidate's review already has its result, with its card when
    /// they may see it. A request that ended without one (withdrawn, rejected) does not count.
    pub(super) async fn tell_result(
        &self,
        conn: &mut Conn,
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
            tpl::REVIEW_HAS_RESULT,
            &json!({"id": id, "card": card}),
        )
        .await
    }

    pub(super) async fn submit_filing(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        filing: &Filing,
    ) -> anyhow::Result<Filed> {
        let city = self.city_of_user(conn, user_id).await?;
        if let Err((template, extra)) = self.window(conn, &city).await? {
            self.tell(conn, chat_id, template, &extra).await?;
            return Ok(Filed::Done);
        }
        let season = seasons::current(conn, &city)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no season"))?;
        let cand = candidates::by_id(conn, filing.candidate_id.unwrap_or(0))
            .await?
            .ok_or_else(|| anyhow::anyhow!("candidate vanished"))?;
        let bound = people::of_user(conn, user_id).await?;
        let filer = match self.may_file(conn, user_id, &bound, &cand).await? {
            Ok(filer) => filer,
            Err(d) => {
                self.tell(conn, chat_id, d.template(), &json!({})).await?;
                return Ok(Filed::Done);
            }
        };
        // A result reached while this filing was being typed. An open request's last signature
        // may be committing right now: wait for its row (PostgreSQL; SQLite's write lock
        // already orders the two), then look.
        if let Some(open) = reviews::open_of_candidate(conn, REVIEW, cand.id).await? {
            reviews::lock(conn, open.id).await?;
        }
        if let Some(done) = reviews::result_of_candidate(conn, REVIEW, cand.id).await? {
            self.tell_result(conn, user_id, chat_id, done.id).await?;
            return Ok(Filed::Done);
        }
        let form = filing.form();
        if self.config.review_of(&season.city_code).require_signed_form && form.is_none() {
            // A filing begun before the form was asked for: it is asked for now.
            return Ok(Filed::FormMissing);
        }
        let school = units::get(conn, &cand.school_code)
            .await?
            .ok_or_else(|| anyhow::anyhow!("school"))?;
        let filing = NewFiling {
            purpose: Purpose::Review,
            season: &season,
            school: &school,
            candidate_id: cand.id,
            exam_no: &cand.exam_no,
            class_name: &cand.class_name,
            filer: &filer,
            bound: &bound,
            chat_id,
            reason: filing.reason.as_deref().unwrap_or_default(),
            contact: filing.contact.as_deref().unwrap_or_default(),
            original_score: cand.score,
            signed_form: form.as_ref(),
            details: None,
        };
        let Some(ctx) = self.file_request(conn, filing).await? else {
            // Someone filed for this candidate a moment ago.
            let open = reviews::open_of_candidate(conn, REVIEW, cand.id)
                .await?
                .map(|r| r.id);
            let data = json!({"id": open});
            self.tell(conn, chat_id, tpl::REVIEW_EXISTS_SHORT, &data)
                .await?;
            return Ok(Filed::Done);
        };
        let id = ctx.req.id;
        let deadline = season.review_deadline.map(|d| display(d, season.tz));
        self.tell(
            conn,
            chat_id,
            tpl::REVIEW_FILED,
            &json!({"id": id, "level": self.level_name(&ctx), "name": cand.name, "deadline": deadline}),
        )
        .await?;
        self.warn_empty_levels(conn, &ctx, chat_id).await?;
        Ok(Filed::Done)
    }
}

/// What became of a filing's 提交.
pub(crate) enum Filed {
    /// Filed, or refused with the reason said.
    Done,
    /// The city asks for the signed form, and this filing (begun before it did) has none.
    FormMissing,
}

pub(super) enum Found {
    Candidate(i64),
    /// An open request this person may see.
    Open(i64),
    /// An open request filed by someone this person may not look over.
    Taken(i64),
    /// The candidate's review has its result: one review per candidate.
    Decided(i64),
    Nothing,
    /// The candidate is 免考: their score is the configured share, not an exam's.
    Exempt,
}

impl App {
    /// Whether this person may file for the candidate (the permission model, on the candidate's
    /// school, district and class).
    async fn may_file(
        &self,
        conn: &mut Conn,
        user_id: i64,
        bound: &[Binding],
        cand: &candidates::Candidate,
    ) -> anyhow::Result<Result<Binding, policy::Denied>> {
        let school = units::get(conn, &cand.school_code).await?;
        let district = school
            .as_ref()
            .filter(|s| !s.city_direct)
            .and_then(|s| s.parent_code.clone());
        let city = match &school {
            Some(s) => s.city_code.clone(),
            None => String::new(),
        };
        let subject = Subject {
            city: &city,
            school: &cand.school_code,
            district: district.as_deref(),
            class: &cand.class_name,
            ..Subject::default()
        };
        Ok(policy::check(
            &self.route(&city),
            user_id,
            bound,
            Action::File,
            &subject,
        ))
    }
}
