//! The outbox worker: delivers queued messages through a messenger's adapter (`Messenger`) at
//! the messenger's rate limits (Telegram's: the bot's 30 a second shared by the live instances,
//! one a second per chat), waits out a "too many" answer, retries server errors and time-outs
//! with back-off, records the message's id, and marks chats that blocked the bot.
//!
//! Delivery is at least once: a row is leased before sending and marked after. A process killed
//! between Telegram accepting a message and the mark (a window of one HTTP response) sends that
//! one message again after restart. Messages to one chat go out in the order they were queued.
//!
//! Timing here (leases, back-off) is operational and uses the wall clock; the domain clock of
//! the app is only for deadlines.

use crate::app::App;
use crate::domain::Role;
use crate::render::tpl;
use crate::store::chat_bots::BotScope;
use crate::store::instances::Instance;
use crate::store::outbox::{self, Outgoing, Row};
use crate::store::{Backend, instances, people};
use chrono::Utc;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

mod pacer;
pub mod takeback;
pub use pacer::Pacer;

/// What a messenger's adapter does for delivery: send a queued row, or edit the message an
/// earlier row became. Rate limits, retries, leases and alerts are delivery's, the same for
/// every messenger.
pub trait Messenger: Send + Sync + 'static {
    fn send<'a>(&'a self, row: &'a Row) -> BoxFuture<'a, Outcome>;
    /// Replaces the text of message `message_id` and its buttons with the row's (none: the
    /// buttons go).
    fn edit<'a>(&'a self, row: &'a Row, message_id: i64) -> BoxFuture<'a, Outcome>;
    /// The most messages a second the messenger takes from the bot (shared by the instances
    /// delivering).
    fn messages_per_second(&self, config: &crate::config::Config) -> u32 {
        config.telegram.messages_per_second
    }
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How often the worker looks for due rows when nobody woke it.
const POLL: Duration = Duration::from_millis(500);
const ALERTS: &str = "alerts";

pub enum Outcome {
    /// The messenger's id of the message.
    Sent(i64),
    /// The chat blocked the bot, was deleted, or never existed.
    Unreachable(String),
    /// Worth another try (server error, time-out, network).
    Retry(String),
    /// The messenger said too many (Telegram's 429): another try after its wait, which holds
    /// every send of this instance (the pacer waits it out).
    Throttled(String, Duration),
    /// Will never work (for example a malformed message).
    Failed(String),
}

/// Telegram lets a bot send one message a second to one private chat (and DingTalk's robot is
/// paced the same).
const PER_CHAT: Duration = Duration::from_secs(1);

/// The outbox is read for due chats at most this often. Every committed handler wakes the
/// worker; during a burst that is hundreds of times a second, and each read groups every open
/// row by chat (tens of thousands while a fan-out drains). Telegram takes about 30 messages a
/// second; four reads a second, each claiming for every free slot (16 by default:
/// `delivery.concurrency`), lose nothing. Measured on the review burst, reading ten times a
/// second with 8 slots cost the handlers 12% of their rate (283 against 321 updates a second)
/// and delivered less (27.1 against 28.5 a second).
const READ_GAP: Duration = Duration::from_millis(250);

/// How often a delivering instance tells the others it is alive, and takes back what dead
/// instances had claimed.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// An instance not heard from for this long is dead: its claims go back to the queue. Between
/// this and HEARTBEAT lie four missed beats, so a live instance is not taken for dead because
/// one write was slow; one that is (stalled that long) may send a message a second time.
const STALE: Duration = Duration::from_secs(10);

/// Keeps this instance alive in the instances table, takes back dead instances' claims and
/// shares the send rate among the live ones, every HEARTBEAT, until aborted.
async fn beat(app: App, me: std::sync::Arc<Instance>, pacer: std::sync::Arc<Pacer>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if let Err(e) = beat_once(&app, &me, &pacer).await {
            tracing::warn!("instance heartbeat failed: {e:#}");
        }
    }
}

