//! Who opened the season board, as Telegram vouches for it: a Mini App's `initData`, a query
//! string whose `hash` is HMAC-SHA256 over its other fields (sorted, `key=value`, one a line)
//! under a key derived from the bot's token and "WebAppData". Nothing else signs a person in to
//! the board, so this is the board's whole trust boundary; it reads at most `MAX_LEN` bytes and
//! `MAX_FIELDS` fields, whatever it is sent.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Longer than any `initData` a Telegram client sends (a few hundred bytes).
pub const MAX_LEN: usize = 8 * 1024;
const MAX_FIELDS: usize = 32;

/// How far a client's clock may run ahead of ours before its `auth_date` is not believed.
const SKEW: Duration = Duration::seconds(60);

/// A person Telegram vouches for, and when it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub user_id: i64,
    pub first_name: String,
    pub auth_date: DateTime<Utc>,
}

/// Why an `initData` does not sign anyone in. None of them says more to the caller than this:
/// the page gets a 401 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("initData is not a query string of the expected size")]
    Malformed,
    #[error("initData has no hash")]
    Unsigned,
    #[error("initData's hash does not match the bot's token")]
    Forged,
    #[error("initData is older than the board accepts, or from the future")]
    Stale,
    #[error("initData names no user")]
    NoUser,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    first_name: String,
}

