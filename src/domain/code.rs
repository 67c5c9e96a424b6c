//! The short codes buttons carry (a card's stage "s2r1", a batch "b12"): each is tags of
//! letters, each followed by its number or by nothing. A code is read whole, tag by tag and
//! matched exactly, never by its first letters, so one code cannot pass for another.

/// The (tag, number) pairs of a code, in order: "s2r1" → [("s", Some(2)), ("r", Some(1))],
/// "wd" → [("wd", None)]. None for anything else: an empty code, a number first, a sign, or
/// a number too large.
pub fn segments(code: &str) -> Option<Vec<(&str, Option<i64>)>> {
    let mut out = Vec::new();
    let mut rest = code;
    while !rest.is_empty() {
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if letters == 0 {
            return None;
        }
        let (tag, after) = rest.split_at(letters);
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let (number, next) = after.split_at(digits);
        let number = match number {
            "" => None,
            n => Some(n.parse::<i64>().ok()?),
        };
        out.push((tag, number));
        rest = next;
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn a_code_is_read_tag_by_tag() {
        assert_eq!(segments("s2r1"), Some(vec![("s", Some(2)), ("r", Some(1))]));
        assert_eq!(segments("rec12"), Some(vec![("rec", Some(12))]));
        assert_eq!(segments("wd"), Some(vec![("wd", None)]));
        for bad in ["", "12", "r-1", "r1.5", "b99999999999999999999", "ä1"] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }
}
