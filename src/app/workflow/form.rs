//! A request's 附件5 (成绩复核申请表) as a printable file, from its history: for the terminal
//! (`export review-form`) and from the 📄 附件5 button under its card.

use super::{App, Ctx, RECHECK_NAME, batch};
use crate::app::callback::Press;
use crate::app::policy::Action;
use crate::app::records::Record;
use crate::domain::deadline::display;
use crate::domain::ids::mask;
use crate::domain::workflow::Purpose;
use crate::domain::workflow::Scope;
use crate::export::review_form::{self, Form};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::outbox::{self, Outgoing};
use crate::store::{audit, from_ms, people, reviews, units};
use anyhow::Context;
use serde_json::json;

/// Which box of the paper form an event's opinion goes in.
enum FormBox {
    School,
    District,
    Recheck,
    Note,
}

impl App {
    async fn review_form(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        ids: Identifiers,
    ) -> anyhow::Result<Form> {
        let tz = ctx.season.tz;
        let c = &ctx.cand;
        let city = units::get(conn, &ctx.city)
            .await?
            .map_or(String::new(), |u| u.name);
        let mut form = Form {
            year: ctx.season.year,
            city,
            name: c.name.clone(),
            gender: c.gender.clone(),
            class_name: c.class_name.clone(),
            school: ctx.school.name.clone(),
            id_card: ids.show(&c.id_card),
            student_no: ids.show(&c.student_no),
            reg_no: c.reg_no.clone(),
            exam_no: c.exam_no.clone(),
            score: crate::domain::Score::from_tenths(ctx.req.original_score as u32).to_string(),
            contact: ctx.req.contact.clone(),
            sitting: c.sitting(),
            reason: ctx.req.reason.clone(),
            filed: applicant_line(ctx),
            unit: batch::batch_of(ctx).1.to_string(),
            ..Form::default()
        };
        for e in reviews::events(conn, ctx.req.id).await? {
            if e.action == "file" {
                continue;
            }
            let step = e.step.and_then(|s| ctx.route.steps.get(s as usize));
            let (place, level) = match (step, e.action.as_str()) {
                (Some(s), _) if matches!(s.unit, Scope::Class | Scope::School) => {
                    (FormBox::School, s.name.clone())
                }
                (Some(s), _) => (FormBox::District, s.name.clone()),
                (None, "record" | "confirm" | "dispute" | "report") => {
                    (FormBox::District, ctx.group_name())
                }
                (None, a) if a.starts_with("recheck") => (FormBox::Recheck, RECHECK_NAME.into()),
                _ => (FormBox::Note, String::new()),
            };
            let text = self.opinion_line(&level, &e, tz, tpl::REVIEW_ACTION)?;
            match place {
                FormBox::School => form.school_opinions.push(text),
                FormBox::District => form.district_opinions.push(text),
                FormBox::Recheck => form.recheck.push(text),
                FormBox::Note => form.note.push(text),
            }
        }
        if let Some(result) = self.result_data(ctx).as_object() {
            let kind = match result["kind"].as_str() {
                Some("corrected") => "更正",
                _ => "维持原成绩",
            };
            form.district_opinions.push(format!(
                "{}复核结果：{kind} {} → {}",
                ctx.group_name(),
                result["original"].as_str().unwrap_or_default(),
                result["score"].as_str().unwrap_or_default()
            ));
        }
        Ok(form)
    }

