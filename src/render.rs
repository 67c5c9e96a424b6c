//! Every user-visible text comes from a handlebars template in messages/, rendered in strict mode
//! (a missing field is an error, not an empty string) with Telegram-HTML escaping.

use anyhow::Context;
use handlebars::Handlebars;
use serde::Serialize;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The name of every template in messages/, as a constant: code names a template through these,
/// so a name without its file does not compile (a test holds the code to it).
pub mod tpl {
    include!(concat!(env!("OUT_DIR"), "/template_names.rs"));
}

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
        self.lines("command_menu")
    }

    /// A template of "key|text" lines, as pairs.
    pub fn lines(&self, template: &str) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .text(template)?
            .lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(c, d)| (c.trim().to_string(), d.trim().to_string()))
            .collect())
    }
}

/// Telegram's limits on what one message may carry.
pub mod limits {
    /// Characters of a message's text, counted after HTML entities are parsed.
    pub const TEXT: usize = 4096;
    /// Characters of a document's caption.
    pub const CAPTION: usize = 1024;
    /// Bytes of one button's callback data.
    pub const CALLBACK_DATA: usize = 64;
    /// Buttons on one message.
    pub const BUTTONS: usize = 100;
}

/// The characters Telegram counts in an HTML text: tags are not counted, an entity is one, and
/// a character outside the Basic Multilingual Plane (most emoji) is two, as Telegram counts in
/// UTF-16 code units.
pub fn visible_len(html: &str) -> usize {
    let mut n = 0;
    let mut in_tag = false;
    let mut in_entity = false;
    for c in html.chars() {
        match (in_tag, in_entity, c) {
            (false, false, '<') => in_tag = true,
            (true, _, '>') => in_tag = false,
            (false, false, '&') => {
                in_entity = true;
                n += 1;
            }
            (false, true, ';') => in_entity = false,
            (false, false, _) => n += c.len_utf16(),
            _ => {}
        }
    }
    n
}

/// Cuts an HTML text to at most `limit` visible characters, ending it with "…" and closing the
/// tags left open, so that Telegram accepts it. Texts within the limit come back unchanged. The
/// last safety net for a message that grew past what its template planned for: nothing fails
/// for good because a comment was long.
pub fn fit_html(html: &str, limit: usize) -> String {
    if visible_len(html) <= limit {
        return html.to_string();
    }
    let mut out = String::with_capacity(html.len().min(limit * 4));
    let mut open: Vec<String> = Vec::new();
    let mut shown = 0;
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                let mut tag = String::from('<');
                for t in chars.by_ref() {
                    tag.push(t);
                    if t == '>' {
                        break;
                    }
                }
                let name: String = tag
                    .trim_start_matches('<')
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if tag.starts_with("</") {
                    if let Some(at) = open.iter().rposition(|o| *o == name) {
                        open.truncate(at);
                    }
                } else if !tag.ends_with("/>") {
                    open.push(name);
                }
                out.push_str(&tag);
            }
            _ => {
                let width = if c == '&' { 1 } else { c.len_utf16() };
                if shown + width >= limit {
                    break;
                }
                shown += width;
                out.push(c);
                if c == '&' {
                    for t in chars.by_ref() {
                        out.push(t);
                        if t == ';' {
                            break;
                        }
                    }
                }
            }
        }
    }
    out.push('…');
    for name in open.iter().rev() {
        out.push_str(&format!("</{name}>"));
    }
    out
}

/// Splits an HTML text into messages of at most `limit` visible characters at line ends (the
/// templates keep each tag within one line); a single longer line is cut.
pub fn split_html(html: &str, limit: usize) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in html.lines() {
        let line = fit_html(line, limit);
        let len = visible_len(&line);
        if !current.is_empty() && current_len + 1 + len > limit {
            parts.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if !current.is_empty() {
            current.push('\n');
            current_len += 1;
        }
        current.push_str(&line);
        current_len += len;
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// A comment as a card shows it: at most `max` characters, then "…" (the whole text is one tap
/// away on the card).
pub fn cut_comment(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod fits;

#[cfg(test)]
mod tests {
    use super::*;

    /// Code names templates through `tpl`: a name typed as a string would compile misspelt.
    #[test]
    fn code_names_every_template_through_its_constant() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let names: Vec<&str> = TEMPLATES.iter().map(|(name, _)| *name).collect();
        let mut typed = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(dir) = folders.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let file = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                // The command table names commands, some of which share a template's name.
                if !file.ends_with(".rs") || file == "app/command.rs" || file.starts_with("render")
                {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    if line.trim_start().starts_with("//") {
                        continue;
                    }
                    for name in &names {
                        let quoted = format!("\"{name}\"");
                        if let Some(at) = line.find(&quoted) {
                            let after = line[at + quoted.len()..].trim_start();
                            let a_key = after.starts_with(':') && !after.starts_with("::");
                            if !a_key {
                                typed.push(format!("src/{file}:{}: {name}", n + 1));
                            }
                        }
                    }
                }
            }
        }
        assert!(
            typed.is_empty(),
            "template names typed as strings: {typed:#?}"
        );
    }

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

    #[test]
    fn a_long_text_is_cut_with_its_tags_closed() {
        let long = format!("<b>标题</b>\n<i>{}</i> &amp; 尾", "字".repeat(5000));
        let cut = fit_html(&long, limits::TEXT);
        assert_eq!(visible_len(&cut), limits::TEXT);
        assert!(cut.ends_with("…</i>"), "{}", &cut[cut.len() - 20..]);
        assert_eq!(fit_html("a &lt; b", 10), "a &lt; b");
        assert_eq!(visible_len("a &lt; <b>b</b>"), 5);
        let parts = split_html(
            &format!("{}\n{}", "甲".repeat(3000), "乙".repeat(3000)),
            4096,
        );
        assert_eq!(parts.len(), 2);
    }
}
