//! Workflows are data: a route is a list of steps, each naming who acts (a role in a unit relative
//! to the candidate) and how many of them must agree. Score review and exemption (免考) are two
//! routes on the same engine (`Route::purpose` says which); adding a level is a configuration
//! change.

use crate::domain::Role;
pub use crate::domain::purpose::Purpose;
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
    /// A city-direct school has no district: at this district level its requests are signed
    /// by the city's holders of this role instead (附件2: a 市直 school's 县级审核意见 still
    /// carries three signatures). None: the level is the district's alone.
    #[serde(
        default,
        deserialize_with = "some_role_from_slug",
        serialize_with = "some_role_as_slug",
        skip_serializing_if = "Option::is_none"
    )]
    pub city_direct_role: Option<Role>,
    /// Whether this level may end a request with 驳回. 附件4 二 gives no level below the review
    /// group a veto: they sign, check the form and pass it on, or return it to the filer to
    /// amend; only the group ends a request, by its result. A city whose 实施细则 differ sets
    /// this per level.
    #[serde(default)]
    pub may_reject: bool,
    /// A filer who holds this level for the candidate gives its opinion by filing (a 班主任
    /// who hands in a class's 免考 application has signed its 班主任意见); the request then
    /// starts at the next level.
    #[serde(default)]
    pub signed_by_filer: bool,
}

impl Step {
    /// A level where any one of its people decides, with no veto.
    fn any(name: &str, role: Role, unit: Scope) -> Step {
        Step {
            name: name.into(),
            role,
            unit,
            rule: Rule::AnyOne,
            skip_for_city_direct: false,
            city_direct_role: None,
            may_reject: false,
            signed_by_filer: false,
        }
    }
}

fn role_as_slug<S: serde::Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.slug())
}

fn role_from_slug<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

fn some_role_as_slug<S: serde::Serializer>(role: &Option<Role>, s: S) -> Result<S::Ok, S::Error> {
    match role {
        Some(r) => s.serialize_str(r.slug()),
        None => s.serialize_none(),
    }
}

fn some_role_from_slug<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Role>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

impl Step {
    /// Who holds this level for a request of a city-direct school (`city_direct`) or not: the
    /// role, and whether it is the city's holders of it rather than the level's own unit's.
    pub fn holder(&self, city_direct: bool) -> (Role, bool) {
        match (self.unit, self.city_direct_role) {
            (Scope::District, Some(role)) if city_direct => (role, true),
            _ => (self.role, false),
        }
    }
}

/// The review group that records and signs a request's result (附件4 二.4, 二.5): the people
/// bound under its roles in one unit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Group {
    /// Whose group reviews a school's requests: `district` (each 县区's 复核小组; the
    /// city-direct schools go to the group formed at the city) or `city` (one group, at the
    /// city, for every school).
    pub unit: Scope,
    /// The member roles; a binding under one of them in the group's unit is a member.
    #[serde(with = "role_slugs")]
    pub roles: Vec<Role>,
    /// Roles that must be among the signers of every result (default: 纪检监督).
    #[serde(with = "role_slugs")]
    pub required: Vec<Role>,
    /// A result needs at least this many signatures (the recorder's included).
    pub min_size: u32,
}

impl Default for Group {
    /// 附件4 二.4: 主监考代表, 纪检监督人员, 装备管理人员 (and, for the city-direct schools,
    /// 市直学校负责人) of the district; at least three, a 纪检监督 among them.
    fn default() -> Group {
        Group {
            unit: Scope::District,
            roles: vec![
                Role::ChiefProctorRep,
                Role::Inspector,
                Role::EquipmentOfficer,
                Role::DirectSchoolHead,
            ],
            required: vec![Role::Inspector],
            min_size: 3,
        }
    }
}

impl Group {
    /// The group before the documents' route: one city-wide group of 复核小组成员 and 纪检监督,
    /// nobody's role required. Requests filed before groups were kept finish before it.
    pub fn city_wide() -> Group {
        Group {
            unit: Scope::City,
            roles: vec![Role::CityReviewer, Role::Inspector],
            required: Vec::new(),
            min_size: 3,
        }
    }

