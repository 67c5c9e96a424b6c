//! `/invite` in chat: invitations delegated down the unit tree. The bot asks the role (those the
//! inviter may give), the unit (with buttons, or its code when there are many), the class of a
//! homeroom teacher (the school's classes from the roster), the name, and 附件1's title if any
//! (for /contacts); it answers with the link and its QR code. Every step has ⬅️ back and ✖ cancel; the rule is `policy::may_invite`,
//! asked at every step and again when the invite is written.

use crate::app::App;
use crate::app::callback::Callback;
use crate::app::policy::{self, Denied, Seat};
use crate::app::review::{Press, button, keyboard};
use crate::domain::{Role, UnitKind};
use crate::import::people::Person;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::dialogues::{self, Dialogue};
use crate::store::outbox::{self, Outgoing};
use crate::store::units::{self, Unit};
use crate::store::{WriteTx, people, roster, seasons};
use serde_json::{Value, json};

/// The dialogue kind.
pub use crate::app::dialogue::INVITE;

/// More units than this are asked for by code, not offered as buttons.
const UNIT_BUTTONS: usize = 24;
/// Classes offered as buttons at most.
const CLASS_BUTTONS: usize = 40;

/// The dialogue's steps, as `dialogues.step` and the buttons name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Role,
    Unit,
    Class,
    Name,
    /// 附件1's title (optional): 组长, 副组长, 成员, 办公室主任, 办公室副主任, or typed.
    Title,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Role => "vrole",
            Step::Unit => "vunit",
            Step::Class => "vclass",
            Step::Name => "vname",
            Step::Title => "vtitle",
        }
    }

    fn parse(s: &str) -> Option<Step> {
        [Step::Role, Step::Unit, Step::Class, Step::Name, Step::Title]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// A prompt's button: a choice by its place in the list the prompt showed (kept in the
/// dialogue's data), back, or cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Button {
    Choice(usize),
    Back,
    Cancel,
}

impl Button {
    fn code(self) -> String {
        match self {
            Button::Choice(i) => format!("c{i}"),
            Button::Back => "back".into(),
            Button::Cancel => "cancel".into(),
        }
    }

    fn parse(code: &str) -> Option<Button> {
        Some(match code {
            "back" => Button::Back,
            "cancel" => Button::Cancel,
            _ => Button::Choice(code.strip_prefix('c')?.parse().ok()?),
        })
    }
}

