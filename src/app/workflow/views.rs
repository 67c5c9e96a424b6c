//! What waits for me (/pending), what I filed (/myrequests), and one request with its history
//! (/request N) — each showing only what the person's roles and units allow.

use super::App;
use crate::app::callback::{Callback, List};
use crate::app::policy::Action;
use crate::buttons::{Buttons, button};
use crate::domain::UnitKind;
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::domain::stage::{Choice, Stage};
use crate::domain::workflow::Purpose;
use crate::render::tpl;
use crate::render::{limits, split_html};
use crate::store::Conn;
use crate::store::outbox::{self, Outgoing};
use crate::store::people;
use crate::store::reviews;
use crate::store::{from_ms, seasons};
use chrono::{DateTime, Utc};
use serde_json::json;

/// One line of /pending.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingItem {
    pub id: i64,
    pub name: String,
    pub school: String,
    pub level: String,
    pub filed_at: String,
    /// What the request is (a list marks a 免考 application).
    pub purpose: Purpose,
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
        conn: &mut Conn,
        user_id: i64,
    ) -> anyhow::Result<Vec<PendingItem>> {
        let bound = people::of_user(conn, user_id).await?;
        if bound.is_empty() {
            return Ok(Vec::new());
        }
        // Only people of a district or the city sit in a review group or give the 复审: a
        // school's people skip the group's stages without reading them.
        let beyond_school = bound.iter().any(|b| !b.role.fits(UnitKind::School));
        let mut items = Vec::new();
        for state in [
            State::Pending,
            State::Recording,
            State::Confirming,
            State::Reporting,
            State::Rechecking,
        ] {
            if state != State::Pending && !beyond_school {
                continue;
            }
            for req in reviews::open_at(conn, state, None).await? {
                let Some(ctx) = self.load_ctx(conn, req.id).await? else {
                    continue;
                };
                let action = match state {
                    State::Pending => Action::Decide {
                        step: req.step as usize,
                    },
                    State::Recording => Action::Record,
                    State::Reporting => Action::Report,
                    State::Rechecking => Action::Recheck,
                    _ => Action::Sign,
                };
                let mine = self.allowed(user_id, &bound, action, &ctx).is_ok();
                if mine {
                    items.push((
                        req.created_at,
                        PendingItem {
                            id: req.id,
                            name: ctx.cand.name.clone(),
                            school: ctx.school.name.clone(),
                            level: self.level_name(&ctx),
                            filed_at: display(from_ms(req.created_at), ctx.season.tz),
                            purpose: ctx.purpose(),
                        },
                    ));
                }
            }
        }
        items.sort_by_key(|(at, _)| *at);
        Ok(items.into_iter().map(|(_, i)| i).collect())
    }

    /// `/pending`, one page. Read-only: it reads on a connection of its own, outside SQLite's
    /// write gate, and takes a write transaction only to queue the reply.
    pub async fn pending_command(
        &self,
        user_id: i64,
        chat_id: i64,
        page: usize,
    ) -> anyhow::Result<()> {
        let (body, markup) = self.pending_page(user_id, page).await?;
        self.reply(chat_id, body, markup).await
    }

    /// One page of /pending with its ◀️ ▶️ buttons, read on a connection of its own.
    pub async fn pending_page(
        &self,
        user_id: i64,
        page: usize,
    ) -> anyhow::Result<(String, Option<crate::buttons::Buttons>)> {
        Ok({
            let mut conn = self.db.pool.acquire().await?;
            if people::of_user(&mut conn, user_id).await?.is_empty() {
                (self.render.text(tpl::NOT_BOUND)?, None)
            } else {
                let items = self.pending_for(&mut conn, user_id).await?;
                let city = self.city_of_user(&mut conn, user_id).await?;
                let season = seasons::current(&mut conn, &city).await?;
                let deadline = season
                    .as_ref()
                    .and_then(|s| s.review_deadline.map(|d| (d, s.tz)));
                let left = deadline.and_then(|(d, _)| time_left(self.clock.now(), d));
                let (shown, paging) = paged(&items, page);
                let data = json!({
                    "items": shown,
                    "count": items.len(),
                    "page": paging.page + 1,
                    "pages": paging.pages,
                    "deadline": deadline.map(|(d, tz)| display(d, tz)),
                    "left": left,
                });
                let body = self.render.render(tpl::REVIEW_PENDING, &data)?;
                (body, self.page_buttons(List::Pending, paging)?)
            }
        })
    }

    /// `/myrequests`, one page; read-only like /pending.
    pub async fn my_requests_command(
        &self,
        user_id: i64,
        chat_id: i64,
        page: usize,
    ) -> anyhow::Result<()> {
        let (body, markup) = self.my_requests_page(user_id, page).await?;
        self.reply(chat_id, body, markup).await
    }

    /// One page of /myrequests with its ◀️ ▶️ buttons, read on a connection of its own.
    pub async fn my_requests_page(
        &self,
        user_id: i64,
        page: usize,
    ) -> anyhow::Result<(String, Option<crate::buttons::Buttons>)> {
        Ok({
            let mut conn = self.db.pool.acquire().await?;
            if people::of_user(&mut conn, user_id).await?.is_empty() {
                (self.render.text(tpl::NOT_BOUND)?, None)
            } else {
                let mine = reviews::of_filer(&mut conn, user_id).await?;
                let (shown, paging) = paged(&mine, page);
                let mut rows = Vec::new();
                for req in shown {
                    if let Some(ctx) = self.load_ctx(&mut conn, req.id).await? {
                        rows.push(
                            json!({"id": req.id, "name": ctx.cand.name, "state": req.state,
                                        "level": self.level_name(&ctx), "purpose": ctx.purpose()}),
                        );
                    }
                }
                let data = json!({"items": rows, "count": mine.len(),
                                  "page": paging.page + 1, "pages": paging.pages});
                let body = self.render.render(tpl::REVIEW_MINE, &data)?;
                (body, self.page_buttons(List::Mine, paging)?)
            }
        })
    }

    /// ◀️ ▶️ under a paged list; None when it fits on one page.
    fn page_buttons(
        &self,
        list: List,
        p: Paging,
    ) -> anyhow::Result<Option<crate::buttons::Buttons>> {
        if p.pages <= 1 {
            return Ok(None);
        }
        let mut row = Vec::new();
        if p.page > 0 {
            let data = Callback::Page {
                list,
                page: p.page - 1,
            }
            .encode();
            row.push(button(self.render.text(tpl::BUTTON_PAGE_PREV)?, data));
        }
        if p.page + 1 < p.pages {
            let data = Callback::Page {
                list,
                page: p.page + 1,
            }
            .encode();
            row.push(button(self.render.text(tpl::BUTTON_PAGE_NEXT)?, data));
        }
        Ok(Some(Buttons::rows(vec![row])))
    }

    /// `/request N`: the card and its whole history, to those who may see it. Anyone else gets
    /// the same answer as for a number that does not exist. Read-only like /pending; a history
    /// longer than one message comes in several.
    pub async fn request_command(
        &self,
        user_id: i64,
        chat_id: i64,
        arg: &str,
    ) -> anyhow::Result<()> {
        let (bodies, markup) = {
            let mut conn = self.db.pool.acquire().await?;
            let bound = people::of_user(&mut conn, user_id).await?;
            let id = arg.trim().trim_start_matches('#').parse::<i64>().ok();
            let ctx = match id {
                Some(id) if !bound.is_empty() => self.load_ctx(&mut conn, id).await?,
                _ => None,
            };
            match ctx {
                _ if bound.is_empty() => (vec![self.render.text(tpl::NOT_BOUND)?], None),
                Some(ctx) if self.allowed(user_id, &bound, Action::See, &ctx).is_ok() => {
                    let text = self.request_detail(&mut conn, &ctx).await?;
                    let mut rows = Vec::new();
                    if self
                        .allowed(user_id, &bound, Action::Withdraw, &ctx)
                        .is_ok()
                        && ctx.state().withdrawable()
                    {
                        let data = Callback::Review {
                            id: ctx.req.id,
                            stage: Stage::Withdraw,
                            action: Choice::Withdraw,
                        }
                        .encode();
                        rows.push(vec![button(self.render.text(tpl::BUTTON_WITHDRAW)?, data)]);
                    }
                    // The history below is whole: only the signed form is a tap away.
                    let mut extras = self.card_extras(&ctx, &json!({"cut": false}))?;
                    rows.append(&mut extras);
                    let form = Callback::Form { id: ctx.req.id }.encode();
                    let label = ctx.purpose().form_button();
                    rows.push(vec![button(self.render.text(label)?, form)]);
                    let markup = (!rows.is_empty()).then(|| Buttons::rows(rows));
                    (split_html(&text, limits::TEXT), markup)
                }
                _ => (
                    vec![
                        self.render
                            .render(tpl::REVIEW_NOT_FOUND, &json!({"id": arg.trim()}))?,
                    ],
                    None,
                ),
            }
        };
        let last = bodies.len() - 1;
        let mut tx = self.db.begin().await?;
        for (i, body) in bodies.into_iter().enumerate() {
            let msg = Outgoing {
                chat_id,
                body,
                buttons: if i == last { markup.clone() } else { None },
                is_reply: true,
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

impl App {
    /// One request with its whole history, as /request N and the board show it, to someone
    /// the caller has found may see it.
    pub(crate) async fn request_detail(
        &self,
        conn: &mut Conn,
        ctx: &super::Ctx,
    ) -> anyhow::Result<String> {
        let mut data = self.card_data(conn, ctx).await?;
        data["card"] = json!(self.render.render(ctx.card_template(), &data)?);
        let history: Vec<_> = reviews::events(conn, ctx.req.id)
            .await?
            .into_iter()
            .map(|e| {
                json!({"at": display(from_ms(e.at), ctx.season.tz), "actor": e.actor_name,
                        "role": e.actor_role, "action": e.action, "comment": e.comment})
            })
            .collect();
        data["history"] = json!(history);
        self.render.render(tpl::REVIEW_DETAIL, &data)
    }
}

impl App {
    /// The 📄 button on a card whose comments were cut: every opinion in full, to someone who
    /// may see the request, in as many messages as it takes.
    pub async fn full_opinions(
        &self,
        user_id: i64,
        chat_id: i64,
        id: i64,
    ) -> anyhow::Result<crate::app::callback::Press> {
        let bodies = {
            let mut conn = self.db.pool.acquire().await?;
            let bound = people::of_user(&mut conn, user_id).await?;
            let Some(ctx) = self.load_ctx(&mut conn, id).await? else {
                return Ok(crate::app::callback::Press::Refused);
            };
            if self.allowed(user_id, &bound, Action::See, &ctx).is_err() {
                return Ok(crate::app::callback::Press::Refused);
            }
            let history: Vec<_> = reviews::events(&mut conn, id)
                .await?
                .into_iter()
                .filter(|e| e.action != "file")
                .map(|e| {
                    json!({"at": display(from_ms(e.at), ctx.season.tz), "actor": e.actor_name,
                           "action": e.action, "comment": e.comment})
                })
                .collect();
            let text = self
                .render
                .render(tpl::REVIEW_OPINIONS, &json!({"id": id, "history": history}))?;
            split_html(&text, limits::TEXT)
        };
        let mut tx = self.db.begin().await?;
        for body in bodies {
            let msg = Outgoing {
                chat_id,
                body,
                is_reply: true,
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(crate::app::callback::Press::Accepted)
    }
}

impl App {
    /// The 📎 button on a card: the candidate's signed application, sent on to someone who may
    /// see the request (never to another school: the same rule as the card's).
    pub async fn signed_form(
        &self,
        user_id: i64,
        chat_id: i64,
        id: i64,
    ) -> anyhow::Result<crate::app::callback::Press> {
        let (file, caption) = {
            let mut conn = self.db.pool.acquire().await?;
            let bound = people::of_user(&mut conn, user_id).await?;
            let Some(ctx) = self.load_ctx(&mut conn, id).await? else {
                return Ok(crate::app::callback::Press::Refused);
            };
            if self.allowed(user_id, &bound, Action::See, &ctx).is_err() {
                return Ok(crate::app::callback::Press::Refused);
            }
            let Some(file) = ctx.req.signed_form() else {
                return Ok(crate::app::callback::Press::Stale);
            };
            let caption = self.render.render(
                tpl::REVIEW_SIGNED_FORM,
                &json!({"id": id, "name": ctx.cand.name, "exam_no": ctx.cand.exam_no}),
            )?;
            (file, caption)
        };
        let mut tx = self.db.begin().await?;
        let msg = Outgoing {
            chat_id,
            body: caption,
            file: Some(file),
            is_reply: true,
            ..Outgoing::default()
        };
        outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(crate::app::callback::Press::Accepted)
    }
}

/// Lines on one page of /pending or /myrequests: ten keep a page well inside one message.
pub const PAGE: usize = 10;

#[derive(Debug, Clone, Copy)]
struct Paging {
    page: usize,
    pages: usize,
}

/// The items of page `page` (clamped to the last), and where that is.
fn paged<T>(items: &[T], page: usize) -> (&[T], Paging) {
    let pages = items.len().div_ceil(PAGE).max(1);
    let page = page.min(pages - 1);
    let from = page * PAGE;
    let to = (from + PAGE).min(items.len());
    (&items[from..to], Paging { page, pages })
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
