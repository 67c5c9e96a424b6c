//! The season board's charts, as data for the page to draw: the published scores' distribution
//! per district (of the schools the person follows, and only once the city has published
//! them), and what each level of the route did, day by day, on the requests the person may see.

use super::{Event, Seeing, Seen};
use crate::app::App;
use crate::domain::Score;
use crate::domain::deadline::local_date;
use crate::domain::score::Distribution;
use crate::domain::workflow::Route;
use crate::store::from_ms;
use crate::store::units::Unit;
use chrono::Datelike;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Which level did something on a request, in the order a request meets them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Level {
    Filed,
    /// A level of the route (its index, and its name as the forms write it).
    Step(i64, String),
    Recorded,
    Reported,
    Completed,
}

impl Level {
    fn name(&self) -> &str {
        match self {
            Level::Filed => "提交",
            Level::Step(_, name) => name,
            Level::Recorded => "复核小组录入结果",
            Level::Reported => "上报",
            Level::Completed => "办结",
        }
    }
}

/// One thing a level did on a request, and when.
#[derive(Debug, Clone)]
pub(super) struct Done {
    at: i64,
    level: Level,
}

impl Done {
    /// Whether this is the request being sent up to the city (上报).
    pub(super) fn is_report(&self) -> bool {
        self.level == Level::Reported
    }
}

/// A request's events as the chart counts them: a level passing it on. Signatures, returns and
/// refusals are not counted; a group's several signatures would count one request many times.
pub(super) fn done(route: &Route, events: Vec<Event>) -> Vec<Done> {
    events
        .into_iter()
        .filter_map(
            |Event {
                 at, step, action, ..
             }| {
                let level = match (action.as_str(), step) {
                    ("file" | "resubmit", _) => Level::Filed,
                    ("approve", Some(n)) => {
                        let name = route.steps.get(usize::try_from(n).ok()?)?.name.clone();
                        Level::Step(n, name)
                    }
                    ("record", _) => Level::Recorded,
                    ("report", _) => Level::Reported,
                    ("complete", _) => Level::Completed,
                    _ => return None,
                };
                Some(Done { at, level })
            },
        )
        .collect()
}

/// Bars made of stacked parts: one bar a row, one part a series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stacks {
    pub series: Vec<String>,
    /// Each bar's label and its parts, in the order of `series`.
    pub bars: Vec<(String, Vec<u32>)>,
}

#[derive(Debug, Clone)]
pub enum Charts {
    NotBound,
    NoSeason,
    Shown {
        year: i32,
        /// Per district, its candidates per score band; None until the scores are published.
        scores: Option<Stacks>,
        /// Per day, how many requests each level passed on.
        work: Stacks,
    },
}

impl App {
    /// The charts of the person's season, each of what they may see.
    pub async fn season_charts(&self, user_id: i64) -> anyhow::Result<Charts> {
        let seen = match self.seen_lines(user_id).await? {
            Seeing::NotBound => return Ok(Charts::NotBound),
            Seeing::NoSeason => return Ok(Charts::NoSeason),
            Seeing::Seen(seen) => seen,
        };
        let tz = seen.season.tz;
        let mut days: BTreeMap<chrono::NaiveDate, HashMap<&Level, u32>> = BTreeMap::new();
        let mut levels: BTreeSet<&Level> = BTreeSet::new();
        for done in seen.lines().flat_map(|l| &l.done) {
            let day = local_date(from_ms(done.at), tz);
            *days.entry(day).or_default().entry(&done.level).or_default() += 1;
            levels.insert(&done.level);
        }
        let work = Stacks {
            series: levels.iter().map(|l| l.name().to_string()).collect(),
            bars: days
                .into_iter()
                .map(|(day, counts)| {
                    let label = format!("{}月{}日", day.month(), day.day());
                    let parts = levels
                        .iter()
                        .map(|l| counts.get(l).copied().unwrap_or(0))
                        .collect();
                    (label, parts)
                })
                .collect(),
        };
        let scores = seen
            .season
            .published_at
            .map(|_| self.score_bands(user_id, &seen));
        Ok(Charts::Shown {
            year: seen.season.year,
            scores,
            work,
        })
    }

    /// The season's published scores per district (市直 for the city's own schools), of the
    /// schools this person follows, from the season's read.
    fn score_bands(&self, user_id: i64, seen: &Seen) -> Stacks {
        let city = &seen.season.city_code;
        let units = &seen.read.units;
        let schools = self.schools_in_view(user_id, &seen.bound, city, units);
        let by_code: HashMap<&str, &Unit> = units.iter().map(|u| (u.code.as_str(), u)).collect();
        let mut districts: BTreeMap<&str, Vec<Score>> = BTreeMap::new();
        for (school, score) in &seen.read.scores {
            let Some(unit) = by_code
                .get(school.as_str())
                .filter(|_| schools.contains(school))
            else {
                continue;
            };
            let district = super::district_name(unit, &by_code);
            districts.entry(district).or_default().push(*score);
        }
        let mut stacks = Stacks::default();
        for (district, scores) in districts {
            let dist = Distribution::of(&scores, seen.season.full_score);
            if stacks.series.is_empty() {
                stacks.series = dist.bands.iter().map(|b| b.label.clone()).collect();
            }
            let parts = dist.bands.iter().map(|b| b.count).collect();
            stacks.bars.push((district.to_string(), parts));
        }
        stacks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_passes_are_counted_once_each_and_signatures_not_at_all() {
        let route = Route::review_default();
        let first = route.steps[0].name.clone();
        let second = route.steps[1].name.clone();
        let event = |at, step, action: &str| Event {
            at,
            step,
            round: 1,
            action: action.to_string(),
        };
        let events = vec![
            event(1, None, "file"),
            event(2, Some(0), "approve"),
            event(3, Some(1), "approve"),
            event(4, None, "confirm"),
            event(5, None, "confirm"),
            event(6, Some(99), "approve"),
            event(7, None, "complete"),
        ];
        let levels: Vec<String> = done(&route, events)
            .iter()
            .map(|d| d.level.name().to_string())
            .collect();
        assert_eq!(levels, ["提交", &first, &second, "办结"]);
    }
}
