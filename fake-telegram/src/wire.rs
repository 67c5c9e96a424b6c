//! What goes over the wire to the bot: JSON as Telegram writes it, including what no JSON
//! string type can hold.

use serde_json::Value;

/// A message text the fake sends as a lone surrogate escape (see `FakeUser::send_unreadable`).
pub(super) const UNREADABLE: &str = "\u{2063}unreadable\u{2063}";

/// An update (or a getUpdates answer) as the bytes Telegram would send: JSON, with each
/// `UNREADABLE` text written as the lone surrogate escape no JSON string type can hold.
pub(super) fn wire(value: &Value) -> String {
    value
        .to_string()
        .replace(&format!("\"{UNREADABLE}\""), "\"\\ud83d\"")
}
