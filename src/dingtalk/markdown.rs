//! The bot's messages are written in Telegram's HTML (bold, code, links and escaped text); a
//! DingTalk card shows Markdown. The same words, the same emphasis.

/// Telegram HTML as DingTalk Markdown: `<b>` and `<strong>` become `**`, `<code>` and `<pre>`
/// backticks, a link `[text](href)`; other tags are dropped and entities decoded. Plain text is
/// left as it is (DingTalk's Markdown takes no backslash escapes, and the bot's texts put no
/// marks at the start of a line), but for `*` (`push_text`).
pub fn from_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 16);
    let mut rest = html;
    let mut link: Option<String> = None;
    while let Some(open) = rest.find('<') {
        push_text(&mut out, &rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            push_text(&mut out, &rest[open..]);
            return out;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let name = tag
            .trim_start_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or_default();
        match (tag.starts_with('/'), name) {
            (_, "b" | "strong") => out.push_str("**"),
            (_, "code" | "pre") => out.push('`'),
            (false, "a") => {
                link = href(tag);
                out.push('[');
            }
            (true, "a") => {
                out.push(']');
                if let Some(url) = link.take() {
                    out.push('(');
                    out.push_str(&url);
                    out.push(')');
                }
            }
            _ => {}
        }
    }
    push_text(&mut out, rest);
    out
}

/// The first line of the message as the card's title (DingTalk shows it in the list of chats).
pub fn title(html: &str) -> String {
    let plain = from_html(html).replace(['*', '`'], "");
    let line = plain
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("通知");
    line.chars().take(40).collect()
}

fn href(tag: &str) -> Option<String> {
    let start = tag.find("href=\"")? + 6;
    let end = tag[start..].find('"')? + start;
    Some(decode(&tag[start..end]))
}

/// Plain text as it is, but for `*`: Markdown takes a run of them inside a word (a masked
/// 身份证号, `410800********0394`) as emphasis marks and shows none, so they become the
/// full-width ＊, which it leaves alone.
fn push_text(out: &mut String, text: &str) {
    out.push_str(&decode(text).replace('*', "＊"));
}

fn decode(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bold_code_links_and_entities_read_the_same() {
        let html = "<b>复核申请</b> 准考证号 <code>2023001</code>\n&lt;理由&gt; a &amp; b \
                    <a href=\"https://x.org/?a=1&amp;b=2\">看板</a>";
        assert_eq!(
            from_html(html),
            "**复核申请** 准考证号 `2023001`\n<理由> a & b [看板](https://x.org/?a=1&b=2)"
        );
    }

    #[test]
    fn a_masked_number_keeps_its_stars() {
        assert_eq!(
            from_html("身份证号：<b>410800********0394</b>"),
            "身份证号：**410800＊＊＊＊＊＊＊＊0394**"
        );
    }

    #[test]
    fn the_title_is_the_first_line() {
        assert_eq!(title("\n<b>成绩公布</b>\n第二行"), "成绩公布");
    }
}
