//! Update handlers. They only translate: who is asking, which use case, which reply. Rights and
//! state are checked in `app`, inside the use case's transaction.

use super::intake::Intake;
use crate::app::App;
use crate::app::callback::Press;
use crate::app::callback::{Callback, EntryAction, List};
use crate::app::command::{Command, Typed};
use crate::app::entry::Sheet;
use crate::app::limits::Admit;
use crate::app::review::QuickFrom;
use crate::domain::attachment::Attachment;
use crate::domain::workflow::Purpose;
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

/// Replies go through the outbox like every other message, so that a handler never waits out
/// Telegram's rate limits while holding one of the few update slots (see `intake`).
async fn reply(app: &App, chat: ChatId, text: String) -> HandlerResult {
    app.reply(chat.0, text, None).await
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
    let user_id = user.id.0 as i64;
    let chat = msg.chat.id;
    let start_code = matches!(
        msg.text().and_then(Command::parse),
        Some(Typed::Known(Command::Start, args)) if !args.is_empty()
    );
    match app.admit(user_id, start_code).await? {
        Admit::Yes => {}
        Admit::Notice => return reply(app, chat, app.render.text(tpl::TOO_MANY_UPDATES)?).await,
        Admit::Drop => return Ok(()),
    }
    let result = match sheet(&msg) {
        Some(sheet) if msg.text().is_none() => app.document(user_id, chat.0, sheet).await,
        _ => {
            let file = attachment(&msg);
            handle_message(app, user_id, chat, msg.text(), msg.caption(), file).await
        }
    };
    if let Err(e) = result {
        tracing::error!(user_id, "handling a message failed: {e:#}");
        // Sent directly: the outbox may be what failed.
        bot.send_message(chat, app.render.text(tpl::INTERNAL_ERROR)?)
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

async fn handle_message(
    app: &App,
    user_id: i64,
    chat: ChatId,
    text: Option<&str>,
    caption: Option<&str>,
    file: Option<Attachment>,
) -> HandlerResult {
    // A signed form captioned "准考证号 联系方式 理由" is a whole filing.
    if text.is_none()
        && file.is_some()
        && app
            .quick_filing(
                user_id,
                chat.0,
                caption.unwrap_or_default(),
                file.clone(),
                QuickFrom::Caption,
            )
            .await?
    {
        return Ok(());
    }
    let Some(typed) = text.and_then(Command::parse) else {
        // Plain text or anything else: a dialogue in progress takes it first.
        let taken = match text {
            Some(t) => app.dialogue_text(user_id, chat.0, t).await?,
            None => app.dialogue_non_text(user_id, chat.0, file).await?,
        };
        if taken {
            return Ok(());
        }
        let reply_text = if app.is_bound(user_id).await? {
            app.render.text(if text.is_some() {
                tpl::UNKNOWN_COMMAND
            } else {
                tpl::TEXT_EXPECTED
            })?
        } else {
            app.render.text(tpl::NOT_BOUND)?
        };
        return reply(app, chat, reply_text).await;
    };
    let Typed::Known(command, args) = typed else {
        let text = if app.is_bound(user_id).await? {
            tpl::UNKNOWN_COMMAND
        } else {
            tpl::NOT_BOUND
        };
        return reply(app, chat, app.render.text(text)?).await;
    };
    // A sealed season's library is in its archive: what would read it says so.
    if command.reads_the_season()
        && let Some(text) = app.sealed_season_answer(user_id).await?
    {
        return reply(app, chat, text).await;
    }
    match command {
        Command::Start => {
            let payload = (!args.is_empty()).then_some(args);
            reply(app, chat, app.start(user_id, chat.0, payload).await?).await
        }
        Command::Whoami => reply(app, chat, app.whoami(user_id).await?).await,
        Command::Contacts => app.contacts_command(user_id, chat.0).await,
        Command::Invite => app.invite_command(user_id, chat.0).await,
        Command::People => app.people_command(user_id, chat.0, args).await,
        Command::Help => reply(app, chat, app.help(user_id).await?).await,
        Command::Publish => app.publish_command(user_id, chat.0).await,
        Command::Cancel => app.cancel(user_id, chat.0).await,
        Command::Review => {
            // "/review 准考证号 联系方式 理由" files in one message; a bare /review asks.
            let quick = app.quick_filing(user_id, chat.0, args, None, QuickFrom::Command);
            if !quick.await? {
                app.review_command(user_id, chat.0).await?;
            }
            Ok(())
        }
        Command::Exempt => app.exempt_command(user_id, chat.0).await,
        Command::Pending => app.pending_command(user_id, chat.0, 0).await,
        Command::Status => app.status_command(user_id, chat.0).await,
        Command::MyRequests => app.my_requests_command(user_id, chat.0, 0).await,
        Command::Request => app.request_command(user_id, chat.0, args).await,
        Command::Batch => app.batch_command(user_id, chat.0).await,
        Command::Export => app.export_command(user_id, chat.0).await,
        Command::Close => app.close_command(user_id, chat.0).await,
        Command::Lift => app.lift_command(user_id, chat.0, args).await,
    }
}

async fn callback(bot: TgBot, q: CallbackQuery, app: &App) -> HandlerResult {
    let user_id = q.from.id.0 as i64;
    if app.admit(user_id, false).await? != Admit::Yes {
        bot.answer_callback_query(q.id).await?;
        return Ok(());
    }
    let data = q.data.clone().unwrap_or_default();
    // The card must sit in the presser's own private chat: a forwarded card or a group is
    // refused. A card too old for Telegram to show us (inaccessible) still names its chat, and
    // is judged by the presser's rights like any other press.
    let chat = match &q.message {
        Some(MaybeInaccessibleMessage::Regular(m)) => Some(m.chat.id),
        Some(MaybeInaccessibleMessage::Inaccessible(m)) => Some(m.chat.id),
        None => None,
    }
    .filter(|chat| chat.0 == user_id);
    let pressed = Callback::parse(&data);
    if let Some(request) = pressed.as_ref().and_then(Callback::request) {
        tracing::Span::current().record("request", request);
    }
    let outcome = match (chat, pressed) {
        (Some(chat), Some(cb)) => handle_callback(app, user_id, chat, cb).await,
        _ => Ok(Press::Refused),
    };
    let press = match outcome {
        Ok(press) => press,
        Err(e) => {
            tracing::error!(user_id, "handling a button failed: {e:#}");
            bot.answer_callback_query(q.id.clone())
                .text(app.render.text(tpl::INTERNAL_ERROR)?)
                .show_alert(true)
                .await?;
            return Ok(());
        }
    };
    let alert = match press {
        Press::Accepted => None,
        Press::Stale => Some(app.render.text(tpl::CALLBACK_STALE)?),
        Press::Refused => {
            app.record_refused_press(user_id, &data).await?;
            Some(app.render.text(tpl::CALLBACK_REFUSED)?)
        }
        Press::Denied(denied) => {
            app.record_refused_press(user_id, &data).await?;
            Some(app.render.text(denied.template())?)
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

async fn handle_callback(
    app: &App,
    user_id: i64,
    chat: ChatId,
    cb: Callback,
) -> anyhow::Result<Press> {
    match cb {
        Callback::Dialogue {
            step,
            action,
            shown,
        } => {
            app.dialogue_button(user_id, chat.0, &step, &action, &shown)
                .await
        }
        Callback::Review { id, stage, action } => {
            app.review_button(user_id, chat.0, id, stage, action).await
        }
        Callback::Page { list, page } => {
            match list {
                List::Pending => app.pending_command(user_id, chat.0, page).await?,
                List::Mine => app.my_requests_command(user_id, chat.0, page).await?,
            }
            Ok(Press::Accepted)
        }
        Callback::FullText { id } => app.full_opinions(user_id, chat.0, id).await,
        Callback::SignedForm { id } => app.signed_form(user_id, chat.0, id).await,
        Callback::Form { id } => app.review_form_button(user_id, chat.0, id).await,
        Callback::Exhibits { id } => app.exhibits_button(user_id, chat.0, id).await,
        Callback::Report { unit, count } => {
            app.send_up(user_id, chat.0, Purpose::Review, &unit, count)
                .await
        }
        Callback::PasswordNoted { message } => app.password_noted(chat.0, message).await,
        Callback::ReportExemptions { unit, count } => {
            app.send_up(user_id, chat.0, Purpose::Exemption, &unit, count)
                .await
        }
        Callback::Entry { batch, action } => match action {
            EntryAction::Seal => app.seal_batch(user_id, chat.0, batch).await,
            EntryAction::Report => app.report_batches(user_id, chat.0, batch).await,
        },
        Callback::EntryBoard => app.entry_board_button(user_id, chat.0).await,
        Callback::Revoke { binding } => app.revoke_button(user_id, chat.0, binding).await,
        Callback::CardListPage { list, page } => {
            app.card_list_page_button(user_id, list, page).await
        }
        Callback::CardListApprove { list, version } => {
            app.card_list_approve_button(user_id, chat.0, list, version)
                .await
        }
        Callback::CardListKeep { list, version } => {
            app.card_list_keep_button(user_id, chat.0, list, version)
                .await
        }
        Callback::StatusChart => app.status_chart(user_id, chat.0).await,
        Callback::Publish { season } => app.publish_button(user_id, chat.0, season).await,
        Callback::PublishCancel => app.publish_cancel_button(user_id, chat.0).await,
    }
}
