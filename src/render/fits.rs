//! A property test over every template: rendered with the largest inputs its fields can take
//! (long names and comments full of HTML specials, emoji and CJK, long lists, every value an
//! `eq` compares with), what the outbox stores fits one Telegram message and is HTML Telegram
//! parses.
//!
//! The shape each template expects is read from its own source (the fields it names, which of
//! them it walks with `#each`, which it indexes or compares), so a new template is covered the
//! day it is written.

use super::{TEMPLATES, fit_html, limits};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What a template does with a field.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// Printed or tested: a string, a number or one of the literals it is compared with.
    Scalar,
    /// Compared with `gt`/`lt`: a number.
    Number,
    /// Printed raw (`{{{…}}}`): HTML another template rendered.
    Html,
    /// Walked with `#each` or indexed (then it has at least the items indexed).
    List(Box<Shape>, usize),
    Object(BTreeMap<String, Shape>),
}

impl Shape {
    fn merge(self, other: Shape) -> Shape {
        match (self, other) {
            (Shape::Object(mut a), Shape::Object(b)) => {
                for (k, v) in b {
                    let merged = match a.remove(&k) {
                        Some(old) => old.merge(v),
                        None => v,
                    };
                    a.insert(k, merged);
                }
                Shape::Object(a)
            }
            (Shape::List(a, m), Shape::List(b, n)) => Shape::List(Box::new(a.merge(*b)), m.max(n)),
            // A field printed in one place and walked in another is the richer of the two.
            (Shape::Scalar, richer) | (richer, Shape::Scalar) => richer,
            (a, _) => a,
        }
    }

    /// Puts `leaf` at `path` under this shape.
    fn at(path: &[String], leaf: Shape) -> Shape {
        match path.split_first() {
            None => leaf,
            Some((first, rest)) if first.starts_with('[') => {
                let index = first.trim_matches(['[', ']']).parse::<usize>();
                Shape::List(Box::new(Shape::at(rest, leaf)), index.map_or(0, |i| i + 1))
            }
            Some((first, rest)) => {
                Shape::Object(BTreeMap::from([(first.clone(), Shape::at(rest, leaf))]))
            }
        }
    }
}

/// The shape of the data a template source takes, and the string literals it compares with.
fn shape_of(source: &str) -> (Shape, Vec<String>) {
    let mut root = Shape::Object(BTreeMap::new());
    let mut literals = Vec::new();
    // The data path each open block looks at (`#each` moves into an item).
    let mut scopes: Vec<Vec<String>> = vec![Vec::new()];
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        // `{{{raw}}}` is a field too.
        let (start, end) = match rest[open..].starts_with("{{{") {
            true => (3, "}}}"),
            false => (2, "}}"),
        };
        let Some(close) = rest[open..].find(end) else {
            break;
        };
        let inner = rest[open + start..open + close].trim_matches('~').trim();
        rest = &rest[open + close + end.len()..];
        let (sigil, body) = match inner.chars().next() {
            Some(c @ ('#' | '/' | '>')) => (c, inner[1..].trim()),
            _ => (' ', inner),
        };
        let here = scopes.last().cloned().unwrap_or_default();
        let words: Vec<String> = body
            .replace(['(', ')'], " ")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let mut paths: Vec<(Vec<String>, Shape)> = Vec::new();
        let mut comparing = None;
        // A partial's `name=path` arguments.
        let mut passed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, word) in words.iter().enumerate() {
            let (key, word) = match word.split_once('=') {
                Some((k, v)) => (Some(k), v),
                None => (None, word.as_str()),
            };
            if let Some(lit) = word.strip_prefix('"') {
                literals.push(lit.trim_end_matches('"').to_string());
                continue;
            }
            let is_helper = matches!(
                word,
                "each"
                    | "if"
                    | "unless"
                    | "with"
                    | "else"
                    | "eq"
                    | "ne"
                    | "gt"
                    | "lt"
                    | "gte"
                    | "lte"
                    | "and"
                    | "or"
                    | "not"
            );
            if is_helper {
                comparing = Some(word.to_string());
                continue;
            }
            // A partial's name is not data.
            if (sigil == '>' && i == 0) || word.starts_with('@') || word.parse::<f64>().is_ok() {
                continue;
            }
            // `../x` is looked up in the scope around the current block.
            let ups = word.matches("../").count();
            let mut path = scopes[scopes.len().saturating_sub(1 + ups)].clone();
            for seg in word.split('.') {
                match seg {
                    "this" | "" | ".." | "/" => {}
                    s => path.push(s.trim_start_matches('/').to_string()),
                }
            }
            let leaf = match comparing.as_deref() {
                Some("gt" | "lt" | "gte" | "lte") => Shape::Number,
                _ if start == 3 => Shape::Html,
                _ => Shape::Scalar,
            };
            if let Some(key) = key {
                passed.insert(key.to_string(), path.clone());
            }
            paths.push((path, leaf));
        }
        // A partial is read like a template; what it is passed takes the shape it needs there.
        if let (Some(name), '>') = (words.first(), sigil) {
            let source = TEMPLATES.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
            if let Some(source) = source {
                let (inner_shape, inner_literals) = shape_of(source);
                literals.extend(inner_literals);
                if let Shape::Object(fields) = inner_shape {
                    for (field, shape) in fields {
                        let path = passed.get(&field).cloned().unwrap_or_else(|| {
                            let mut p = here.clone();
                            p.push(field.clone());
                            p
                        });
                        root = root.merge(Shape::at(&path, shape));
                    }
                }
            }
        }
        if sigil == '#' && words.first().is_some_and(|w| w == "each") {
            if let Some((path, _)) = paths.pop() {
                let mut item = path.clone();
                item.push("[]".into());
                root = root.merge(Shape::at(&path, Shape::List(Box::new(Shape::Scalar), 0)));
                scopes.push(item);
            }
        } else if sigil == '#' {
            scopes.push(here.clone());
        } else if sigil == '/' {
            scopes.pop();
        }
        for (path, leaf) in paths {
            root = root.merge(Shape::at(&path, leaf));
        }
    }
    (root, literals)
}

