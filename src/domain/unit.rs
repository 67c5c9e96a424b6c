//! Units form a tree: city → county/district → school. A city-direct (市直属) school hangs
//! directly under the city and its requests skip the district level. A province deployment puts
//! a 省 unit above its cities: it holds no data of its own, only people who see every city.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    Province,
    City,
    District,
    School,
}

impl UnitKind {
    pub fn slug(self) -> &'static str {
        match self {
            UnitKind::Province => "province",
            UnitKind::City => "city",
            UnitKind::District => "district",
            UnitKind::School => "school",
        }
    }

    /// The label offices write in the 类型 column.
    pub fn label(self) -> &'static str {
        match self {
            UnitKind::Province => "省",
            UnitKind::City => "市",
            UnitKind::District => "县区",
            UnitKind::School => "学校",
        }
    }

    /// The 类型 column accepts the official labels and a few spellings offices use.
    pub fn from_label(s: &str) -> Option<Self> {
        match s.trim() {
            "省" | "省级" | "province" => Some(UnitKind::Province),
            "市" | "市级" | "city" => Some(UnitKind::City),
            "县区" | "县" | "区" | "县市区" | "城区" | "district" => {
                Some(UnitKind::District)
            }
            "学校" | "school" => Some(UnitKind::School),
            _ => None,
        }
    }

    /// Which kinds may stand above this one.
    pub fn allowed_parent(self, parent: UnitKind, city_direct: bool) -> bool {
        match (self, parent) {
            (UnitKind::Province, _) => false,
            (UnitKind::City, UnitKind::Province) => true,
            (UnitKind::City, _) => false,
            (UnitKind::District, UnitKind::City) => true,
            (UnitKind::School, UnitKind::City) => city_direct,
            (UnitKind::School, UnitKind::District) => !city_direct,
            _ => false,
        }
    }
}

impl FromStr for UnitKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "province" => Ok(UnitKind::Province),
            "city" => Ok(UnitKind::City),
            "district" => Ok(UnitKind::District),
            "school" => Ok(UnitKind::School),
            other => Err(format!("unknown unit kind '{other}'")),
        }
    }
}