    /// The unit whose group reviews a school: its district's, or the city's for a city-direct
    /// school (`district` is None) and when one city-wide group reviews them all.
    pub fn unit_of<'a>(&self, city: &'a str, district: Option<&'a str>) -> &'a str {
        match (self.unit, district) {
            (Scope::District, Some(d)) => d,
            _ => city,
        }
    }

    /// The group's name as the forms write it: the district's 复核小组, the city-direct
    /// schools' (`district` None), or the city-wide one.
    pub fn title(&self, district: Option<&str>) -> String {
        match (self.unit, district) {
            (Scope::District, Some(d)) => format!("{d}复核小组"),
            (Scope::District, None) => "市直学校复核小组".into(),
            _ => "市级复核小组".into(),
        }
    }

    /// The required roles that no signer holds (`signed` is every role each signer holds in
    /// the group).
    pub fn missing(&self, signed: &[Role]) -> Vec<Role> {
        self.required
            .iter()
            .filter(|r| !signed.contains(r))
            .copied()
            .collect()
    }
}

/// The city's 复审 (附件5 市级复审结果) of a group's signed result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recheck {
    pub enabled: bool,
    /// City signatures the 复审 needs.
    pub signatures: u32,
    /// Who gives it (a binding of this role at the city).
    #[serde(deserialize_with = "role_from_slug", serialize_with = "role_as_slug")]
    pub role: Role,
}

impl Default for Recheck {
    fn default() -> Recheck {
        Recheck {
            enabled: true,
            signatures: 1,
            role: Role::CityReviewer,
        }
    }
}

impl Recheck {
    /// No 复审: the group's signatures end the review (the route before the documents').
    pub fn off() -> Recheck {
        Recheck {
            enabled: false,
            ..Recheck::default()
        }
    }
}

