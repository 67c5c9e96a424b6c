//! The units file: 代码, 名称, 类型 (省 / 市 / 县区 / 学校), 上级代码, 市直属 (是 / 否, blank = 否).
//! A province deployment lists its 省 first and the cities under it.

use super::table::{Columns, Table};
use super::{Problem, Problems};
use crate::domain::UnitKind;
use crate::store::units::Unit;
use std::collections::HashMap;

const COLUMNS: [&str; 4] = ["代码", "名称", "类型", "上级代码"];
const CITY_DIRECT: &str = "市直属";

/// Checks the whole file against itself and the units already known. Returns the units to write
/// or every problem. `only_city`: a city admin's file, which may hold units of their own city
/// only (the command line's terminal is the deployment's, and passes None).
pub fn check(
    mut table: Table,
    known: &[Unit],
    only_city: Option<&str>,
) -> anyhow::Result<Result<Vec<Unit>, Problems>> {
    let cols = Columns::locate(&table.header, &COLUMNS, &[CITY_DIRECT])?;
    let mut problems = Problems::new();
    let mut parsed: Vec<(usize, Unit)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cells = Vec::new();
    while let Some(row) = table.next_row(&mut cells) {
        let n = match row {
            Ok(n) => n,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let code = cols.get(&cells, 0);
        let name = cols.get(&cells, 1);
        let kind_text = cols.get(&cells, 2);
        let parent = cols.get(&cells, 3);
        let direct_text = cols.get(&cells, 4);
        let before = problems.len();
        if code.is_empty() {
            problems.push(Problem::new(n, "代码", code, "不能为空"));
        } else if let Some(first) = seen.insert(code.to_string(), n) {
            problems.push(Problem::new(n, "代码", code, format!("与第{first}行重复")));
        }
        if name.is_empty() {
            problems.push(Problem::new(n, "名称", name, "不能为空"));
        }
        let kind = UnitKind::from_label(kind_text);
        if kind.is_none() {
            problems.push(Problem::new(
                n,
                "类型",
                kind_text,
                "应为 省、市、县区 或 学校",
            ));
        }
        let city_direct = match direct_text {
            "" | "否" => false,
            "是" => true,
            _ => {
                problems.push(Problem::new(
                    n,
                    CITY_DIRECT,
                    direct_text,
                    "应为 是 或 否（空白为否）",
                ));
                false
            }
        };
        if city_direct && kind != Some(UnitKind::School) {
            problems.push(Problem::new(
                n,
                CITY_DIRECT,
                direct_text,
                "只有学校可以是市直属",
            ));
        }
        if kind == Some(UnitKind::Province) && !parent.is_empty() {
            problems.push(Problem::new(n, "上级代码", parent, "省级单位没有上级"));
        }
        if kind.is_some_and(|k| !matches!(k, UnitKind::City | UnitKind::Province))
            && parent.is_empty()
        {
            problems.push(Problem::new(
                n,
                "上级代码",
                parent,
                "县区和学校必须填写上级代码",
            ));
        }
        if problems.len() == before {
            parsed.push((
                n,
                Unit {
                    code: code.to_string(),
                    name: name.to_string(),
                    kind: kind.expect("checked above"),
                    parent_code: (!parent.is_empty()).then(|| parent.to_string()),
                    city_direct,
                    city_code: String::new(),
                },
            ));
        }
    }
    // Parents are checked once every row is read: a file may list a school before its district.
    let mut kinds: HashMap<&str, UnitKind> =
        known.iter().map(|u| (u.code.as_str(), u.kind)).collect();
    for (_, u) in &parsed {
        kinds.insert(&u.code, u.kind);
    }
    for (n, u) in &parsed {
        let Some(parent) = &u.parent_code else {
            continue;
        };
        match kinds.get(parent.as_str()) {
            None => problems.push(Problem::new(*n, "上级代码", parent, "未知的单位代码")),
            Some(pk) if !u.kind.allowed_parent(*pk, u.city_direct) => {
                let reason = match (u.kind, u.city_direct) {
                    (UnitKind::School, true) => "市直属学校的上级应为市级单位",
                    (UnitKind::School, false) => {
                        "学校的上级应为县区（市直属学校请在市直属列填“是”）"
                    }
                    (UnitKind::City, _) => "市级单位的上级只能是省级单位",
                    _ => "县区的上级应为市级单位",
                };
                problems.push(Problem::new(*n, "上级代码", parent, reason));
            }
            Some(_) => {}
        }
    }
    problems.sort_by_row();
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    // Each unit learns its city: itself, its parent, or its district's parent.
    let mut tree: HashMap<String, (UnitKind, Option<String>)> = known
        .iter()
        .map(|u| (u.code.clone(), (u.kind, u.parent_code.clone())))
        .collect();
    for (_, u) in &parsed {
        tree.insert(u.code.clone(), (u.kind, u.parent_code.clone()));
    }
    let city_of = |code: &str| {
        let mut at = code.to_string();
        for _ in 0..3 {
            match tree.get(&at) {
                Some((UnitKind::City, _)) => return at,
                Some((_, Some(parent))) => at = parent.clone(),
                _ => break,
            }
        }
        String::new()
    };
    let before: HashMap<&str, &Unit> = known.iter().map(|u| (u.code.as_str(), u)).collect();
    for (n, u) in &mut parsed {
        u.city_code = city_of(&u.code);
        let Some(city) = only_city else {
            continue;
        };
        // A city admin's file stays inside their city: no unit of another city, none moved
        // in from one, and their city itself keeps its place under the province.
        let was = before.get(u.code.as_str());
        let foreign = u.city_code != city
            || u.kind == UnitKind::Province
            || was.is_some_and(|w| w.city_code != city);
        let city_moved = u.code == city
            && was.is_some_and(|w| w.kind != u.kind || w.parent_code != u.parent_code);
        if foreign {
            problems.push(Problem::new(
                *n,
                "代码",
                &u.code,
                "不属于您所在的市，只能导入本市的单位",
            ));
        } else if city_moved {
            problems.push(Problem::new(
                *n,
                "上级代码",
                u.parent_code.as_deref().unwrap_or_default(),
                "本市的类型和上级单位只能由省级在服务器上更改",
            ));
        }
    }
    Ok(if problems.is_empty() {
        Ok(parsed.into_iter().map(|(_, u)| u).collect())
    } else {
        Err(problems)
    })
}
