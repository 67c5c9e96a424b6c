//! Invites and the role bindings they turn into. Nobody acts in the bot without a binding.

use super::{from_ms, to_ms};
use crate::domain::Role;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Debug, Clone, sqlx::FromRow)]
struct BindingRow {
    id: i64,
    telegram_user_id: i64,
    chat_id: i64,
    name: String,
    role: String,
    unit_code: String,
    class_name: Option<String>,
}

/// One role a Telegram account holds in one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub id: i64,
    pub telegram_user_id: i64,
    pub chat_id: i64,
    pub name: String,
    pub role: Role,
    pub unit_code: String,
    pub class_name: Option<String>,
}

impl TryFrom<BindingRow> for Binding {
    type Error = anyhow::Error;
    fn try_from(r: BindingRow) -> anyhow::Result<Self> {
        Ok(Binding {
            id: r.id,
            telegram_user_id: r.telegram_user_id,
            chat_id: r.chat_id,
            name: r.name,
            role: r.role.parse().map_err(anyhow::Error::msg)?,
            unit_code: r.unit_code,
            class_name: r.class_name,
        })
    }
}

const BINDING_COLUMNS: &str = "id, telegram_user_id, chat_id, name, role, unit_code, class_name";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invite {
    pub code: String,
    pub role: String,
    pub unit_code: String,
    pub name: String,
    pub class_name: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// Who made it (None: the command line).
    pub issued_by: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What the database keeps of an invite code: its SHA-256, so that a copy of the database
/// cannot be turned into working links.
pub fn hash_code(code: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(code.trim().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{HASHED}{hex}")
}

const HASHED: &str = "sha256:";

/// Rewrites invite codes stored in clear by earlier versions as their hashes (once, at open).
pub async fn hash_stored_codes(conn: &mut AnyConnection) -> sqlx::Result<u64> {
    let clear: Vec<(String,)> =
        sqlx::query_as("SELECT code FROM invites WHERE code NOT LIKE 'sha256:%'")
            .fetch_all(&mut *conn)
            .await?;
    for (code,) in &clear {
        let hashed = hash_code(code);
        for sql in [
            "UPDATE bindings SET invite_code = $2 WHERE invite_code = $1",
            "UPDATE invites SET code = $2 WHERE code = $1",
        ] {
            sqlx::query(sql)
                .bind(code)
                .bind(&hashed)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(clear.len() as u64)
}

/// An invite about to be written.
pub struct NewInvite<'a> {
    pub code: &'a str,
    pub role: Role,
    pub unit_code: &'a str,
    pub name: &'a str,
    pub class_name: Option<&'a str>,
    pub expires: DateTime<Utc>,
    pub issued_by: Option<i64>,
    /// 附件1's title (组长, 办公室主任, …) and a phone number, for /contacts.
    pub title: Option<&'a str>,
    pub phone: Option<&'a str>,
}

pub async fn create_invite(
    conn: &mut AnyConnection,
    invite: &NewInvite<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO invites (code, role, unit_code, name, class_name, created_at, expires_at,
                              issued_by, title, phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(hash_code(invite.code))
    .bind(invite.role.slug())
    .bind(invite.unit_code)
    .bind(invite.name)
    .bind(invite.class_name)
    .bind(to_ms(now))
    .bind(to_ms(invite.expires))
    .bind(invite.issued_by)
    .bind(invite.title)
    .bind(invite.phone)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn invite(conn: &mut AnyConnection, code: &str) -> sqlx::Result<Option<Invite>> {
    sqlx::query_as(
        "SELECT code, role, unit_code, name, class_name, expires_at, used_at, issued_by,
                revoked_at
         FROM invites WHERE code = $1",
    )
    .bind(hash_code(code))
    .fetch_optional(conn)
    .await
}

/// Marks an invite used; false when another /start got there first.
pub async fn use_invite(
    conn: &mut AnyConnection,
    code: &str,
    user_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE invites SET used_at = $2, used_by = $3
         WHERE code = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(hash_code(code))
    .bind(to_ms(now))
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_binding(
    conn: &mut AnyConnection,
    user_id: i64,
    chat_id: i64,
    invite: &Invite,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO bindings (telegram_user_id, chat_id, name, role, unit_code, class_name,
                               invite_code, bound_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(user_id)
    .bind(chat_id)
    .bind(&invite.name)
    .bind(&invite.role)
    .bind(&invite.unit_code)
    .bind(invite.class_name.as_deref())
    .bind(&invite.code)
    .bind(to_ms(now))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The active bindings of one Telegram account.
pub async fn of_user(conn: &mut AnyConnection, user_id: i64) -> anyhow::Result<Vec<Binding>> {
    let rows: Vec<BindingRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {BINDING_COLUMNS} FROM bindings
         WHERE telegram_user_id = $1 AND revoked_at IS NULL ORDER BY id"
    )))
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Binding::try_from).collect()
}

/// The active bindings made in one chat (what its command menu follows).
pub async fn in_chat(conn: &mut AnyConnection, chat_id: i64) -> anyhow::Result<Vec<Binding>> {
    let rows: Vec<BindingRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {BINDING_COLUMNS} FROM bindings
         WHERE chat_id = $1 AND revoked_at IS NULL ORDER BY id"
    )))
    .bind(chat_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Binding::try_from).collect()
}

/// The active bindings of a role in a unit (for example the contacts of one school).
pub async fn holders(
    conn: &mut AnyConnection,
    role: Role,
    unit_code: &str,
) -> anyhow::Result<Vec<Binding>> {
    let rows: Vec<BindingRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {BINDING_COLUMNS} FROM bindings
         WHERE role = $1 AND unit_code = $2 AND revoked_at IS NULL ORDER BY id"
    )))
    .bind(role.slug())
    .bind(unit_code)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Binding::try_from).collect()
}

