//! The season board's data: every request of the person's season that the permission model lets
//! them see (`Action::See`, as `/request N` asks), filtered and sorted as the page asks, and one
//! request's detail. Read-only: it reads on a connection of its own and never takes the write
//! gate. Its other tabs: the schools' notices (`notices`), the charts (`charts`); the 登分 tab
//! is the entry board's (`entry::board`).

pub mod charts;
pub mod notices;

use super::App;
use crate::app::policy::Action;
use crate::app::workflow::Ctx;
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::domain::workflow::Purpose;
use crate::domain::workflow::Route;
use crate::render::tpl;
use crate::store::candidates::{self, Candidate};
use crate::store::seasons::Season;
use crate::store::units::{self, Unit};
use crate::store::{from_ms, people, reviews, roster, seasons};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    #[serde(skip)]
    open: bool,
    created_at: i64,
}

impl Row {
    /// The line as of `now`: how long an open request has waited.
    fn at(&self, now: DateTime<Utc>) -> Row {
        let waited = now - from_ms(self.created_at);
        Row {
            age_hours: self.open.then(|| waited.num_hours().max(0)),
            ..self.clone()
        }
    }
}

/// How long a read of a season serves the board as it is ("numbers no older than a few
/// seconds"), and how long it serves while the next read is made.
const FRESH: std::time::Duration = std::time::Duration::from_secs(3);
const STALE: std::time::Duration = std::time::Duration::from_secs(15);

/// One request as the board keeps it: its context, for the permission model to ask on every
/// call, its line, and what was done on it when (`charts::Done`).
struct Line {
    ctx: Ctx,
    row: Row,
    done: Vec<charts::Done>,
}

/// A season's lines, and when they were read.
type Read = (Instant, Arc<Vec<Line>>);

/// The board's reads, one a season, shared by every call and every page (`App::board_reads`):
/// the last read and when it was made, and which seasons are being read again.
#[derive(Default)]
pub struct Reads {
    kept: Mutex<HashMap<i64, Read>>,
    reading: Mutex<HashSet<i64>>,
}

impl Reads {
    fn kept(&self, season: i64) -> Option<Read> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(&season).map(|(at, lines)| (*at, lines.clone()))
    }

    fn keep(&self, season: i64, lines: Arc<Vec<Line>>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(season, (Instant::now(), lines));
    }

    /// Whether this call is the one to read the season again (no other read of it is under way).
    fn begin(&self, season: i64) -> bool {
        let mut reading = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        reading.insert(season)
    }

    fn end(&self, season: i64) {
        let mut reading = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        reading.remove(&season);
    }
}

/// The lines a person may see, of their season's read.
enum Seeing {
    NotBound,
    NoSeason,
    Seen(Seen),
}

struct Seen {
    season: Season,
    lines: Arc<Vec<Line>>,
    /// The positions in `lines` of those the person may see.
    at: Vec<usize>,
}

impl Seen {
    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.at.iter().map(|&i| &self.lines[i])
    }
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
        let seen = match self.seen_lines(user_id).await? {
            Seeing::NotBound => return Ok(Board::NotBound),
            Seeing::NoSeason => return Ok(Board::NoSeason),
            Seeing::Seen(seen) => seen,
        };
        let now = self.clock.now();
        let year = seen.season.year;
        let seen: Vec<Row> = seen.lines().map(|l| l.row.at(now)).collect();
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
        Ok(Board::Rows { year, rows, seen })
    }

    /// The lines of the person's season they may see. The one permission model decides each
    /// line, for this person, on every call.
    async fn seen_lines(&self, user_id: i64) -> anyhow::Result<Seeing> {
        let (bound, season) = {
            let mut conn = self.db.pool.acquire().await?;
            let bound = people::of_user(&mut conn, user_id).await?;
            if bound.is_empty() {
                return Ok(Seeing::NotBound);
            }
            let city = self.city_of_user(&mut conn, user_id).await?;
            let Some(season) = seasons::current(&mut conn, &city).await? else {
                return Ok(Seeing::NoSeason);
            };
            (bound, season)
        };
        let lines = self.season_lines(&season).await?;
        let at = (0..lines.len())
            .filter(|&i| {
                self.allowed(user_id, &bound, Action::See, &lines[i].ctx)
                    .is_ok()
            })
            .collect();
        Ok(Seeing::Seen(Seen { season, lines, at }))
    }

    /// The season's lines as last read: a read at most `FRESH` old serves at once; one at most
    /// `STALE` old serves while a fresh one is made beside it, so that a board in use never
    /// waits for a read; an older one (nobody looked for a while) is read again first.
    async fn season_lines(&self, season: &Season) -> anyhow::Result<Arc<Vec<Line>>> {
        let reads = &self.board_reads;
        match reads.kept(season.id) {
            Some((at, lines)) if at.elapsed() < FRESH => Ok(lines),
            Some((at, lines)) if at.elapsed() < STALE => {
                if reads.begin(season.id) {
                    let (app, season) = (self.clone(), season.clone());
                    tokio::spawn(async move {
                        match app.read_season(&season).await {
                            Ok(lines) => app.board_reads.keep(season.id, Arc::new(lines)),
                            Err(e) => tracing::warn!(
                                error = format!("{e:#}"),
                                "the board could not read its season"
                            ),
                        }
                        app.board_reads.end(season.id);
                    });
                }
                Ok(lines)
            }
            _ => {
                let lines = Arc::new(self.read_season(season).await?);
                reads.keep(season.id, lines.clone());
                Ok(lines)
            }
        }
    }

    /// Every request of the season with its line, in a few reads rather than a request at a
    /// time: the requests, the people they name, the city's units, and each distinct route once.
    async fn read_season(&self, season: &Season) -> anyhow::Result<Vec<Line>> {
        let city = season.city_code.clone();
        let mut conn = self.db.pool.acquire().await?;
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
        let mut events: HashMap<i64, Vec<(i64, Option<i64>, String)>> = HashMap::new();
        for (request, at, step, action) in reviews::events_of_season(&mut conn, season.id).await? {
            events.entry(request).or_default().push((at, step, action));
        }
        drop(conn);
        let mut routes: HashMap<(String, Option<String>), Route> = HashMap::new();
        let mut said = HashMap::new();
        let mut lines = Vec::with_capacity(requests.len());
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
            let ctx = self.view_ctx(req, cand.clone(), school.clone(), district, season, route);
            let row = self.row(&ctx, &mut said)?;
            let done = charts::done(&ctx.route, events.remove(&ctx.req.id).unwrap_or_default());
            lines.push(Line { ctx, row, done });
        }
        Ok(lines)
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
    fn row(&self, ctx: &Ctx, said: &mut HashMap<&'static str, String>) -> anyhow::Result<Row> {
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
            age_hours: None,
            open: state.is_open(),
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
