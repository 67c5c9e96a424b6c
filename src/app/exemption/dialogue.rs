//! The 免考 application dialogue (/exempt): the candidate by 准考证号 → their age on the exam
//! day, shown to confirm → 联系人 → 联系方式 → the kind of proof → 申请事由 → the 一寸 photo →
//! the proofs → the signed application page → the whole 附件2 to confirm. The same dialogue,
//! entered at its confirm step, amends a returned application. Its state is a `dialogues`
//! row, so it survives restarts; every prompt has back (except the first) and cancel.

use crate::app::App;
use crate::app::dialogue::{Flow, Next, PressCode, Prompt, Session, Shown, StepCode};
use crate::domain::attachment::Attachment;
use crate::domain::exemption::{Details, MAX_PROOFS, Proof, age_on};
use crate::domain::review;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::{roster, seasons};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What an application (or an amendment of a returned one) holds so far: 附件2's fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Application {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_id: Option<i64>,
    /// The returned application being amended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<i64>,
    pub age: Option<u32>,
    pub contact_person: Option<String>,
    pub contact: Option<String>,
    pub proof: Option<Proof>,
    pub reason: Option<String>,
    pub photo: Option<String>,
    pub proofs: Vec<String>,
    pub page: Option<String>,
}

impl Application {
    /// A returned application's 附件2, to amend.
    pub(crate) fn amending(request: i64, candidate_id: i64, filed: Option<Details>) -> Self {
        let mut a = filed.map(Application::from).unwrap_or_default();
        a.request = Some(request);
        a.candidate_id = Some(candidate_id);
        a
    }

    fn is_amending(&self) -> bool {
        self.request.is_some()
    }

    /// The 附件2 fields gathered, checked whole; None if one is missing.
    pub(crate) fn details(&self) -> Option<Details> {
        let attachment = |a: &Option<String>| a.clone().filter(|p| Attachment::parse(p).is_some());
        Some(Details {
            age: self.age?,
            contact_person: self.contact_person.clone()?,
            contact: self.contact.clone()?,
            proof: self.proof?,
            reason: self.reason.clone()?,
            photo: attachment(&self.photo)?,
            proofs: self.proofs.clone(),
            page: attachment(&self.page)?,
        })
        .filter(|d| !d.proofs.is_empty())
    }
}

impl From<Details> for Application {
    fn from(d: Details) -> Self {
        Application {
            age: Some(d.age),
            contact_person: Some(d.contact_person),
            contact: Some(d.contact),
            proof: Some(d.proof),
            reason: Some(d.reason),
            photo: Some(d.photo),
            proofs: d.proofs,
            page: Some(d.page),
            ..Application::default()
        }
    }
}

/// A step of the dialogue, as its `dialogues.step` and its buttons name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    ExamNo,
    Age,
    Person,
    Contact,
    Proof,
    Reason,
    Photo,
    Proofs,
    Page,
    Confirm,
}

impl StepCode for Step {
    const ALL: &'static [Step] = &[
        Step::ExamNo,
        Step::Age,
        Step::Person,
        Step::Contact,
        Step::Proof,
        Step::Reason,
        Step::Photo,
        Step::Proofs,
        Step::Page,
        Step::Confirm,
    ];

    fn code(self) -> &'static str {
        match self {
            Step::ExamNo => "exam_no",
            Step::Age => "age",
            Step::Person => "person",
            Step::Contact => "contact",
            Step::Proof => "proof",
            Step::Reason => "reason",
            Step::Photo => "photo",
            Step::Proofs => "proofs",
            Step::Page => "page",
            Step::Confirm => "confirm",
        }
    }
}

impl Step {
    /// The step before this one; None at the first (then "back" is not offered). Amending a
    /// returned application keeps its candidate: its first step is the age.
    fn previous(self, amending: bool) -> Option<Step> {
        let i = Step::ALL.iter().position(|s| *s == self)?;
        let first = if amending { 1 } else { 0 };
        (i > first).then(|| Step::ALL[i - 1])
    }

    /// Its number in "step n of m" (the confirm step has none).
    fn number(self) -> usize {
        Step::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1)
    }
}

/// An action a prompt's button carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Button {
    /// The age shown is right.
    AgeOk,
    Proof(Proof),
    /// No more proofs.
    Done,
    /// Start the proofs again (a wrong document sent, or an amendment replacing them): the
    /// ones received so far are dropped.
    Redo,
    Submit,
    /// From the confirm step back to the first editable field.
    Edit,
}

impl PressCode for Button {
    fn code(&self) -> String {
        match self {
            Button::AgeOk => "ok",
            Button::Proof(p) => p.code(),
            Button::Done => "done",
            Button::Redo => "redo",
            Button::Submit => "submit",
            Button::Edit => "edit",
        }
        .into()
    }

