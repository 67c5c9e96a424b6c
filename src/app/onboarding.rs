//! Joining through a one-time invite, and asking who one is. Nobody without a binding sees more
//! than a polite refusal.

use super::{Actor, App};
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::render::tpl;
use crate::store::{audit, from_ms, people, units};
use serde_json::json;

impl App {
    /// `/start [code]` in a private chat. Returns the reply.
    pub async fn start(
        &self,
        user_id: i64,
        chat_id: i64,
        payload: Option<&str>,
    ) -> anyhow::Result<String> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        // Writing to the bot again means the chat works again.
        people::clear_unreachable(&mut tx, chat_id).await?;
        let bound = people::of_user(&mut tx, user_id).await?;
        let Some(code) = payload.map(str::trim).filter(|c| !c.is_empty()) else {
            tx.commit().await?;
            return match bound.first() {
                Some(b) => self
                    .render
                    .render(tpl::START_AGAIN, &json!({"name": b.name})),
                None => self.render.text(tpl::NOT_BOUND),
            };
        };
        let Some(invite) = people::invite(&mut tx, code)
            .await?
            .filter(|i| i.revoked_at.is_none())
        else {
            tx.commit().await?;
            return self.render.text(tpl::START_INVALID);
        };
        if invite.used_at.is_some() {
            tx.commit().await?;
            return if bound
                .iter()
                .any(|b| b.role.slug() == invite.role && b.unit_code == invite.unit_code)
            {
                self.render
                    .render(tpl::START_AGAIN, &json!({"name": invite.name}))
            } else {
                self.render.text(tpl::START_USED)
            };
        }
        if people::expired(&invite, now) {
            tx.commit().await?;
            // The season's zone is not known here; invites are shown in Beijing time.
            let expired_at = display(from_ms(invite.expires_at), chrono_tz::Asia::Shanghai);
            return self
                .render
                .render(tpl::START_EXPIRED, &json!({"expired_at": expired_at}));
        }
        // An invite made in chat holds while its issuer could still make it: one whose issuer
        // has been revoked (or moved) gives nothing; nor does anyone use their own.
        if let Some(issuer) = invite.issued_by {
            let still = self.issuer_may_still(&mut tx, issuer, &invite).await?;
            if issuer == user_id || !still {
                tx.commit().await?;
                let template = if issuer == user_id {
                    tpl::START_OWN_INVITE
                } else {
                    tpl::START_INVALID
                };
                return self.render.text(template);
            }
        }
        // One account works in one city: every path finds the person's city from their
        // bindings, so a second city's role would act in the first city's season. The invite
        // stays unused for another account.
        let city = units::city_of(&mut tx, &invite.unit_code).await?;
        if let Some(home) = people::city_of_user(&mut tx, user_id).await?
            && !city.is_empty()
            && home != city
        {
            let home = units::get(&mut tx, &home).await?.map_or(home, |u| u.name);
            tx.commit().await?;
            return self
                .render
                .render(tpl::START_OTHER_CITY, &json!({"city": home}));
        }
        if !people::use_invite(&mut tx, code, user_id, now).await? {
            tx.rollback().await?;
            return self.render.text(tpl::START_USED);
        }
        people::insert_binding(&mut tx, user_id, chat_id, &invite, now).await?;
        crate::store::menus::due(&mut tx, chat_id, now).await?;
        let unit = units::get(&mut tx, &invite.unit_code).await?;
        audit(
            &mut tx,
            now,
            &Actor::Person(user_id).label(),
            "bind",
            &format!("{} in {} as {}", invite.role, invite.unit_code, invite.name),
        )
        .await?;
        self.tell_issuer(&mut tx, &invite, unit.as_ref().map(|u| u.name.as_str()))
            .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        self.menus_wake.notify_one();
        self.hand_over_cards(user_id).await?;
        self.render.render(
            tpl::START_WELCOME,
            &json!({
                "name": invite.name,
                "role": invite.role,
                "unit_name": unit.map_or(invite.unit_code.clone(), |u| u.name),
                "class_name": invite.class_name,
            }),
        )
    }

    /// Whether whoever issued an invite may still give its role in its unit (`may_invite`).
    async fn issuer_may_still(
        &self,
        conn: &mut crate::store::Conn,
        issuer: i64,
        invite: &people::Invite,
    ) -> anyhow::Result<bool> {
        let (Ok(role), Some(unit)) = (
            invite.role.parse::<Role>(),
            units::get(conn, &invite.unit_code).await?,
        ) else {
            return Ok(false);
        };
        let bound = people::of_user(conn, issuer).await?;
        let seat = super::invites::chat::seat(&unit.city_code, &unit);
        Ok(
            super::policy::may_invite(&bound, role, seat, &self.group_roles(&unit.city_code))
                .is_ok(),
        )
    }

    /// `/whoami`: every role the account holds, or the refusal.
    pub async fn whoami(&self, user_id: i64) -> anyhow::Result<String> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        let Some(first) = bound.first() else {
            return self.render.text(tpl::NOT_BOUND);
        };
        let mut roles = Vec::new();
        for b in &bound {
            let unit = units::get(&mut conn, &b.unit_code).await?;
            roles.push(json!({
                "role": b.role.slug(),
                "unit_name": unit.map_or(b.unit_code.clone(), |u| u.name),
                "class_name": b.class_name,
            }));
        }
        self.render
            .render(tpl::WHOAMI, &json!({"name": first.name, "roles": roles}))
    }

    /// `/help`: the commands of this person's menu (see `menu`), each with its line from
    /// `messages/help_lines.hbs`; the unbound get the refusal.
    pub async fn help(&self, user_id: i64) -> anyhow::Result<String> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        if bound.is_empty() {
            return self.render.text(tpl::NOT_BOUND);
        }
        let described = self.render.lines(tpl::HELP_LINES)?;
        let city = self.city_of_user(&mut conn, user_id).await?;
        let lines: Vec<String> = self
            .menu_of(&bound, &city)?
            .into_iter()
            .filter_map(|(name, _)| {
                described
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, line)| line.clone())
            })
            .collect();
        let holds = |r: Role| bound.iter().any(|b| b.role == r);
        self.render.render(
            tpl::HELP,
            &json!({"lines": lines, "city_admin": holds(Role::CityAdmin),
                    "clerk": holds(Role::EntryClerk)}),
        )
    }

    /// Whether the account is bound at all.
    pub async fn is_bound(&self, user_id: i64) -> anyhow::Result<bool> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(!people::of_user(&mut conn, user_id).await?.is_empty())
    }
}

