//! Update handlers. They only translate: who is asking, which use case, which reply. Rights and
//! state are checked in `app`, inside the use case's transaction.

use super::intake::Intake;
use crate::app::App;
use crate::app::entry::Sheet;
use crate::app::inbound::{Incoming, Pressed};
use crate::domain::attachment::Attachment;
use crate::render::tpl;
use crate::telegram::sender::TgBot;
use std::sync::Arc;
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{MaybeInaccessibleMessage, ParseMode};
use tracing::Instrument;

type HandlerResult = anyhow::Result<()>;

pub fn tree() -> UpdateHandler<anyhow::Error> {
    dptree::entry()
        .branch(Update::filter_message().endpoint(on_message))
        .branch(Update::filter_callback_query().endpoint(on_callback))
}

async fn on_message(
    bot: TgBot,
    msg: Message,
    update: Update,
    app: App,
    intake: Arc<Intake>,
) -> HandlerResult {
    handled(&update, &app, &intake, message(bot, msg, &app)).await
}

async fn on_callback(
    bot: TgBot,
    q: CallbackQuery,
    update: Update,
    app: App,
    intake: Arc<Intake>,
) -> HandlerResult {
    handled(&update, &app, &intake, callback(bot, q, &app)).await
}

/// Runs a handler holding the update's intake slot (freed when `taken` drops at the end) and
/// records the time from the update's arrival from Telegram (or, failing that, the handler's
/// start) to its reply being committed.
async fn handled(
    update: &Update,
    app: &App,
    intake: &Intake,
    work: impl Future<Output = HandlerResult>,
) -> HandlerResult {
    let span = tracing::info_span!(
        "update",
        id = update.id.0,
        chat = update.chat().map(|c| c.id.0),
        person = update.from().map(|u| u.id.0),
        request = tracing::field::Empty,
    );
    handled_in(update, app, intake, work).instrument(span).await
}

async fn handled_in(
    update: &Update,
    app: &App,
    intake: &Intake,
    work: impl Future<Output = HandlerResult>,
) -> HandlerResult {
    let taken = intake.claim(update.id.0);
    let started = std::time::Instant::now();
    // Before the work, so that its replies already go out through this bot. Failing that, the
    // chat keeps the bot it had, and the update is still handled.
    if let Some(chat) = update.chat()
        && let Err(e) = app.talks_through(chat.id.0, intake.bot_id).await
    {
        tracing::warn!(chat = chat.id.0, "cannot record the chat's bot: {e:#}");
    }
    let result = work.await;
    let since = taken.map_or(started, |t| t.received_at);
    app.update_latency.record(since.elapsed());
    result
}

async fn message(bot: TgBot, msg: Message, app: &App) -> HandlerResult {
    // The bot works in private chats only: group chats would show one person's business to all.
    if !msg.chat.is_private() {
        return Ok(());
    }
    let Some(user) = msg.from.as_ref() else {
        return Ok(());
    };
    let incoming = Incoming {
        person: user.id.0 as i64,
        chat: msg.chat.id.0,
        text: msg.text(),
        caption: msg.caption(),
        file: attachment(&msg),
        sheet: sheet(&msg),
    };
    let person = incoming.person;
    if let Err(e) = app.take_message(incoming).await {
        tracing::error!(person, "handling a message failed: {e:#}");
        // Sent directly: the outbox may be what failed.
        bot.send_message(msg.chat.id, app.render.text(tpl::INTERNAL_ERROR)?)
            .parse_mode(ParseMode::Html)
            .await?;
    }
    Ok(())
}

/// A spreadsheet sent as a file (an entry clerk's half-day sheet, a city admin's import), by
/// its name.
fn sheet(msg: &Message) -> Option<Sheet> {
    let d = msg.document()?;
    let name = d.file_name.clone()?;
    Sheet::is_sheet_name(&name).then(|| Sheet {
        file_id: d.file.id.0.clone(),
        name,
        size: Some(u64::from(d.file.size)),
    })
}

/// A photo (its largest size), or a PDF or image sent as a file: what a signed form can be.
fn attachment(msg: &Message) -> Option<Attachment> {
    if let Some(sizes) = msg.photo() {
        return sizes.last().map(|p| Attachment::Photo(p.file.id.0.clone()));
    }
    msg.document()
        .filter(|d| {
            d.mime_type
                .as_ref()
                .is_some_and(|m| Attachment::form_mime(m.essence_str()))
        })
        .map(|d| Attachment::Document(d.file.id.0.clone()))
}

async fn callback(bot: TgBot, q: CallbackQuery, app: &App) -> HandlerResult {
    let user_id = q.from.id.0 as i64;
    let data = q.data.clone().unwrap_or_default();
    // The card must sit in the presser's own private chat: a forwarded card or a group is
    // refused. A card too old for Telegram to show us (inaccessible) still names its chat, and
    // is judged by the presser's rights like any other press.
    let chat = match &q.message {
        Some(MaybeInaccessibleMessage::Regular(m)) => Some(m.chat.id.0),
        Some(MaybeInaccessibleMessage::Inaccessible(m)) => Some(m.chat.id.0),
        None => None,
    }
    .filter(|chat| *chat == user_id);
    let alert = match app.take_press(user_id, chat, &data).await {
        Ok(Pressed::Taken) => None,
        Ok(Pressed::Notice(text)) => Some(text),
        Err(e) => {
            tracing::error!(user_id, "handling a button failed: {e:#}");
            Some(app.render.text(tpl::INTERNAL_ERROR)?)
        }
    };
    match alert {
        None => bot.answer_callback_query(q.id).await?,
        Some(text) => {
            bot.answer_callback_query(q.id)
                .text(text)
                .show_alert(true)
                .await?
        }
    };
    Ok(())
}
