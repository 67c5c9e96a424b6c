//! The 免考 application dialogue (/exempt): the candidate by 准考证号 → their age on the exam
//! day, shown to confirm → 联系人 → 联系方式 → the kind of proof → 申请事由 → the 一寸 photo →
//! the proofs → the signed application page → the whole 附件2 to confirm. The same dialogue,
//! entered at its confirm step, amends a returned application. Its state is a `dialogues`
//! row, so it survives restarts; every prompt has back (except the first) and cancel.

use super::EXEMPT;
use crate::app::App;
use crate::app::review::Press;
use crate::domain::attachment::Attachment;
use crate::domain::exemption::{MAX_PROOFS, Proof, age_on};
use crate::domain::review;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::dialogues::{self, Dialogue};
use crate::store::outbox::{self, Outgoing};
use crate::store::{roster, seasons};
use serde_json::{Value, json};

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

impl Step {
    const ALL: [Step; 10] = [
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

    pub(crate) fn as_str(self) -> &'static str {
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

    pub(crate) fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.as_str() == s)
    }

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
enum Button {
    Back,
    Cancel,
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

impl Button {
    fn code(self) -> &'static str {
        match self {
            Button::Back => "back",
            Button::Cancel => "cancel",
            Button::AgeOk => "ok",
            Button::Proof(p) => p.code(),
            Button::Done => "done",
            Button::Redo => "redo",
            Button::Submit => "submit",
            Button::Edit => "edit",
        }
    }

    fn parse(code: &str) -> Option<Button> {
        Some(match code {
            "back" => Button::Back,
            "cancel" => Button::Cancel,
            "ok" => Button::AgeOk,
            "done" => Button::Done,
            "redo" => Button::Redo,
            "submit" => Button::Submit,
            "edit" => Button::Edit,
            other => Button::Proof(Proof::from_code(other)?),
        })
    }

