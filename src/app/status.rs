//! `/status`: the season board for city admins (the whole city) and district officers (their
//! district): the deadlines, requests by state and level, overdue items, schools without a
//! contact, and chats the bot cannot reach. A province's viewers get one line per city.

use super::App;
use super::callback::Callback;
use super::policy::{self, Action, Subject};
use super::workflow::RECHECK_NAME;
use crate::app::callback::Press;
use crate::buttons::{Buttons, button, page_button};
use crate::domain::Role;
use crate::domain::UnitKind;
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::domain::workflow::Routes;
use crate::render::tpl;
use crate::store::people::Binding;
use crate::store::units::Unit;
use crate::store::{people, reviews, seasons, units};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

impl App {
    /// Read-only: it reads on a connection of its own, outside SQLite's write gate, and takes a
    /// write transaction only to queue the reply.
    pub async fn status_command(&self, user_id: i64, chat_id: i64) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        drop(conn);
        // The review board is the city's and the districts' officers'; the entry board (the
        // exam days' 登分) also their clerks' and inspectors'.
        let officer = bound
            .iter()
            .any(|b| matches!(b.role, Role::CityAdmin | Role::DistrictOfficer));
        let province = bound.iter().any(|b| b.role == Role::ProvinceViewer);
        if province && !officer {
            let body = self.province_board(user_id).await?;
            return self.reply(chat_id, body, None).await;
        }
        if officer {
            let (body, levels) = self.board(user_id).await?;
            let mut rows = Vec::new();
            // Open requests by level, offered as a picture too.
            if !levels.is_empty() {
                rows.push(vec![button(
                    self.render.text(tpl::BUTTON_STATUS_CHART)?,
                    Callback::StatusChart.encode(),
                )]);
            }
            // The season board opens inside Telegram, which allows it in private chats only.
            if let Some(url) = &self.config.telegram.board_url
                && chat_id == user_id
            {
                let label = self.render.text(tpl::BUTTON_SEASON_BOARD)?;
                rows.push(vec![page_button(label, url.clone())]);
            }
            let markup = (!rows.is_empty()).then(|| Buttons::rows(rows));
            self.reply(chat_id, body, markup).await?;
            self.send_entry_board(user_id, chat_id).await?;
        } else if !self.send_entry_board(user_id, chat_id).await? {
            let body = self.status_board(user_id).await?;
            self.reply(chat_id, body, None).await?;
        }
        Ok(())
    }

    /// 📊 under the board: the open requests per level as a bar chart, the levels numbered
    /// under the bars and named in the caption.
    pub async fn status_chart(&self, user_id: i64, chat_id: i64) -> anyhow::Result<Press> {
        let (_, levels) = self.board(user_id).await?;
        if levels.is_empty() {
            return Ok(Press::Stale);
        }
        let bars: Vec<(String, u32)> = levels
            .iter()
            .enumerate()
            .map(|(i, (_, n))| ((i + 1).to_string(), *n as u32))
            .collect();
        let legend: Vec<serde_json::Value> = levels
            .iter()
            .enumerate()
            .map(|(i, (level, n))| json!({"n": i + 1, "level": level, "count": n}))
            .collect();
        let msg = crate::store::outbox::Outgoing {
            chat_id,
            body: self
                .render
                .render(tpl::STATUS_CHART, &json!({"levels": legend}))?,
            document: Some((
                "审核进度.png".to_string(),
                crate::export::chart::bars(&bars)?,
            )),
            is_reply: true,
            ..Default::default()
        };
        let mut tx = self.db.begin().await?;
        crate::store::outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }

    /// The /status board's text, read on a connection of its own.
    pub async fn status_board(&self, user_id: i64) -> anyhow::Result<String> {
        Ok(self.board(user_id).await?.0)
    }

    /// The board's text, and its open requests per level (none when it is not shown).
    async fn board(&self, user_id: i64) -> anyhow::Result<(String, Vec<(String, usize)>)> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        // The person's own city: its units, its season, its people; no other city's.
        let city_code = self.city_of_user(&mut conn, user_id).await?;
        let all_units = units::of_city(&mut conn, &city_code).await?;
        let city_units: HashSet<&String> = all_units.iter().map(|u| &u.code).collect();
        let mut routes = Routes::new(self.route(&city_code));
        let schools = self.schools_in_view(user_id, &bound, &city_code, &all_units);
        let city = bound
            .iter()
            .any(|b| b.role == Role::CityAdmin && b.unit_code == city_code);
        let district = bound
            .iter()
            .find(|b| b.role == Role::DistrictOfficer)
            .map(|b| b.unit_code.clone());
        let allowed = city || district.is_some();
        let season = seasons::current(&mut conn, &city_code).await?;
        match (season, allowed) {
            (_, false) => {
                let t = if bound.is_empty() {
                    tpl::NOT_BOUND
                } else {
                    tpl::NOT_ALLOWED
                };
                Ok((self.render.text(t)?, Vec::new()))
            }
            (None, true) => Ok((
                self.render
                    .render(tpl::PUBLISH_NOTHING, &json!({"no_season": true}))?,
                Vec::new(),
            )),
            (Some(season), true) => {
                let rows = reviews::where_each_stands(&mut conn, season.id).await?;
                let now = self.clock.now();
                let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
                let mut by_level: BTreeMap<String, usize> = BTreeMap::new();
                let mut overdue = 0;
                for r in rows.iter().filter(|r| schools.contains(&r.school_code)) {
                    *by_state.entry(r.state.clone()).or_default() += 1;
                    let state = State::parse(&r.state);
                    if state.is_some_and(State::is_open) {
                        let level = match state {
                            Some(State::Pending) => routes
                                .of(r.route.as_deref())
                                .steps
                                .get(r.step as usize)
                                .map_or(String::new(), |s| s.name.clone()),
                            Some(State::Returned) => "退回待修改".into(),
                            Some(State::Reporting) => "待上报".into(),
                            Some(State::Rechecking) => RECHECK_NAME.into(),
                            _ => "复核小组".into(),
                        };
                        *by_level.entry(level).or_default() += 1;
                    }
                    if state == Some(State::Lapsed) {
                        overdue += 1;
                    }
                }
                // One query for every contact, not one per school.
                let with_contact: HashSet<String> =
                    people::all_holders(&mut conn, Role::SchoolContact, &city_code)
                        .await?
                        .into_iter()
                        .map(|b| b.unit_code)
                        .collect();
                let without_contact: Vec<String> = all_units
                    .iter()
                    .filter(|u| schools.contains(&u.code) && !with_contact.contains(&u.code))
                    .map(|u| u.name.clone())
                    .collect();
                let unreachable = people::unreachable(&mut conn).await?;
                let unreachable: Vec<String> = unreachable
                    .into_iter()
                    .filter(|(_, unit)| {
                        (city && city_units.contains(unit))
                            || schools.contains(unit)
                            || Some(unit) == district.as_ref()
                    })
                    .map(|(name, _)| name)
                    .collect();
                let tz = season.tz;
                let scope = match (&district, city) {
                    (_, true) => "全市".to_string(),
                    (Some(d), false) => all_units
                        .iter()
                        .find(|u| &u.code == d)
                        .map_or(d.clone(), |u| u.name.clone()),
                    _ => String::new(),
                };
                let data = json!({
                    "scope": scope,
                    "year": season.year,
                    "published_at": season.published_at.map(|p| display(p, tz)),
                    "publish_deadline": display(season.publish_deadline, tz),
                    "review_deadline": season.review_deadline.map(|d| display(d, tz)),
                    "by_state": by_state.into_iter().map(|(k, v)| json!({"state": k, "count": v})).collect::<Vec<_>>(),
                    "by_level": by_level.iter().map(|(k, v)| json!({"level": k, "count": v})).collect::<Vec<_>>(),
                    "overdue": overdue,
                    "schools": schools.len(),
                    "without_contact_count": without_contact.len(),
                    "without_contact": without_contact.into_iter().take(20).collect::<Vec<_>>(),
                    "unreachable_count": unreachable.len(),
                    "unreachable": unreachable.into_iter().take(20).collect::<Vec<_>>(),
                    "now": display(now, tz),
                });
                let levels = by_level.into_iter().collect();
                Ok((self.render.render(tpl::STATUS_BOARD, &data)?, levels))
            }
        }
    }

    /// The schools of a city whose progress this person follows (`/status`, the season board's
    /// notices and charts): the permission model decides, school by school.
    pub(crate) fn schools_in_view(
        &self,
        user_id: i64,
        bound: &[Binding],
        city: &str,
        units: &[Unit],
    ) -> HashSet<String> {
        // Which schools count is not a question of any request's route.
        let route = self.route(city);
        units
            .iter()
            .filter(|u| u.kind == UnitKind::School)
            .filter(|u| {
                let district = u.parent_code.as_deref().filter(|_| !u.city_direct);
                let subject = Subject {
                    city,
                    school: &u.code,
                    district,
                    ..Subject::default()
                };
                policy::check(&route, user_id, bound, Action::Status, &subject).is_ok()
            })
            .map(|u| u.code.clone())
            .collect()
    }

    /// The province's board: a line per city of the viewer's province (its season, whether it
    /// published, its requests), each city admitted by the permission model. Read-only: the
    /// viewer opens no city's requests.
    async fn province_board(&self, user_id: i64) -> anyhow::Result<String> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        let now = self.clock.now();
        let mut tz = chrono_tz::Asia::Shanghai;
        let mut province_name = String::new();
        let mut lines = Vec::new();
        for code in units::cities(&mut conn).await? {
            let Some(city) = units::get(&mut conn, &code).await? else {
                continue;
            };
            let province = city.parent_code.clone().unwrap_or_default();
            let subject = Subject {
                city: &city.code,
                province: &province,
                ..Subject::default()
            };
            let route = self.route(&city.code);
            if policy::check(&route, user_id, &bound, Action::Status, &subject).is_err() {
                continue;
            }
            if province_name.is_empty() {
                province_name = units::get(&mut conn, &province)
                    .await?
                    .map_or(province.clone(), |u| u.name);
            }
            let Some(season) = seasons::current(&mut conn, &city.code).await? else {
                lines.push(json!({"name": city.name, "season": false}));
                continue;
            };
            tz = season.tz;
            let counts = reviews::count_by_state(&mut conn, season.id).await?;
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            let open: i64 = counts
                .iter()
                .filter(|(state, _)| State::parse(state).is_some_and(State::is_open))
                .map(|(_, n)| n)
                .sum();
            let overdue = season.review_deadline.is_some_and(|d| now >= d);
            lines.push(json!({
                "name": city.name, "season": true, "year": season.year,
                "published_at": season.published_at.map(|p| display(p, season.tz)),
                "total": total, "open": open, "overdue": if overdue { open } else { 0 },
            }));
        }
        self.render.render(
            tpl::STATUS_PROVINCE,
            &json!({"province": province_name, "cities": lines, "now": display(now, tz)}),
        )
    }
}
