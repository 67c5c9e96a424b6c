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
use crate::domain::Score;
use crate::domain::deadline::display;
use crate::domain::review::State;
use crate::domain::workflow::Purpose;
use crate::domain::workflow::Route;
use crate::render::tpl;
use crate::store::candidates::{self, Candidate};
use crate::store::people::Binding;
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
    /// Where it is now, as the page names it (`Row::stage`).
    pub level: Option<String>,
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
    /// Who holds it past the route's levels: the group, the unit that sends it up, the city.
    pub holder: String,
    /// Signatures given at its level, where the level takes several.
    pub signed: Option<usize>,
    pub filed_at: String,
    /// Hours it has waited since it was filed, while it is open.
    pub age_hours: Option<i64>,
    /// 逾期: lapsed (not reported in time), or a 复核 still open after its window closed.
    pub overdue: bool,
    #[serde(skip)]
    open: bool,
    created_at: i64,
}

impl Row {
    /// The line as of `now`: how long an open request has waited, and whether the window it
    /// had to end in (`closes`) has closed on it.
    fn at(&self, now: DateTime<Utc>, closes: Option<DateTime<Utc>>) -> Row {
        let waited = now - from_ms(self.created_at);
        Row {
            age_hours: self.open.then(|| waited.num_hours().max(0)),
            overdue: self.overdue_at(now, closes),
            ..self.clone()
        }
    }

    fn overdue_at(&self, now: DateTime<Utc>, closes: Option<DateTime<Utc>>) -> bool {
        let review = self.purpose == Purpose::Review;
        self.state == State::Lapsed.as_str()
            || (review && self.open && closes.is_some_and(|c| now >= c))
    }
}

/// How long a read of a season serves the board as it is ("numbers no older than a few
/// seconds"), and how long it serves while the next read is made.
const FRESH: std::time::Duration = std::time::Duration::from_secs(3);
const STALE: std::time::Duration = std::time::Duration::from_secs(15);
/// How long after the last call the season is still read again every `FRESH`, so that a board
/// in use, and whoever opens it next, never waits for a read.
const WARM: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// One request as the board keeps it: its context, for the permission model to ask on every
/// call, its line, and what was done on it when (`charts::Done`).
struct Line {
    ctx: Ctx,
    row: Row,
    done: Vec<charts::Done>,
}

/// What the board reads of a season at once: its requests' lines, the city's units, each
/// school's candidates, and, once published, every score that counts (缺考 has none) by school.
struct SeasonRead {
    lines: Vec<Line>,
    units: Vec<Unit>,
    candidates: Vec<(String, i64)>,
    scores: Vec<(String, Score)>,
}

/// A season's read, and when it was made.
type Read = (Instant, Arc<SeasonRead>);

/// The board's reads, one a season, shared by every call and every page (`App::board_reads`):
/// the last read and when it was made, which seasons are kept warm, and when each was last
/// asked for.
#[derive(Default)]
pub struct Reads {
    kept: Mutex<HashMap<i64, Read>>,
    reading: Mutex<HashSet<i64>>,
    asked: Mutex<HashMap<i64, Instant>>,
}

impl Reads {
    fn kept(&self, season: i64) -> Option<Read> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(&season).map(|(at, read)| (*at, read.clone()))
    }

    fn keep(&self, season: i64, read: Arc<SeasonRead>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(season, (Instant::now(), read));
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

    fn ask(&self, season: i64) {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.insert(season, Instant::now());
    }

    /// Whether nobody has asked for the season for `WARM`.
    fn idle(&self, season: i64) -> bool {
        let asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.get(&season).is_none_or(|at| at.elapsed() >= WARM)
    }
}

/// A person, as the board finds them: bound to nothing, in a city without a season yet, or
/// with their bindings in their city's season.
enum Whose {
    NotBound,
    NoSeason,
    Season(Vec<Binding>, Season),
}

/// The lines a person may see, of their season's read.
enum Seeing {
    NotBound,
    NoSeason,
    Seen(Seen),
}

struct Seen {
    season: Season,
    /// The person's bindings, as the permission model read them for this call.
    bound: Vec<Binding>,
    read: Arc<SeasonRead>,
    /// The positions in the read's lines of those the person may see.
    at: Vec<usize>,
}

