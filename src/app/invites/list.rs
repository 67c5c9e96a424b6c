//! `/people`: a unit's bound people with their roles, for whoever invites in that unit (the
//! city admins, the district's officers, the school's contact), with a revoke button where the
//! viewer may revoke (the invite rule, `policy::may_invite`; never their own, never a city
//! admin's); the units below are a tap away. A revoked person's unused invites stop working:
//! `/start` asks the issuer's rule again.

use super::chat::seat;
use crate::app::callback::Callback;
use crate::app::callback::Press;
use crate::app::policy::{self, Denied};
use crate::app::{Actor, App};
use crate::buttons::{Buttons, button};
use crate::domain::{Role, UnitKind};
use crate::render::tpl;
use crate::store::outbox::{self, Outgoing};
use crate::store::units::{self, Unit};
use crate::store::{audit, menus, people};
use serde_json::json;

/// Revoke buttons on one list at most (Telegram allows 100 buttons on a message).
const REVOKE_BUTTONS: usize = 40;

impl App {
    /// Whether someone may see a unit's people: whoever may invite there at all.
    fn may_list(&self, bound: &[people::Binding], unit: &Unit) -> Result<(), Denied> {
        let groups = self.group_roles(&unit.city_code);
        let mut worst = if bound.is_empty() {
            Denied::NotBound
        } else {
            Denied::NoRole
        };
        for role in Role::ALL {
            match policy::may_invite(bound, role, seat(&unit.city_code, unit), &groups) {
                Ok(_) => return Ok(()),
                Err(Denied::NoRole) => {}
                Err(d) => worst = d,
            }
        }
        Err(worst)
    }

    /// `/people [code]` (also `/people_CODE`): the unit's people, by default the viewer's own.
    pub async fn people_command(&self, user: i64, chat: i64, args: &str) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user).await?;
        let code = match args.trim() {
            "" => bound
                .iter()
                .find(|b| {
                    matches!(
                        b.role,
                        Role::CityAdmin | Role::DistrictOfficer | Role::SchoolContact
                    )
                })
                .map(|b| b.unit_code.clone()),
            code => Some(code.to_string()),
        };
        // A unit code is matched without case, as `/people_S001` may be typed.
        let unit = match &code {
            Some(c) => units::all(&mut conn)
                .await?
                .into_iter()
                .find(|u| u.code.eq_ignore_ascii_case(c)),
            None => None,
        };
        let verdict = match &unit {
            Some(u) => self.may_list(&bound, u),
            None if bound.is_empty() => Err(Denied::NotBound),
            None => Err(Denied::NoRole),
        };
        let (Some(unit), Ok(())) = (unit, verdict) else {
            let template = match verdict {
                Err(Denied::NotBound) => tpl::NOT_BOUND,
                _ => tpl::NOT_ALLOWED,
            };
            drop(conn);
            return self.reply(chat, self.render.text(template)?, None).await;
        };
        let groups = self.group_roles(&unit.city_code);
        let mut listed = Vec::new();
        let mut rows = Vec::new();
        for b in people::in_unit(&mut conn, &unit.code).await? {
            let may_revoke = b.telegram_user_id != user
                && b.role != Role::CityAdmin
                && policy::may_invite(&bound, b.role, seat(&unit.city_code, &unit), &groups)
                    .is_ok();
            if may_revoke && rows.len() < REVOKE_BUTTONS {
                rows.push(vec![button(
                    format!("🚫 撤销 {}（{}）", b.name, b.role.label()),
                    Callback::Revoke { binding: b.id }.encode(),
                )]);
            }
            listed.push(json!({"name": b.name, "role": b.role.label(), "class": b.class_name}));
        }
        let below: Vec<_> = units::all(&mut conn)
            .await?
            .into_iter()
            .filter(|u| u.parent_code.as_deref() == Some(unit.code.as_str()))
            .filter(|u| !matches!(u.kind, UnitKind::City | UnitKind::Province))
            .map(|u| json!({"code": u.code, "name": u.name}))
            .collect();
        drop(conn);
        let body = self.render.render(
            tpl::PEOPLE_LIST,
            &json!({"unit": unit.name, "people": listed, "below": below}),
        )?;
        let markup = (!rows.is_empty()).then(|| Buttons::rows(rows));
        self.reply(chat, body, markup).await
    }

    /// 🚫 under `/people`: the binding is revoked if the presser may (the invite rule), it is
    /// not their own, and it still stands.
    pub async fn revoke_button(&self, user: i64, chat: i64, binding: i64) -> anyhow::Result<Press> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let Some(target) = people::binding(&mut tx, binding).await? else {
            return Ok(Press::Stale);
        };
        let bound = people::of_user(&mut tx, user).await?;
        let Some(unit) = units::get(&mut tx, &target.unit_code).await? else {
            return Ok(Press::Stale);
        };
        // Nobody revokes themselves, and a city admin is revoked on the server (`revoke`): two
        // admins revoking each other at once would leave the city without one.
        if target.telegram_user_id == user || target.role == Role::CityAdmin {
            return Ok(Press::Refused);
        }
        if let Err(denied) = policy::may_invite(
            &bound,
            target.role,
            seat(&unit.city_code, &unit),
            &self.group_roles(&unit.city_code),
        ) {
            return Ok(Press::Denied(denied));
        }
        if !people::revoke_binding(&mut tx, binding, now).await? {
            return Ok(Press::Stale);
        }
        self.pass_open_filings(&mut tx, target.telegram_user_id)
            .await?;
        menus::due(&mut tx, target.chat_id, now).await?;
        audit(
            &mut tx,
            now,
            &Actor::Person(user).label(),
            "revoke",
            &format!(
                "binding {binding}: {} in {} ({})",
                target.role, target.unit_code, target.name
            ),
        )
        .await?;
        let said = json!({"name": target.name, "role": target.role.label(), "unit": unit.name});
        for (chat_id, template) in [
            (chat, tpl::REVOKED_DONE),
            (target.chat_id, tpl::REVOKED_YOU),
        ] {
            let msg = Outgoing {
                chat_id,
                body: self.render.render(template, &said)?,
                is_reply: chat_id == chat,
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, now).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        self.menus_wake.notify_one();
        Ok(Press::Accepted)
    }
}