mod role_slugs {
    use super::Role;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(roles: &[Role], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(roles.iter().map(|r| r.slug()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

/// A request's route: its approval steps, the group that reviews it, and the city's 复审. Each
/// request keeps the route it was filed on (`review_requests.route`, as JSON): a city changing
/// its configuration mid-season does not move requests in flight onto levels they were never
/// meant to climb. A route kept before groups and 复审 were part of it reads as it ran then:
/// the city-wide group, no 复审.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Route {
    pub steps: Vec<Step>,
    #[serde(default = "Group::city_wide")]
    pub group: Group,
    #[serde(default = "Recheck::off")]
    pub recheck: Recheck,
    /// Signed results wait for their unit's 上报 (the district's, or a city-direct school's),
    /// which carries them to the city together with their 附件6 (附件6 注2). A route kept
    /// before batches were part of it sends each result on as soon as it is signed.
    #[serde(default)]
    pub report: bool,
    /// A review's route, or an exemption's.
    #[serde(default)]
    pub purpose: Purpose,
}

impl Route {
    /// The level whose holders send a 免考 application up to the city with their 附件3, for a
    /// school that is city-direct or not: the last level below the city's that the school's
    /// applications climb. None where nothing is sent up (a review reports after its group;
    /// a route without `report` sends each application on as it is agreed).
    pub fn sent_up_by(&self, city_direct: bool) -> Option<usize> {
        if !self.report || self.purpose != Purpose::Exemption {
            return None;
        }
        let city = self.steps.iter().position(|s| s.unit == Scope::City)?;
        (0..city)
            .rev()
            .find(|i| !(city_direct && self.steps[*i].skip_for_city_direct))
    }

    /// 附件2: 学生本人 and 家长 sign the application page; then 班主任 → 学校 (审核小组组长 and
    /// 校长, both: two levels, two people) → 县级 (at least three signatures; a city-direct
    /// school has no county) → 市级. Every level may refuse (不同意) or return it.
    pub fn exemption_default() -> Route {
        let mut steps = vec![
            Step::any("班主任", Role::HomeroomTeacher, Scope::Class),
            Step::any("学校审核小组组长", Role::SchoolReviewLeader, Scope::School),
            Step::any("校长", Role::Principal, Scope::School),
            Step::any("县级", Role::DistrictOfficer, Scope::District),
            Step::any("市级", Role::CityAdmin, Scope::City),
        ];
        steps[0].signed_by_filer = true;
        steps[3].rule = Rule::AtLeast(3);
        // A city-direct school has no county: the city's 装备管理 officers give its 县级 opinion,
        // three signatures as for any county.
        steps[3].city_direct_role = Some(Role::EquipmentOfficer);
        for s in &mut steps {
            s.may_reject = true;
        }
        Route {
            steps,
            group: Group::city_wide(),
            recheck: Recheck::off(),
            // 附件3: the county's list goes to the city before the city decides.
            report: true,
            purpose: Purpose::Exemption,
        }
    }

    /// 附件4 二 and 附件5: 班主任 → 学校 (校长, under the school's seal) → the district's 复核小组
    /// (the city-direct schools': the group formed at the city) → 市级复审.
    /// 附件5: 班主任 → 校长 (the school's seal) → the review group. A 班主任 who files for a
    /// pupil of their own class has given the 班主任's opinion by filing, as on 附件2.
    pub fn review_default() -> Route {
        let mut steps = vec![
            Step::any("班主任", Role::HomeroomTeacher, Scope::Class),
            Step::any("校长", Role::Principal, Scope::School),
        ];
        steps[0].signed_by_filer = true;
        Route {
            steps,
            group: Group::default(),
            recheck: Recheck::default(),
            report: true,
            purpose: Purpose::Review,
        }
    }

    /// The route before the documents' one: 班主任 → 校长 → 城区 (skipped for 市直属), each
    /// with a veto, then one city-wide group and no 复审. Migrated requests finish on it; a city
    /// whose 实施细则 read so configures it (see exam-review-bot.example.toml).
    pub fn before_documents() -> Route {
        let mut steps = vec![
            Step::any("班主任", Role::HomeroomTeacher, Scope::Class),
            Step::any("校长", Role::Principal, Scope::School),
            Step::any("城区", Role::DistrictOfficer, Scope::District),
        ];
        steps[2].skip_for_city_direct = true;
        for s in &mut steps {
            s.may_reject = true;
        }
        Route {
            steps,
            group: Group::city_wide(),
            recheck: Recheck::off(),
            report: false,
            purpose: Purpose::Review,
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
    fn city_direct_schools_skip_the_district_level_of_the_old_route() {
        let r = Route::before_documents();
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
        r.steps[1].may_reject = true;
        r.recheck.signatures = 2;
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

    #[test]
    fn a_route_kept_before_groups_reads_as_it_ran_then() {
        let kept = r#"{"steps":[{"name":"班主任","role":"homeroom-teacher","unit":"class",
            "rule":"any","skip_for_city_direct":false,"may_reject":false}]}"#;
        let r: Route = serde_json::from_str(kept).unwrap();
        assert_eq!(r.group, Group::city_wide());
        assert!(!r.recheck.enabled);
        assert!(!r.report, "each signed result went on by itself");
    }

    #[test]
    fn the_district_group_reviews_its_schools_and_the_city_group_the_city_direct_ones() {
        let g = Group::default();
        assert_eq!(g.unit_of("C", Some("D1")), "D1");
        assert_eq!(g.unit_of("C", None), "C");
        assert_eq!(Group::city_wide().unit_of("C", Some("D1")), "C");
    }

    #[test]
    fn a_result_without_a_discipline_inspectors_signature_is_short_of_one() {
        let g = Group::default();
        let signed = [Role::ChiefProctorRep, Role::EquipmentOfficer];
        assert_eq!(g.missing(&signed), vec![Role::Inspector]);
        assert!(g.missing(&[Role::Inspector]).is_empty());
        assert!(Group::city_wide().missing(&[]).is_empty());
    }

    #[test]
    fn a_group_with_an_unknown_role_is_refused() {
        let text = r#"unit = "district"
            roles = ["inspector", "janitor"]"#;
        let e = toml::from_str::<Group>(text).unwrap_err().to_string();
        assert!(e.contains("janitor"), "{e}");
    }

    #[test]
    fn requests_filed_before_routes_were_kept_migrate_onto_the_route_before_the_documents() {
        for sql in [
            include_str!("../../migrations/sqlite/0013_review_groups.sql"),
            include_str!("../../migrations/postgres/0013_review_groups.sql"),
        ] {
            let json = sql.split("SET route = '").nth(1).unwrap();
            let json = &json[..json.find('\'').unwrap()];
            let r: Route = serde_json::from_str(json).unwrap();
            assert_eq!(r, Route::before_documents());
        }
    }
}
