//! The half-day password (附件7 二: "每半天考试结束后由其设置考试成绩数据密码"). Sealing a batch
//! encrypts its agreed rows under a password the bot generates, shows once to the inspector
//! and never keeps; the archive stays with the batch. Opening it later shows the rows as they
//! were sealed beside the live ones, every later change named.

use super::App;
use crate::domain::entry::{EntryRow, Mismatch, Side, reconcile, seal_hash};
use crate::store::entry::{self as batches};
use crate::store::{entry_archives, seasons};
use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, bail};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// What a half-day archive says of itself.
pub const FORMAT: &str = "exam-review-bot half-day 1";

/// The password's alphabet: no 0/O, 1/I/L, 2/Z, 5/S, 8/B, so it is copied onto paper and typed
/// back without doubt.
const ALPHABET: &[u8] = b"34679ACDEFGHJKMNPQRTUVWXY";
const GROUPS: usize = 5;
const GROUP: usize = 4;

/// scrypt's work factor for these archives. The password is random (20 symbols of 25, 92
/// bits), so guessing it is out of reach without stretching; a light factor keeps a seal at
/// milliseconds instead of a second each on the exam evening.
const LOG_N: u8 = 10;

/// An archive is at most this large once decrypted (a half-day of one county is a few
/// thousand rows, well under a megabyte).
const MAX_PLAIN: u64 = 64 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub batch: i64,
    pub county: String,
    pub half_day: String,
    pub sealed_by: String,
    pub sealed_at: String,
    /// `entry::seal_hash` of the rows, as the audit chain holds it.
    pub rows_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Contents {
    header: Header,
    rows: Vec<EntryRow>,
}

/// A new password: five groups of four, e.g. `K7QF-9XMT-…`.
pub fn generate() -> SecretString {
    let mut rng = rand::rng();
    let groups: Vec<String> = (0..GROUPS)
        .map(|_| {
            (0..GROUP)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        })
        .collect();
    SecretString::from(groups.join("-"))
}

/// A password as typed back: case, spaces and dashes do not matter.
pub fn normalized(typed: &SecretString) -> SecretString {
    let clean: String = typed
        .expose_secret()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    SecretString::from(
        clean
            .as_bytes()
            .chunks(GROUP)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// The rows under the password, as bytes to keep with the batch.
pub fn encrypt(
    header: &Header,
    rows: &[EntryRow],
    password: &SecretString,
) -> anyhow::Result<Vec<u8>> {
    let mut recipient = age::scrypt::Recipient::new(password.clone());
    recipient.set_work_factor(LOG_N);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))?;
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out)?;
    serde_json::to_writer(
        &mut w,
        &Contents {
            header: header.clone(),
            rows: rows.to_vec(),
        },
    )?;
    w.finish()?.flush()?;
    Ok(out)
}

/// The header and rows of an archive; a wrong password is its own error.
pub fn decrypt(archive: &[u8], password: &SecretString) -> anyhow::Result<(Header, Vec<EntryRow>)> {
    let decryptor =
        age::Decryptor::new(archive).context("the batch's archive is not an age archive")?;
    let identity = age::scrypt::Identity::new(normalized(password));
    let reader = match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => {
            bail!("wrong password for this half-day")
        }
        Err(e) => bail!("cannot decrypt the half-day's archive: {e}"),
    };
    let mut plain = Vec::new();
    reader.take(MAX_PLAIN + 1).read_to_end(&mut plain)?;
    if plain.len() as u64 > MAX_PLAIN {
        bail!("the half-day's archive is larger than any half-day");
    }
    let contents: Contents =
        serde_json::from_slice(&plain).context("the half-day's archive does not read")?;
    if contents.header.format != FORMAT {
        bail!(
            "not a half-day archive this version reads ({})",
            contents.header.format
        );
    }
    Ok((contents.header, contents.rows))
}

/// Every difference between the sealed rows and the live ones (both in 准考证号 order): a
/// later change, named field by field (`a` as sealed, `b` as it is now).
pub fn changes(sealed: &[EntryRow], live: &[EntryRow]) -> Vec<Mismatch> {
    reconcile(sealed, live)
}

