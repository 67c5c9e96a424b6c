//! `/invite` in chat: invitations delegated down the unit tree. The bot asks the role (those the
//! inviter may give), the unit (with buttons, or its code when there are many), the class of a
//! homeroom teacher (the school's classes from the roster), the name, and 附件1's title if any
//! (for /contacts); it answers with the link and its QR code. Every step has ⬅️ back and ✖ cancel; the rule is `policy::may_invite`,
//! asked at every step and again when the invite is written.

use crate::app::App;
use crate::app::dialogue::{Flow, Kind, Nav, Next, PressCode, Prompt, Session, Shown, StepCode};
use crate::app::policy::{self, Denied, Seat};
use crate::domain::{Role, UnitKind};
use crate::import::people::Person;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::outbox::{self, Outgoing};
use crate::store::units::{self, Unit};
use crate::store::{people, roster, seasons};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// More units than this are asked for by code, not offered as buttons.
const UNIT_BUTTONS: usize = 24;
/// Classes offered as buttons at most.
const CLASS_BUTTONS: usize = 40;

/// What an invitation holds so far. The choices a prompt offered are kept, so a button names
/// its choice by its place in the list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Inviting {
    /// The roles this person may give.
    roles: Vec<Role>,
    role: Option<Role>,
    /// The units offered for the role.
    units: Vec<String>,
    /// The only unit there was: chosen without asking.
    unit_auto: bool,
    unit: Option<String>,
    unit_name: Option<String>,
    /// The school's classes (for a homeroom teacher).
    classes: Vec<String>,
    class: Option<String>,
    name: Option<String>,
}

/// The dialogue's steps, as `dialogues.step` and the buttons name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Role,
    Unit,
    Class,
    Name,
    /// 附件1's title (optional): 组长, 副组长, 成员, 办公室主任, 办公室副主任, or typed.
    Title,
}

impl StepCode for Step {
    const ALL: &'static [Step] = &[Step::Role, Step::Unit, Step::Class, Step::Name, Step::Title];

    fn code(self) -> &'static str {
        match self {
            Step::Role => "vrole",
            Step::Unit => "vunit",
            Step::Class => "vclass",
            Step::Name => "vname",
            Step::Title => "vtitle",
        }
    }
}

/// A choice by its place in the list the prompt showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice(usize);

impl PressCode for Choice {
    fn code(&self) -> String {
        format!("c{}", self.0)
    }