impl App {
    /// A button pressed by someone it was not for (crafted data, a forwarded card, a group chat)
    /// is kept in the audit trail.
    pub async fn record_refused_press(&self, user_id: i64, data: &str) -> anyhow::Result<()> {
        // In a write transaction, as every append to the audit chain: it numbers its records
        // one writer at a time (two refused presses at once would otherwise take one number).
        let mut tx = self.db.begin().await?;
        let data: String = data.chars().take(64).collect();
        crate::store::audit(
            &mut tx,
            self.clock.now(),
            &Actor::Person(user_id).label(),
            "refused-press",
            &data,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl App {
    /// Whoever issued an invite learns it was used: its issuer, or the city admins for invites
    /// made on the command line. While an earlier notice to them still waits to be sent, the
    /// new name is added to it, so a morning of joins is one message, not hundreds.
    async fn tell_issuer(
        &self,
        conn: &mut crate::store::Conn,
        invite: &people::Invite,
        unit_name: Option<&str>,
    ) -> anyhow::Result<()> {
        let chats: Vec<i64> = match invite.issued_by {
            Some(user) => people::of_user(conn, user)
                .await?
                .first()
                .map(|b| b.chat_id)
                .into_iter()
                .collect(),
            None => {
                let city = units::city_of(conn, &invite.unit_code).await?;
                people::all_holders(conn, Role::CityAdmin, &city)
                    .await?
                    .into_iter()
                    .map(|b| b.chat_id)
                    .collect()
            }
        };
        let line = self.render.render(
            tpl::INVITE_USED_LINE,
            &json!({"name": invite.name, "role": invite.role,
                    "unit_name": unit_name.unwrap_or(&invite.unit_code),
                    "class_name": invite.class_name}),
        )?;
        for chat in chats {
            let heading = self.render.text(tpl::INVITE_USED_HEADING)?;
            crate::store::outbox::enqueue_or_append(
                conn,
                chat,
                "invites-used",
                &heading,
                &line,
                self.clock.now(),
            )
            .await?;
        }
        Ok(())
    }
}