async fn beat_once(app: &App, me: &Instance, pacer: &Pacer) -> anyhow::Result<()> {
    let now = Utc::now();
    let stale_before = now - chrono::Duration::from_std(STALE)?;
    // Through the write gate, as every write: on SQLite a bare write would wait as busy.
    let mut tx = app.db.begin().await?;
    if !instances::heartbeat(&mut tx, me, now).await? {
        tracing::warn!("this instance had been taken for dead; its claims may be sent twice");
    }
    let released = instances::release_orphans(&mut tx, stale_before).await?;
    let live = instances::live(&mut tx, stale_before, me.bot_id).await?;
    tx.commit().await?;
    pacer.share_with(live.len() as u32);
    if released > 0 {
        tracing::warn!(
            count = released,
            "took back what an instance that is gone had claimed"
        );
        app.outbox_wake.notify_one();
    }
    Ok(())
}

/// Runs until `stop` turns true, then lets in-flight sends finish.
///
/// A send slot is held only for one HTTP call: each round claims the oldest due row of chats
/// that have nothing in flight and sent nothing in the last second, so a chat with a backlog
/// (a flood, a reviewer with hundreds of cards) is served once a second while every other chat
/// is served in between, and no slot waits out Telegram's per-chat limit inside Throttle.
///
/// It sends what the bot's `scope` takes (see `store::chat_bots::BotScope`).
pub async fn run(
    app: App,
    messenger: Arc<dyn Messenger>,
    scope: BotScope,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let concurrency = app.config.delivery.concurrency;
    let me = std::sync::Arc::new(app.instance.for_bot(scope.bot_id));
    if app.db.backend == Backend::Sqlite {
        // A SQLite file has one bot process: what it was sending when it died is ours to resend.
        let mut conn = app.db.pool.acquire().await?;
        let n = outbox::release_all_leases(&mut conn, scope).await?;
        if n > 0 {
            tracing::warn!(
                count = n,
                "resending what was in flight when the bot last stopped"
            );
        }
    }
    let pace = app.pace;
    let pacer = Arc::new(Pacer::per_second(
        messenger.messages_per_second(&app.config),
        pace,
    ));
    let (read_gap, poll, per_chat) = (pace.wall(READ_GAP), pace.wall(POLL), pace.wall(PER_CHAT));
    {
        let mut tx = app.db.begin().await?;
        instances::register(&mut tx, &me, Utc::now()).await?;
        tx.commit().await?;
    }
    if app.db.backend == Backend::Postgres {
        // Other instances may deliver too. They learn of this one at their next heartbeat and
        // slow down; sending before then would take the bot above its rate. (Two starting
        // together would each miss the other's uncommitted row; after the wait both see both.)
        tokio::time::sleep(HEARTBEAT + Duration::from_secs(1)).await;
    }
    if let Err(e) = beat_once(&app, &me, &pacer).await {
        tracing::warn!("instance heartbeat failed: {e:#}");
    }
    let heartbeat = tokio::spawn(beat(app.clone(), me.clone(), pacer.clone()));
    let mut inflight: JoinSet<i64> = JoinSet::new();
    let mut busy_chats: HashSet<i64> = HashSet::new();
    // Chats that were sent to within the last second, and when they may be sent to again.
    let mut cooling: HashMap<i64, tokio::time::Instant> = HashMap::new();
    let mut last_read = tokio::time::Instant::now() - read_gap;
    loop {
        if *stop.borrow() {
            break;
        }
        let since_read = last_read.elapsed();
        if since_read < read_gap {
            tokio::time::sleep(read_gap - since_read).await;
        }
        let free = free_slots(
            &mut inflight,
            concurrency,
            &mut busy_chats,
            &mut cooling,
            per_chat,
        );
        let now = tokio::time::Instant::now();
        cooling.retain(|_, until| *until > now);
        let mut started = 0;
        if free > 0 {
            last_read = now;
            let resting: HashSet<i64> = busy_chats.iter().chain(cooling.keys()).copied().collect();
            match claim_heads(&app, &me, scope, &resting, free).await {
                Ok(rows) => {
                    for row in rows {
                        let chat = row.chat_id;
                        busy_chats.insert(chat);
                        started += 1;
                        let (app, messenger, pacer) =
                            (app.clone(), messenger.clone(), pacer.clone());
                        let span = tracing::info_span!(
                            "delivery",
                            outbox = row.id,
                            chat,
                            attempt = row.attempts,
                            merged = row.merged.len(),
                        );
                        inflight.spawn(
                            async move {
                                let delivered =
                                    deliver(&app, &*messenger, scope.bot_id, &pacer, row).await;
                                if let Err(e) = delivered {
                                    tracing::error!(error = %format!("{e:#}"), "delivery bookkeeping failed");
                                }
                                chat
                            }
                            .instrument(span),
                        );
                    }
                }
                Err(e) => tracing::error!("cannot read the outbox: {e:#}"),
            }
        }
        if started > 0 && inflight.len() < concurrency {
            continue;
        }
        // Wake when a chat's second is over, if that comes before the next poll.
        let next_cool = cooling
            .values()
            .min()
            .copied()
            .unwrap_or(now + poll)
            .min(now + poll);
        tokio::select! {
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                rest(done, &mut busy_chats, &mut cooling, per_chat);
            }
            _ = app.outbox_wake.notified() => {}
            _ = tokio::time::sleep_until(next_cool) => {}
            _ = stop.changed() => {}
        }
    }
    while inflight.join_next().await.is_some() {}
    heartbeat.abort();
    let mut tx = app.db.begin().await?;
    instances::retire(&mut tx, &me.id).await?;
    tx.commit().await?;
    Ok(())
}

