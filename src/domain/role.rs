//! The roles a bound person can hold. A person may hold several, each in one unit.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    CityAdmin,
    CityReviewer,
    Inspector,
    DistrictOfficer,
    SchoolContact,
    Principal,
    SchoolReviewLeader,
    HomeroomTeacher,
    EntryClerk,
}

use crate::domain::unit::UnitKind;

impl Role {
    pub const ALL: [Role; 9] = [
        Role::CityAdmin,
        Role::CityReviewer,
        Role::Inspector,
        Role::DistrictOfficer,
        Role::SchoolContact,
        Role::Principal,
        Role::SchoolReviewLeader,
        Role::HomeroomTeacher,
        Role::EntryClerk,
    ];

    /// The stable name used on the command line and in the database.
    pub fn slug(self) -> &'static str {
        match self {
            Role::CityAdmin => "city-admin",
            Role::CityReviewer => "city-reviewer",
            Role::Inspector => "inspector",
            Role::DistrictOfficer => "district-officer",
            Role::SchoolContact => "school-contact",
            Role::Principal => "principal",
            Role::SchoolReviewLeader => "school-review-leader",
            Role::HomeroomTeacher => "homeroom-teacher",
            Role::EntryClerk => "entry-clerk",
        }
    }

    /// The kind of unit a role belongs to: a city admin sits in the city, a principal in a school.
    /// Inspectors and entry clerks work for the city or a county exam area.
    pub fn fits(self, unit: UnitKind) -> bool {
        match self {
            Role::CityAdmin | Role::CityReviewer => unit == UnitKind::City,
            Role::Inspector | Role::EntryClerk => unit != UnitKind::School,
            Role::DistrictOfficer => unit == UnitKind::District,
            Role::SchoolContact
            | Role::Principal
            | Role::SchoolReviewLeader
            | Role::HomeroomTeacher => unit == UnitKind::School,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.slug() == s)
            .ok_or_else(|| {
                let all: Vec<_> = Role::ALL.iter().map(|r| r.slug()).collect();
                format!("unknown role '{s}'; one of: {}", all.join(", "))
            })
    }
}
