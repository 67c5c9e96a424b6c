//! The board's session: after the messenger has vouched for a person once, a short-lived cookie
//! (`person.expires.mac`) carries who they are, signed with a key only the bot's instances know.
//! Nothing is stored: any instance of the same bot reads it, and it ends by itself.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "board";

/// How long a session lasts before the page asks the messenger again.
pub const LASTS: Duration = Duration::hours(2);

/// The key that signs sessions.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// A key derived from a secret the instances share (the bot's token), for sessions only.
    pub fn derive(secret: &str) -> SessionKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"exam-review-bot board session")
            .expect("a key of any length");
        mac.update(secret.as_bytes());
        SessionKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("a key of any length");
        mac.update(body.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The cookie's value for `person`, good until `now + LASTS`.
    pub fn issue(&self, person: i64, now: DateTime<Utc>) -> String {
        let body = format!("{person}.{}", (now + LASTS).timestamp());
        let mac = self.mac(&body);
        format!("{body}.{mac}")
    }

    /// The person a cookie's value names, while it is genuine and has not expired.
    pub fn person(&self, value: &str, now: DateTime<Utc>) -> Option<i64> {
        if value.len() > 128 {
            return None;
        }
        let (body, mac) = value.rsplit_once('.')?;
        if !bool::from(self.mac(body).as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        let (person, expires) = body.split_once('.')?;
        let expires = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
        (now < expires).then_some(())?;
        person.parse().ok()
    }

    /// The Set-Cookie header that starts a session.
    pub fn set_cookie(&self, person: i64, now: DateTime<Utc>) -> String {
        format!(
            "{COOKIE}={}; Path=/board; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
            self.issue(person, now),
            LASTS.num_seconds()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    #[test]
    fn a_session_names_its_person_until_it_ends() {
        let key = SessionKey::derive("123:token");
        let value = key.issue(42, now());
        assert_eq!(key.person(&value, now()), Some(42));
        assert_eq!(
            key.person(&value, now() + LASTS - Duration::seconds(1)),
            Some(42)
        );
        assert_eq!(key.person(&value, now() + LASTS), None);
    }

    #[test]
    fn an_altered_or_foreign_session_names_nobody() {
        let key = SessionKey::derive("123:token");
        let value = key.issue(42, now());
        let (_, rest) = value.split_once('.').unwrap();
        assert_eq!(key.person(&format!("43.{rest}"), now()), None);
        assert_eq!(SessionKey::derive("456:other").person(&value, now()), None);
        assert_eq!(key.person("", now()), None);
        assert_eq!(key.person("42.99999999999", now()), None);
    }
}