/// The city a person works in: the city of their first active binding (None when unbound or
/// bound only to a province).
pub async fn city_of_user(conn: &mut AnyConnection, user_id: i64) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT u.city_code FROM bindings b JOIN units u ON u.code = b.unit_code
         WHERE b.telegram_user_id = $1 AND b.revoked_at IS NULL AND u.city_code <> ''
         ORDER BY b.id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(c,)| c))
}

/// All active bindings of a role in one city's units (the city's own and those below it).
pub async fn all_holders(
    conn: &mut AnyConnection,
    role: Role,
    city: &str,
) -> anyhow::Result<Vec<Binding>> {
    let rows: Vec<BindingRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {BINDING_COLUMNS} FROM bindings
         WHERE role = $1 AND revoked_at IS NULL
           AND unit_code IN (SELECT code FROM units WHERE city_code = $2)
         ORDER BY unit_code, id"
    )))
    .bind(role.slug())
    .bind(city)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Binding::try_from).collect()
}

/// Revokes bindings of an account, optionally only one role or unit; returns how many.
pub async fn revoke(
    conn: &mut AnyConnection,
    user_id: i64,
    role: Option<Role>,
    unit_code: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE bindings SET revoked_at = $2
         WHERE telegram_user_id = $1 AND revoked_at IS NULL
           AND ($3 = '' OR role = $3) AND ($4 = '' OR unit_code = $4)",
    )
    .bind(user_id)
    .bind(to_ms(now))
    .bind(role.map_or("", Role::slug))
    .bind(unit_code.unwrap_or(""))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn mark_unreachable(
    conn: &mut AnyConnection,
    chat_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO unreachable_chats (chat_id, since, reason) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id) DO NOTHING",
    )
    .bind(chat_id)
    .bind(to_ms(now))
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn is_unreachable(conn: &mut AnyConnection, chat_id: i64) -> sqlx::Result<bool> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT since FROM unreachable_chats WHERE chat_id = $1")
            .bind(chat_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// A chat that writes to the bot again is reachable again.
pub async fn clear_unreachable(conn: &mut AnyConnection, chat_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM unreachable_chats WHERE chat_id = $1")
        .bind(chat_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub fn expired(invite: &Invite, now: DateTime<Utc>) -> bool {
    from_ms(invite.expires_at) <= now
}

/// (name, unit name) of everyone bound in a chat, for alerts about it.
pub async fn of_chat(
    conn: &mut AnyConnection,
    chat_id: i64,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT b.name, COALESCE(u.name, b.unit_code) FROM bindings b
         LEFT JOIN units u ON u.code = b.unit_code
         WHERE b.chat_id = $1 AND b.revoked_at IS NULL ORDER BY b.id",
    )
    .bind(chat_id)
    .fetch_all(conn)
    .await
}

/// Homeroom teachers of one class of a school.
pub async fn holders_in_class(
    conn: &mut AnyConnection,
    role: Role,
    unit_code: &str,
    class_name: &str,
) -> anyhow::Result<Vec<Binding>> {
    let rows: Vec<BindingRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {BINDING_COLUMNS} FROM bindings
         WHERE role = $1 AND unit_code = $2 AND class_name = $3 AND revoked_at IS NULL ORDER BY id"
    )))
    .bind(role.slug())
    .bind(unit_code)
    .bind(class_name)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Binding::try_from).collect()
}