/// Text as bad as a field can be: HTML specials, emoji (two UTF-16 units each), CJK.
fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<b>".to_string()),
        Just("&amp;".to_string()),
        Just("&".to_string()),
        Just("\"".to_string()),
        Just("📄".to_string()),
        Just("漏评".to_string()),
        Just("\n".to_string()),
        "[a-z0-9 ]{1,8}",
    ];
    prop::collection::vec(piece, 0..400).prop_map(|p| p.concat())
}

fn value_of(shape: &Shape, literals: &[String]) -> BoxedStrategy<Value> {
    match shape {
        Shape::Html => nasty_text()
            .prop_map(|t| format!("<b>{}</b>", super::escape_html(&t)))
            .prop_map(Value::String)
            .boxed(),
        Shape::Number => prop_oneof![Just(json!(u32::MAX)), Just(json!(0)), Just(json!(2))].boxed(),
        Shape::Scalar => {
            let literal = if literals.is_empty() {
                Just(json!("")).boxed()
            } else {
                prop::sample::select(literals.to_vec())
                    .prop_map(Value::String)
                    .boxed()
            };
            prop_oneof![
                3 => nasty_text().prop_map(Value::String),
                1 => literal,
                1 => Just(json!(u32::MAX)),
                1 => Just(json!(true)),
            ]
            .boxed()
        }
        Shape::List(item, least) => {
            prop::collection::vec(value_of(item, literals), *least..least + 16)
                .prop_map(Value::Array)
                .boxed()
        }
        Shape::Object(fields) => {
            let mut strategy = Just(Map::new()).boxed();
            for (name, field) in fields {
                let name = name.clone();
                strategy = (strategy, value_of(field, literals))
                    .prop_map(move |(mut map, v)| {
                        map.insert(name.clone(), v);
                        map
                    })
                    .boxed();
            }
            strategy.prop_map(Value::Object).boxed()
        }
    }
}

/// The length Telegram gives a text, worked out apart from `visible_len`: tags dropped,
/// entities decoded, UTF-16 code units counted.
fn telegram_length(html: &str) -> usize {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    text.encode_utf16().count()
}

/// Telegram's HTML: only its tags, each closed in order, every `&` an entity.
fn parses_as_telegram_html(html: &str) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('&') {
            let entity = after.split_once(';').map(|(e, _)| e).unwrap_or(after);
            if !["amp", "lt", "gt", "quot"].contains(&entity) {
                return Err(format!(
                    "bare & at {:?}",
                    tail.chars().take(20).collect::<String>()
                ));
            }
            rest = after;
            continue;
        }
        let end = tail.find('>').ok_or("unclosed tag")?;
        let tag = &tail[1..end];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        if !["b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg"].contains(&name.as_str()) {
            return Err(format!("tag <{tag}> is not Telegram's"));
        }
        if tag.starts_with('/') {
            if open.pop().as_deref() != Some(name.as_str()) {
                return Err(format!("</{name}> closes what it did not open"));
            }
        } else {
            open.push(name);
        }
        rest = &tail[end + 1..];
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("left open: {open:?}"))
    }
}

#[test]
fn the_shapes_are_read_from_the_templates() {
    let (shape, literals) = shape_of(
        "{{#each dist.bands}}{{this.label}}{{../name}}{{/each}}{{items.[0]}}\
         {{#if (gt pages 1)}}{{/if}}{{#if (eq kind \"corrected\")}}{{/if}}",
    );
    let Shape::Object(root) = shape else {
        panic!("{shape:?}")
    };
    assert_eq!(root["pages"], Shape::Number);
    assert_eq!(root["name"], Shape::Scalar);
    assert_eq!(root["items"], Shape::List(Box::new(Shape::Scalar), 1));
    let Shape::Object(dist) = &root["dist"] else {
        panic!()
    };
    assert_eq!(
        dist["bands"],
        Shape::List(
            Box::new(Shape::Object(BTreeMap::from([(
                "label".to_string(),
                Shape::Scalar
            )]))),
            0
        )
    );
    assert_eq!(literals, vec!["corrected"]);
}

/// Every template, many times over with the largest inputs; what the outbox would store fits.
#[test]
fn every_template_with_the_largest_inputs_still_fits_one_message() {
    let renderer = super::Renderer::new().unwrap();
    for (name, source) in TEMPLATES {
        let (shape, literals) = shape_of(source);
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 8,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let outcome = runner.run(&value_of(&shape, &literals), |data| {
            let rendered = renderer
                .render(name, &data)
                .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
            let stored = fit_html(&rendered, limits::TEXT);
            prop_assert!(
                telegram_length(&stored) <= limits::TEXT,
                "{} characters",
                telegram_length(&stored)
            );
            parses_as_telegram_html(&stored).map_err(TestCaseError::fail)?;
            Ok(())
        });
        if let Err(e) = outcome {
            panic!("messages/{name}.hbs: {e}");
        }
    }
}
