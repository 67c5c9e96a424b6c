//! The people of a test or the demo, speaking to the bot through the fake Telegram: texts,
//! photos and files, button presses (honest or crafted).

use super::{BOT_ID, BOT_USERNAME, FakeTelegram, Sent, message_json, unix_now};
use serde_json::{Value, json};

/// The bot's id a token names ("bot123:secret" in the path), if it names one.
pub(super) fn bot_id_of(token: &str) -> Option<i64> {
    let (id, _) = token.strip_prefix("bot")?.split_once(':')?;
    id.parse().ok().filter(|id: &i64| *id > 0)
}

/// The bot as Telegram shows it in its own messages.
pub(super) fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "中招实验考试", "username": BOT_USERNAME})
}

/// A Telegram user the test or demo speaks as.
#[derive(Clone)]
pub struct FakeUser {
    pub(super) fake: FakeTelegram,
    pub id: i64,
    pub first_name: String,
}

impl FakeUser {
    fn user_json(&self) -> Value {
        json!({"id": self.id, "is_bot": false, "first_name": self.first_name, "language_code": "zh-hans"})
    }

    fn private_chat(&self) -> Value {
        json!({"id": self.id, "type": "private", "first_name": self.first_name})
    }

    /// Sends a text message in the private chat with the bot.
    pub fn send(&self, text: &str) {
        self.send_in(self.private_chat(), text);
    }

    /// Sends a message whose text JSON cannot carry as a string: a lone surrogate escape
    /// (`\ud83d`), which fails a reader of the whole getUpdates answer or webhook body.
    pub fn send_unreadable(&self) {
        self.send_in(self.private_chat(), super::UNREADABLE);
    }

    /// Sends a text message in a group the bot is in.
    pub fn send_in_group(&self, group_id: i64, text: &str) {
        self.send_in(
            json!({"id": group_id, "type": "group", "title": "考务群"}),
            text,
        );
    }

    /// A new message from this user in `chat`, with its own id, before its content.
    fn new_message(&self, chat: Value) -> Value {
        let message_id = {
            let mut inner = self.fake.lock();
            inner.next_message_id += 1;
            inner.next_message_id
        };
        json!({
            "message_id": message_id,
            "date": unix_now(),
            "chat": chat,
            "from": self.user_json(),
        })
    }

    fn send_in(&self, chat: Value, text: &str) {
        let message = self.text_message(chat, text);
        self.fake.push_update(json!({"message": message}));
    }

    /// The update Telegram would push for a text from this user, not queued: a test posts it
    /// to the bot's webhook itself, as often as it likes (Telegram sends an update again when
    /// it heard no 200).
    pub fn text_update(&self, text: &str) -> Value {
        let message = self.text_message(self.private_chat(), text);
        json!({"update_id": self.fake.take_update_id(), "message": message})
    }

    fn text_message(&self, chat: Value, text: &str) -> Value {
        let mut message = self.new_message(chat);
        message["text"] = json!(text);
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or(text)
                .encode_utf16()
                .count();
            message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        message
    }

    /// Sends a sticker (anything that is neither text nor a file the bot takes).
    pub fn send_sticker(&self) {
        self.send_attachment(
            "sticker",
            json!({"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 512,
                   "height": 512, "is_animated": false, "is_video": false}),
        );
    }

    /// Sends a photo, as a phone does: Telegram offers it in several sizes, the largest last.
    /// `file_id` is what Telegram would give the bot to send it on.
    pub fn send_photo(&self, file_id: &str) {
        self.send_attachment("photo", photo_sizes(file_id));
    }

    /// Sends a photo with a caption (the text under it).
    pub fn send_photo_with_caption(&self, file_id: &str, caption: &str) {
        let mut message = self.new_message(self.private_chat());
        message["photo"] = photo_sizes(file_id);
        message["caption"] = json!(caption);
        self.fake.push_update(json!({"message": message}));
    }

    /// Sends a file (a PDF scan, a spreadsheet …) with its name and MIME type.
    pub fn send_file(&self, file_id: &str, name: &str, mime: &str) {
        self.send_attachment(
            "document",
            json!({"file_id": file_id, "file_unique_id": format!("u{file_id}"),
                   "file_name": name, "mime_type": mime, "file_size": 200_000}),
        );
    }