    fn parse(code: &str) -> Option<Choice> {
        match crate::domain::code::segments(code)?.as_slice() {
            [("c", Some(i))] => Some(Choice(usize::try_from(*i).ok()?)),
            _ => None,
        }
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
                roles.push(role);
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
            let start = Inviting {
                roles,
                ..Inviting::default()
            };
            let mut s = Session::new(user, chat, Kind::Invite, Step::Role, start);
            self.enter(&mut tx, &mut s).await?;
        }
        self.commit_told(tx).await
    }

    /// A role was chosen: on to the unit (unless there is only one), the class, or the name.
    async fn invite_role_chosen(
        &self,
        conn: &mut Conn,
        s: &mut Session<Inviting>,
        role: Role,
    ) -> anyhow::Result<Next<Inviting>> {
        let bound = people::of_user(conn, s.user).await?;
        let choices = self.invite_units(conn, &bound, role).await?;
        let v = &mut s.state;
        v.role = Some(role);
        if role != Role::HomeroomTeacher {
            v.class = None;
        }
        Ok(match choices.as_slice() {
            [] => Next::Denied(Denied::NoRole),
            [only] => {
                v.unit_auto = true;
                Next::Go(v.unit_chosen(only))
            }
            _ => {
                v.unit_auto = false;
                Next::Go(Step::Unit)
            }
        })
    }

    /// A unit chosen by button or typed code: checked against the rule again.
    async fn invite_unit_named(
        &self,
        conn: &mut Conn,
        s: &mut Session<Inviting>,
        code: &str,
    ) -> anyhow::Result<Next<Inviting>> {
        let Some(role) = s.state.role else {
            return Ok(Next::Stale);
        };
        let bound = people::of_user(conn, s.user).await?;
        let Some(unit) = units::get(conn, code).await? else {
            return Ok(Next::Stale);
        };
        let groups = self.group_roles(&unit.city_code);
        if let Err(denied) = policy::may_invite(&bound, role, seat(&unit.city_code, &unit), &groups)
        {
            return Ok(Next::Denied(denied));
        }
        Ok(Next::Go(s.state.unit_chosen(&unit)))
    }

    /// Writes the invite (the rule asked once more) and sends its link and QR code.
    async fn invite_made(
        &self,
        conn: &mut Conn,
        user: i64,
        chat: i64,
        v: &Inviting,
        name: &str,
        title: Option<&str>,
    ) -> anyhow::Result<()> {
        let (Some(role), Some(code)) = (v.role, v.unit.as_deref()) else {
            return self
                .tell(conn, chat, tpl::DIALOGUE_CANCELLED, &json!({}))
                .await;
        };
        let bound = people::of_user(conn, user).await?;
        let unit = units::get(conn, code).await?;
        let allowed = unit.as_ref().map(|u| {
            let groups = self.group_roles(&u.city_code);
            policy::may_invite(&bound, role, seat(&u.city_code, u), &groups)
        });
        let Some((unit, Ok(_))) = unit.clone().zip(allowed) else {
            return self.tell(conn, chat, tpl::NOT_ALLOWED, &json!({})).await;
        };
        let class_name = (role == Role::HomeroomTeacher)
            .then(|| v.class.clone())
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
            .issue(conn, crate::app::Actor::Person(user), &person)
            .await?;
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

impl Inviting {
    /// A unit was chosen: on to the class of a homeroom teacher, or the name.
    fn unit_chosen(&mut self, unit: &Unit) -> Step {
        self.unit = Some(unit.code.clone());
        self.unit_name = Some(unit.name.clone());
        match self.role {
            Some(Role::HomeroomTeacher) => Step::Class,
            _ => Step::Name,
        }
    }
}

impl Flow for Inviting {
    type Step = Step;
    type Press = Choice;
    type After = ();
    const NOT_TAKEN: &'static str = tpl::DLG_ENTRY_BUTTONS;
    const NAV: Nav = Nav::OwnRow;

    fn previous(s: &Session<Self>) -> Option<Step> {
        let unit_chosen_for_them = s.state.unit_auto;
        Some(match s.step {
            Step::Role => return None,
            Step::Unit => Step::Role,
            Step::Title => Step::Name,
            Step::Class if unit_chosen_for_them => Step::Role,
            Step::Class => Step::Unit,
            Step::Name if s.state.role == Some(Role::HomeroomTeacher) => Step::Class,
            Step::Name if unit_chosen_for_them => Step::Role,
            Step::Name => Step::Unit,
        })
    }

    async fn prompt(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
    ) -> anyhow::Result<Shown<Choice>> {
        let mut rows: Vec<Vec<(String, Choice)>> = Vec::new();
        let mut data = json!({"step": s.step.code()});
        let v = &mut s.state;
        match s.step {
            Step::Role => {
                for (i, role) in v.roles.iter().enumerate() {
                    rows.push(vec![(role.label().into(), Choice(i))]);
                }
            }
            Step::Unit => {
                let bound = people::of_user(conn, s.user).await?;
                let Some(role) = v.role else {
                    return Ok(Shown::Ends(tpl::DIALOGUE_CANCELLED));
                };
                let choices = app.invite_units(conn, &bound, role).await?;
                v.units = choices.iter().map(|u| u.code.clone()).collect();
                if choices.len() <= UNIT_BUTTONS {
                    for (row, units) in choices.chunks(2).enumerate() {
                        rows.push(
                            units
                                .iter()
                                .enumerate()
                                .map(|(j, u)| (u.name.clone(), Choice(row * 2 + j)))
                                .collect(),
                        );
                    }
                } else {
                    data["by_code"] = json!(true);
                    data["count"] = json!(choices.len());
                }
                data["role"] = json!(role.label());
            }
            Step::Class => {
                let school = v.unit.clone().unwrap_or_default();
                let city = app.city_of_user(conn, s.user).await?;
                v.classes = match seasons::current(conn, &city).await? {
                    Some(season) => roster::classes(conn, season.id, &school).await?,
                    None => Vec::new(),
                };
                for (i, class) in v.classes.iter().take(CLASS_BUTTONS).enumerate() {
                    rows.push(vec![(class.clone(), Choice(i))]);
                }
                data["typed"] = json!(v.classes.is_empty());
            }
            Step::Title => {
                let titles = crate::app::contacts::TITLES;
                for (i, title) in titles.iter().enumerate() {
                    rows.push(vec![((*title).into(), Choice(i))]);
                }
                let none = app.render.text(tpl::BUTTON_NO_TITLE)?;
                rows.push(vec![(none, Choice(titles.len()))]);
                data["name"] = json!(v.name);
            }
            Step::Name => {
                data["role"] = json!(v.role.map(Role::label));
                data["unit"] = json!(v.unit_name);
                data["class"] = json!(v.class);
            }
        }
        let mut prompt = Prompt::new(tpl::DLG_INVITE, data);
        prompt.rows = rows;
        prompt.reply = true;
        Ok(Shown::Prompt(prompt))
    }

    /// A unit's code (when there were too many for buttons), a class (when the roster has
    /// none), the name, or a title of one's own.
    async fn text(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        text: &str,
    ) -> anyhow::Result<Next<Self>> {
        let text = text.trim();
        let fits = |max: usize| !text.is_empty() && text.chars().count() <= max;
        Ok(match s.step {
            Step::Unit => {
                let bad = Next::Say(tpl::INVITE_BAD_UNIT, json!({"code": text}));
                if !s.state.units.iter().any(|c| c == text) {
                    bad
                } else {
                    match app.invite_unit_named(conn, s, text).await? {
                        next @ Next::Go(_) => next,
                        _ => bad,
                    }
                }
            }
            Step::Class if fits(50) => {
                // A school whose classes the roster lists takes one of them.
                let listed = &s.state.classes;
                if listed.is_empty() || listed.iter().any(|c| c == text) {
                    s.state.class = Some(text.into());
                    Next::Go(Step::Name)
                } else {
                    Next::Say(tpl::INVITE_BAD_CLASS, json!({"class": text}))
                }
            }
            Step::Name if fits(50) => {
                s.state.name = Some(text.into());
                Next::Go(Step::Title)
            }
            Step::Title if fits(20) => {
                let name = s.state.name.clone().unwrap_or_default();
                app.invite_made(conn, s.user, s.chat, &s.state, &name, Some(text))
                    .await?;
                Next::End
            }
            Step::Title => Next::say(tpl::INVITE_BAD_TITLE),
            Step::Class | Step::Name => Next::say(tpl::INVITE_BAD_NAME),
            Step::Role => Next::say(tpl::DLG_ENTRY_BUTTONS),
        })
    }

    async fn press(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        Choice(i): Choice,
    ) -> anyhow::Result<Next<Self>> {
        let v = &mut s.state;
        Ok(match s.step {
            Step::Role => match v.roles.get(i).copied() {
                Some(role) => app.invite_role_chosen(conn, s, role).await?,
                None => Next::Stale,
            },
            Step::Unit => match v.units.get(i).cloned() {
                Some(code) => app.invite_unit_named(conn, s, &code).await?,
                None => Next::Stale,
            },
            Step::Class => match v.classes.get(i).cloned() {
                Some(class) => {
                    v.class = Some(class);
                    Next::Go(Step::Name)
                }
                None => Next::Stale,
            },
            Step::Title => {
                let titles = crate::app::contacts::TITLES;
                let Some(name) = v.name.clone() else {
                    return Ok(Next::Stale);
                };
                let title = match titles.get(i) {
                    Some(t) => Some(*t),
                    None if i == titles.len() => None,
                    None => return Ok(Next::Stale),
                };
                app.invite_made(conn, s.user, s.chat, &s.state, &name, title)
                    .await?;
                Next::End
            }
            Step::Name => Next::Stale,
        })
    }
}
