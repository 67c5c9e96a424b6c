//! Filing a review request (/review) and amending a returned one, as a chat dialogue: the
//! 准考证号 → the signed form (where the city asks for it) → 申请理由 → 联系方式 → the 附件5 to
//! confirm. Amending starts at the reason and keeps the candidate.

use super::filing::{Filed, Filing, Found};
use crate::app::App;
use crate::app::callback::Press;
use crate::app::dialogue::{Flow, Kind, Next, PressCode, Prompt, Session, Shown, StepCode};
use crate::app::policy::Denied;
use crate::app::workflow::{Amendment, Ctx};
use crate::domain::attachment::Attachment;
use crate::domain::review;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::candidates;
use serde_json::json;

/// The first step still missing from `next` on, in a quick filing's first pass.
fn first_missing(filing: &Filing, kind: Kind, mut next: Step) -> Step {
    if kind != Kind::File || !filing.quick {
        return next;
    }
    loop {
        next = match next {
            Step::Form if filing.form.is_some() => Step::Reason,
            Step::Reason if filing.reason.is_some() => Step::Contact,
            Step::Contact if filing.contact.is_some() => Step::Confirm,
            other => return other,
        };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    ExamNo,
    Form,
    Reason,
    Contact,
    Confirm,
}

impl StepCode for Step {
    const ALL: &'static [Step] = &[
        Step::ExamNo,
        Step::Form,
        Step::Reason,
        Step::Contact,
        Step::Confirm,
    ];

    fn code(self) -> &'static str {
        match self {
            Step::ExamNo => "exam_no",
            Step::Form => "form",
            Step::Reason => "reason",
            Step::Contact => "contact",
            Step::Confirm => "confirm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Button {
    Submit,
    /// From the confirm step back to the reason.
    Edit,
    /// An amendment replaces the signed form.
    ReplaceForm,
}

impl PressCode for Button {
    fn code(&self) -> String {
        match self {
            Button::Submit => "submit",
            Button::Edit => "edit",
            Button::ReplaceForm => "form",
        }
        .into()
    }

    fn parse(code: &str) -> Option<Button> {
        Some(match code {
            "submit" => Button::Submit,
            "edit" => Button::Edit,
            "form" => Button::ReplaceForm,
            _ => return None,
        })
    }
}

fn template(kind: Kind, step: Step) -> &'static str {
    match (kind, step) {
        (Kind::Amend, Step::Form) => tpl::DLG_AMEND_FORM,
        (Kind::Amend, Step::Reason) => tpl::DLG_AMEND_REASON,
        (Kind::Amend, Step::Contact) => tpl::DLG_AMEND_CONTACT,
        (Kind::Amend, Step::Confirm) => tpl::DLG_AMEND_CONFIRM,
        (_, Step::ExamNo) => tpl::DLG_FILE_EXAM_NO,
        (_, Step::Form) => tpl::DLG_FILE_FORM,
        (_, Step::Reason) => tpl::DLG_FILE_REASON,
        (_, Step::Contact) => tpl::DLG_FILE_CONTACT,
        (_, Step::Confirm) => tpl::DLG_FILE_CONFIRM,
    }
}