    fn parse(code: &str) -> Option<Button> {
        Some(match code {
            "ok" => Button::AgeOk,
            "done" => Button::Done,
            "redo" => Button::Redo,
            "submit" => Button::Submit,
            "edit" => Button::Edit,
            other => Button::Proof(Proof::from_code(other)?),
        })
    }
}

impl Button {
    fn label(self) -> &'static str {
        match self {
            Button::AgeOk => tpl::BUTTON_AGE_OK,
            Button::Proof(Proof::DisabilityCard) => tpl::BUTTON_PROOF_CARD,
            Button::Proof(Proof::HospitalCertificate) => tpl::BUTTON_PROOF_HOSPITAL,
            Button::Done => tpl::BUTTON_PROOFS_DONE,
            Button::Redo => tpl::BUTTON_PROOFS_REDO,
            Button::Submit => tpl::BUTTON_SUBMIT,
            Button::Edit => tpl::BUTTON_EDIT,
        }
    }
}

/// The step's own buttons (back and cancel are the framework's).
fn buttons(step: Step, a: &Application) -> Vec<Button> {
    match step {
        Step::Age => vec![Button::AgeOk],
        Step::Proof => Proof::ALL.into_iter().map(Button::Proof).collect(),
        Step::Proofs if a.proofs.is_empty() => vec![],
        Step::Proofs => vec![Button::Done, Button::Redo],
        Step::Confirm => vec![Button::Submit, Button::Edit],
        _ => vec![],
    }
}

/// 联系人: a name of 1 to 20 characters.
fn contact_person(text: &str) -> Option<String> {
    let t = text.trim();
    (1..=20).contains(&t.chars().count()).then(|| t.to_string())
}

impl Flow for Application {
    type Step = Step;
    type Press = Button;
    type After = ();

    fn previous(s: &Session<Self>) -> Option<Step> {
        s.step.previous(s.state.is_amending())
    }

    /// Proofs arrive one photo at a time, each with a new prompt: the buttons of an earlier
    /// one (已传完) still act, for the same application.
    fn shown(&self) -> String {
        format!("exempt:{:?}:{:?}", self.candidate_id, self.request)
    }

    fn request(&self) -> Option<i64> {
        self.request
    }

    async fn prompt(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
    ) -> anyhow::Result<Shown<Button>> {
        let a = &s.state;
        let mut data = serde_json::to_value(a)?;
        data["no"] = json!(s.step.number());
        data["of"] = json!(Step::ALL.len() - 1);
        data["proof_count"] = json!(a.proofs.len());
        data["max_proofs"] = json!(MAX_PROOFS);
        data["amending"] = json!(a.is_amending());
        if let Some(id) = a.candidate_id
            && let Some(c) = roster::by_id(conn, id).await?
        {
            data["candidate"] = json!({"name": c.name, "class_name": c.class_name,
                                        "exam_no": c.exam_no});
        }
        if s.step == Step::Confirm {
            data["form"] = json!(app.exemption_preview(conn, a).await?);
        }
        let template = match s.step {
            Step::ExamNo => tpl::DLG_EXEMPT_EXAM_NO,
            Step::Age => tpl::DLG_EXEMPT_AGE,
            Step::Person => tpl::DLG_EXEMPT_PERSON,
            Step::Contact => tpl::DLG_EXEMPT_CONTACT,
            Step::Proof => tpl::DLG_EXEMPT_PROOF,
            Step::Reason => tpl::DLG_EXEMPT_REASON,
            Step::Photo => tpl::DLG_EXEMPT_PHOTO,
            Step::Proofs => tpl::DLG_EXEMPT_PROOFS,
            Step::Page => tpl::DLG_EXEMPT_PAGE,
            Step::Confirm => tpl::DLG_EXEMPT_CONFIRM,
        };
        let own = buttons(s.step, a).into_iter().map(|b| (b.label(), b));
        Ok(Shown::Prompt(
            Prompt::new(template, data).row(&app.render, own)?,
        ))
    }

