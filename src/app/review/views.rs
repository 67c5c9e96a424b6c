//! What waits for me (/pending), what I filed (/myrequests), and one request with its history
//! (/request N) — each showing only what the person's roles and units allow.

use super::{App, Ctx, button, holds_step, keyboard};
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::store::people::{self, Binding};
use crate::store::reviews;
use crate::store::{from_ms, seasons};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::AnyConnection;

/// One line of /pending.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingItem {
    pub id: i64,
    pub name: String,
    pub school: String,
    pub level: String,
    pub filed_at: String,
}

/// "2天3小时" until `deadline`, or None when it has passed.
fn time_left(now: DateTime<Utc>, deadline: DateTime<Utc>) -> Option<String> {
    let left = deadline - now;
    if left <= chrono::Duration::zero() {
        return None;
    }
    let hours = left.num_hours();
    Some(match (hours / 24, hours % 24, left.num_minutes() % 60) {
        (0, 0, m) => format!("{m}分钟"),
        (0, h, m) => format!("{h}小时{m}分钟"),
        (d, h, _) => format!("{d}天{h}小时"),
    })
}

impl App {
    /// Requests at a stage where this person acts now, oldest first.
    pub(crate) async fn pending_for(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
    ) -> anyhow::Result<Vec<PendingItem>> {
        let bound = people::of_user(conn, user_id).await?;
        if bound.is_empty() {
            return Ok(Vec::new());
        }
        let route = self.route();
        let in_group = self
            .group_members(conn)
            .await?
            .iter()
            .any(|m| m.telegram_user_id == user_id);
        let mut items = Vec::new();
        for state in [State::Pending, State::Recording, State::Confirming] {
            if state != State::Pending && !in_group {
                continue;
            }
            for req in reviews::open_at(conn, state, None).await? {
                let Some(ctx) = self.load_ctx(conn, req.id).await? else {
                    continue;
                };
                let mine = match state {
                    State::Pending => bound
                        .iter()
                        .any(|b| holds_step(&route, &ctx, req.step as usize, b)),
                    State::Recording => true,
                    _ => {
                        req.recorded_by != Some(user_id)
                            && !reviews::votes(conn, req.id, req.round, None, "confirm")
                                .await?
                                .contains(&user_id)
                    }
                };
                if mine {
                    items.push((
                        req.created_at,
                        PendingItem {
                            id: req.id,
                            name: ctx.cand.name.clone(),
                            school: ctx.school.name.clone(),
                            level: self.level_name(&ctx),
                            filed_at: display(from_ms(req.created_at), ctx.season.tz),
                        },
                    ));
                }
            }
        }
        items.sort_by_key(|(at, _)| *at);
        Ok(items.into_iter().map(|(_, i)| i).collect())
    }

    /// `/pending`.
    pub async fn pending_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if people::of_user(&mut tx, user_id).await?.is_empty() {
            self.tell(&mut tx, chat_id, "not_bound", &json!({})).await?;
        } else {
            let items = self.pending_for(&mut tx, user_id).await?;
            let season = seasons::current(&mut tx).await?;
            let deadline = season
                .as_ref()
                .and_then(|s| s.review_deadline.map(|d| (d, s.tz)));
            let left = deadline.and_then(|(d, _)| time_left(self.clock.now(), d));
            let data = json!({
                "items": items,
                "count": items.len(),
                "deadline": deadline.map(|(d, tz)| display(d, tz)),
                "left": left,
            });
            self.tell(&mut tx, chat_id, "review_pending", &data).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// `/myrequests`.
    pub async fn my_requests_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if people::of_user(&mut tx, user_id).await?.is_empty() {
            self.tell(&mut tx, chat_id, "not_bound", &json!({})).await?;
        } else {
            let mut rows = Vec::new();
            for req in reviews::of_filer(&mut tx, user_id).await? {
                if let Some(ctx) = self.load_ctx(&mut tx, req.id).await? {
                    rows.push(json!({"id": req.id, "name": ctx.cand.name, "state": req.state, "level": self.level_name(&ctx)}));
                }
            }
            self.tell(
                &mut tx,
                chat_id,
                "review_mine",
                &json!({"items": rows, "count": rows.len()}),
            )
            .await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// `/request N`: the card and its whole history, to those who may see it. Anyone else gets
    /// the same answer as for a number that does not exist.
    pub async fn request_command(
        &self,
        user_id: i64,
        chat_id: i64,
        arg: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user_id).await?;
        let id = arg.trim().trim_start_matches('#').parse::<i64>().ok();
        let ctx = match id {
            Some(id) if !bound.is_empty() => self.load_ctx(&mut tx, id).await?,
            _ => None,
        };
        match ctx {
            _ if bound.is_empty() => self.tell(&mut tx, chat_id, "not_bound", &json!({})).await?,
            Some(ctx) if may_see(&ctx, user_id, &bound) => {
                let mut data = self.card_data(&mut tx, &ctx).await?;
                data["card"] = json!(self.render.render("review_card", &data)?);
                let history: Vec<_> = reviews::events(&mut tx, ctx.req.id)
                    .await?
                    .into_iter()
                    .map(|e| {
                        json!({"at": display(from_ms(e.at), ctx.season.tz), "actor": e.actor_name,
                                    "role": e.actor_role, "action": e.action, "comment": e.comment})
                    })
                    .collect();
                data["history"] = json!(history);
                let markup = (ctx.req.filer_user_id == user_id && ctx.state().withdrawable())
                    .then(|| -> anyhow::Result<String> {
                        Ok(keyboard(vec![vec![button(
                            self.render.text("button_withdraw")?,
                            format!("rv:{}:wd:w", ctx.req.id),
                        )]]))
                    })
                    .transpose()?;
                self.tell_with(&mut tx, chat_id, "review_detail", &data, markup)
                    .await?;
            }
            _ => {
                self.tell(
                    &mut tx,
                    chat_id,
                    "review_not_found",
                    &json!({"id": arg.trim()}),
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

/// The filer, the city's people, the school's district officer, the school's staff, and the
/// candidate's homeroom teacher may see a request.
fn may_see(ctx: &Ctx, user_id: i64, bound: &[Binding]) -> bool {
    ctx.req.filer_user_id == user_id
        || bound.iter().any(|b| match b.role {
            Role::CityAdmin | Role::CityReviewer | Role::Inspector => true,
            Role::DistrictOfficer => ctx.district.as_ref().is_some_and(|d| d.code == b.unit_code),
            Role::Principal | Role::SchoolContact | Role::SchoolReviewLeader => {
                b.unit_code == ctx.school.code
            }
            Role::HomeroomTeacher => {
                b.unit_code == ctx.school.code
                    && b.class_name.as_deref() == Some(ctx.cand.class_name.as_str())
            }
            Role::EntryClerk => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_in_words() {
        let now: DateTime<Utc> = "2023-05-01T00:00:00Z".parse().unwrap();
        let h = chrono::Duration::hours;
        assert_eq!(time_left(now, now + h(27)).as_deref(), Some("1天3小时"));
        assert_eq!(
            time_left(now, now + h(2) + chrono::Duration::minutes(5)).as_deref(),
            Some("2小时5分钟")
        );
        assert_eq!(time_left(now, now), None);
    }
}
