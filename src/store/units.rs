//! The unit tree: city → county/district → school.

use crate::domain::UnitKind;
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Debug, Clone, sqlx::FromRow)]
struct UnitRow {
    code: String,
    name: String,
    kind: String,
    parent_code: Option<String>,
    city_direct: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub kind: UnitKind,
    pub parent_code: Option<String>,
    pub city_direct: bool,
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
        })
    }
}

const COLUMNS: &str = "code, name, kind, parent_code, city_direct";

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
        "INSERT INTO units (code, name, kind, parent_code, city_direct) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind,
             parent_code = excluded.parent_code, city_direct = excluded.city_direct",
    )
    .bind(&u.code)
    .bind(&u.name)
    .bind(u.kind.slug())
    .bind(u.parent_code.as_deref())
    .bind(i64::from(u.city_direct))
    .execute(conn)
    .await?;
    Ok(())
}

/// The city at the root of the tree ("" before units are imported).
pub async fn city_code(conn: &mut AnyConnection) -> sqlx::Result<String> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT code FROM units WHERE kind = 'city' ORDER BY code LIMIT 1")
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(c,)| c).unwrap_or_default())
}
