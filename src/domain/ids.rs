//! Candidate identifiers. Each type can only be built through its parser, so a value that exists
//! has passed its check ("parse, don't validate").

use regex::Regex;
use std::borrow::Cow;
use std::fmt;

/// Why an identifier was refused; the text is shown to the office that supplied the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(pub String);

/// 居民身份证号 (GB 11643-1999): 17 digits and a check character. It borrows the text it was
/// parsed from unless that needed changing (a lower-case x): a million rows are read at import.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdCardNo<'a>(Cow<'a, str>);

/// `s` in upper case, borrowed when it already is.
fn upper(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(s.to_ascii_uppercase())
    } else {
        Cow::Borrowed(s)
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: &[u8; 11] = b"10X98765432";

impl<'a> IdCardNo<'a> {
    pub fn parse(raw: &'a str) -> Result<Self, IdError> {
        let s = upper(raw.trim());
        if s.chars().count() != 18 {
            return Err(IdError(format!("应为18位，实际{}位", s.chars().count())));
        }
        let bytes = s.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit) {
            return Err(IdError("前17位应全为数字".into()));
        }
        let expected = check_char(&bytes[..17]);
        if bytes[17] != expected {
            return Err(IdError(format!("校验位错误，应为{}", expected as char)));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> Cow<'a, str> {
        self.0
    }
}

/// The GB 11643 check character for the first 17 digits.
pub fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ID_CHECK_CHARS[(sum % 11) as usize]
}

impl fmt::Display for IdCardNo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 学籍号: "G" followed by the student's 身份证号, or "J"/"L" (temporary and special registrations)
/// followed by 18 digits or capital letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentNo<'a>(Cow<'a, str>);

impl<'a> StudentNo<'a> {
    pub fn parse(raw: &'a str, id_card: Option<&IdCardNo>) -> Result<Self, IdError> {
        let s = upper(raw.trim());
        let (prefix, rest) = s.split_at(s.chars().next().map_or(0, char::len_utf8));
        match prefix {
            "G" => match id_card {
                Some(id) if rest == id.as_str() => Ok(Self(s)),
                Some(_) => Err(IdError("G开头的学籍号应为G加本人身份证号".into())),
                None => IdCardNo::parse(rest)
                    .map(|_| Self(s.clone()))
                    .map_err(|e| IdError(format!("G后的身份证号无效：{e}"))),
            },
            "J" | "L" if rest.len() == 18 && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Ok(Self(s))
            }
            _ => Err(IdError("应为G加身份证号，或J/L加18位数字字母".into())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> Cow<'a, str> {
        self.0
    }
}

/// A pattern from configuration for 准考证号 or 报名序号: their formats differ by year and city.
#[derive(Debug, Clone)]
pub struct IdPattern {
    regex: Regex,
    source: String,
}

impl IdPattern {
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            regex: Regex::new(source)?,
            source: source.to_string(),
        })
    }

    /// The identifier, trimmed, when it matches.
    pub fn check<'a>(&self, raw: &'a str) -> Result<&'a str, IdError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(IdError("不能为空".into()));
        }
        if self.regex.is_match(s) {
            Ok(s)
        } else {
            Err(IdError(format!("格式不符（应匹配 {}）", self.source)))
        }
    }
}

/// 身份证号 and 学籍号 as chat shows them: the first 6 and last 4 characters, the rest starred
/// (`410802********0014`). The 6 name the issuing county, the 4 let a clerk tell two candidates
/// apart; the birth date and sequence in between stay hidden. Shorter or malformed values (a
/// refused import row) keep only their first and last character.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.trim().chars().collect();
    let n = chars.len();
    let (head, tail) = if n > 10 {
        (6, 4)
    } else if n > 2 {
        (1, 1)
    } else {
        (0, 0)
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid number from 17 digits, as the test data generators do.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_char(first17.as_bytes()) as char)
    }

    #[test]
    fn accepts_a_valid_id_and_rejects_a_wrong_check_digit() {
        let good = with_check("41080220080101001");
        assert!(IdCardNo::parse(&good).is_ok());
        let last = good.as_bytes()[17];
        let wrong = if last == b'0' { '1' } else { '0' };
        let bad = format!("{}{}", &good[..17], wrong);
        assert!(IdCardNo::parse(&bad).unwrap_err().0.contains("校验位"));
        assert!(IdCardNo::parse("12345").is_err());
        assert!(IdCardNo::parse("4108022008010100AX").is_err());
    }

    #[test]
    fn known_published_example_with_x() {
        // The check character of 11010519491231002 is X (the textbook example of GB 11643).
        assert_eq!(check_char(b"11010519491231002"), b'X');
        let lower = IdCardNo::parse("11010519491231002x").unwrap();
        assert_eq!(lower.as_str(), "11010519491231002X");
    }

    #[test]
    fn student_number_forms() {
        let text = with_check("41080220080101001");
        let id = IdCardNo::parse(&text).unwrap();
        assert!(StudentNo::parse(&format!("G{id}"), Some(&id)).is_ok());
        let other = with_check("41080220080101002");
        assert!(StudentNo::parse(&format!("G{other}"), Some(&id)).is_err());
        assert!(StudentNo::parse("J41080220080101001A", Some(&id)).is_ok());
        assert!(StudentNo::parse("X41080220080101001A", Some(&id)).is_err());
        assert!(StudentNo::parse("", None).is_err());
    }

    #[test]
    fn masked_ids_keep_the_county_and_the_last_four() {
        assert_eq!(mask("410802200801010014"), "410802********0014");
        assert_eq!(mask("G410802200801010014"), "G41080*********0014");
        assert_eq!(mask("12345"), "1***5");
        assert_eq!(mask("12"), "**");
    }
}