/// The send slots free for this round. Sends that finished while the loop slept free theirs
/// here: a finished task counts in the JoinSet until it is joined, and counting it held every
/// round to the one slot that woke the loop (ten sends a second, one per read gap).
fn free_slots(
    inflight: &mut JoinSet<i64>,
    concurrency: usize,
    busy_chats: &mut HashSet<i64>,
    cooling: &mut HashMap<i64, tokio::time::Instant>,
    per_chat: Duration,
) -> usize {
    while let Some(done) = inflight.try_join_next() {
        rest(done, busy_chats, cooling, per_chat);
    }
    concurrency.saturating_sub(inflight.len())
}

/// A finished send: its chat leaves the busy set and may be sent to again a second (`per_chat`)
/// from now.
fn rest(
    done: Result<i64, tokio::task::JoinError>,
    busy_chats: &mut HashSet<i64>,
    cooling: &mut HashMap<i64, tokio::time::Instant>,
    per_chat: Duration,
) {
    if let Ok(chat) = done {
        busy_chats.remove(&chat);
        cooling.insert(chat, tokio::time::Instant::now() + per_chat);
    }
}

/// Claims the oldest due row of up to `free` chats, skipping those in `resting` (in flight, or
/// sent to within the last second). The candidates are read outside the write transaction;
/// claiming is a guarded update, so another instance's claim in between is simply skipped.
async fn claim_heads(
    app: &App,
    me: &Instance,
    scope: BotScope,
    resting: &HashSet<i64>,
    free: usize,
) -> anyhow::Result<Vec<Row>> {
    let now = Utc::now();
    let lease_until = now + chrono::Duration::seconds(app.config.delivery.lease_secs as i64);
    let heads = {
        let mut conn = app.db.pool.acquire().await?;
        let limit = (free + resting.len() + 64) as i64;
        outbox::due_heads(&mut conn, now, limit, scope).await?
    };
    let owner = me.id.as_str();
    let wanted: Vec<i64> = heads
        .into_iter()
        .filter(|(chat, _)| !resting.contains(chat))
        .take(free)
        .map(|(_, id)| id)
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = app.db.begin().await?;
    let mut claimed = Vec::new();
    for id in wanted {
        if let Some(mut row) = outbox::claim(&mut tx, id, now, lease_until, owner).await? {
            outbox::claim_followers(&mut tx, &mut row, lease_until, owner).await?;
            claimed.push(row);
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

async fn deliver(
    app: &App,
    messenger: &dyn Messenger,
    bot_id: i64,
    pacer: &Pacer,
    row: Row,
) -> anyhow::Result<()> {
    let mut conn = app.db.pool.acquire().await?;
    if people::is_unreachable(&mut conn, row.chat_id).await? {
        drop(conn);
        let mut tx = app.db.begin().await?;
        for id in std::iter::once(&row.id).chain(&row.merged) {
            outbox::mark_failed(&mut tx, *id, "chat unreachable").await?;
        }
        tx.commit().await?;
        return finish_batch(app, &row).await;
    }
    let outcome = match row.edit_of {
        Some(original) => match outbox::sent_message(&mut conn, original).await? {
            Some((status, Some(message_id))) if status == "sent" => {
                drop(conn);
                pacer.wait().await;
                messenger.edit(&row, message_id).await
            }
            Some((status, _)) if status == "failed" => {
                Outcome::Failed("the message to edit was never delivered".into())
            }
            // The original is still on its way; try again shortly (this does not count as an
            // attempt that failed).
            _ => {
                outbox::mark_retry(
                    &mut conn,
                    row.id,
                    Utc::now() + chrono::Duration::from_std(app.pace.wall(PER_CHAT))?,
                    "waiting for the original",
                )
                .await?;
                return Ok(());
            }
        },
        None => {
            drop(conn);
            pacer.wait().await;
            messenger.send(&row).await
        }
    };
    if let Outcome::Throttled(_, wait) = &outcome {
        // The messenger's wait is the bot's: nothing goes out from this instance until it is over.
        pacer.freeze(*wait).await;
    }
    if !matches!(outcome, Outcome::Sent(_)) && !row.merged.is_empty() {
        // The notices that were to go along go out on their own, later.
        let mut tx = app.db.begin().await?;
        outbox::release(&mut tx, &row.merged).await?;
        tx.commit().await?;
    }
    let counters = &app.counters;
    let counter = match &outcome {
        Outcome::Sent(_) => &counters.sends,
        Outcome::Throttled(..) => &counters.too_many,
        _ => &counters.send_errors,
    };
    crate::metrics::Counters::add(counter, 1);
    let now = Utc::now();
    let mut tx = app.db.begin().await?;
    match &outcome {
        Outcome::Sent(message_id) => {
            outbox::mark_sent(&mut tx, row.id, *message_id, bot_id, now).await?;
            for merged in &row.merged {
                outbox::mark_sent(&mut tx, *merged, *message_id, bot_id, now).await?;
            }
            let until = now + chrono::Duration::from_std(app.pace.wall(PER_CHAT))?;
            outbox::rest_chat(&mut tx, row.chat_id, until).await?;
        }
        Outcome::Retry(error) | Outcome::Throttled(error, _)
            if (row.attempts as u32) < app.config.delivery.max_attempts =>
        {
            let backoff = app.pace.wall(backoff(
                app.config.delivery.retry_base_ms,
                row.attempts as u32,
            ));
            tracing::warn!(?backoff, error, "send failed, retrying");
            outbox::mark_retry(
                &mut tx,
                row.id,
                now + chrono::Duration::from_std(backoff)?,
                error,
            )
            .await?;
        }
        Outcome::Retry(error) | Outcome::Throttled(error, _) | Outcome::Failed(error) => {
            tracing::error!(error, "giving up on a message");
            outbox::mark_failed(&mut tx, row.id, error).await?;
            if row.batch.as_deref() != Some(ALERTS) {
                let who = describe_chat(&mut tx, row.chat_id).await?;
                let body = app
                    .render
                    .render(tpl::DELIVERY_FAILED, &json!({"who": who, "reason": error}))?;
                let city = city_of_chat(&mut tx, row.chat_id).await?;
                alert_city_admins(&mut tx, &city, body, format!("failed:{}", row.id)).await?;
            }
        }
        Outcome::Unreachable(reason) => {
            tracing::warn!(reason, "chat unreachable");
            outbox::mark_failed(&mut tx, row.id, reason).await?;
            if people::mark_unreachable(&mut tx, row.chat_id, reason, now).await? {
                let who = describe_chat(&mut tx, row.chat_id).await?;
                let body = app.render.render(
                    tpl::DELIVERY_UNREACHABLE,
                    &json!({"who": who, "reason": reason}),
                )?;
                // At most one alert a day about one chat, however often it blocks and returns.
                let city = city_of_chat(&mut tx, row.chat_id).await?;
                alert_city_admins(
                    &mut tx,
                    &city,
                    body,
                    format!("unreachable:{}:{}", row.chat_id, now.date_naive()),
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    if !matches!(outcome, Outcome::Retry(_) | Outcome::Throttled(..))
        || row.attempts as u32 >= app.config.delivery.max_attempts
    {
        finish_batch(app, &row).await?;
    }
    app.outbox_wake.notify_one();
    Ok(())
}

/// 1×, 2×, 4× … the base, capped at five minutes.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let factor = 1u64 << attempt.saturating_sub(1).min(16);
    Duration::from_millis(base_ms.saturating_mul(factor).min(300_000))
}

/// Names the people behind a chat for an alert ("王老师（school-contact, 3001）").
async fn describe_chat(conn: &mut sqlx::AnyConnection, chat_id: i64) -> anyhow::Result<String> {
    let people = people::of_chat(conn, chat_id).await?;
    if people.is_empty() {
        return Ok(format!("chat {chat_id}"));
    }
    Ok(people
        .iter()
        .map(|(name, unit)| format!("{name}（{unit}）"))
        .collect::<Vec<_>>()
        .join("、"))
}

/// The city whose admins hear about a chat: that of the people bound in it, or the
/// deployment's one city. With several cities and nobody bound there (revoked since), nobody:
/// no city's admins hear of another's chats, and the log keeps the alert.
async fn city_of_chat(conn: &mut sqlx::AnyConnection, chat_id: i64) -> anyhow::Result<String> {
    Ok(match people::in_chat(conn, chat_id).await?.first() {
        Some(b) => crate::store::units::city_of(conn, &b.unit_code).await?,
        None => crate::store::units::only_city(conn)
            .await?
            .unwrap_or_default(),
    })
}

/// Alerts the city's admins.
async fn alert_city_admins(
    conn: &mut sqlx::AnyConnection,
    city: &str,
    body: String,
    key: String,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let admins = people::all_holders(conn, Role::CityAdmin, city).await?;
    if admins.is_empty() {
        tracing::warn!(city, "no city admin to alert: {body}");
    }
    for admin in admins {
        let msg = Outgoing {
            chat_id: admin.chat_id,
            body: body.clone(),
            dedupe_key: Some(format!("{key}:{}", admin.chat_id)),
            batch: Some(ALERTS.into()),
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, now).await?;
    }
    Ok(())
}

/// When the last message of a publication fan-out is finished, the city admins hear the tally.
async fn finish_batch(app: &App, row: &Row) -> anyhow::Result<()> {
    let Some(batch) = row.batch.as_deref().filter(|b| b.starts_with("publish:")) else {
        return Ok(());
    };
    let mut tx = app.db.begin().await?;
    if outbox::open_in_batch(&mut tx, batch).await? == 0 {
        let (sent, failed) = outbox::batch_outcome(&mut tx, batch).await?;
        let body = app.render.render(
            tpl::PUBLISH_DELIVERED,
            &json!({"sent": sent, "failed": failed}),
        )?;
        // The tally in the key: a later fan-out of the same season reports again.
        // The publication's own season says whose it was.
        let season = match batch.strip_prefix("publish:").map(str::parse::<i64>) {
            Some(Ok(id)) => crate::store::seasons::by_id(&mut tx, id).await?,
            _ => None,
        };
        let city = match season {
            Some(s) => s.city_code,
            None => city_of_chat(&mut tx, row.chat_id).await?,
        };
        alert_city_admins(
            &mut tx,
            &city,
            body,
            format!("{batch}:done:{}", sent + failed),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sends_that_finished_while_the_loop_slept_free_their_slots() {
        let mut inflight = JoinSet::new();
        let mut busy = HashSet::new();
        let mut cooling = HashMap::new();
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for chat in 1..=8 {
            busy.insert(chat);
            let finished = finished.clone();
            inflight.spawn(async move {
                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                chat
            });
        }
        // Let every send finish without the loop joining any of them.
        while finished.load(std::sync::atomic::Ordering::SeqCst) < 8 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let second = Duration::from_secs(1);
        assert_eq!(
            free_slots(&mut inflight, 8, &mut busy, &mut cooling, second),
            8
        );
        assert!(busy.is_empty());
        assert_eq!(cooling.len(), 8, "each chat rests a second after its send");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1000, 1), Duration::from_secs(1));
        assert_eq!(backoff(1000, 2), Duration::from_secs(2));
        assert_eq!(backoff(1000, 4), Duration::from_secs(8));
        assert_eq!(backoff(1000, 30), Duration::from_secs(300));
    }
}
