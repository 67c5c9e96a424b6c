//! A chat as its people saw it, for the demo and for failing tests: the bot's messages, and
//! what the chat's people typed, sent or pressed in its place.

use super::FakeTelegram;
use serde_json::Value;

impl FakeTelegram {
    /// A readable transcript of one chat, for the demo and for failing tests.
    pub fn transcript(&self, chat_id: i64) -> String {
        self.transcript_from(chat_id, 0)
    }

    /// The transcript from message number `from` on, with what the chat's people typed, sent
    /// or pressed where they did (`→ 班主任: 202300000031`, `→ [✅ 提交]`).
    pub fn transcript_from(&self, chat_id: i64, from: usize) -> String {
        let said = self.lock().said.get(&chat_id).cloned().unwrap_or_default();
        let messages = self.messages_to(chat_id);
        let mut out = String::new();
        let say = |out: &mut String, at: usize| {
            for (_, what) in said.iter().filter(|(n, _)| *n == at) {
                out.push_str(&format!("→ {what}\n"));
            }
        };
        for (i, m) in messages.iter().enumerate().skip(from) {
            say(&mut out, i);
            out.push_str(&m.visible_text());
            if let Some((name, bytes)) = &m.document {
                out.push_str(&format!("\n[附件 {name}, {} 字节]", bytes.len()));
            }
            for (label, _) in m.buttons() {
                out.push_str(&format!(" [{label}]"));
            }
            out.push_str("\n---\n");
        }
        say(&mut out, messages.len());
        out
    }
}

/// The chat an update from a person is in, and what they did, as a transcript shows it: the
/// text (with its sender's name), the file or photo, or the label of the button pressed.
pub(super) fn said(update: &Value) -> Option<(i64, String)> {
    if let Some(q) = update.get("callback_query") {
        let chat = q["message"]["chat"]["id"].as_i64()?;
        let data = q["data"].as_str().unwrap_or_default();
        let label = q["message"]["reply_markup"]["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().into_iter().flatten())
            .find(|b| b["callback_data"] == data)
            .and_then(|b| b["text"].as_str())
            .map_or(format!("[按钮 {data}]"), |l| format!("[{l}]"));
        return Some((chat, label));
    }
    let m = update.get("message")?;
    let chat = m["chat"]["id"].as_i64()?;
    let who = m["from"]["first_name"].as_str().unwrap_or_default();
    let what = if let Some(text) = m["text"].as_str() {
        text.to_string()
    } else if m.get("photo").is_some() {
        match m["caption"].as_str() {
            Some(caption) => format!("[照片] {caption}"),
            None => "[照片]".to_string(),
        }
    } else if let Some(name) = m["document"]["file_name"].as_str() {
        format!("[文件 {name}]")
    } else {
        "[贴纸]".to_string()
    };
    Some((chat, format!("{who}: {what}")))
}