impl Seen {
    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.at.iter().map(|&i| &self.read.lines[i])
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
        window: Window,
    },
}

/// The review window over the person's 复核 requests: its end and countdown, and each
/// district's part (its 上报 and the city's 复审 of what it sent).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Window {
    pub closes: Option<String>,
    pub countdown: Option<String>,
    pub districts: Vec<DistrictLine>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DistrictLine {
    pub name: String,
    pub open: usize,
    /// Results signed and waiting for the district's 上报.
    pub reporting: usize,
    /// Requests the district has sent up.
    pub reported: usize,
    pub rechecking: usize,
    pub overdue: usize,
}

impl Window {
    fn of(seen: &Seen, now: DateTime<Utc>) -> Window {
        let closes = seen.season.review_deadline;
        // The districts in their codes' order, the city's own schools (市直) last.
        let mut districts: std::collections::BTreeMap<(bool, Option<&str>), DistrictLine> =
            Default::default();
        // The window, the 上报 and the 复审 are the review's: 免考 has its own deadline.
        let reviews = seen.lines().filter(|l| l.row.purpose == Purpose::Review);
        for line in reviews {
            let row = &line.row;
            let d = districts
                .entry((row.district_code.is_none(), row.district_code.as_deref()))
                .or_insert_with(|| DistrictLine {
                    name: row.district.clone().unwrap_or_else(|| "市直".into()),
                    ..DistrictLine::default()
                });
            let state = State::parse(&row.state);
            d.open += usize::from(row.open);
            d.reporting += usize::from(state == Some(State::Reporting));
            d.rechecking += usize::from(state == Some(State::Rechecking));
            d.reported += usize::from(line.done.iter().any(charts::Done::is_report));
            d.overdue += usize::from(row.overdue_at(now, closes));
        }
        Window {
            closes: closes.map(|c| display(c, seen.season.tz)),
            countdown: closes.map(|c| crate::domain::deadline::countdown(now, c)),
            districts: districts.into_values().collect(),
        }
    }
}

/// The name of a school's district, as the board's tabs group schools: 市直 for the city's
/// own schools.
fn district_name<'u>(school: &'u Unit, units: &HashMap<&str, &'u Unit>) -> &'u str {
    match (&school.parent_code, school.city_direct) {
        (Some(p), false) => units.get(p.as_str()).map_or(p, |d| &d.name),
        _ => "市直",
    }
}

/// One event of a request, as the board reads it.
pub(super) struct Event {
    pub at: i64,
    pub step: Option<i64>,
    pub round: i64,
    pub action: String,
}

