//! sendMessage, sendDocument, sendPhoto and the edits, as Telegram answers them: the limits of
//! a text and a caption, and an edit of a message that does not exist refused.

use super::{FakeTelegram, Sent, chat_json, err, message_json, ok};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use std::time::Instant;

/// A send: the HTTP status to record and the answer.
pub(super) fn send(
    fake: &FakeTelegram,
    method: &str,
    params: &Value,
    file: Option<(String, Vec<u8>)>,
    chat_id: Option<i64>,
    arrived: Instant,
) -> (u16, Response) {
    let Some(chat_id) = chat_id else {
        let answer = err(
            StatusCode::BAD_REQUEST,
            "Bad Request: chat_id is empty",
            None,
        );
        return (400, answer);
    };
    let captioned = method != "sendmessage";
    let text_key = if captioned { "caption" } else { "text" };
    let text = params[text_key].as_str().unwrap_or_default().to_string();
    if method == "sendmessage" && text.is_empty() {
        let answer = err(
            StatusCode::BAD_REQUEST,
            "Bad Request: message text is empty",
            None,
        );
        return (400, answer);
    }
    let limit = if captioned { 1024 } else { 4096 };
    // A file sent on by the id Telegram gave it (a photo or document it already holds).
    let file_id = ["photo", "document"]
        .iter()
        .find_map(|k| params.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    if text.encode_utf16().count() > limit {
        let answer = err(
            StatusCode::BAD_REQUEST,
            "Bad Request: message is too long",
            None,
        );
        return (400, answer);
    }
    if web_app_outside_private(params, chat_id) {
        let answer = err(
            StatusCode::BAD_REQUEST,
            "Bad Request: BUTTON_TYPE_INVALID",
            None,
        );
        return (400, answer);
    }
    let mut inner = fake.lock();
    inner.next_message_id += 1;
    let sent = Sent {
        message_id: inner.next_message_id,
        chat_id,
        text,
        document: file,
        file_id,
        reply_markup: params.get("reply_markup").cloned().filter(|v| !v.is_null()),
        edits: 0,
        at: arrived,
        deleted: false,
    };
    let reply = message_json(&sent, chat_json(chat_id));
    let at = inner.sent.len();
    inner.by_chat.entry(chat_id).or_default().push(at);
    inner.sent.push(sent);
    (200, ok(reply))
}

/// editMessageText, editMessageReplyMarkup, editMessageCaption. An edit that names no
/// `reply_markup` drops the keyboard, as Telegram's does.
pub(super) fn edit(fake: &FakeTelegram, params: &Value, chat_id: Option<i64>) -> (u16, Response) {
    let mut inner = fake.lock();
    let at = still_shown(&inner, chat_id, params["message_id"].as_i64());
    let Some(m) = at.map(|i| &mut inner.sent[i]) else {
        let answer = err(
            StatusCode::BAD_REQUEST,
            "Bad Request: message to edit not found",
            None,
        );
        return (400, answer);
    };
    if let Some(text) = params
        .get("text")
        .or(params.get("caption"))
        .and_then(Value::as_str)
    {
        m.text = text.to_string();
    }
    m.reply_markup = params.get("reply_markup").cloned().filter(|v| !v.is_null());
    m.edits += 1;
    (200, ok(message_json(m, chat_json(m.chat_id))))
}

/// deleteMessage: the message's text and buttons go; one not found (or deleted already) is
/// refused as Telegram refuses it.
pub(super) fn delete(fake: &FakeTelegram, params: &Value, chat_id: Option<i64>) -> (u16, Response) {
    let mut inner = fake.lock();
    let at = still_shown(&inner, chat_id, params["message_id"].as_i64());
    let Some(m) = at.map(|i| &mut inner.sent[i]) else {
        let answer = err(
            StatusCode::BAD_REQUEST,
            "Bad Request: message to delete not found",
            None,
        );
        return (400, answer);
    };
    m.deleted = true;
    m.text.clear();
    m.reply_markup = None;
    m.document = None;
    (200, ok(serde_json::json!(true)))
}

/// Where in `sent` a message of the chat is that the chat still shows (not deleted).
fn still_shown(
    inner: &super::Inner,
    chat_id: Option<i64>,
    message_id: Option<i64>,
) -> Option<usize> {
    let of_chat = chat_id.and_then(|c| inner.by_chat.get(&c));
    of_chat
        .into_iter()
        .flatten()
        .copied()
        .find(|i| Some(inner.sent[*i].message_id) == message_id && !inner.sent[*i].deleted)
}

/// Telegram opens a Mini App from an inline button only in a private chat (a user's, whose id
/// is positive); elsewhere it refuses the message.
fn web_app_outside_private(params: &Value, chat_id: i64) -> bool {
    chat_id < 0
        && params["reply_markup"]["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .any(|b| b.get("web_app").is_some())
}