    /// Sends a spreadsheet (or any file) with its contents: the bot can fetch them through
    /// getFile as from Telegram.
    pub fn send_sheet(&self, file_id: &str, name: &str, bytes: Vec<u8>) {
        let size = bytes.len();
        self.fake
            .lock()
            .files
            .insert(file_id.to_string(), super::FileBody::Bytes(bytes));
        self.send_document(file_id, name, size);
    }

    /// Sends a file of `size` bytes declared, more than a bot may download (its contents are
    /// never served).
    pub fn send_big_sheet(&self, file_id: &str, name: &str, size: usize) {
        self.fake
            .lock()
            .files
            .insert(file_id.to_string(), super::FileBody::TooBig);
        self.send_document(file_id, name, size);
    }

    fn send_document(&self, file_id: &str, name: &str, size: usize) {
        let mime = if name.ends_with(".csv") {
            "text/csv"
        } else {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        };
        self.send_attachment(
            "document",
            json!({"file_id": file_id, "file_unique_id": format!("u{file_id}"),
                   "file_name": name, "mime_type": mime, "file_size": size}),
        );
    }

    fn send_attachment(&self, kind: &str, attachment: Value) {
        let mut message = self.new_message(self.private_chat());
        message[kind] = attachment;
        self.fake.push_update(json!({"message": message}));
    }

    /// Presses the button labelled `label` on the newest message in this user's private chat
    /// that has one. Panics when there is none (a test bug worth seeing).
    pub fn press(&self, label: &str) {
        let (message, data) = self.button(label);
        self.press_data(&message, &data);
    }

    /// The latest message of this chat with a button labelled `label`, and that button's data:
    /// kept, it can be pressed later, after the message has changed (`press_data`). Panics when
    /// there is none.
    pub fn button(&self, label: &str) -> (Sent, String) {
        let target = self
            .fake
            .messages_to(self.id)
            .into_iter()
            .rev()
            .find_map(|m| {
                m.buttons()
                    .into_iter()
                    .find(|(l, _)| l == label)
                    .map(|(_, data)| (m, data))
            });
        target.unwrap_or_else(|| {
            panic!(
                "no button {label:?} in chat {}:\n{}",
                self.id,
                self.fake.transcript(self.id)
            )
        })
    }

    /// Presses with arbitrary callback data on a given message (as a crafted client could).
    pub fn press_data(&self, message: &Sent, data: &str) {
        let id = self.next_callback_id();
        let chat = if message.chat_id == self.id {
            self.private_chat()
        } else if message.chat_id < 0 {
            json!({"id": message.chat_id, "type": "group", "title": "考务群"})
        } else {
            json!({"id": message.chat_id, "type": "private", "first_name": "other"})
        };
        self.fake.push_update(json!({"callback_query": {
            "id": format!("cq{id}"),
            "from": self.user_json(),
            "chat_instance": format!("ci{}", message.chat_id),
            "data": data,
            "message": message_json(message, chat),
        }}));
    }
}

impl FakeUser {
    fn next_callback_id(&self) -> i64 {
        let mut inner = self.fake.lock();
        inner.next_callback_id += 1;
        inner.next_callback_id
    }

    /// Presses a button on a message Telegram no longer shows the bot (older than 48 hours):
    /// the update carries only the chat and message id, with date 0.
    pub fn press_inaccessible(&self, message: &Sent, data: &str) {
        let id = self.next_callback_id();
        self.fake.push_update(json!({"callback_query": {
            "id": format!("cq{id}"),
            "from": self.user_json(),
            "chat_instance": format!("ci{}", message.chat_id),
            "data": data,
            "message": {"chat": self.private_chat(), "message_id": message.message_id, "date": 0},
        }}));
    }
}

/// A photo as Telegram offers it: in several sizes, the largest last.
fn photo_sizes(file_id: &str) -> Value {
    let size = |w: u32, id: String| {
        json!({"file_id": id, "file_unique_id": format!("u{id}"), "width": w,
               "height": w * 4 / 3, "file_size": w * 300})
    };
    json!([
        size(90, format!("{file_id}-small")),
        size(1280, file_id.to_string())
    ])
}