/// How many have signed a pending request at its level in this round, where the level takes
/// more than one signature (附件2's county level: three).
fn signed_at_level(ctx: &Ctx, events: &[Event]) -> Option<usize> {
    let req = &ctx.req;
    let step = ctx.route.steps.get(usize::try_from(req.step).ok()?)?;
    if ctx.state() != State::Pending || step.rule == crate::domain::workflow::Rule::AnyOne {
        return None;
    }
    let signed = events
        .iter()
        .filter(|e| e.action == "approve" && e.step == Some(req.step) && e.round == req.round)
        .count();
    Some(signed)
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
        let closes = seen.season.review_deadline;
        let window = Window::of(&seen, now);
        let year = seen.season.year;
        let seen: Vec<Row> = seen.lines().map(|l| l.row.at(now, closes)).collect();
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
            year,
            rows,
            seen,
            window,
        })
    }

    /// The person's bindings and their city's current season.
    async fn whose_season(&self, user_id: i64) -> anyhow::Result<Whose> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user_id).await?;
        if bound.is_empty() {
            return Ok(Whose::NotBound);
        }
        let city = self.city_of_user(&mut conn, user_id).await?;
        Ok(match seasons::current(&mut conn, &city).await? {
            Some(season) => Whose::Season(bound, season),
            None => Whose::NoSeason,
        })
    }

    /// The lines of the person's season they may see. The one permission model decides each
    /// line, for this person, on every call.
    async fn seen_lines(&self, user_id: i64) -> anyhow::Result<Seeing> {
        let (bound, season) = match self.whose_season(user_id).await? {
            Whose::NotBound => return Ok(Seeing::NotBound),
            Whose::NoSeason => return Ok(Seeing::NoSeason),
            Whose::Season(bound, season) => (bound, season),
        };
        let read = self.season_read(&season).await?;
        let at = (0..read.lines.len())
            .filter(|&i| {
                self.allowed(user_id, &bound, Action::See, &read.lines[i].ctx)
                    .is_ok()
            })
            .collect();
        Ok(Seeing::Seen(Seen {
            season,
            bound,
            read,
            at,
        }))
    }

    /// The season as last read. A read at most `STALE` old serves at once, and the season is
    /// read again every `FRESH` beside the calls until nobody has asked for it for `WARM`; only
    /// a call after that (or the first) waits for a read.
    async fn season_read(&self, season: &Season) -> anyhow::Result<Arc<SeasonRead>> {
        let reads = &self.board_reads;
        reads.ask(season.id);
        let read = match reads.kept(season.id) {
            Some((at, read)) if at.elapsed() < STALE => read,
            _ => {
                let read = Arc::new(self.read_season(season).await?);
                reads.keep(season.id, read.clone());
                read
            }
        };
        self.keep_warm(season.id);
        Ok(read)
    }

    /// Reads the season again every `FRESH` while it is asked for, on a task of its own (one a
    /// season). Each read takes the season's row anew: its publication or window may have moved.
    fn keep_warm(&self, season: i64) {
        if !self.board_reads.begin(season) {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move {
            let reads = &app.board_reads;
            while !reads.idle(season) {
                let age = reads.kept(season).map_or(FRESH, |(at, _)| at.elapsed());
                tokio::time::sleep(FRESH.saturating_sub(age)).await;
                if let Err(e) = app.read_season_again(season).await {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "the board could not read its season"
                    );
                    tokio::time::sleep(FRESH).await;
                }
            }
            reads.end(season);
            // Asked for between the last look and the end: kept warm again.
            if !reads.idle(season) {
                app.keep_warm(season);
            }
        });
    }

    async fn read_season_again(&self, season: i64) -> anyhow::Result<()> {
        let season = {
            let mut conn = self.db.pool.acquire().await?;
            seasons::current_by_id(&mut conn, season).await?
        };
        // A season no longer current is no longer read; its last read stays until it is idle.
        if let Some(season) = season {
            let read = Arc::new(self.read_season(&season).await?);
            self.board_reads.keep(season.id, read);
        }
        Ok(())
    }

    /// Every request of the season with its line, in a few reads rather than a request at a
    /// time: the requests, the people they name, the city's units, and each distinct route once;
    /// and the scores, once published.
    async fn read_season(&self, season: &Season) -> anyhow::Result<SeasonRead> {
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
        let mut events: HashMap<i64, Vec<Event>> = HashMap::new();
        for (request, at, step, round, action) in
            reviews::events_of_season(&mut conn, season.id).await?
        {
            events.entry(request).or_default().push(Event {
                at,
                step,
                round,
                action,
            });
        }
        let per_school = candidates::school_counts(&mut conn, season.id).await?;
        let scores = match season.published_at {
            Some(_) => candidates::scores_of_season(&mut conn, season.id)
                .await?
                .into_iter()
                .filter(|(_, _, absent)| *absent == 0)
                .map(|(school, tenths, _)| {
                    (
                        school,
                        Score::from_tenths(u32::try_from(tenths).unwrap_or(0)),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
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
            let events = events.remove(&ctx.req.id).unwrap_or_default();
            let mut row = self.row(&ctx, &mut said)?;
            row.signed = signed_at_level(&ctx, &events);
            let done = charts::done(&ctx.route, events);
            lines.push(Line { ctx, row, done });
        }
        Ok(SeasonRead {
            lines,
            units: units.into_values().collect(),
            candidates: per_school,
            scores,
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
    fn row(&self, ctx: &Ctx, said: &mut HashMap<&'static str, String>) -> anyhow::Result<Row> {
        let state = ctx.state();
        let holder = match state {
            State::Pending => String::new(),
            _ => self.level_name(ctx),
        };
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
            holder,
            signed: None,
            filed_at: display(filed, ctx.season.tz),
            age_hours: None,
            overdue: false,
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
            && self.level.as_ref().is_none_or(|l| *l == row.stage)
            && query.is_none_or(|q| row.exam_no == q || row.name.contains(q))
    }
}
