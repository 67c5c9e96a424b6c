//! The chat dialogues of a review, step by step: filing (/review), amending a returned request,
//! giving a reason for a rejection, return or dispute, and recording the group's result; and
//! where a text, a file or a prompt's button goes while one is open (a 免考 application's
//! dialogue is `exemption`'s). Each step's state is a row in `dialogues`, so a restart loses
//! nothing; every prompt has a way back (but the first) and a cancel.

use super::filing::Found;
use super::{App, Press, button, keyboard};
use crate::app::callback::Callback;
use crate::app::dialogue::{AMEND, ENTRY, EXEMPT, FILE, IMPORT, INVITE, RECORD, WHY};
use crate::domain::attachment::Attachment;
use crate::domain::review;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::candidates;
use crate::store::dialogues::{self, Dialogue};
use crate::store::outbox::{self, Outgoing};
use crate::store::people;
use serde_json::{Value, json};

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

/// A quick filing's first pass (`quick`) goes on to the first step still missing: what the
/// message already gave is not asked again. Going back or editing ends the first pass.
fn first_missing<'a>(kind: &str, mut next: &'a str, data: &Value) -> &'a str {
    if kind != FILE || data["quick"] != json!(true) {
        return next;
    }
    loop {
        next = match next {
            "form" if data["form"].is_string() => "reason",
            "reason" if data["reason"].is_string() => "contact",
            "contact" if data["contact"].is_string() => "confirm",
            other => return other,
        };
    }
}

/// The buttons under a prompt: the step's own choices, then back (when there is a step before)
/// and cancel.
fn prompt_buttons(kind: &str, step: &str, data: &Value) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = match (kind, step) {
        (FILE, "confirm") => vec![(tpl::BUTTON_SUBMIT, "submit"), (tpl::BUTTON_EDIT, "edit")],
        (AMEND, "confirm") => vec![
            (tpl::BUTTON_RESUBMIT, "submit"),
            (tpl::BUTTON_EDIT, "edit"),
            (tpl::BUTTON_REPLACE_FORM, "form"),
        ],
        (RECORD, "category") => vec![
            (tpl::BUTTON_MISSED_ITEM, "cat1"),
            (tpl::BUTTON_WRONG_SUM, "cat2"),
        ],
        (RECORD, "confirm") => vec![(tpl::BUTTON_RECORD, "submit"), (tpl::BUTTON_EDIT, "edit")],
        _ => vec![],
    };
    if previous(kind, step, data).is_some() {
        out.push((tpl::BUTTON_BACK, "back"));
    }
    out.push((tpl::BUTTON_CANCEL, "cancel"));
    out
}

impl App {
    /// Whether filing asks this person for the candidate's signed form: their city's rule.
    async fn signed_form_asked(&self, conn: &mut Conn, user_id: i64) -> anyhow::Result<bool> {
        let city = self.city_of_user(conn, user_id).await?;
        Ok(self.config.review_of(&city).require_signed_form)
    }

    /// Starts a dialogue step: saves it and queues its prompt, in the caller's transaction.
    pub(crate) async fn enter_step(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        kind: &str,
        step: &str,
        data: &Value,
    ) -> anyhow::Result<()> {
        dialogues::set(conn, user_id, chat_id, kind, step, data, self.clock.now()).await?;
        let shown = dialogues::version(&data.to_string());
        let markup = self.dialogue_keyboard(step, &shown, &prompt_buttons(kind, step, data))?;
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
            let steps: &[&str] = if self.signed_form_asked(conn, user_id).await? {
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
            buttons: Some(markup),
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, self.clock.now()).await?;
        Ok(())
    }

