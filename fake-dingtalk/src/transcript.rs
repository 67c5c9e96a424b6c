//! A person's chat with the robot as they saw it, for the demo and for failing tests: the
//! bot's messages (cards with their buttons and updates, files, texts), and what the person
//! typed, sent or pressed in its place.

use super::{Action, FakeDingTalk, Kind};

impl FakeDingTalk {
    /// Notes what a person did, at the place in their chat where they did it.
    pub(super) fn said(&self, staff_id: &str, what: String) {
        let mut inner = self.lock();
        let at = inner.by_staff.get(staff_id).map_or(0, Vec::len);
        inner
            .said
            .entry(staff_id.to_string())
            .or_default()
            .push((at, what));
    }

    /// A readable transcript of one person's chat, for the demo and for failing tests.
    pub fn transcript(&self, staff_id: &str) -> String {
        self.transcript_from(staff_id, 0)
    }

    /// The transcript from message number `from` on, with what the person typed, sent or
    /// pressed where they did (`→ 张老师: /start 1234`, `→ 张老师: [批准]`).
    pub fn transcript_from(&self, staff_id: &str, from: usize) -> String {
        let said = self.lock().said.get(staff_id).cloned().unwrap_or_default();
        let messages = self.messages_to(staff_id);
        let mut out = String::new();
        let say = |out: &mut String, at: usize| {
            for (_, what) in said.iter().filter(|(n, _)| *n == at) {
                out.push_str(&format!("→ {what}\n"));
            }
        };
        for (i, m) in messages.iter().enumerate().skip(from) {
            say(&mut out, i);
            match m.kind {
                Kind::File => {
                    let size = m.file.as_ref().map_or(0, |(_, b)| b.len());
                    out.push_str(&format!("[文件 {}, {size} 字节]", m.title));
                }
                Kind::Markdown if !m.title.is_empty() => {
                    out.push_str(&format!("《{}》\n{}", m.title, m.visible_text()));
                }
                _ => out.push_str(&m.visible_text()),
            }
            for b in &m.buttons {
                match &b.action {
                    Action::Request(_) => out.push_str(&format!(" [{}]", b.label)),
                    Action::Link(url) => out.push_str(&format!(" [{} ↗ {url}]", b.label)),
                }
            }
            if m.updates > 0 {
                out.push_str(&format!(" (更新 {} 次)", m.updates));
            }
            out.push_str("\n---\n");
        }
        say(&mut out, messages.len());
        out
    }
}
