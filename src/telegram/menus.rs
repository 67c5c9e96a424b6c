//! Keeps each chat's command menu equal to what its bindings allow (`app::menu`): sets the
//! default (unbound) menu at start, then the due chats' own menus as bindings change.

use crate::app::App;
use crate::store::chat_bots::BotScope;
use crate::store::menus;
use crate::telegram::sender::TgBot;
use std::time::Duration;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, BotCommandScope, MenuButton, Recipient, WebAppInfo};
use tokio::sync::watch;

/// How often due menus are looked for without a wake (a revocation on the command line is
/// another process).
const POLL: Duration = Duration::from_secs(2);
/// A chat whose menu could not be set is tried again this much later.
const RETRY_SECS: i64 = 60;
/// Menus set in one round, and the pause between rounds while more are due: five a second
/// leaves Telegram's 30 requests a second to the messages.
const PER_ROUND: usize = 5;
const PACE: Duration = Duration::from_secs(1);

fn commands(list: Vec<(String, String)>) -> Vec<BotCommand> {
    list.into_iter()
        .map(|(c, d)| BotCommand::new(c, d))
        .collect()
}

/// The default scope's menu: what every chat without a menu of its own shows.
pub async fn set_default(app: &App, bot: &TgBot) -> anyhow::Result<()> {
    let menu = commands(app.menu_of(&[], "")?);
    super::before_start("setMyCommands", || {
        bot.set_my_commands(menu.clone())
            .scope(BotCommandScope::Default)
            .send()
    })
    .await?;
    Ok(())
}

/// Sets the menus of the chats the bot's `scope` takes.
pub async fn run(app: App, bot: TgBot, scope: BotScope, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        let more = match set_due(&app, &bot, scope).await {
            Ok(n) => n == PER_ROUND,
            Err(e) => {
                tracing::warn!("cannot update command menus: {e:#}");
                false
            }
        };
        // A backlog (a city's roster joining at once, or the chats bound before menus followed
        // the roles) is worked off a few a second: menus are not urgent, messages are.
        let wait = if more { PACE } else { POLL };
        tokio::select! {
            _ = app.menus_wake.notified(), if !more => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Sets the menus of up to `PER_ROUND` due chats, from their bindings now; returns how many
/// were due. A chat that fails is tried again later without holding up the others; one
/// Telegram will never take a menu for (the bot blocked, the chat gone) is given up. What
/// happened is written in one transaction, under SQLite's write gate like every writer.
async fn set_due(app: &App, bot: &TgBot, scope: BotScope) -> anyhow::Result<usize> {
    let due = {
        let mut conn = app.db.pool.acquire().await?;
        menus::take(&mut conn, app.clock.now(), PER_ROUND as i64, scope).await?
    };
    let mut outcomes = Vec::new();
    for (chat, version) in &due {
        outcomes.push((*chat, *version, set_one(app, bot, *chat).await));
    }
    if outcomes.is_empty() {
        return Ok(0);
    }
    let mut tx = app.db.begin().await?;
    for (chat, version, outcome) in outcomes {
        match outcome {
            Ok(()) => menus::done(&mut tx, chat, version).await?,
            Err(e) if gone(&e) => {
                tracing::info!(chat, "no command menu for a chat Telegram refuses: {e:#}");
                menus::done(&mut tx, chat, version).await?;
            }
            Err(e) => {
                tracing::warn!(chat, "setting a chat's command menu failed: {e:#}");
                let retry = app.clock.now() + chrono::Duration::seconds(RETRY_SECS);
                menus::retry(&mut tx, chat, version, retry).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(due.len())
}

async fn set_one(app: &App, bot: &TgBot, chat: i64) -> anyhow::Result<()> {
    let scope = BotCommandScope::Chat {
        chat_id: Recipient::Id(ChatId(chat)),
    };
    // Without bindings the chat falls back to the default menu.
    match app.menu_of_chat(chat).await? {
        None => bot.delete_my_commands().scope(scope).await?,
        Some(menu) => bot.set_my_commands(commands(menu)).scope(scope).await?,
    };
    // The season board as the menu button, where the city has one (and back to the commands
    // for someone who no longer holds an office that sees it).
    if app.config.telegram.board_url.is_some() {
        let button = match app.board_menu_of_chat(chat).await? {
            Some((text, url)) => MenuButton::WebApp {
                text,
                web_app: WebAppInfo {
                    url: reqwest::Url::parse(&url)?,
                },
            },
            None => MenuButton::Default,
        };
        bot.set_chat_menu_button()
            .chat_id(ChatId(chat))
            .menu_button(button)
            .await?;
    }
    Ok(())
}

/// Whether Telegram refused for good: the bot was blocked, or the chat is not there.
fn gone(e: &anyhow::Error) -> bool {
    use teloxide::{ApiError, RequestError};
    matches!(
        e.downcast_ref::<RequestError>(),
        Some(RequestError::Api(
            ApiError::BotBlocked | ApiError::ChatNotFound | ApiError::UserDeactivated
        ))
    )
}
