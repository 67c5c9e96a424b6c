//! The unit tree: (province →) city → county/district → school. Each unit carries its city's
//! code, so what belongs to one city is found without walking the tree.

use crate::domain::UnitKind;
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Debug, Clone, sqlx::FromRow)]
struct UnitRow {
    code: String,
    name: String,
    kind: String,
    parent_code: Option<String>,
    city_direct: i64,
    city_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub kind: UnitKind,
    pub parent_code: Option<String>,
    pub city_direct: bool,
    /// The city the unit belongs to (a city: itself; a province: "").
    pub city_code: String,
}

impl Unit {
    pub fn is_school(&self) -> bool {
        self.kind == UnitKind::School
    }
}

impl TryFrom<UnitRow> for Unit {
    type Error = anyhow::Error;
    fn try_from(r: UnitRow) -> anyhow::Result<Self> {
        Ok(Unit {
            kind: r.kind.parse().map_err(anyhow::Error::msg)?,
            code: r.code,
            name: r.name,
            parent_code: r.parent_code,
            city_direct: r.city_direct != 0,
            city_code: r.city_code,
        })
    }
}

const COLUMNS: &str = "code, name, kind, parent_code, city_direct, city_code";

pub async fn all(conn: &mut AnyConnection) -> anyhow::Result<Vec<Unit>> {
    let rows: Vec<UnitRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM units ORDER BY code"
    )))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Unit::try_from).collect()
}

pub async fn get(conn: &mut AnyConnection, code: &str) -> anyhow::Result<Option<Unit>> {
    let row: Option<UnitRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM units WHERE code = $1"
    )))
    .bind(code)
    .fetch_optional(conn)
    .await?;
    row.map(Unit::try_from).transpose()
}

pub async fn upsert(conn: &mut AnyConnection, u: &Unit) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO units (code, name, kind, parent_code, city_direct, city_code)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind,
             parent_code = excluded.parent_code, city_direct = excluded.city_direct,
             city_code = excluded.city_code",
    )
    .bind(&u.code)
    .bind(&u.name)
    .bind(u.kind.slug())
    .bind(u.parent_code.as_deref())
    .bind(i64::from(u.city_direct))
    .bind(&u.city_code)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives every unit the city it now belongs to, from the whole tree: an import that moves a
/// district takes its schools along.
pub async fn recompute_cities(conn: &mut AnyConnection) -> sqlx::Result<()> {
    sqlx::query("UPDATE units SET city_code = CASE WHEN kind = 'city' THEN code ELSE '' END")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE units SET city_code = parent_code
         WHERE kind <> 'city' AND parent_code IN (SELECT code FROM units WHERE kind = 'city')",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE units SET city_code = COALESCE((SELECT p.city_code FROM units p
             WHERE p.code = units.parent_code AND p.kind = 'district'), '')
         WHERE kind = 'school' AND city_code = ''",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The codes of the deployment's cities, in order.
pub async fn cities(conn: &mut AnyConnection) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT code FROM units WHERE kind = 'city' ORDER BY code")
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

/// The deployment's city when it has exactly one ("" before the tree is imported): what a
/// command that names no city means. None when there are several.
pub async fn only_city(conn: &mut AnyConnection) -> sqlx::Result<Option<String>> {
    let mut cities = cities(conn).await?;
    Ok(match cities.len() {
        0 => Some(String::new()),
        1 => cities.pop(),
        _ => None,
    })
}

/// The city a unit belongs to ("" for an unknown unit or a province).
pub async fn city_of(conn: &mut AnyConnection, code: &str) -> sqlx::Result<String> {
    let row: Option<(String,)> = sqlx::query_as("SELECT city_code FROM units WHERE code = $1")
        .bind(code)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(c,)| c).unwrap_or_default())
}

/// The units of one city, in code order.
pub async fn of_city(conn: &mut AnyConnection, city: &str) -> anyhow::Result<Vec<Unit>> {
    let rows: Vec<UnitRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM units WHERE city_code = $1 ORDER BY code"
    )))
    .bind(city)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Unit::try_from).collect()
}
