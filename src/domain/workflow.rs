//! Workflows are data: a route is a list of steps, each naming who acts (a role in a unit relative
//! to the candidate) and how many of them must agree. Score review and, later, exemption are two
//! routes on the same engine; adding a level is a configuration change.

use crate::domain::Role;
use serde::{Deserialize, Serialize};

/// Which unit a step's people belong to, relative to the candidate's school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The candidate's class in the school (homeroom teachers).
    Class,
    School,
    /// The school's county or district.
    District,
    City,
}

/// How many of the step's people must approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Rule {
    AnyOne,
    All,
    AtLeast(u32),
}

impl TryFrom<String> for Rule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "any" => Ok(Rule::AnyOne),
            "all" => Ok(Rule::All),
            other => other
                .strip_prefix("at-least:")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n > 0)
                .map(Rule::AtLeast)
                .ok_or_else(|| format!("rule must be any, all or at-least:N (got {other:?})")),
        }
    }
}

impl From<Rule> for String {
    fn from(rule: Rule) -> String {
        match rule {
            Rule::AnyOne => "any".into(),
            Rule::All => "all".into(),
            Rule::AtLeast(n) => format!("at-least:{n}"),
        }
    }
}

impl Rule {
    /// Whether `approvals` distinct approvals settle a step that `holders` people can act on.
    pub fn satisfied(self, approvals: usize, holders: usize) -> bool {
        match self {
            Rule::AnyOne => approvals >= 1,
            Rule::All => approvals >= holders.max(1),
            Rule::AtLeast(n) => approvals >= n as usize,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The level's name as the forms write it (班主任, 校长, 城区 …).
    pub name: String,
    #[serde(deserialize_with = "role_from_slug", serialize_with = "role_as_slug")]
    pub role: Role,
    pub unit: Scope,
    pub rule: Rule,
    /// City-direct (市直属) schools skip this step.
    #[serde(default)]
    pub skip_for_city_direct: bool,
    /// Whether this level may end a request with 驳回. 附件4 二 gives no level below the review
    /// group a veto: they sign, check the form and pass it on, or return it to the filer to
    /// amend; only the group ends a request, by its result. A city whose 实施细则 differ sets
    /// this per level.
    #[serde(default)]
    pub may_reject: bool,
}

fn role_as_slug<S: serde::Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.slug())
}

fn role_from_slug<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// A request's route. Each request keeps the route it was filed on (`review_requests.route`,
/// as JSON): a city changing its configuration mid-season does not move requests in flight
/// onto levels they were never meant to climb.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Route {
    pub steps: Vec<Step>,
}

impl Route {
    /// 附件4/附件5: 班主任 → 校长 (school seal) → 城区/县区 (skipped for 市直属). The 市级复核小组
    /// stage that follows is not an approval but the recording of a result (see `review`).
    pub fn review_default() -> Route {
        let step = |name: &str, role, unit, skip| Step {
            name: name.into(),
            role,
            unit,
            rule: Rule::AnyOne,
            skip_for_city_direct: skip,
            may_reject: false,
        };
        Route {
            steps: vec![
                step("班主任", Role::HomeroomTeacher, Scope::Class, false),
                step("校长", Role::Principal, Scope::School, false),
                step("城区", Role::DistrictOfficer, Scope::District, true),
            ],
        }
    }

    /// The first step at or after `from` that applies to this school; None when the approval
    /// steps are done.
    pub fn step_from(&self, from: usize, city_direct: bool) -> Option<usize> {
        (from..self.steps.len()).find(|i| !(city_direct && self.steps[*i].skip_for_city_direct))
    }

    /// The steps a request from this school goes through.
    pub fn applicable(&self, city_direct: bool) -> Vec<usize> {
        (0..self.steps.len())
            .filter(|i| !(city_direct && self.steps[*i].skip_for_city_direct))
            .collect()
    }
}

/// The routes of many requests read at once (a sweep, a board): each stored text is parsed
/// once, and a request filed before routes were kept, or whose route does not read, follows
/// the configured one.
pub struct Routes {
    configured: Route,
    parsed: std::collections::HashMap<String, Route>,
}

impl Routes {
    pub fn new(configured: Route) -> Routes {
        Routes {
            configured,
            parsed: std::collections::HashMap::new(),
        }
    }

    pub fn of(&mut self, stored: Option<&str>) -> &Route {
        let Some(text) = stored else {
            return &self.configured;
        };
        if !self.parsed.contains_key(text) {
            let route = serde_json::from_str(text).unwrap_or_else(|_| self.configured.clone());
            self.parsed.insert(text.to_string(), route);
        }
        &self.parsed[text]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn city_direct_schools_skip_the_district() {
        let r = Route::review_default();
        assert_eq!(r.applicable(false), vec![0, 1, 2]);
        assert_eq!(r.applicable(true), vec![0, 1]);
        assert_eq!(r.step_from(2, true), None);
        assert_eq!(r.step_from(2, false), Some(2));
    }

    #[test]
    fn rules() {
        assert!(Rule::AnyOne.satisfied(1, 5));
        assert!(!Rule::All.satisfied(2, 3));
        assert!(Rule::All.satisfied(3, 3));
        assert!(!Rule::AtLeast(3).satisfied(2, 10));
        assert_eq!(
            Rule::try_from("at-least:3".to_string()),
            Ok(Rule::AtLeast(3))
        );
        assert!(Rule::try_from("most".to_string()).is_err());
    }

    #[test]
    fn a_route_is_kept_as_json_and_reads_back_the_same() {
        let mut r = Route::review_default();
        r.steps[1].rule = Rule::AtLeast(2);
        r.steps[2].may_reject = true;
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains("\"principal\"") && text.contains("at-least:2"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Route>(&text).unwrap(), r);
    }

    #[test]
    fn a_route_reads_from_configuration() {
        let text = r#"
            [[steps]]
            name = "班主任"
            role = "homeroom-teacher"
            unit = "class"
            rule = "any"
            [[steps]]
            name = "县级"
            role = "district-officer"
            unit = "district"
            rule = "at-least:3"
            skip_for_city_direct = true
        "#;
        let r: Route = toml::from_str(text).unwrap();
        assert!(!r.steps[0].may_reject, "no veto unless configured");
        assert_eq!(r.steps[1].rule, Rule::AtLeast(3));
        assert_eq!(r.steps[1].role, Role::DistrictOfficer);
    }
}