/// A half-day opened with its password, beside the live data.
pub struct Opened {
    pub header: Header,
    pub rows: Vec<EntryRow>,
    /// The batch's agreed entry as the database holds it now, against the sealed rows.
    pub entry_changes: Vec<Mismatch>,
    /// The published scores of its candidates against the sealed rows; None before
    /// publication.
    pub published_changes: Option<Vec<Mismatch>>,
}

impl App {
    /// `seal half-day N`: decrypts batch N's archive with the inspector's password, checks it
    /// against the hashes the audit chain holds, and names every later change.
    pub async fn open_half_day(
        &self,
        batch: i64,
        password: &SecretString,
    ) -> anyhow::Result<Opened> {
        let mut conn = self.db.pool.acquire().await?;
        let b = batches::get(&mut conn, batch)
            .await?
            .with_context(|| format!("there is no batch #{batch}"))?;
        let (sha256, archive) =
            entry_archives::get(&mut conn, batch)
                .await?
                .with_context(|| {
                    format!("batch #{batch} has no half-day archive (it is not sealed)")
                })?;
        let actual = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&archive));
        if actual != sha256 {
            bail!("batch #{batch}'s archive is not the one sealed (its SHA-256 differs)");
        }
        let (header, rows) = decrypt(&archive, password)?;
        if header.batch != batch || seal_hash(&rows) != header.rows_sha256 {
            bail!("batch #{batch}'s archive does not hold the rows that were sealed");
        }
        if b.seal_hash.as_deref() != Some(header.rows_sha256.as_str()) {
            bail!("batch #{batch}'s seal record differs from its archive");
        }
        let live = batches::rows(&mut conn, batch, Side::A).await?;
        let season = seasons::by_id(&mut conn, b.season_id)
            .await?
            .context("the batch's season is gone")?;
        if let Some(seal) = crate::store::seals::in_force(&mut conn, season.id).await? {
            bail!(
                "{}; the live rows are in the season's archive, so there is nothing here to \
                 compare batch #{batch} with (exam-review-bot seal open)",
                self.sealed_message(&seal, season.tz)
            );
        }
        let published_changes = match season.published_at {
            Some(_) => {
                let published = entry_archives::published(&mut conn, b.season_id, batch).await?;
                Some(changes(&rows, &published))
            }
            None => None,
        };
        Ok(Opened {
            entry_changes: changes(&rows, &live),
            published_changes,
            header,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(exam_no: &str, score: i64) -> EntryRow {
        EntryRow {
            exam_no: exam_no.into(),
            name: "张三".into(),
            score,
            item_main: Some(score - 20),
            item_sec1: Some(10),
            item_sec2: Some(5),
            item_tidy: Some(5),
            exempt: 0,
        }
    }

    fn header() -> Header {
        Header {
            format: FORMAT.into(),
            batch: 3,
            county: "红旗区".into(),
            half_day: "2023-04-26 上午".into(),
            sealed_by: "纪检甲".into(),
            sealed_at: "2023-04-26 21:30".into(),
            rows_sha256: "ab".into(),
        }
    }

    #[test]
    fn a_sealed_half_day_opens_with_its_password_only() {
        let password = generate();
        assert_eq!(password.expose_secret().len(), 24);
        let rows = vec![row("001", 90), row("002", 85)];
        let archive = encrypt(&header(), &rows, &password).unwrap();
        let (h, back) = decrypt(&archive, &password).unwrap();
        assert_eq!((h.batch, back), (3, rows));
        let typed = SecretString::from(password.expose_secret().to_lowercase().replace('-', " "));
        assert!(decrypt(&archive, &typed).is_ok(), "typed back loosely");
        let wrong = decrypt(&archive, &generate()).unwrap_err().to_string();
        assert_eq!(wrong, "wrong password for this half-day");
    }

    #[test]
    fn a_later_change_is_named_as_sealed_and_as_now() {
        let sealed = vec![row("001", 90), row("002", 85)];
        let live = vec![row("001", 90), row("002", 87)];
        let named = changes(&sealed, &live);
        assert!(
            named
                .iter()
                .any(|m| m.exam_no == "002" && m.field == "成绩" && m.a == "8.5" && m.b == "8.7"),
            "{named:?}"
        );
    }
}
