//! 加密封存 (附件4 二.5: "由纪检监督人员对成绩库进行加密封存，密码由纪检监督人员保存"): the
//! inspector, at the terminal, writes the season's score library (scores, score history,
//! requests with their events, the audit chain) into an age archive under a passphrase only
//! they keep; the archive's SHA-256 goes into the audit chain and, while the seal is in force,
//! nothing changes a score of the season. Opening an archive and lifting a seal both need the
//! archive and its passphrase. The passphrase is never stored, logged or sent anywhere.

use super::App;
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::store::audit_chain::{self, Checker, Verdict};
use crate::store::seals::{self, FORMAT, Header, Line, Seal};
use crate::store::{audit, from_ms, people, seasons};
use age::secrecy::SecretString;
use anyhow::{Context, bail};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

/// What a seal wrote.
pub struct Sealed {
    pub sha256: String,
    pub bytes: u64,
    pub candidates: usize,
    pub chain_head: String,
}

/// What an archive held, by table.
pub struct Opened {
    pub header: Header,
    pub rows: BTreeMap<&'static str, usize>,
    pub chain: Verdict,
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn table_of(line: &Line) -> &'static str {
    match line {
        Line::Header(_) => "header",
        Line::Candidates(_) => "candidates",
        Line::ScoreHistory(_) => "score_history",
        Line::ReviewRequests(_) => "review_requests",
        Line::ReviewEvents(_) => "review_events",
        Line::AuditChain(_) => "audit_chain",
    }
}

/// Reads an archive with its passphrase, line by line, handing each to `each`. A wrong
/// passphrase is its own error (the passphrase itself is never in any message).
fn read_archive(
    path: &Path,
    passphrase: &SecretString,
    mut each: impl FnMut(Line) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let decryptor = age::Decryptor::new_buffered(BufReader::new(file))
        .with_context(|| format!("{} is not a sealed archive", path.display()))?;
    let identity = age::scrypt::Identity::new(passphrase.clone());
    let reader = match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => {
            bail!("wrong passphrase for {}", path.display())
        }
        Err(e) => bail!("cannot decrypt {}: {e}", path.display()),
    };
    let unzipped = flate2::read::GzDecoder::new(reader);
    for (i, line) in BufReader::new(unzipped).lines().enumerate() {
        let line = line.with_context(|| format!("{} is damaged", path.display()))?;
        let parsed: Line = serde_json::from_str(&line)
            .with_context(|| format!("line {} of the archive does not read", i + 1))?;
        each(parsed)?;
    }
    Ok(())
}

