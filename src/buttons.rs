//! Buttons under a message, as data: rows of buttons, each a label and what a press sends back
//! (an encoded `app::callback::Callback`). The outbox keeps them so; each messenger's adapter
//! draws them its own way (Telegram: an inline keyboard).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    /// What the press brings back to the bot.
    pub press: String,
    /// Or a page of the bot's own that the press opens inside the messenger (Telegram: a Mini
    /// App, in private chats only), by its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Buttons(pub Vec<Vec<Button>>);

pub fn button(label: String, press: String) -> Button {
    Button {
        label,
        press,
        page: None,
    }
}

/// A button that opens the bot's page at `url` inside the messenger.
pub fn page_button(label: String, url: String) -> Button {
    Button {
        label,
        press: String::new(),
        page: Some(url),
    }
}

impl Buttons {
    pub fn rows(rows: Vec<Vec<Button>>) -> Buttons {
        Buttons(rows)
    }

    /// Every button, row by row.
    pub fn iter(&self) -> impl Iterator<Item = &Button> {
        self.0.iter().flatten()
    }

    /// As the outbox stores them.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("buttons serialize")
    }

    /// As stored.
    pub fn from_stored(stored: &str) -> anyhow::Result<Buttons> {
        Ok(serde_json::from_str(stored)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_read_back_as_stored() {
        let b = Buttons::rows(vec![vec![
            button("✅ 同意".into(), "r:1:approve".into()),
            button("返回".into(), "d:back".into()),
        ]]);
        assert_eq!(Buttons::from_stored(&b.to_stored()).unwrap(), b);
        assert!(Buttons::from_stored("{}").is_err());
    }
}
