//! Numbers for the people of a messenger whose ids are not numbers (DingTalk's staff ids are
//! text, and an app's own): the bot's rows name every person by an i64, as they name a Telegram
//! user by Telegram's id. The numbers start above every Telegram id (Telegram's have at most 52
//! significant bits), so both kinds can share one database.

use sqlx::AnyConnection;

/// The first number given out.
pub const FIRST: i64 = 1 << 53;

/// The person's number, given now when they have none yet.
pub async fn person(conn: &mut AnyConnection, app: &str, staff_id: &str) -> sqlx::Result<i64> {
    sqlx::query(
        "INSERT INTO messenger_accounts (app, staff_id) VALUES ($1, $2)
         ON CONFLICT (app, staff_id) DO NOTHING",
    )
    .bind(app)
    .bind(staff_id)
    .execute(&mut *conn)
    .await?;
    let (id,): (i64,) =
        sqlx::query_as("SELECT id FROM messenger_accounts WHERE app = $1 AND staff_id = $2")
            .bind(app)
            .bind(staff_id)
            .fetch_one(conn)
            .await?;
    Ok(FIRST + id)
}

/// The staff id behind a person's number, in `app`; None for a number that is not one of its
/// people (a Telegram user's, or another app's).
pub async fn staff_id(
    conn: &mut AnyConnection,
    app: &str,
    person: i64,
) -> sqlx::Result<Option<String>> {
    if person <= FIRST {
        return Ok(None);
    }
    let found: Option<(String,)> =
        sqlx::query_as("SELECT staff_id FROM messenger_accounts WHERE id = $1 AND app = $2")
            .bind(person - FIRST)
            .bind(app)
            .fetch_optional(conn)
            .await?;
    Ok(found.map(|(s,)| s))
}