/// Checks `raw` (the query string exactly as the client has it) against the bot's `token`:
/// the signature first, then that it was given within `max_age` of `now`.
pub fn check(
    raw: &str,
    token: &str,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<Opened, Refused> {
    if raw.is_empty() || raw.len() > MAX_LEN {
        return Err(Refused::Malformed);
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut hash = None;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if fields.len() == MAX_FIELDS {
            return Err(Refused::Malformed);
        }
        if key == "hash" {
            if hash.replace(value.into_owned()).is_some() {
                return Err(Refused::Malformed);
            }
        } else {
            fields.push((key.into_owned(), value.into_owned()));
        }
    }
    let hash = hash.ok_or(Refused::Unsigned)?;
    let expected = signature(&fields, token);
    if !bool::from(
        expected
            .as_bytes()
            .ct_eq(hash.to_ascii_lowercase().as_bytes()),
    ) {
        return Err(Refused::Forged);
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let auth_date = field("auth_date")
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or(Refused::Malformed)?;
    if auth_date > now + SKEW || now - auth_date > max_age {
        return Err(Refused::Stale);
    }
    let user: User = field("user")
        .and_then(|u| serde_json::from_str(u).ok())
        .ok_or(Refused::NoUser)?;
    Ok(Opened {
        user_id: user.id,
        first_name: user.first_name,
        auth_date,
    })
}

/// How long after Telegram gave a page its `initData` the board still signs it in.
pub const BOARD_MAX_AGE: Duration = Duration::hours(1);

/// The season board's sign-in for one bot: its token checks the `initData` a page brings.
/// (No `Debug`: it holds the token.)
pub struct TelegramSignIn {
    token: String,
}

impl TelegramSignIn {
    pub fn new(token: &str) -> TelegramSignIn {
        TelegramSignIn {
            token: token.to_string(),
        }
    }
}

impl crate::board::SignIn for TelegramSignIn {
    fn person(&self, proof: &str, now: DateTime<Utc>) -> Option<i64> {
        match check(proof, &self.token, now, BOARD_MAX_AGE) {
            Ok(opened) => Some(opened.user_id),
            Err(why) => {
                tracing::info!(%why, "a board sign-in was refused");
                None
            }
        }
    }
}

/// The lowercase hex HMAC of the data-check-string: every field but `hash`, sorted by key.
fn signature(fields: &[(String, String)], token: &str) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let check_string = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut secret = Hmac::<Sha256>::new_from_slice(b"WebAppData").expect("any key length");
    secret.update(token.as_bytes());
    let secret = secret.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("any key length");
    mac.update(check_string.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published examples of initData with the tokens they were signed with
    // (Telegram-Mini-Apps/init-data-golang's tests and README).
    const TOKEN_A: &str = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8";
    const DATA_A: &str = "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D&auth_date=1662771648&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2";
    // With the `signature` field of Bot API 8.0, which the hash covers like any other field,
    // and a name with a space, a plus and an escaped slash.
    const TOKEN_B: &str = "7342037359:AAHI25ES9xCOMPokpYoz-p8XVrZUdygo2J4";
    const DATA_B: &str = "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D&chat_instance=8134722200314281151&chat_type=private&auth_date=1733509682&signature=TYJxVcisqbWjtodPepiJ6ghziUL94-KNpG8Pau-X7oNNLNBM72APCpi_RKiUlBvcqo5L-LAxIc3dnTzcZX_PDg&hash=a433d8f9847bd6addcc563bff7cc82c89e97ea0d90c11fe5729cae6796a36d73";

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    const DAY: Duration = Duration::days(1);

    #[test]
    fn the_published_examples_sign_their_person_in() {
        let a = check(DATA_A, TOKEN_A, at(1_662_771_648 + 60), DAY).unwrap();
        assert_eq!(a.user_id, 279_058_397);
        assert_eq!(a.first_name, "Vladislav");
        assert_eq!(a.auth_date, at(1_662_771_648));
        let b = check(DATA_B, TOKEN_B, at(1_733_509_682), DAY).unwrap();
        assert_eq!(b.first_name, "Vladislav + - ? /");
    }

    #[test]
    fn another_bots_token_an_altered_field_or_no_hash_is_refused() {
        let now = at(1_662_771_648);
        assert_eq!(check(DATA_A, TOKEN_B, now, DAY), Err(Refused::Forged));
        let altered = DATA_A.replace("279058397", "279058398");
        assert_eq!(check(&altered, TOKEN_A, now, DAY), Err(Refused::Forged));
        let appended = format!("{DATA_A}abc");
        assert_eq!(check(&appended, TOKEN_A, now, DAY), Err(Refused::Forged));
        let (unsigned, _) = DATA_A.split_once("&hash=").unwrap();
        assert_eq!(check(unsigned, TOKEN_A, now, DAY), Err(Refused::Unsigned));
        let twice = format!("{DATA_A}&hash=00");
        assert_eq!(check(&twice, TOKEN_A, now, DAY), Err(Refused::Malformed));
    }

    #[test]
    fn the_signature_field_is_part_of_what_the_hash_covers() {
        let without = DATA_B.replace("&signature=", "&signaturx=");
        let now = at(1_733_509_682);
        assert_eq!(check(&without, TOKEN_B, now, DAY), Err(Refused::Forged));
    }

    #[test]
    fn an_old_or_future_auth_date_is_stale() {
        let given = 1_662_771_648;
        assert!(check(DATA_A, TOKEN_A, at(given) + DAY, DAY).is_ok());
        let late = at(given) + DAY + Duration::seconds(1);
        assert_eq!(check(DATA_A, TOKEN_A, late, DAY), Err(Refused::Stale));
        let early = at(given) - SKEW - Duration::seconds(1);
        assert_eq!(check(DATA_A, TOKEN_A, early, DAY), Err(Refused::Stale));
    }

    #[test]
    fn input_beyond_the_bounds_is_refused_unread() {
        let now = at(1_662_771_648);
        let long = format!("{DATA_A}&pad={}", "x".repeat(MAX_LEN));
        assert_eq!(check(&long, TOKEN_A, now, DAY), Err(Refused::Malformed));
        let many = (0..=MAX_FIELDS)
            .map(|i| format!("f{i}=1"))
            .collect::<Vec<_>>();
        assert_eq!(
            check(&many.join("&"), TOKEN_A, now, DAY),
            Err(Refused::Malformed)
        );
        assert_eq!(check("", TOKEN_A, now, DAY), Err(Refused::Malformed));
    }
}