/// `seal open FILE --out DIR`: decrypts the archive, checks the audit chain it holds, and
/// writes each table as JSON Lines into DIR (files readable by their owner only). Needs no
/// database.
pub fn open_seal(archive: &Path, dir: &Path, passphrase: &SecretString) -> anyhow::Result<Opened> {
    let mut files: BTreeMap<&'static str, BufWriter<std::fs::File>> = BTreeMap::new();
    let mut rows: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut header = None;
    let mut checker = Checker::default();
    let mut broken = None;
    read_archive(archive, passphrase, |line| {
        let table = table_of(&line);
        match &line {
            Line::Header(h) => {
                if h.format != FORMAT {
                    bail!(
                        "{} is not a seal this version reads ({})",
                        archive.display(),
                        h.format
                    );
                }
                header = Some(h.clone());
                return Ok(());
            }
            Line::AuditChain(r) if broken.is_none() => broken = checker.push(r),
            _ => {}
        }
        *rows.entry(table).or_default() += 1;
        if !files.contains_key(table) {
            use std::os::unix::fs::OpenOptionsExt;
            // Made once the passphrase has opened the archive.
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{table}.jsonl"));
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            files.insert(table, BufWriter::new(f));
        }
        let w = files.get_mut(table).expect("opened above");
        serde_json::to_writer(&mut *w, &line)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    for (_, mut w) in files {
        w.flush()?;
    }
    let header = header.context("the archive has no header")?;
    Ok(Opened {
        header,
        rows,
        chain: broken.unwrap_or_else(|| checker.finish()),
    })
}

impl App {
    /// The sentence every refused score change gives: sealed, when and by whom.
    pub(crate) fn sealed_message(&self, seal: &Seal, tz: chrono_tz::Tz) -> String {
        format!(
            "the score library was sealed (加密封存) by {} at {}; no score changes until the \
             seal is lifted (exam-review-bot seal lift)",
            seal.sealed_by,
            display(from_ms(seal.sealed_at), tz)
        )
    }

    /// `seal --out FILE`: writes the archive, records its hash, freezes the season, tells the
    /// city admins and the inspectors. Refused until the review is closed (/close, or every
    /// request ended after the window) with no request open, under any name but a bound
    /// 纪检监督's, and when the season is sealed already.
    pub async fn seal(
        &self,
        out: &Path,
        by: &str,
        passphrase: &SecretString,
    ) -> anyhow::Result<Sealed> {
        let now = self.clock.now();
        let mut conn = self.db.pool.acquire().await?;
        let city = self.cli_city(&mut conn).await?;
        let season = seasons::current(&mut conn, &city)
            .await?
            .context("no current season")?;
        if let Some(seal) = seals::in_force(&mut conn, season.id).await? {
            bail!(
                "the season is sealed already: {}",
                self.sealed_message(&seal, season.tz)
            );
        }
        if !super::records::review_closed(&mut conn, season.id).await? {
            let window = match season.review_deadline {
                Some(d) if now < d => {
                    format!("requests are accepted until {}", display(d, season.tz))
                }
                Some(_) => "a city admin closes it with /close (it closes by itself once every \
                            request has ended)"
                    .to_string(),
                None => "the season is not published yet".to_string(),
            };
            bail!("the review is not closed: {window}");
        }
        if out.exists() {
            bail!("{} exists already: choose a new file", out.display());
        }
        let by = by.trim();
        if by.is_empty() {
            bail!("--by names who seals (the 纪检监督)");
        }
        // 附件4 二.5: after the whole review work, by the 纪检监督. Nothing may still be open,
        // not even at the city's 复审, and the name is a bound 纪检监督 of the city's.
        let open = super::records::open_requests(&mut conn, season.id).await?;
        if open > 0 {
            bail!(
                "{open} review requests are still open (with the city's 复审): the library is \
                 sealed once the whole review has ended"
            );
        }
        let inspectors = people::all_holders(&mut conn, Role::Inspector, &city).await?;
        if !inspectors.iter().any(|b| b.name == by) {
            bail!(
                "no 纪检监督 named \"{by}\" is bound in the city: --by names the inspector's \
                 binding as /whoami shows it"
            );
        }
        drop(conn);
        // Frozen first, archived second: nothing changes a score between the archive's
        // snapshot and the seal. An archive that cannot be written unfreezes it again.
        let mut tx = self.db.begin().await?;
        let Some(seal_id) = seals::insert(&mut tx, season.id, now, by, "", "").await? else {
            bail!("the season is sealed already");
        };
        tx.commit().await?;
        let written = async {
            let mut snapshot = self.db.pool.begin().await?;
            if self.db.backend == crate::store::Backend::Postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *snapshot)
                    .await?;
            }
            let n = self
                .write_archive(&mut snapshot, out, by, passphrase, &season)
                .await?;
            snapshot.rollback().await?;
            anyhow::Ok(n)
        }
        .await;
        let candidates = match written {
            Ok(n) => n,
            Err(e) => {
                let mut tx = self.db.begin().await?;
                seals::remove_unfinished(&mut tx, seal_id).await?;
                tx.commit().await?;
                return Err(e);
            }
        };
        let sha256 = sha256_of(out)?;
        let bytes = std::fs::metadata(out)?.len();
        let mut tx = self.db.begin().await?;
        // The seal's own record closes the chain the archive holds.
        let (_, chain_head) = audit_chain::head(&mut tx).await?;
        let detail = format!(
            "season {} sealed by {by}: archive sha256 {sha256}, {candidates} candidates, chain head {chain_head}",
            season.year
        );
        audit(&mut tx, now, "cli", "seal", &detail).await?;
        seals::finish(&mut tx, seal_id, &sha256, &chain_head).await?;
        let data = json!({"by": by, "at": display(now, season.tz), "sha256": sha256,
                          "year": season.year, "lifted": false});
        for role in [Role::CityAdmin, Role::Inspector] {
            for p in people::all_holders(&mut tx, role, &season.city_code).await? {
                self.tell(&mut tx, p.chat_id, "seal_notice", &data).await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Sealed {
            sha256,
            bytes,
            candidates,
            chain_head,
        })
    }

    /// The season's rows as JSON Lines, compressed, through age's encryption into `out` (0600).
    async fn write_archive(
        &self,
        conn: &mut AnyConnection,
        out: &Path,
        by: &str,
        passphrase: &SecretString,
        season: &seasons::Season,
    ) -> anyhow::Result<usize> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let encryptor = age::Encryptor::with_user_passphrase(passphrase.clone());
        // JSON Lines, gzip-compressed (fast level: the archive is written once, at the end of
        // the season), then encrypted.
        let encrypted = encryptor.wrap_output(BufWriter::new(file))?;
        let mut w = BufWriter::new(flate2::write::GzEncoder::new(
            encrypted,
            flate2::Compression::fast(),
        ));
        let mut put = |line: &Line| -> anyhow::Result<()> {
            serde_json::to_writer(&mut w, line)?;
            w.write_all(b"\n")?;
            Ok(())
        };
        put(&Line::Header(Header {
            format: FORMAT.into(),
            season_year: season.year,
            sealed_by: by.into(),
            sealed_at: display(self.clock.now(), season.tz),
        }))?;
        let mut candidates = 0;
        let mut after = 0;
        loop {
            let page = seals::candidates_page(conn, season.id, after).await?;
            let Some(last) = page.last().map(|c| c.id) else {
                break;
            };
            candidates += page.len();
            for c in page {
                put(&Line::Candidates(c))?;
            }
            after = last;
        }
        for h in seals::score_history(conn, season.id).await? {
            put(&Line::ScoreHistory(h))?;
        }
        for r in seals::requests(conn, season.id).await? {
            put(&Line::ReviewRequests(r))?;
        }
        for e in seals::events(conn, season.id).await? {
            put(&Line::ReviewEvents(e))?;
        }
        let mut after = 0;
        loop {
            let page = seals::chain_page(conn, after).await?;
            let Some(last) = page.last().map(|r| r.seq) else {
                break;
            };
            for r in page {
                put(&Line::AuditChain(r))?;
            }
            after = last;
        }
        let gzip = w.into_inner().map_err(|e| e.into_error())?;
        gzip.finish()?.finish()?.flush()?;
        Ok(candidates)
    }

    /// `seal lift --archive FILE`: needs the very archive of the seal in force (its SHA-256)
    /// and its passphrase; recorded in the chain, told to the city admins and inspectors.
    pub async fn lift_seal(
        &self,
        archive: &Path,
        by: &str,
        passphrase: &SecretString,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let (season, seal) = {
            let mut conn = self.db.pool.acquire().await?;
            let city = self.cli_city(&mut conn).await?;
            let season = seasons::current(&mut conn, &city)
                .await?
                .context("no current season")?;
            let seal = seals::in_force(&mut conn, season.id)
                .await?
                .context("the season is not sealed")?;
            (season, seal)
        };
        // A seal whose archive was never finished (the process stopped while writing it)
        // freezes the season with nothing to open: it is lifted without one.
        let unfinished = seal.archive_sha256.is_empty();
        if !unfinished && sha256_of(archive)? != seal.archive_sha256 {
            bail!(
                "{} is not the archive of the seal in force (sealed by {})",
                archive.display(),
                seal.sealed_by
            );
        }
        // The passphrase must open it: reading the header is proof enough.
        let mut seen_header = false;
        let stop = "header read";
        let read = read_archive(archive, passphrase, |line| {
            seen_header = matches!(line, Line::Header(_));
            bail!(stop)
        });
        match read {
            _ if unfinished => {}
            Err(e) if e.to_string() == stop && seen_header => {}
            Err(e) => return Err(e),
            Ok(()) => bail!("the archive is empty"),
        }
        let mut tx = self.db.begin().await?;
        if !seals::lift(&mut tx, seal.id, now, by).await? {
            bail!("the seal was lifted meanwhile");
        }
        let detail = format!(
            "season {} seal lifted by {by} (archive sha256 {})",
            season.year, seal.archive_sha256
        );
        audit(&mut tx, now, "cli", "seal-lift", &detail).await?;
        let data = json!({"by": by, "at": display(now, season.tz), "sha256": seal.archive_sha256,
                          "year": season.year, "lifted": true});
        for role in [Role::CityAdmin, Role::Inspector] {
            for p in people::all_holders(&mut tx, role, &season.city_code).await? {
                self.tell(&mut tx, p.chat_id, "seal_notice", &data).await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}