/// Revokes an invite nobody has used yet; false when there is no such unused invite.
pub async fn revoke_invite(
    conn: &mut AnyConnection,
    code: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE invites SET revoked_at = $2
         WHERE code = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(hash_code(code))
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes the unused invites of one person in one role (a roster sent again replaces the
/// links it gave before); returns how many.
pub async fn revoke_unused_of(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    unit_code: &str,
    class_name: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE invites SET revoked_at = $5
         WHERE name = $1 AND role = $2 AND unit_code = $3 AND COALESCE(class_name, '') = $4
           AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(name)
    .bind(role.slug())
    .bind(unit_code)
    .bind(class_name.unwrap_or(""))
    .bind(to_ms(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Whether someone of this name already holds this role in this unit (and class).
pub async fn is_bound_as(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    unit_code: &str,
    class_name: Option<&str>,
) -> sqlx::Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM bindings
         WHERE name = $1 AND role = $2 AND unit_code = $3 AND COALESCE(class_name, '') = $4
           AND revoked_at IS NULL LIMIT 1",
    )
    .bind(name)
    .bind(role.slug())
    .bind(unit_code)
    .bind(class_name.unwrap_or(""))
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// A person of 附件1's directory: someone invited with a title, who joined or may still join.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    pub name: String,
    pub role: String,
    pub unit_code: String,
    pub title: String,
    pub phone: Option<String>,
}

/// The titled people of some units: invites not revoked whose person has not left (an unused
/// invite still valid at `now`, or a used one whose binding stands).
pub async fn directory(
    conn: &mut AnyConnection,
    units: &[String],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Listed>> {
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (2..=units.len() + 1).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT i.name, i.role, i.unit_code, i.title, i.phone FROM invites i
         WHERE i.title IS NOT NULL AND i.revoked_at IS NULL AND i.unit_code IN ({})
           AND ((i.used_at IS NULL AND i.expires_at > $1) OR EXISTS (SELECT 1 FROM bindings b
                WHERE b.invite_code = i.code AND b.revoked_at IS NULL))
         ORDER BY i.unit_code, i.name",
        marks.join(", ")
    );
    let mut query = sqlx::query_as(AssertSqlSafe(sql)).bind(to_ms(now));
    for u in units {
        query = query.bind(u);
    }
    query.fetch_all(conn).await
}

/// One binding, active or not.
pub async fn binding(conn: &mut AnyConnection, id: i64) -> anyhow::Result<Option<Binding>> {
    let row: Option<BindingRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {BINDING_COLUMNS} FROM bindings WHERE id = $1 AND revoked_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(Binding::try_from).transpose()
}

/// The active bindings of one unit, by role and name.
pub async fn in_unit(conn: &mut AnyConnection, unit_code: &str) -> anyhow::Result<Vec<Binding>> {
    let rows: Vec<BindingRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {BINDING_COLUMNS} FROM bindings
         WHERE unit_code = $1 AND revoked_at IS NULL ORDER BY role, class_name, name, id"
    )))
    .bind(unit_code)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Binding::try_from).collect()
}

/// Revokes one binding; false when it was no longer active.
pub async fn revoke_binding(
    conn: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE bindings SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(to_ms(now))
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The people bound in a chat the bot cannot reach: (name, unit), by name.
pub async fn unreachable(conn: &mut AnyConnection) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT b.name, b.unit_code FROM unreachable_chats x
         JOIN bindings b ON b.chat_id = x.chat_id AND b.revoked_at IS NULL ORDER BY b.name",
    )
    .fetch_all(conn)
    .await
}