    /// One opinion as a paper form's box writes it: "level name：action（comment） time", the
    /// action in the words of `words` (a review's, or an exemption's).
    pub(crate) fn opinion_line(
        &self,
        level: &str,
        e: &reviews::Event,
        tz: chrono_tz::Tz,
        words: &str,
    ) -> anyhow::Result<String> {
        let action = self.render.render(words, &json!({"action": e.action}))?;
        let comment = match e.comment.trim() {
            "" => String::new(),
            c => format!("（{c}）"),
        };
        let at = display(from_ms(e.at), tz);
        let who = [level, e.actor_name.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(match who.as_str() {
            "" => format!("{action}{comment} {at}"),
            who => format!("{who}：{action}{comment} {at}"),
        })
    }

    /// The request's printable form: 附件5 of a review, 附件2 of a 免考 application (with its
    /// photo when it could be fetched).
    async fn printable_form(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        photo: Option<Vec<u8>>,
        ids: Identifiers,
    ) -> anyhow::Result<Record> {
        match ctx.purpose() {
            Purpose::Exemption => return self.exemption_form_record(conn, ctx, photo, ids).await,
            Purpose::Review => {}
        }
        let form = self.review_form(conn, ctx, ids).await?;
        self.form_record(ctx, &form)
    }

    fn form_record(&self, ctx: &Ctx, form: &Form) -> anyhow::Result<Record> {
        Ok(Record {
            name: format!("附件5_复核申请表_{}_{}.xlsx", ctx.req.id, ctx.cand.name),
            bytes: review_form::xlsx(form)?,
            lines: 1,
        })
    }

    /// `export review-form --request N`.
    pub async fn export_review_form(&self, id: i64) -> anyhow::Result<Record> {
        // Fetched before the transaction: a network call never holds the write lock.
        let photo = self.exemption_photo(id).await;
        let mut tx = self.db.begin().await?;
        let ctx = self
            .load_ctx(&mut tx, id)
            .await?
            .with_context(|| format!("there is no request {id}"))?;
        // The terminal is the city's: its forms are printed in full.
        let record = self
            .printable_form(&mut tx, &ctx, photo, Identifiers::Full)
            .await?;
        let detail = format!("{} of request {id}, in full", form_name(&ctx));
        audit(
            &mut tx,
            self.clock.now(),
            "cli",
            "export-review-form",
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The 📄 附件5 button: the request's form as a document, to whoever may see the request.
    pub async fn review_form_button(
        &self,
        user_id: i64,
        chat_id: i64,
        id: i64,
    ) -> anyhow::Result<Press> {
        // Only someone who may see it makes the bot fetch an application's photo, and the
        // fetch happens before the transaction (a network call never holds the write lock).
        let photo = {
            let mut conn = self.db.pool.acquire().await?;
            let bound = people::of_user(&mut conn, user_id).await?;
            match self.load_ctx(&mut conn, id).await? {
                Some(ctx) if self.allowed(user_id, &bound, Action::See, &ctx).is_ok() => {
                    drop(conn);
                    self.exemption_photo(id).await
                }
                _ => None,
            }
        };
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user_id).await?;
        let Some(ctx) = self.load_ctx(&mut tx, id).await? else {
            return Ok(Press::Refused);
        };
        if self.allowed(user_id, &bound, Action::See, &ctx).is_err() {
            return Ok(Press::Refused);
        }
        // In full for the units that stamp and file it, masked for everyone else who may see it.
        let ids = match self.allowed(user_id, &bound, Action::PrintForm, &ctx) {
            Ok(_) => Identifiers::Full,
            Err(_) => Identifiers::Masked,
        };
        let record = self.printable_form(&mut tx, &ctx, photo, ids).await?;
        let caption = self.render.render(
            tpl::REVIEW_FORM_SENT,
            &json!({"id": id, "name": ctx.cand.name, "form": form_name(&ctx)}),
        )?;
        let msg = Outgoing {
            chat_id,
            body: caption,
            document: Some((record.name, record.bytes)),
            is_reply: true,
            ..Outgoing::default()
        };
        outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        let actor = crate::app::Actor::Person(user_id).label();
        let detail = format!("{} of request {id}, {}", form_name(&ctx), ids.label());
        audit(
            &mut tx,
            self.clock.now(),
            &actor,
            "export-review-form",
            &detail,
        )
        .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }
}

/// How a printed form carries 身份证号 and 学籍号: in full for the units that stamp and file it
/// (`Action::PrintForm`), masked as on the cards for everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identifiers {
    Full,
    Masked,
}

impl Identifiers {
    pub(crate) fn show(self, id: &str) -> String {
        match self {
            Identifiers::Full => id.to_string(),
            Identifiers::Masked => mask(id),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Identifiers::Full => "in full",
            Identifiers::Masked => "masked",
        }
    }
}

/// 附件4 二.3, 附件6 注1: the candidate applies and signs; the school's staff who transmitted it
/// is its 经办人.
pub(crate) fn applicant_line(ctx: &Ctx) -> String {
    format!(
        "申请人：{}（考生本人）　经办人：{}（{}）",
        ctx.cand.name,
        ctx.req.filer_name,
        display(from_ms(ctx.req.created_at), ctx.season.tz)
    )
}

/// The paper form a request is printed on.
fn form_name(ctx: &Ctx) -> &'static str {
    ctx.purpose().form()
}
