//! Every user-visible text comes from a handlebars template in messages/, rendered in strict mode
//! (a missing field is an error, not an empty string) with Telegram-HTML escaping.

use anyhow::Context;
use handlebars::Handlebars;
use serde::Serialize;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

pub struct Renderer {
    hb: Handlebars<'static>,
}

/// Telegram's HTML mode needs only these four escaped; quotes and emoji pass as typed.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

impl Renderer {
    pub fn new() -> anyhow::Result<Self> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(escape_html);
        for (name, text) in TEMPLATES {
            hb.register_template_string(name, *text)
                .with_context(|| format!("template messages/{name}.hbs does not parse"))?;
        }
        Ok(Self { hb })
    }

    /// Renders a template; trailing blank space is trimmed so templates can end with a newline.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> anyhow::Result<String> {
        let text = self
            .hb
            .render(name, data)
            .with_context(|| format!("rendering messages/{name}.hbs"))?;
        Ok(text.trim_end().to_string())
    }

    /// For templates that take no data.
    pub fn text(&self, name: &str) -> anyhow::Result<String> {
        self.render(name, &serde_json::json!({}))
    }

    /// The Telegram command menu: lines "command|description" in messages/command_menu.hbs.
    pub fn command_menu(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .text("command_menu")?
            .lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(c, d)| (c.trim().to_string(), d.trim().to_string()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_display_exactly_as_typed() {
        let r = Renderer::new().unwrap();
        let text = r
            .render(
                "start_welcome",
                &serde_json::json!({"name": "王<小>&\"明\" 😀", "role": "principal",
                    "unit_name": "一中", "class_name": null}),
            )
            .unwrap();
        assert!(
            text.contains("王&lt;小&gt;&amp;&quot;明&quot; 😀"),
            "{text}"
        );
        assert!(text.contains("校长"));
    }

    #[test]
    fn a_missing_field_is_an_error() {
        let r = Renderer::new().unwrap();
        assert!(r.render("start_welcome", &serde_json::json!({})).is_err());
    }
}