/// Where a unit sits, for `policy::may_invite`.
pub fn seat<'a>(city: &'a str, unit: &'a Unit) -> Seat<'a> {
    let district = match unit.kind {
        UnitKind::District => Some(unit.code.as_str()),
        UnitKind::School if !unit.city_direct => unit.parent_code.as_deref(),
        _ => None,
    };
    Seat {
        city,
        unit: &unit.code,
        kind: unit.kind,
        district,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

impl App {
    /// The review group's roles, which a district officer invites for their district: none
    /// when one city-wide group reviews every school (a district then has no group).
    pub(crate) fn group_roles(&self, city: &str) -> Vec<Role> {
        let group = self.config.review_route(city).group;
        if group.unit == crate::domain::workflow::Scope::District {
            group.roles
        } else {
            Vec::new()
        }
    }

    /// The units `bound` may invite `role` into.
    async fn invite_units(
        &self,
        conn: &mut Conn,
        bound: &[people::Binding],
        role: Role,
    ) -> anyhow::Result<Vec<Unit>> {
        // Each unit sits in its own city: another city's units are never the inviter's, and
        // each city's route says whether its districts have review groups.
        let mut groups: std::collections::HashMap<String, Vec<Role>> = Default::default();
        Ok(units::all(conn)
            .await?
            .into_iter()
            .filter(|u| {
                let groups = groups
                    .entry(u.city_code.clone())
                    .or_insert_with(|| self.group_roles(&u.city_code));
                policy::may_invite(bound, role, seat(&u.city_code, u), groups).is_ok()
            })
            .collect())
    }

    /// `/invite`: the roles this person may give, or why none.
    pub async fn invite_command(&self, user: i64, chat: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user).await?;
        let mut roles = Vec::new();
        for role in Role::ALL {
            if !self.invite_units(&mut tx, &bound, role).await?.is_empty() {
                roles.push(role.slug());
            }
        }
        if roles.is_empty() {
            let denied = if bound.is_empty() {
                Denied::NotBound
            } else {
                Denied::NoRole
            };
            self.tell(&mut tx, chat, denied.template(), &json!({}))
                .await?;
        } else {
            self.invite_step(&mut tx, user, chat, Step::Role, &json!({"roles": roles}))
                .await?;
        }
        self.commit_told(tx).await
    }

    /// Enters a step: keeps the data and sends its prompt.
    async fn invite_step(
        &self,
        conn: &mut Conn,
        user: i64,
        chat: i64,
        step: Step,
        data: &Value,
    ) -> anyhow::Result<()> {
        let mut data = data.clone();
        let press = |b: Button| {
            Callback::Dialogue {
                step: step.as_str().into(),
                action: b.code(),
                shown: String::new(),
            }
            .encode()
        };
        let mut rows: Vec<Vec<crate::buttons::Button>> = Vec::new();
        let mut prompt = json!({"step": step.as_str()});
        match step {
            Step::Role => {
                for (i, slug) in strings(&data["roles"]).iter().enumerate() {
                    let role: Role = slug.parse().map_err(anyhow::Error::msg)?;
                    rows.push(vec![button(role.label().into(), press(Button::Choice(i)))]);
                }
            }
            Step::Unit => {
                let bound = people::of_user(conn, user).await?;
                let role: Role = data["role"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .map_err(anyhow::Error::msg)?;
                let choices = self.invite_units(conn, &bound, role).await?;
                data["units"] = json!(choices.iter().map(|u| &u.code).collect::<Vec<_>>());
                if choices.len() <= UNIT_BUTTONS {
                    for pair in choices.chunks(2).enumerate() {
                        let (row, units) = pair;
                        rows.push(
                            units
                                .iter()
                                .enumerate()
                                .map(|(j, u)| {
                                    button(u.name.clone(), press(Button::Choice(row * 2 + j)))
                                })
                                .collect(),
                        );
                    }
                } else {
                    prompt["by_code"] = json!(true);
                    prompt["count"] = json!(choices.len());
                }
                prompt["role"] = json!(role.label());
            }
            Step::Class => {
                let school = data["unit"].as_str().unwrap_or_default().to_string();
                let city = self.city_of_user(conn, user).await?;
                let classes = match seasons::current(conn, &city).await? {
                    Some(s) => roster::classes(conn, s.id, &school).await?,
                    None => Vec::new(),
                };
                for (i, class) in classes.iter().take(CLASS_BUTTONS).enumerate() {
                    rows.push(vec![button(class.clone(), press(Button::Choice(i)))]);
                }
                prompt["typed"] = json!(classes.is_empty());
                data["classes"] = json!(classes);
            }
            Step::Title => {
                for (i, title) in crate::app::contacts::TITLES.iter().enumerate() {
                    rows.push(vec![button((*title).into(), press(Button::Choice(i)))]);
                }
                rows.push(vec![button(
                    self.render.text(tpl::BUTTON_NO_TITLE)?,
                    press(Button::Choice(crate::app::contacts::TITLES.len())),
                )]);
                prompt["name"] = json!(data["name"]);
            }
            Step::Name => {
                let role: Role = data["role"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .map_err(anyhow::Error::msg)?;
                prompt["role"] = json!(role.label());
                prompt["unit"] = json!(data["unit_name"]);
                prompt["class"] = json!(data["class"]);
            }
        }
        dialogues::set(
            conn,
            user,
            chat,
            INVITE,
            step.as_str(),
            &data,
            self.clock.now(),
        )
        .await?;
        let mut last = Vec::new();
        if step != Step::Role {
            last.push(button(
                self.render.text(tpl::BUTTON_BACK)?,
                press(Button::Back),
            ));
        }
        last.push(button(
            self.render.text(tpl::BUTTON_CANCEL)?,
            press(Button::Cancel),
        ));
        rows.push(last);
        let msg = Outgoing {
            chat_id: chat,
            body: self.render.render(tpl::DLG_INVITE, &prompt)?,
            buttons: Some(keyboard(rows)),
            is_reply: true,
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, self.clock.now()).await?;
        Ok(())
    }

    /// The step before `step` for this dialogue's data.
    fn invite_back(step: Step, data: &Value) -> Step {
        let unit_chosen_for_them = data["unit_auto"].as_bool().unwrap_or(false);
        match step {
            Step::Role | Step::Unit => Step::Role,
            Step::Title => Step::Name,
            Step::Class if unit_chosen_for_them => Step::Role,
            Step::Class => Step::Unit,
            Step::Name if data["role"] == Role::HomeroomTeacher.slug() => Step::Class,
            Step::Name if unit_chosen_for_them => Step::Role,
            Step::Name => Step::Unit,
        }
    }

    /// A role or unit was chosen: on to the unit (unless there is one), the class, or the name.
    async fn invite_after_unit(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat: i64,
        data: &mut Value,
        unit: &Unit,
    ) -> anyhow::Result<()> {
        data["unit"] = json!(unit.code);
        data["unit_name"] = json!(unit.name);
        let next = if data["role"] == Role::HomeroomTeacher.slug() {
            Step::Class
        } else {
            Step::Name
        };
        self.invite_step(conn, d.user_id, chat, next, data).await
    }

    async fn invite_role_chosen(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat: i64,
        data: &mut Value,
        slug: &str,
    ) -> anyhow::Result<Press> {
        let Ok(role) = slug.parse::<Role>() else {
            return Ok(Press::Stale);
        };
        let bound = people::of_user(conn, d.user_id).await?;
        let choices = self.invite_units(conn, &bound, role).await?;
        data["role"] = json!(role.slug());
        if role != Role::HomeroomTeacher {
            data["class"] = Value::Null;
        }
        match choices.as_slice() {
            [] => return Ok(Press::Denied(Denied::NoRole)),
            [only] => {
                data["unit_auto"] = json!(true);
                self.invite_after_unit(conn, d, chat, data, only).await?;
            }
            _ => {
                data["unit_auto"] = json!(false);
                self.invite_step(conn, d.user_id, chat, Step::Unit, data)
                    .await?;
            }
        }
        Ok(Press::Accepted)
    }

    /// A button of the `/invite` dialogue.
    pub(crate) async fn invite_button(
        &self,
        mut tx: WriteTx,
        d: &Dialogue,
        chat: i64,
        action: &str,
    ) -> anyhow::Result<Press> {
        let (Some(step), Some(pressed)) = (Step::parse(&d.step), Button::parse(action)) else {
            return Ok(Press::Refused);
        };
        let mut data = d.data();
        let press = match (step, pressed) {
            (_, Button::Cancel) => {
                dialogues::clear(&mut tx, d.user_id).await?;
                self.tell(&mut tx, chat, tpl::DIALOGUE_CANCELLED, &json!({}))
                    .await?;
                Press::Accepted
            }
            (_, Button::Back) => {
                let back = Self::invite_back(step, &data);
                self.invite_step(&mut tx, d.user_id, chat, back, &data)
                    .await?;
                Press::Accepted
            }
            (Step::Role, Button::Choice(i)) => match strings(&data["roles"]).get(i) {
                Some(slug) => {
                    let slug = slug.clone();
                    self.invite_role_chosen(&mut tx, d, chat, &mut data, &slug)
                        .await?
                }
                None => Press::Stale,
            },
            (Step::Unit, Button::Choice(i)) => {
                let code = strings(&data["units"]).get(i).cloned();
                match code {
                    Some(code) => {
                        self.invite_unit_named(&mut tx, d, chat, &mut data, &code)
                            .await?
                    }
                    None => Press::Stale,
                }
            }
            (Step::Title, Button::Choice(i)) => {
                let Some(name) = data["name"].as_str().map(str::to_string) else {
                    return Ok(Press::Stale);
                };
                let title = crate::app::contacts::TITLES.get(i).copied();
                if title.is_none() && i != crate::app::contacts::TITLES.len() {
                    return Ok(Press::Stale);
                }
                self.invite_made(&mut tx, d, chat, &data, &name, title)
                    .await?;
                Press::Accepted
            }
            (Step::Class, Button::Choice(i)) => match strings(&data["classes"]).get(i) {
                Some(class) => {
                    data["class"] = json!(class);
                    self.invite_step(&mut tx, d.user_id, chat, Step::Name, &data)
                        .await?;
                    Press::Accepted
                }
                None => Press::Stale,
            },
            _ => Press::Stale,
        };
        if press == Press::Accepted {
            self.commit_told(tx).await?;
        }
        Ok(press)
    }

    /// A unit chosen by button or typed code: checked against the rule again.
    async fn invite_unit_named(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat: i64,
        data: &mut Value,
        code: &str,
    ) -> anyhow::Result<Press> {
        let role: Role = match data["role"].as_str().map(str::parse) {
            Some(Ok(r)) => r,
            _ => return Ok(Press::Stale),
        };
        let bound = people::of_user(conn, d.user_id).await?;
        let Some(unit) = units::get(conn, code).await? else {
            return Ok(Press::Stale);
        };
        if let Err(denied) = policy::may_invite(
            &bound,
            role,
            seat(&unit.city_code, &unit),
            &self.group_roles(&unit.city_code),
        ) {
            return Ok(Press::Denied(denied));
        }
        self.invite_after_unit(conn, d, chat, data, &unit).await?;
        Ok(Press::Accepted)
    }

    /// Text in the `/invite` dialogue: a unit's code (when there were too many for buttons), a
    /// class (when the roster has none), or the name, which makes the invite.
    pub(crate) async fn invite_text(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat: i64,
        text: &str,
    ) -> anyhow::Result<()> {
        let mut data = d.data();
        let text = text.trim();
        match Step::parse(&d.step) {
            Some(Step::Unit) => {
                let known = strings(&data["units"]);
                let code = known.iter().find(|c| c.as_str() == text).cloned();
                match code {
                    Some(code) => {
                        if self
                            .invite_unit_named(conn, d, chat, &mut data, &code)
                            .await?
                            != Press::Accepted
                        {
                            self.tell(conn, chat, tpl::INVITE_BAD_UNIT, &json!({"code": text}))
                                .await?;
                        }
                    }
                    None => {
                        self.tell(conn, chat, tpl::INVITE_BAD_UNIT, &json!({"code": text}))
                            .await?
                    }
                }
            }
            Some(Step::Class) if !text.is_empty() && text.chars().count() <= 50 => {
                // A school whose classes the roster lists takes one of them.
                let listed = strings(&data["classes"]);
                if listed.is_empty() || listed.iter().any(|c| c == text) {
                    data["class"] = json!(text);
                    self.invite_step(conn, d.user_id, chat, Step::Name, &data)
                        .await?;
                } else {
                    self.tell(conn, chat, tpl::INVITE_BAD_CLASS, &json!({"class": text}))
                        .await?;
                }
            }
            Some(Step::Name) if !text.is_empty() && text.chars().count() <= 50 => {
                data["name"] = json!(text);
                self.invite_step(conn, d.user_id, chat, Step::Title, &data)
                    .await?;
            }
            Some(Step::Title) if !text.is_empty() && text.chars().count() <= 20 => {
                let name = data["name"].as_str().unwrap_or_default().to_string();
                self.invite_made(conn, d, chat, &data, &name, Some(text))
                    .await?;
            }
            Some(Step::Title) => {
                self.tell(conn, chat, tpl::INVITE_BAD_TITLE, &json!({}))
                    .await?
            }
            Some(Step::Class | Step::Name) => {
                self.tell(conn, chat, tpl::INVITE_BAD_NAME, &json!({}))
                    .await?
            }
            _ => {
                self.tell(conn, chat, tpl::DLG_ENTRY_BUTTONS, &json!({}))
                    .await?
            }
        }
        Ok(())
    }

    /// Writes the invite (the rule asked once more) and sends its link and QR code.
    async fn invite_made(
        &self,
        conn: &mut Conn,
        d: &Dialogue,
        chat: i64,
        data: &Value,
        name: &str,
        title: Option<&str>,
    ) -> anyhow::Result<()> {
        let (Some(Ok(role)), Some(code)) = (
            data["role"].as_str().map(str::parse::<Role>),
            data["unit"].as_str(),
        ) else {
            dialogues::clear(conn, d.user_id).await?;
            return self
                .tell(conn, chat, tpl::DIALOGUE_CANCELLED, &json!({}))
                .await;
        };
        let bound = people::of_user(conn, d.user_id).await?;
        let unit = units::get(conn, code).await?;
        let allowed = unit.as_ref().map(|u| {
            let groups = self.group_roles(&u.city_code);
            policy::may_invite(&bound, role, seat(&u.city_code, u), &groups)
        });
        let Some((unit, Ok(_))) = unit.clone().zip(allowed) else {
            dialogues::clear(conn, d.user_id).await?;
            return self.tell(conn, chat, tpl::NOT_ALLOWED, &json!({})).await;
        };
        let class_name = (role == Role::HomeroomTeacher)
            .then(|| data["class"].as_str().map(str::to_string))
            .flatten();
        let person = Person {
            row: 0,
            name: name.to_string(),
            role,
            unit_code: unit.code.clone(),
            class_name: class_name.clone(),
            phone: None,
            title: title.map(str::to_string),
        };
        let class = class_name.as_deref();
        if people::is_bound_as(conn, name, role, &unit.code, class).await? {
            dialogues::clear(conn, d.user_id).await?;
            return self
                .tell(
                    conn,
                    chat,
                    tpl::INVITE_ALREADY_BOUND,
                    &json!({"name": name, "role": role.label(), "unit": unit.name}),
                )
                .await;
        }
        // Inviting someone again replaces the link they were given before.
        people::revoke_unused_of(conn, name, role, &unit.code, class, self.clock.now()).await?;
        let (link, expires) = self
            .issue(conn, crate::app::Actor::Telegram(d.user_id), &person)
            .await?;
        dialogues::clear(conn, d.user_id).await?;
        let tz = match seasons::current(conn, &unit.city_code).await? {
            Some(s) => s.tz,
            None => chrono_tz::Asia::Shanghai,
        };
        let body = self.render.render(
            tpl::INVITE_MADE,
            &json!({"name": name, "role": role.label(), "unit": unit.name, "class": class_name,
                    "link": link, "expires": crate::domain::deadline::display(expires, tz)}),
        )?;
        let qr = crate::export::qr::png(&link)?;
        for (body, document) in [
            (body, None),
            (
                String::new(),
                Some((format!("invite-{}.png", unit.code), qr)),
            ),
        ] {
            let msg = Outgoing {
                chat_id: chat,
                body,
                document,
                is_reply: true,
                ..Outgoing::default()
            };
            outbox::enqueue(conn, &msg, self.clock.now()).await?;
        }
        Ok(())
    }
}
