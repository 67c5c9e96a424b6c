//! The roles a bound person can hold. A person may hold several, each in one unit.

use std::fmt;
use std::str::FromStr;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub enum Role {
    CityAdmin,
    /// 市级复审: re-examines a review group's signed result.
    CityReviewer,
    /// 纪检监督人员: signs every review result of their group and seals the score library.
    Inspector,
    DistrictOfficer,
    SchoolContact,
    Principal,
    SchoolReviewLeader,
    HomeroomTeacher,
    EntryClerk,
    /// 主监考代表 in a review group (附件4 二.4).
    ChiefProctorRep,
    /// 装备管理人员 in a review group.
    EquipmentOfficer,
    /// 市直学校负责人, in the city-direct schools' review group.
    DirectSchoolHead,
    /// 省级查看: a province office that sees every city's season board, read-only, and acts
    /// on nothing.
    ProvinceViewer,
}

use crate::domain::unit::UnitKind;

impl Role {
    pub const ALL: [Role; 13] = [
        Role::CityAdmin,
        Role::CityReviewer,
        Role::Inspector,
        Role::DistrictOfficer,
        Role::SchoolContact,
        Role::Principal,
        Role::SchoolReviewLeader,
        Role::HomeroomTeacher,
        Role::EntryClerk,
        Role::ChiefProctorRep,
        Role::EquipmentOfficer,
        Role::DirectSchoolHead,
        Role::ProvinceViewer,
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
            Role::ChiefProctorRep => "chief-proctor-rep",
            Role::EquipmentOfficer => "equipment-officer",
            Role::DirectSchoolHead => "direct-school-head",
            Role::ProvinceViewer => "province-viewer",
        }
    }

    /// The role as offices write it (the 角色 column of a people roster, the buttons of
    /// /invite). `messages/role_label.hbs` says the same in messages.
    pub fn label(self) -> &'static str {
        match self {
            Role::CityAdmin => "市级管理员",
            Role::CityReviewer => "市级复审",
            Role::Inspector => "纪检监督",
            Role::DistrictOfficer => "县区装备管理",
            Role::SchoolContact => "学校联系人",
            Role::Principal => "校长",
            Role::SchoolReviewLeader => "学校审核小组组长",
            Role::HomeroomTeacher => "班主任",
            Role::EntryClerk => "登分员",
            Role::ChiefProctorRep => "主监考代表",
            Role::EquipmentOfficer => "装备管理人员",
            Role::DirectSchoolHead => "市直学校负责人",
            Role::ProvinceViewer => "省级查看",
        }
    }

    /// A role written by its command-line name or its Chinese label.
    pub fn from_name_or_label(s: &str) -> Option<Role> {
        let s = s.trim();
        Role::ALL
            .into_iter()
            .find(|r| r.slug().eq_ignore_ascii_case(s) || r.label() == s)
    }

    /// The kind of unit a role belongs to: a city admin sits in the city, a principal in a school.
    /// Inspectors, entry clerks and the review groups' members work for the city or a county.
    pub fn fits(self, unit: UnitKind) -> bool {
        match self {
            Role::CityAdmin | Role::CityReviewer => unit == UnitKind::City,
            Role::Inspector
            | Role::EntryClerk
            | Role::ChiefProctorRep
            | Role::EquipmentOfficer
            | Role::DirectSchoolHead => matches!(unit, UnitKind::City | UnitKind::District),
            Role::DistrictOfficer => unit == UnitKind::District,
            Role::SchoolContact
            | Role::Principal
            | Role::SchoolReviewLeader
            | Role::HomeroomTeacher => unit == UnitKind::School,
            Role::ProvinceViewer => unit == UnitKind::Province,
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

impl From<Role> for String {
    fn from(r: Role) -> String {
        r.slug().to_string()
    }
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(slug: String) -> Result<Role, String> {
        slug.parse()
    }
}