impl App {
    /// `/review`: a school contact or homeroom teacher starts filing.
    pub async fn review_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        match self.filing_refused(&mut tx, user_id).await? {
            Some((template, data)) => self.tell(&mut tx, chat_id, template, &data).await?,
            None => {
                let mut s = Session::new(
                    user_id,
                    chat_id,
                    Kind::File,
                    Step::ExamNo,
                    Filing::default(),
                );
                self.enter(&mut tx, &mut s).await?
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// A returned review request amended, from its reason on (the engine's `start_amendment`
    /// has checked who pressed and when).
    pub(crate) async fn start_review_amendment(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        ctx: &Ctx,
    ) -> anyhow::Result<Press> {
        // Once the amendment's time is over it could not be submitted: say so now, not after
        // the filer has typed it all (found by the workflow model test).
        if self.amend_open(ctx).is_err() {
            return Ok(Press::Denied(Denied::AmendClosed));
        }
        let amending = Filing {
            request: Some(ctx.req.id),
            reason: Some(ctx.req.reason.clone()),
            contact: Some(ctx.req.contact.clone()),
            ..Filing::default()
        };
        let mut s = Session::new(user_id, chat_id, Kind::Amend, Step::Reason, amending);
        self.enter(conn, &mut s).await?;
        Ok(Press::Accepted)
    }

    /// Whether filing asks this person for the candidate's signed form: their city's rule.
    async fn signed_form_asked(&self, conn: &mut Conn, user_id: i64) -> anyhow::Result<bool> {
        let city = self.city_of_user(conn, user_id).await?;
        Ok(self.config.review_of(&city).require_signed_form)
    }
}

impl Flow for Filing {
    type Step = Step;
    type Press = Button;
    type After = ();

    fn previous(s: &Session<Self>) -> Option<Step> {
        match (s.kind, s.step) {
            (Kind::File, Step::Form) => Some(Step::ExamNo),
            (Kind::File, Step::Reason) if s.state.form.is_some() => Some(Step::Form),
            (Kind::File, Step::Reason) => Some(Step::ExamNo),
            (_, Step::Contact) => Some(Step::Reason),
            (_, Step::Confirm) => Some(Step::Contact),
            // Replacing the signed form is a side trip from the confirm step.
            (Kind::Amend, Step::Form) => Some(Step::Confirm),
            _ => None,
        }
    }

    fn on_back(&mut self) {
        self.quick = false;
    }

    fn request(&self) -> Option<i64> {
        self.request
    }

    async fn prompt(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
    ) -> anyhow::Result<Shown<Button>> {
        let mut data = serde_json::to_value(&s.state)?;
        if s.kind == Kind::File {
            if let Some(id) = s.state.candidate_id
                && let Some(c) = candidates::by_id(conn, id).await?
            {
                data["candidate"] = json!({
                    "name": c.name, "gender": c.gender, "class_name": c.class_name,
                    "score": c.score().to_string(), "sitting": c.sitting(), "exam_no": c.exam_no,
                });
            }
            // "Step n of m": the signed form is one more step where the city asks for it.
            let steps: &[Step] = if app.signed_form_asked(conn, s.user).await? {
                &[
                    Step::ExamNo,
                    Step::Form,
                    Step::Reason,
                    Step::Contact,
                    Step::Confirm,
                ]
            } else {
                &[Step::ExamNo, Step::Reason, Step::Contact, Step::Confirm]
            };
            let no = steps
                .iter()
                .position(|st| *st == s.step)
                .map_or(0, |i| i + 1);
            data["no"] = json!(no);
            data["of"] = json!(steps.len());
            if s.step == Step::Confirm {
                data["summary"] = json!(app.filing_summary(conn, &s.state).await?);
            }
        }
        data["form"] = json!(s.state.form.is_some());
        let prompt = Prompt::new(template(s.kind, s.step), data);
        let buttons: &[(&str, Button)] = match (s.kind, s.step) {
            (Kind::Amend, Step::Confirm) => &[
                (tpl::BUTTON_RESUBMIT, Button::Submit),
                (tpl::BUTTON_EDIT, Button::Edit),
                (tpl::BUTTON_REPLACE_FORM, Button::ReplaceForm),
            ],
            (_, Step::Confirm) => &[
                (tpl::BUTTON_SUBMIT, Button::Submit),
                (tpl::BUTTON_EDIT, Button::Edit),
            ],
            _ => &[],
        };
        Ok(Shown::Prompt(
            prompt.row(&app.render, buttons.iter().copied())?,
        ))
    }

    async fn text(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        text: &str,
    ) -> anyhow::Result<Next<Self>> {
        let next = match s.step {
            Step::ExamNo => {
                let exam_no = text.trim();
                match app.find_candidate(conn, s.user, exam_no).await? {
                    Found::Candidate(id) => {
                        s.state.candidate_id = Some(id);
                        if app.signed_form_asked(conn, s.user).await? {
                            Step::Form
                        } else {
                            Step::Reason
                        }
                    }
                    Found::Exempt => {
                        return Ok(Next::Say(
                            tpl::REVIEW_EXEMPT_CANDIDATE,
                            json!({"exam_no": exam_no}),
                        ));
                    }
                    Found::Nothing => {
                        return Ok(Next::Say(
                            tpl::REVIEW_NO_CANDIDATE,
                            json!({"exam_no": exam_no}),
                        ));
                    }
                    Found::Decided(req) => {
                        app.tell_result(conn, s.user, s.chat, req).await?;
                        return Ok(Next::End);
                    }
                    Found::Taken(req) => {
                        app.tell(conn, s.chat, tpl::REVIEW_EXISTS_SHORT, &json!({"id": req}))
                            .await?;
                        return Ok(Next::End);
                    }
                    Found::Open(req) => {
                        if let Some(ctx) = app.load_ctx(conn, req).await? {
                            let card = app.render_card(conn, &ctx).await?;
                            let data = json!({"id": req, "card": card});
                            app.tell(conn, s.chat, tpl::REVIEW_EXISTS, &data).await?;
                        }
                        return Ok(Next::End);
                    }
                }
            }
            Step::Form => return Ok(Next::say(tpl::REVIEW_FORM_PLEASE)),
            Step::Reason => match review::reason(text) {
                Ok(r) => {
                    s.state.reason = Some(r);
                    Step::Contact
                }
                Err(n) => {
                    let hint = json!({"length": n, "max": review::REASON_MAX});
                    return Ok(Next::Say(tpl::REVIEW_BAD_REASON, hint));
                }
            },
            Step::Contact => match review::contact(text) {
                Some(c) => {
                    s.state.contact = Some(c);
                    Step::Confirm
                }
                None => return Ok(Next::say(tpl::REVIEW_BAD_CONTACT)),
            },
            Step::Confirm => return Ok(Next::say(tpl::DIALOGUE_USE_BUTTONS)),
        };
        Ok(Next::Go(first_missing(&s.state, s.kind, next)))
    }

    /// The signed form where filing asks for it (a photo, or a PDF or image file).
    async fn file(
        _app: &App,
        _conn: &mut Conn,
        s: &mut Session<Self>,
        file: Option<Attachment>,
    ) -> anyhow::Result<Next<Self>> {
        Ok(match (s.step, file) {
            (Step::Form, Some(file)) => {
                s.state.form = Some(file.to_string());
                let next = match s.kind {
                    Kind::Amend => Step::Confirm,
                    _ => Step::Reason,
                };
                Next::Go(first_missing(&s.state, s.kind, next))
            }
            (Step::Form, None) => Next::say(tpl::REVIEW_FORM_PLEASE),
            _ => Next::say(tpl::DIALOGUE_TEXT_PLEASE),
        })
    }

    async fn press(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        press: Button,
    ) -> anyhow::Result<Next<Self>> {
        Ok(match (s.step, press) {
            (Step::Confirm, Button::Edit) => {
                s.state.quick = false;
                Next::Go(Step::Reason)
            }
            (Step::Confirm, Button::ReplaceForm) if s.kind == Kind::Amend => Next::Go(Step::Form),
            (Step::Confirm, Button::Submit) if s.kind == Kind::Amend => {
                let f = &s.state;
                let amendment = Amendment {
                    reason: f.reason.as_deref().unwrap_or_default(),
                    contact: f.contact.as_deref().unwrap_or_default(),
                    details: None,
                    form: f.form(),
                };
                let id = f.request.unwrap_or(0);
                app.resubmit(conn, s.user, s.chat, id, amendment).await?;
                Next::End
            }
            (Step::Confirm, Button::Submit) => {
                match app.submit_filing(conn, s.user, s.chat, &s.state).await? {
                    Filed::Done => Next::End,
                    Filed::FormMissing => Next::Go(Step::Form),
                }
            }
            _ => Next::Refused,
        })
    }
}
