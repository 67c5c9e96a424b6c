//! Delivery's Telegram side: a queued row sent as an HTML message, photo or document with its
//! buttons, or an earlier message edited; Telegram's errors sorted into what delivery does next.

use crate::buttons::Buttons;
use crate::delivery::{BoxFuture, Messenger, Outcome};
use crate::domain::attachment::Attachment;
use crate::store::outbox::Row;
use teloxide::adaptors::Throttle;
use teloxide::prelude::*;
use teloxide::types::{
    FileId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ParseMode, WebAppInfo,
};
use teloxide::{ApiError, RequestError};

/// The bot as every part of the adapter holds it.
pub type TgBot = Throttle<Bot>;

/// Sends through the bot without teloxide's throttle: delivery paces its own sends.
pub struct TelegramSender(pub TgBot);

impl Messenger for TelegramSender {
    fn send<'a>(&'a self, row: &'a Row) -> BoxFuture<'a, Outcome> {
        Box::pin(send(self.0.inner(), row))
    }

    fn edit<'a>(&'a self, row: &'a Row, message_id: i64) -> BoxFuture<'a, Outcome> {
        Box::pin(edit(self.0.inner(), row, message_id))
    }
}

/// The row's buttons as Telegram's inline keyboard.
fn keyboard(row: &Row) -> Result<Option<InlineKeyboardMarkup>, String> {
    let Some(stored) = row.reply_markup.as_deref() else {
        return Ok(None);
    };
    let buttons = match Buttons::from_stored(stored) {
        Ok(buttons) => buttons,
        // A row queued by an older build holds Telegram's own keyboard.
        Err(e) => {
            return serde_json::from_str::<InlineKeyboardMarkup>(stored)
                .map(Some)
                .map_err(|_| format!("stored buttons are not valid: {e}"));
        }
    };
    let mut rows = Vec::with_capacity(buttons.0.len());
    for row in buttons.0 {
        let mut drawn = Vec::with_capacity(row.len());
        for b in row {
            drawn.push(match b.page {
                Some(page) => {
                    let url = reqwest::Url::parse(&page)
                        .map_err(|e| format!("a page button's address is not valid: {e}"))?;
                    InlineKeyboardButton::web_app(b.label, WebAppInfo { url })
                }
                None => InlineKeyboardButton::callback(b.label, b.press),
            });
        }
        rows.push(drawn);
    }
    Ok(Some(InlineKeyboardMarkup::new(rows)))
}

async fn send(bot: &Bot, row: &Row) -> Outcome {
    let markup = match keyboard(row) {
        Ok(m) => m,
        Err(e) => return Outcome::Failed(e),
    };
    let chat = ChatId(row.chat_id);
    let file = row.file_ref.as_deref().and_then(Attachment::parse);
    // Every kind of send: HTML, and the keyboard when there is one.
    macro_rules! html_with_markup {
        ($request:expr) => {{
            let mut request = $request.parse_mode(ParseMode::Html);
            if let Some(m) = markup {
                request = request.reply_markup(m);
            }
            request.await
        }};
    }
    let result = match (&row.document_name, &row.document, file) {
        (_, _, Some(Attachment::Photo(id))) => html_with_markup!(
            bot.send_photo(chat, InputFile::file_id(FileId(id)))
                .caption(row.body.clone())
        ),
        (_, _, Some(Attachment::Document(id))) => html_with_markup!(
            bot.send_document(chat, InputFile::file_id(FileId(id)))
                .caption(row.body.clone())
        ),
        (Some(name), Some(bytes), None) => html_with_markup!(
            bot.send_document(
                chat,
                InputFile::memory(bytes.clone()).file_name(name.clone())
            )
            .caption(row.body.clone())
        ),
        _ => html_with_markup!(bot.send_message(chat, row.body.clone())),
    };
    match result {
        Ok(message) => Outcome::Sent(i64::from(message.id.0)),
        Err(e) => classify(e),
    }
}

/// Replaces a card's text, and its buttons with the row's (none: the keyboard goes, as
/// Telegram drops it from an edit that names none).
async fn edit(bot: &Bot, row: &Row, message_id: i64) -> Outcome {
    let markup = match keyboard(row) {
        Ok(m) => m,
        Err(e) => return Outcome::Failed(e),
    };
    let mut request = bot
        .edit_message_text(
            ChatId(row.chat_id),
            teloxide::types::MessageId(message_id as i32),
            row.body.clone(),
        )
        .parse_mode(ParseMode::Html);
    if let Some(m) = markup {
        request = request.reply_markup(m);
    }
    match request.await {
        Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Outcome::Sent(message_id),
        Err(e) => classify(e),
    }
}

fn classify(e: RequestError) -> Outcome {
    match e {
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::ChatNotFound
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots,
        ) => Outcome::Unreachable(e.to_string()),
        RequestError::RetryAfter(wait) => Outcome::Throttled(e.to_string(), wait.duration()),
        ref e if is_transient(e) => Outcome::Retry(e.to_string()),
        other => Outcome::Failed(other.to_string()),
    }
}

/// Whether Telegram, or the way to it, says "later": a 429, a 5xx, a network error or
/// time-out, an answer cut short.
pub(crate) fn is_transient(e: &RequestError) -> bool {
    match e {
        RequestError::Api(ApiError::Unknown(text)) => [
            "Internal Server Error",
            "Bad Gateway",
            "Gateway",
            "Service Unavailable",
        ]
        .iter()
        .any(|s| text.contains(s)),
        RequestError::RetryAfter(_)
        | RequestError::Network(_)
        | RequestError::Io(_)
        | RequestError::InvalidJson { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buttons::button;

    fn row_with(stored: &str) -> Row {
        Row {
            id: 1,
            chat_id: 1,
            body: String::new(),
            reply_markup: Some(stored.into()),
            document_name: None,
            document: None,
            file_ref: None,
            batch: None,
            attempts: 0,
            edit_of: None,
            mergeable: 0,
            merged: Vec::new(),
        }
    }

    #[test]
    fn stored_buttons_become_an_inline_keyboard_and_an_older_builds_keyboard_still_reads() {
        let b = Buttons::rows(vec![vec![button("✅ 同意".into(), "rv:1:s0r1:a".into())]]);
        let expected =
            InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("✅ 同意", "rv:1:s0r1:a")]]);
        assert_eq!(
            keyboard(&row_with(&b.to_stored())),
            Ok(Some(expected.clone()))
        );
        let older = serde_json::to_string(&expected).unwrap();
        assert_eq!(keyboard(&row_with(&older)), Ok(Some(expected)));
        assert!(keyboard(&row_with("{}")).is_err());
    }

    #[test]
    fn a_page_button_opens_the_page_as_a_mini_app() {
        let url = "https://bot.example.org/board";
        let b = Buttons::rows(vec![vec![crate::buttons::page_button(
            "看板".into(),
            url.into(),
        )]]);
        let drawn = serde_json::to_value(keyboard(&row_with(&b.to_stored())).unwrap()).unwrap();
        assert_eq!(drawn["inline_keyboard"][0][0]["web_app"]["url"], url);
        let broken = Buttons::rows(vec![vec![crate::buttons::page_button(
            "看板".into(),
            "not a url".into(),
        )]]);
        assert!(keyboard(&row_with(&broken.to_stored())).is_err());
    }
}
