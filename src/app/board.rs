//! The season board's data: every request of the person's season that the permission model lets
//! them see (`Action::See`, as `/request N` asks), filtered and sorted as the page asks, and one
//! request's detail. Read-only: it reads on a connection of its own and never takes the write
//! gate.

use super::App;
use crate::app::policy::Action;
use crate::app::workflow::Ctx;
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::domain::workflow::Purpose;
use crate::domain::workflow::Route;
use crate::render::tpl;
use crate::store::candidates::{self, Candidate};
use crate::store::units::{self, Unit};
use crate::store::{from_ms, people, reviews, roster, seasons};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

/// Requests a board reads at most: a city files some 14,000 in a season.
const MOST: i64 = 50_000;

/// What the page asks for: each filter is optional, and matches exactly (a code) or, for
/// `query`, a 准考证号 or a part of a name.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub purpose: Option<Purpose>,
    pub district: Option<String>,
    pub school: Option<String>,
    pub state: Option<State>,
    pub query: Option<String>,
    pub sort: Sort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Oldest first: what has waited longest leads.
    #[default]
    Oldest,
    Newest,
    School,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "oldest" => Some(Sort::Oldest),
            "newest" => Some(Sort::Newest),
            "school" => Some(Sort::School),
            _ => None,
        }
    }
}

/// One line of the board.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: i64,
    pub purpose: Purpose,
    pub exam_no: String,
    pub name: String,
    pub school_code: String,
    pub school: String,
    pub district_code: Option<String>,
    pub district: Option<String>,
    pub state: String,
    /// Where it is now, in words (the level, the group, the city's 复审, or how it ended).
    pub stage: String,
    pub filed_at: String,
    /// Hours it has waited since it was filed, while it is open.
    pub age_hours: Option<i64>,
    created_at: i64,
}

/// What a person's board shows.
#[derive(Debug, Clone)]
pub enum Board {
    /// The person is bound to nothing: there is nothing they may see.
    NotBound,
    /// Their city has no season yet.
    NoSeason,
    Rows {
        /// The season's year.
        year: i32,
        /// The rows the filter kept, in its order.
        rows: Vec<Row>,
        /// Every row the person may see, before the filter: what the page offers to filter by.
        seen: Vec<Row>,
    },
}

/// One request's detail, as the board shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Shown(String),
    /// There is such a request, and this person may not see it.
    Denied,
    Missing,
}

impl App {
    /// The requests of the person's season they may see, filtered and sorted.
    pub async fn season_board(&self, user_id: i64, filter: &Filter) -> anyhow::Result<Board> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        if bound.is_empty() {
            return Ok(Board::NotBound);
        }
        let city = self.city_of_user(&mut conn, user_id).await?;
        let Some(season) = seasons::current(&mut conn, &city).await? else {
            return Ok(Board::NoSeason);
        };
        let now = self.clock.now();
        // Everything in a few reads, not a request at a time: the requests, the people they
        // name, the city's units, and each distinct route once.
        let requests = reviews::of_season(&mut conn, season.id, MOST).await?;
        let mut named: HashMap<(bool, i64), Candidate> = HashMap::new();
        for c in candidates::of_review_requests(&mut conn, season.id).await? {
            named.insert((false, c.id), c);
        }
        for r in roster::of_applications(&mut conn, season.id).await? {
            named.insert((true, r.id), r.as_candidate());
        }
        let units: HashMap<String, Unit> = units::of_city(&mut conn, &city)
            .await?
            .into_iter()
            .map(|u| (u.code.clone(), u))
            .collect();
        drop(conn);
        let mut routes: HashMap<(String, Option<String>), Route> = HashMap::new();
        let mut seen = Vec::new();
        let mut said = HashMap::new();
        for req in requests {
            let exemption = req.kind == Purpose::Exemption.kind();
            let (Some(cand), Some(school)) = (
                named.get(&(exemption, req.candidate_id)),
                units.get(&req.school_code),
            ) else {
                continue;
            };
            let district = match (&school.parent_code, school.city_direct) {
                (Some(p), false) => units.get(p).cloned(),
                _ => None,
            };
            let route = routes
                .entry((req.kind.clone(), req.route.clone()))
                .or_insert_with(|| self.route_of(&req, &city))
                .clone();
            let ctx = self.view_ctx(req, cand.clone(), school.clone(), district, &season, route);
            if self.allowed(user_id, &bound, Action::See, &ctx).is_ok() {
                seen.push(self.row(&ctx, now, &mut said)?);
            }
        }
        let mut rows: Vec<Row> = seen.iter().filter(|r| filter.keeps(r)).cloned().collect();
        match filter.sort {
            Sort::Oldest => rows.sort_by_key(|r| (r.created_at, r.id)),
            Sort::Newest => rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id))),
            Sort::School => rows.sort_by(|a, b| {
                (&a.district_code, &a.school_code, a.id).cmp(&(
                    &b.district_code,
                    &b.school_code,
                    b.id,
                ))
            }),
        }
        Ok(Board::Rows {
            year: season.year,
            rows,
            seen,
        })
    }

    /// One request as `/request N` shows it, to a person who may see it.
    pub async fn season_board_request(&self, user_id: i64, id: i64) -> anyhow::Result<Detail> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        let Some(ctx) = self.load_ctx(&mut conn, id).await? else {
            return Ok(Detail::Missing);
        };
        if bound.is_empty() || self.allowed(user_id, &bound, Action::See, &ctx).is_err() {
            return Ok(Detail::Denied);
        }
        Ok(Detail::Shown(self.request_detail(&mut conn, &ctx).await?))
    }

    /// One line; `said` keeps each state's words, rendered once a board.
    fn row(
        &self,
        ctx: &Ctx,
        now: chrono::DateTime<chrono::Utc>,
        said: &mut HashMap<&'static str, String>,
    ) -> anyhow::Result<Row> {
        let state = ctx.state();
        let stage = match state {
            State::Pending => self.level_name(ctx),
            _ => match said.get(state.as_str()) {
                Some(words) => words.clone(),
                None => {
                    let words = self
                        .render
                        .render(tpl::REVIEW_STATE, &json!({"state": state.as_str()}))?;
                    said.insert(state.as_str(), words.clone());
                    words
                }
            },
        };
        let filed = from_ms(ctx.req.created_at);
        Ok(Row {
            id: ctx.req.id,
            purpose: ctx.purpose(),
            exam_no: ctx.cand.exam_no.clone(),
            name: ctx.cand.name.clone(),
            school_code: ctx.school.code.clone(),
            school: ctx.school.name.clone(),
            district_code: ctx.district.as_ref().map(|d| d.code.clone()),
            district: ctx.district.as_ref().map(|d| d.name.clone()),
            state: state.as_str().to_string(),
            stage,
            filed_at: display(filed, ctx.season.tz),
            age_hours: state.is_open().then(|| (now - filed).num_hours().max(0)),
            created_at: ctx.req.created_at,
        })
    }
}

impl Filter {
    fn keeps(&self, row: &Row) -> bool {
        let query = self
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        self.purpose.is_none_or(|p| p == row.purpose)
            && self
                .district
                .as_ref()
                .is_none_or(|d| row.district_code.as_ref() == Some(d))
            && self.school.as_ref().is_none_or(|s| *s == row.school_code)
            && self.state.is_none_or(|s| s.as_str() == row.state)
            && query.is_none_or(|q| row.exam_no == q || row.name.contains(q))
    }
}
