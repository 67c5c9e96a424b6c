//! After the final seal the live database keeps no clear score library of the season (附件4
//! 二.5: the sealed archive is the record): its candidates, roster, agreed entries, requests,
//! their events and score changes leave it, with what the city's chats carried about them.
//! Lifting the seal puts the archived rows back, under their own ids.

use super::seals::Line;
use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::collections::BTreeMap;

/// The tables whose rows the archive holds and the purge removes: what leaves must be what
/// was archived, table by table.
pub const ARCHIVED: [&str; 6] = [
    "candidates",
    "roster",
    "entry_rows",
    "review_requests",
    "review_events",
    "score_history",
];

/// The season's requests, for the tables that hang on them.
const REQUESTS: &str = "SELECT id FROM review_requests WHERE season_id = $1";

/// Removes the season's personal data and scores; how many rows left each table.
pub async fn season(
    conn: &mut AnyConnection,
    season_id: i64,
    city: &str,
) -> sqlx::Result<BTreeMap<&'static str, u64>> {
    let mut removed = BTreeMap::new();
    let city_chats = "SELECT b.chat_id FROM bindings b JOIN units u ON u.code = b.unit_code
                      WHERE u.city_code = $1 OR u.code = $1";
    let steps: [(&'static str, String); 13] = [
        (
            "score_history",
            format!("DELETE FROM score_history WHERE request_id IN ({REQUESTS})"),
        ),
        (
            "review_events",
            format!("DELETE FROM review_events WHERE request_id IN ({REQUESTS})"),
        ),
        (
            "review_cards",
            format!("DELETE FROM review_cards WHERE request_id IN ({REQUESTS})"),
        ),
        (
            "card_pages",
            format!("DELETE FROM card_pages WHERE request_id IN ({REQUESTS})"),
        ),
        (
            "review_requests",
            "DELETE FROM review_requests WHERE season_id = $1".into(),
        ),
        (
            "candidates",
            "DELETE FROM candidates WHERE season_id = $1".into(),
        ),
        ("roster", "DELETE FROM roster WHERE season_id = $1".into()),
        (
            "entry_rows",
            "DELETE FROM entry_rows
             WHERE batch_id IN (SELECT id FROM entry_batches WHERE season_id = $1)"
                .into(),
        ),
        // What the city's chats were sent and sent in: delivered messages keep their ids (for
        // edits) but not their text; files and handled updates go.
        (
            "outbox_documents",
            format!(
                "DELETE FROM outbox_documents WHERE outbox_id IN (
                     SELECT id FROM outbox WHERE status NOT IN ('pending', 'sending')
                       AND chat_id IN ({city_chats}))"
            ),
        ),
        (
            "outbox",
            format!(
                "UPDATE outbox SET body = '' WHERE status NOT IN ('pending', 'sending')
                   AND body <> '' AND chat_id IN ({city_chats})"
            ),
        ),
        (
            "inbox",
            format!(
                "DELETE FROM inbox WHERE status = 'handled' AND chat_id IN ({city_chats})
                  "
            ),
        ),
        (
            "dialogues",
            format!("DELETE FROM dialogues WHERE chat_id IN ({city_chats})"),
        ),
        (
            "takebacks",
            format!("DELETE FROM takebacks WHERE chat_id IN ({city_chats})"),
        ),
    ];
    for (table, sql) in steps {
        // The season's tables are named by its id, the chats' by the city's code.
        let q = sqlx::query(AssertSqlSafe(sql));
        let q = match sql_names_city(table) {
            true => q.bind(city.to_string()),
            false => q.bind(season_id),
        };
        let done = q.execute(&mut *conn).await?;
        removed.insert(table, done.rows_affected());
    }
    Ok(removed)
}

fn sql_names_city(table: &str) -> bool {
    matches!(
        table,
        "outbox_documents" | "outbox" | "inbox" | "dialogues" | "takebacks"
    )
}

/// The season's rows that hold personal data or scores, counted (none once purged).
pub async fn remaining(conn: &mut AnyConnection, season_id: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM candidates WHERE season_id = $1)
              + (SELECT COUNT(*) FROM roster WHERE season_id = $1)
              + (SELECT COUNT(*) FROM review_requests WHERE season_id = $1)
              + (SELECT COUNT(*) FROM entry_rows WHERE batch_id IN
                    (SELECT id FROM entry_batches WHERE season_id = $1))",
    )
    .bind(season_id)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// Puts one archived row back (the header and the audit chain, which never left, are
/// skipped). A row whose id is taken meanwhile fails the whole lift.
pub async fn restore(conn: &mut AnyConnection, season_id: i64, line: &Line) -> anyhow::Result<()> {
    let (table, row, with_season) = match line {
        Line::Header(_) | Line::AuditChain(_) => return Ok(()),
        Line::Candidates(r) => ("candidates", serde_json::to_value(r)?, true),
        Line::Roster(r) => ("roster", serde_json::to_value(r)?, true),
        Line::ScoreHistory(r) => ("score_history", serde_json::to_value(r)?, false),
        Line::ReviewRequests(r) => ("review_requests", serde_json::to_value(r)?, false),
        Line::ReviewEvents(r) => ("review_events", serde_json::to_value(r)?, false),
        Line::EntryRows(r) => ("entry_rows", serde_json::to_value(r)?, false),
    };
    let Value::Object(fields) = row else {
        anyhow::bail!("an archived {table} row is not a row");
    };
    // The columns are the row types' own field names; a null is left to the column's default.
    let mut columns: Vec<&str> = Vec::new();
    let mut values: Vec<&Value> = Vec::new();
    for (k, v) in &fields {
        if !k
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            anyhow::bail!("an archived {table} row has a field {k:?}");
        }
        if !v.is_null() {
            columns.push(k);
            values.push(v);
        }
    }
    if with_season {
        columns.push("season_id");
    }
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for v in values {
        q = match v {
            Value::Number(n) if n.is_i64() => q.bind(n.as_i64()),
            Value::Number(n) => q.bind(n.as_f64()),
            Value::String(s) => q.bind(s.clone()),
            Value::Bool(b) => q.bind(i64::from(*b)),
            other => anyhow::bail!("an archived {table} row holds {other}"),
        };
    }
    if with_season {
        q = q.bind(season_id);
    }
    q.execute(conn).await?;
    Ok(())
}