    async fn text(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        text: &str,
    ) -> anyhow::Result<Next<Self>> {
        let a = &mut s.state;
        let next = match s.step {
            Step::ExamNo => {
                let cand = match app
                    .find_exempt_candidate(conn, s.user, s.chat, text.trim())
                    .await?
                {
                    Ok(cand) => cand,
                    Err(next) => return Ok(next),
                };
                let city = app.city_of_user(conn, s.user).await?;
                let season = seasons::current(conn, &city).await?;
                a.candidate_id = Some(cand.id);
                a.age = season.and_then(|season| age_on(&cand.id_card, season.age_day()));
                Step::Age
            }
            // A typed age replaces the computed one (a 身份证号 whose date is not the birthday).
            Step::Age => match text.trim().parse::<u32>() {
                Ok(age) if (6..=30).contains(&age) => {
                    a.age = Some(age);
                    Step::Person
                }
                _ => return Ok(Next::say(tpl::EXEMPT_BAD_AGE)),
            },
            Step::Person => match contact_person(text) {
                Some(p) => {
                    a.contact_person = Some(p);
                    Step::Contact
                }
                None => return Ok(Next::say(tpl::EXEMPT_BAD_PERSON)),
            },
            Step::Contact => match review::contact(text) {
                Some(c) => {
                    a.contact = Some(c);
                    Step::Proof
                }
                None => return Ok(Next::say(tpl::REVIEW_BAD_CONTACT)),
            },
            Step::Reason => match review::reason(text) {
                Ok(r) => {
                    a.reason = Some(r);
                    Step::Photo
                }
                Err(n) => {
                    let hint = json!({"length": n, "max": review::REASON_MAX});
                    return Ok(Next::Say(tpl::REVIEW_BAD_REASON, hint));
                }
            },
            Step::Photo | Step::Proofs | Step::Page => {
                return Ok(Next::say(tpl::EXEMPT_FILE_PLEASE));
            }
            Step::Proof | Step::Confirm => return Ok(Next::say(tpl::DIALOGUE_USE_BUTTONS)),
        };
        Ok(Next::Go(next))
    }

    /// The photo, the proofs and the signed page.
    async fn file(
        _: &App,
        _: &mut Conn,
        s: &mut Session<Self>,
        file: Option<Attachment>,
    ) -> anyhow::Result<Next<Self>> {
        let Some(file) = file else {
            return Ok(Next::say(tpl::EXEMPT_FILE_PLEASE));
        };
        let a = &mut s.state;
        Ok(match s.step {
            Step::Photo => {
                a.photo = Some(file.to_string());
                Next::Go(Step::Proofs)
            }
            Step::Proofs if a.proofs.len() >= MAX_PROOFS => {
                Next::Say(tpl::EXEMPT_PROOFS_FULL, json!({"max": MAX_PROOFS}))
            }
            Step::Proofs => {
                a.proofs.push(file.to_string());
                Next::Go(Step::Proofs)
            }
            Step::Page => {
                a.page = Some(file.to_string());
                Next::Go(Step::Confirm)
            }
            _ => Next::say(tpl::DIALOGUE_TEXT_PLEASE),
        })
    }

    async fn press(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        button: Button,
    ) -> anyhow::Result<Next<Self>> {
        if !buttons(s.step, &s.state).contains(&button) {
            return Ok(Next::Refused);
        }
        let a = &mut s.state;
        Ok(match button {
            Button::AgeOk if a.age.is_some() => Next::Go(Step::Person),
            // No age could be read from the 身份证号: it must be typed.
            Button::AgeOk => Next::say(tpl::EXEMPT_BAD_AGE),
            Button::Proof(p) => {
                a.proof = Some(p);
                Next::Go(Step::Reason)
            }
            Button::Done => Next::Go(Step::Page),
            Button::Redo => {
                a.proofs.clear();
                Next::Go(Step::Proofs)
            }
            Button::Edit => Next::Go(Step::Person),
            Button::Submit => {
                if let Err((template, extra)) = app.exemption_window(conn, s.user).await? {
                    app.tell(conn, s.chat, template, &extra).await?;
                    return Ok(Next::End);
                }
                // A dialogue that lost a field: from the age again.
                let Some(details) = a.details() else {
                    return Ok(Next::Go(Step::Age));
                };
                app.submit_exemption(conn, s.user, s.chat, a, details)
                    .await?;
                Next::End
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_buttons_read_back_as_written() {
        for s in Step::ALL {
            assert_eq!(Step::parse(s.code()), Some(*s));
        }
        for b in [
            Button::AgeOk,
            Button::Proof(Proof::DisabilityCard),
            Button::Proof(Proof::HospitalCertificate),
            Button::Done,
            Button::Redo,
            Button::Submit,
            Button::Edit,
        ] {
            assert_eq!(Button::parse(&b.code()), Some(b));
        }
        assert_eq!(Button::parse("x"), None);
    }

    #[test]
    fn every_step_but_the_first_goes_back() {
        for s in Step::ALL {
            assert_eq!(s.previous(false).is_some(), *s != Step::ExamNo, "{s:?}");
        }
        // Amending keeps the candidate: the age is its first step.
        assert!(Step::Age.previous(true).is_none());
        let none = Application::default();
        assert!(!buttons(Step::Proofs, &none).contains(&Button::Done));
        let some = Application {
            proofs: vec!["photo:a".into()],
            ..Application::default()
        };
        assert!(buttons(Step::Proofs, &some).contains(&Button::Done));
        assert!(buttons(Step::Proofs, &some).contains(&Button::Redo));
    }
}
