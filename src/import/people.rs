//! The people roster an office hands in to invite a whole city at once: 姓名, 角色, 单位代码,
//! and optionally 班级, 手机, 职务. 角色 is a role's command-line name or its Chinese label;
//! 职务 is the person's title in 附件1's organizing group (组长, 副组长, 成员, 办公室主任,
//! 办公室副主任) or free text. Every row is checked; one bad row refuses the file.

use super::table::{Columns, Table};
use super::{Problem, Problems};
use crate::domain::Role;
use crate::store::units::Unit;
use std::collections::HashMap;

pub const REQUIRED: [&str; 3] = ["姓名", "角色", "单位代码"];
pub const OPTIONAL: [&str; 3] = ["班级", "手机", "职务"];

/// Longest name, class and title a row may hold (they go on buttons and QR cards).
const MAX_NAME: usize = 50;
const MAX_TITLE: usize = 20;

/// One person to invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The row in the file (the header is row 1).
    pub row: usize,
    pub name: String,
    pub role: Role,
    pub unit_code: String,
    pub class_name: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
}

/// Whether a header row is a people roster's.
pub fn is_header(header: &[String]) -> bool {
    REQUIRED.iter().all(|c| header.iter().any(|h| h == c))
}

/// A phone number as offices write it: digits, with + - ( ) and spaces between.
fn phone_ok(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits)
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | ' '))
}

/// Checks the whole roster against the unit tree. Returns the people, or every problem.
pub fn check(mut table: Table, units: &[Unit]) -> anyhow::Result<Result<Vec<Person>, Problems>> {
    let cols = Columns::locate(&table.header, &REQUIRED, &OPTIONAL)?;
    let by_code: HashMap<&str, &Unit> = units.iter().map(|u| (u.code.as_str(), u)).collect();
    let mut problems = Problems::new();
    let mut people = Vec::new();
    let mut seen: HashMap<(String, Role, String, Option<String>), usize> = HashMap::new();
    let mut cells = Vec::new();
    while let Some(row) = table.next_row(&mut cells) {
        let n = match row {
            Ok(n) => n,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let cell = |i: usize| cols.get(&cells, i).trim();
        let (name, role_text, unit_code) = (cell(0), cell(1), cell(2));
        let (class, phone, title) = (cell(3), cell(4), cell(5));
        if [name, role_text, unit_code, class, phone, title]
            .iter()
            .all(|c| c.is_empty())
        {
            continue;
        }
        let before = problems.len();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            problems.push(Problem::new(n, "姓名", name, "应为 1 到 50 个字"));
        }
        let role = Role::from_name_or_label(role_text);
        if role.is_none() {
            let labels: Vec<&str> = Role::ALL.iter().map(|r| r.label()).collect();
            problems.push(Problem::new(
                n,
                "角色",
                role_text,
                format!("未知角色，应为：{}", labels.join("、")),
            ));
        }
        match (by_code.get(unit_code), role) {
            (None, _) => problems.push(Problem::new(n, "单位代码", unit_code, "没有这个单位")),
            (Some(unit), Some(role)) if !role.fits(unit.kind) => problems.push(Problem::new(
                n,
                "单位代码",
                unit_code,
                format!("{}不属于{}单位", role.label(), unit.kind.label()),
            )),
            _ => {}
        }
        if role == Some(Role::HomeroomTeacher) && class.is_empty() {
            problems.push(Problem::new(n, "班级", class, "班主任必须填写班级"));
        } else if class.chars().count() > MAX_NAME {
            problems.push(Problem::new(n, "班级", class, "超过 50 个字"));
        }
        if !phone.is_empty() && !phone_ok(phone) {
            problems.push(Problem::new(n, "手机", phone, "不是电话号码"));
        }
        if title.chars().count() > MAX_TITLE {
            problems.push(Problem::new(n, "职务", title, "超过 20 个字"));
        }
        let Some(role) = role else { continue };
        // Only a homeroom teacher belongs to a class; the column is ignored for the others.
        let class_name = (role == Role::HomeroomTeacher).then(|| class.to_string());
        let key = (
            name.to_string(),
            role,
            unit_code.to_string(),
            class_name.clone(),
        );
        if let Some(first) = seen.insert(key, n) {
            problems.push(Problem::new(
                n,
                "姓名",
                name,
                format!("与第{first}行是同一人、同一角色"),
            ));
        }
        if problems.len() == before {
            let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
            people.push(Person {
                row: n,
                name: name.to_string(),
                role,
                unit_code: unit_code.to_string(),
                class_name,
                phone: some(phone),
                title: some(title),
            });
        }
    }
    if problems.is_empty() && people.is_empty() {
        problems.push(Problem::new(1, "姓名", "", "名单中没有人"));
    }
    Ok(if problems.is_empty() {
        Ok(people)
    } else {
        Err(problems)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UnitKind;

    fn unit(code: &str, kind: UnitKind) -> Unit {
        Unit {
            code: code.into(),
            name: code.into(),
            kind,
            parent_code: None,
            city_direct: false,
            city_code: String::new(),
        }
    }

    fn run(csv: &str) -> Result<Vec<Person>, Problems> {
        let units = [
            unit("C", UnitKind::City),
            unit("D1", UnitKind::District),
            unit("S1", UnitKind::School),
        ];
        check(
            Table::from_csv_bytes(csv.as_bytes().to_vec()).unwrap(),
            &units,
        )
        .unwrap()
    }

    #[test]
    fn roles_by_label_or_name_and_titles_are_read() {
        let people = run("姓名,角色,单位代码,班级,手机,职务\n\
             张三,班主任,S1,九年级3班,13800000000,\n\
             李四,district-officer,D1,,0391-1234567,办公室主任\n")
        .unwrap();
        assert_eq!(people.len(), 2);
        assert_eq!(people[0].role, Role::HomeroomTeacher);
        assert_eq!(people[0].class_name.as_deref(), Some("九年级3班"));
        assert_eq!(people[1].title.as_deref(), Some("办公室主任"));
        assert_eq!(people[1].class_name, None);
    }

    #[test]
    fn every_bad_row_is_named() {
        let problems = run("姓名,角色,单位代码,班级,手机\n\
             张三,班主任,S1,,\n\
             李四,厨师,S1,,\n\
             王五,校长,S9,,\n\
             赵六,校长,D1,,abc\n\
             钱七,校长,S1,,\n\
             钱七,principal,S1,,\n")
        .unwrap_err();
        let said: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.row, p.column.as_str()))
            .collect();
        assert_eq!(
            said,
            [
                (2, "班级"),
                (3, "角色"),
                (4, "单位代码"),
                (5, "单位代码"),
                (5, "手机"),
                (7, "姓名")
            ]
        );
    }
}