    fn label(self) -> &'static str {
        match self {
            Button::Back => tpl::BUTTON_BACK,
            Button::Cancel => tpl::BUTTON_CANCEL,
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

/// The buttons under a step's prompt: its own choices, then back and cancel.
fn buttons(step: Step, data: &Value) -> Vec<Button> {
    let mut out = match step {
        Step::Age => vec![Button::AgeOk],
        Step::Proof => Proof::ALL.into_iter().map(Button::Proof).collect(),
        Step::Proofs if proofs(data).is_empty() => vec![],
        Step::Proofs => vec![Button::Done, Button::Redo],
        Step::Confirm => vec![Button::Submit, Button::Edit],
        _ => vec![],
    };
    if step.previous(amending(data)).is_some() {
        out.push(Button::Back);
    }
    out.push(Button::Cancel);
    out
}

fn amending(data: &Value) -> bool {
    data["request"].is_i64()
}

fn proofs(data: &Value) -> Vec<String> {
    data["proofs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// 联系人: a name of 1 to 20 characters.
fn contact_person(text: &str) -> Option<String> {
    let t = text.trim();
    (1..=20).contains(&t.chars().count()).then(|| t.to_string())
}

impl App {
    /// Saves the step and queues its prompt, in the caller's transaction.
    pub(crate) async fn enter_exempt_step(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        step: Step,
        data: &Value,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        dialogues::set(conn, user_id, chat_id, EXEMPT, step.as_str(), data, now).await?;
        let pairs: Vec<(&str, &str)> = buttons(step, data)
            .into_iter()
            .map(|b| (b.label(), b.code()))
            .collect();
        // Proof photos join the data without a new prompt, so its buttons carry the kind's
        // version, not the data's: never taken for another dialogue's (`dialogue_button`).
        let shown = dialogues::version(EXEMPT);
        let markup = self.dialogue_keyboard(step.as_str(), &shown, &pairs)?;
        let mut prompt = data.clone();
        prompt["no"] = json!(step.number());
        prompt["of"] = json!(Step::ALL.len() - 1);
        prompt["proof_count"] = json!(proofs(data).len());
        prompt["max_proofs"] = json!(MAX_PROOFS);
        prompt["amending"] = json!(amending(data));
        if let Some(c) = self.dialogue_candidate(conn, data).await? {
            prompt["candidate"] = json!({"name": c.name, "class_name": c.class_name,
                                          "exam_no": c.exam_no});
        }
        if step == Step::Confirm {
            prompt["form"] = json!(self.exemption_preview(conn, data).await?);
        }
        let body = self
            .render
            .render(&format!("dlg_exempt_{}", step.as_str()), &prompt)?;
        let msg = Outgoing {
            chat_id,
            body,
            buttons: Some(markup),
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, now).await?;
        Ok(())
    }

    async fn dialogue_candidate(
        &self,
        conn: &mut Conn,
        data: &Value,
    ) -> anyhow::Result<Option<roster::Row>> {
        match data["candidate_id"].as_i64() {
            Some(id) => Ok(roster::by_id(conn, id).await?),
            None => Ok(None),
        }
    }

    /// Text typed while in the dialogue.
    pub(crate) async fn exempt_text(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat_id: i64,
        text: &str,
    ) -> anyhow::Result<()> {
        let user_id = d.user_id;
        let mut data = d.data();
        let Some(step) = Step::parse(&d.step) else {
            dialogues::clear(conn, user_id).await?;
            return Ok(());
        };
        let next = match step {
            Step::ExamNo => {
                let Some(cand) = self
                    .find_exempt_candidate(conn, user_id, chat_id, text.trim())
                    .await?
                else {
                    return Ok(());
                };
                let city = self.city_of_user(conn, user_id).await?;
                let season = seasons::current(conn, &city).await?;
                let age = season.and_then(|s| age_on(&cand.id_card, s.age_day()));
                data["candidate_id"] = json!(cand.id);
                data["age"] = json!(age);
                Step::Age
            }
            // A typed age replaces the computed one (a 身份证号 whose date is not the birthday).
            Step::Age => match text.trim().parse::<u32>() {
                Ok(age) if (6..=30).contains(&age) => {
                    data["age"] = json!(age);
                    Step::Person
                }
                _ => {
                    return self
                        .tell(conn, chat_id, tpl::EXEMPT_BAD_AGE, &json!({}))
                        .await;
                }
            },
            Step::Person => match contact_person(text) {
                Some(p) => {
                    data["contact_person"] = json!(p);
                    Step::Contact
                }
                None => {
                    return self
                        .tell(conn, chat_id, tpl::EXEMPT_BAD_PERSON, &json!({}))
                        .await;
                }
            },
            Step::Contact => match review::contact(text) {
                Some(c) => {
                    data["contact"] = json!(c);
                    Step::Proof
                }
                None => {
                    return self
                        .tell(conn, chat_id, tpl::REVIEW_BAD_CONTACT, &json!({}))
                        .await;
                }
            },
            Step::Reason => match review::reason(text) {
                Ok(r) => {
                    data["reason"] = json!(r);
                    Step::Photo
                }
                Err(n) => {
                    let hint = json!({"length": n, "max": review::REASON_MAX});
                    return self
                        .tell(conn, chat_id, tpl::REVIEW_BAD_REASON, &hint)
                        .await;
                }
            },
            Step::Photo | Step::Proofs | Step::Page => {
                return self
                    .tell(conn, chat_id, tpl::EXEMPT_FILE_PLEASE, &json!({}))
                    .await;
            }
            Step::Proof | Step::Confirm => {
                return self
                    .tell(conn, chat_id, tpl::DIALOGUE_USE_BUTTONS, &json!({}))
                    .await;
            }
        };
        self.enter_exempt_step(conn, user_id, chat_id, next, &data)
            .await
    }

    /// A photo or a file sent while in the dialogue (`file` is None for anything else).
    pub(crate) async fn exempt_file(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat_id: i64,
        file: Option<Attachment>,
    ) -> anyhow::Result<()> {
        let mut data = d.data();
        let step = Step::parse(&d.step);
        let Some(file) = file else {
            return self
                .tell(conn, chat_id, tpl::EXEMPT_FILE_PLEASE, &json!({}))
                .await;
        };
        let next = match step {
            Some(Step::Photo) => {
                data["photo"] = json!(file.to_string());
                Step::Proofs
            }
            Some(Step::Proofs) => {
                let mut list = proofs(&data);
                if list.len() >= MAX_PROOFS {
                    let max = json!({"max": MAX_PROOFS});
                    return self
                        .tell(conn, chat_id, tpl::EXEMPT_PROOFS_FULL, &max)
                        .await;
                }
                list.push(file.to_string());
                data["proofs"] = json!(list);
                Step::Proofs
            }
            Some(Step::Page) => {
                data["page"] = json!(file.to_string());
                Step::Confirm
            }
            _ => {
                return self
                    .tell(conn, chat_id, tpl::DIALOGUE_TEXT_PLEASE, &json!({}))
                    .await;
            }
        };
        self.enter_exempt_step(conn, d.user_id, chat_id, next, &data)
            .await
    }

    /// A prompt's button. The caller has checked that it belongs to the step the user is at.
    pub(crate) async fn exempt_button(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat_id: i64,
        code: &str,
    ) -> anyhow::Result<Press> {
        let (Some(step), Some(button)) = (Step::parse(&d.step), Button::parse(code)) else {
            return Ok(Press::Refused);
        };
        if !buttons(step, &d.data()).contains(&button) {
            return Ok(Press::Refused);
        }
        let user_id = d.user_id;
        let mut data = d.data();
        let next = match button {
            Button::Cancel => {
                dialogues::clear(conn, user_id).await?;
                self.tell(conn, chat_id, tpl::DIALOGUE_CANCELLED, &json!({}))
                    .await?;
                return Ok(Press::Accepted);
            }
            Button::Back => match step.previous(amending(&data)) {
                Some(prev) => prev,
                None => return Ok(Press::Stale),
            },
            Button::AgeOk if data["age"].is_u64() => Step::Person,
            // No age could be read from the 身份证号: it must be typed.
            Button::AgeOk => {
                self.tell(conn, chat_id, tpl::EXEMPT_BAD_AGE, &json!({}))
                    .await?;
                return Ok(Press::Accepted);
            }
            Button::Proof(p) => {
                data["proof"] = json!(p);
                Step::Reason
            }
            Button::Done => Step::Page,
            Button::Redo => {
                data["proofs"] = json!([]);
                Step::Proofs
            }
            Button::Edit => Step::Person,
            Button::Submit => {
                dialogues::clear(conn, user_id).await?;
                self.submit_exemption(conn, user_id, chat_id, &data).await?;
                return Ok(Press::Accepted);
            }
        };
        self.enter_exempt_step(conn, user_id, chat_id, next, &data)
            .await?;
        Ok(Press::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_buttons_read_back_as_written() {
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
        for b in [
            Button::Back,
            Button::Cancel,
            Button::AgeOk,
            Button::Proof(Proof::DisabilityCard),
            Button::Proof(Proof::HospitalCertificate),
            Button::Done,
            Button::Redo,
            Button::Submit,
            Button::Edit,
        ] {
            assert_eq!(Button::parse(b.code()), Some(b));
        }
        assert_eq!(Button::parse("x"), None);
    }

    #[test]
    fn every_step_but_the_first_goes_back_and_every_step_cancels() {
        for s in Step::ALL {
            let b = buttons(s, &json!({}));
            assert!(b.contains(&Button::Cancel), "{s:?}");
            assert_eq!(b.contains(&Button::Back), s != Step::ExamNo, "{s:?}");
        }
        // Amending keeps the candidate: the age is its first step.
        assert!(!buttons(Step::Age, &json!({"request": 3})).contains(&Button::Back));
        assert!(!buttons(Step::Proofs, &json!({})).contains(&Button::Done));
        let some = json!({"proofs": ["photo:a"]});
        assert!(buttons(Step::Proofs, &some).contains(&Button::Done));
        assert!(buttons(Step::Proofs, &some).contains(&Button::Redo));
    }
}