    /// A prompt's keyboard: each (label template, action) as a button of dialogue step `step`
    /// showing data of version `shown`, in one row.
    pub(crate) fn dialogue_keyboard(
        &self,
        step: &str,
        shown: &str,
        buttons: &[(&str, &str)],
    ) -> anyhow::Result<crate::buttons::Buttons> {
        let row: Vec<crate::buttons::Button> = buttons
            .iter()
            .map(|(label, action)| {
                Ok(button(
                    self.render.text(label)?,
                    Callback::Dialogue {
                        step: (*step).into(),
                        action: (*action).into(),
                        shown: shown.into(),
                    }
                    .encode(),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(keyboard(vec![row]))
    }

    /// `/cancel`: ends whatever dialogue the user is in.
    pub async fn cancel(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let template = if people::of_user(&mut tx, user_id).await?.is_empty() {
            tpl::NOT_BOUND
        } else if dialogues::clear(&mut tx, user_id).await? {
            tpl::DIALOGUE_CANCELLED
        } else {
            tpl::CANCEL_NOTHING
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
            (EXEMPT, _, file) => self.exempt_file(&mut tx, &d, chat_id, file).await?,
            (ENTRY | IMPORT | INVITE, _, _) => {
                self.tell(&mut tx, chat_id, tpl::DLG_ENTRY_BUTTONS, &json!({}))
                    .await?
            }
            (FILE | AMEND, "form", Some(file)) => {
                let mut data = d.data();
                data["form"] = json!(file.to_string());
                let next = if d.kind == FILE { "reason" } else { "confirm" };
                let next = first_missing(&d.kind, next, &data);
                self.enter_step(&mut tx, user_id, chat_id, &d.kind, next, &data)
                    .await?;
            }
            (FILE | AMEND, "form", None) => {
                self.tell(&mut tx, chat_id, tpl::REVIEW_FORM_PLEASE, &json!({}))
                    .await?
            }
            _ => {
                self.tell(&mut tx, chat_id, tpl::DIALOGUE_TEXT_PLEASE, &json!({}))
                    .await?
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(true)
    }

    pub(super) async fn dialogue_input(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat_id: i64,
        text: &str,
    ) -> anyhow::Result<()> {
        if d.kind == EXEMPT {
            return self.exempt_text(conn, d, chat_id, text).await;
        }
        if d.kind == INVITE {
            return self.invite_text(conn, d, chat_id, text).await;
        }
        if d.kind == ENTRY || d.kind == IMPORT {
            return self
                .tell(conn, chat_id, tpl::DLG_ENTRY_BUTTONS, &json!({}))
                .await;
        }
        let mut data = d.data();
        let user_id = d.user_id;
        let again = |hint: &'static str, extra: Value| (hint, extra);
        let outcome: Result<&str, (&str, Value)> = match (d.kind.as_str(), d.step.as_str()) {
            (FILE, "exam_no") => match self.find_candidate(conn, user_id, text.trim()).await? {
                Found::Candidate(id) => {
                    data["candidate_id"] = json!(id);
                    Ok(if self.signed_form_asked(conn, user_id).await? {
                        "form"
                    } else {
                        "reason"
                    })
                }
                Found::Exempt => Err(again(
                    tpl::REVIEW_EXEMPT_CANDIDATE,
                    json!({"exam_no": text.trim()}),
                )),
                Found::Nothing => Err(again(
                    tpl::REVIEW_NO_CANDIDATE,
                    json!({"exam_no": text.trim()}),
                )),
                Found::Decided(req) => {
                    dialogues::clear(conn, user_id).await?;
                    self.tell_result(conn, user_id, chat_id, req).await?;
                    return Ok(());
                }
                Found::Taken(req) => {
                    dialogues::clear(conn, user_id).await?;
                    self.tell(conn, chat_id, tpl::REVIEW_EXISTS_SHORT, &json!({"id": req}))
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
                            tpl::REVIEW_EXISTS,
                            &json!({"id": req, "card": card}),
                        )
                        .await?;
                    }
                    return Ok(());
                }
            },
            (FILE | AMEND, "form") => Err(again(tpl::REVIEW_FORM_PLEASE, json!({}))),
            (FILE | AMEND, "reason") => match review::reason(text) {
                Ok(r) => {
                    data["reason"] = json!(r);
                    Ok("contact")
                }
                Err(n) => Err(again(
                    tpl::REVIEW_BAD_REASON,
                    json!({"length": n, "max": review::REASON_MAX}),
                )),
            },
            (FILE | AMEND, "contact") => match review::contact(text) {
                Some(c) => {
                    data["contact"] = json!(c);
                    Ok("confirm")
                }
                None => Err(again(tpl::REVIEW_BAD_CONTACT, json!({}))),
            },
            (WHY, "reason") => {
                let reason = text.trim();
                if reason.is_empty() || reason.chars().count() > review::REASON_MAX {
                    Err(again(
                        tpl::REVIEW_BAD_REASON,
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
            _ => Err(again(tpl::DIALOGUE_USE_BUTTONS, json!({}))),
        };
        match outcome {
            Ok(next) => {
                let next = first_missing(&d.kind, next, &data);
                self.enter_step(conn, user_id, chat_id, &d.kind, next, &data)
                    .await
            }
            Err((hint, extra)) => self.tell(conn, chat_id, hint, &extra).await,
        }
    }

    /// A dialogue button ("d:<step>:<action>:<shown>"). Buttons of a step the user has left
    /// are stale; so are a review dialogue's buttons under a prompt that showed other data
    /// than the dialogue now holds: 提交 under one filing's summary never submits another.
    /// A press without a version (a prompt sent before buttons had one) is taken as before:
    /// it can only act on the presser's own dialogue, with every check of its step.
    pub async fn dialogue_button(
        &self,
        user_id: i64,
        chat_id: i64,
        step: &str,
        action: &str,
        shown: &str,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        let Some(d) = dialogues::get(&mut tx, user_id).await? else {
            return Ok(Press::Stale);
        };
        // What a prompt of this dialogue carries: its data's version (a 免考 application's
        // prompts, whose data grows without a new prompt, its kind's).
        let expected = match d.kind.as_str() {
            FILE | AMEND | WHY | RECORD => Some(d.version()),
            EXEMPT => Some(dialogues::version(EXEMPT)),
            _ => None,
        };
        let other = expected.is_some_and(|v| !shown.is_empty() && shown != v);
        if d.step != step || other {
            return Ok(Press::Stale);
        }
        if d.kind == ENTRY {
            return self.entry_button(tx, &d, chat_id, action).await;
        }
        if d.kind == IMPORT {
            return self.import_button(tx, &d, chat_id, action).await;
        }
        if d.kind == INVITE {
            return self.invite_button(tx, &d, chat_id, action).await;
        }
        if d.kind == EXEMPT {
            let press = self.exempt_button(&mut tx, &d, chat_id, action).await?;
            if press == Press::Accepted {
                tx.commit().await?;
                self.outbox_wake.notify_one();
            }
            return Ok(press);
        }
        let mut data = d.data();
        if action == "back" || action == "edit" {
            // Every step is asked again from here on (`first_missing`).
            if let Some(fields) = data.as_object_mut() {
                fields.remove("quick");
            }
        }
        match action {
            "cancel" => {
                dialogues::clear(&mut tx, user_id).await?;
                self.tell(&mut tx, chat_id, tpl::DIALOGUE_CANCELLED, &json!({}))
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
}
