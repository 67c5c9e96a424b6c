//! 加密封存 (附件4 二.5: "由纪检监督人员对成绩库进行加密封存，密码由纪检监督人员保存"): the
//! inspector, at the terminal, writes the season's score library (scores, score history,
//! requests with their events, the audit chain) into an age archive under a passphrase only
//! they keep; the archive's SHA-256 goes into the audit chain and, while the seal is in force,
//! nothing changes a score of the season. Opening an archive and lifting a seal both need the
//! archive and its passphrase. The passphrase is never stored, logged or sent anywhere.

use super::App;
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::audit_chain::{self, Checker, Verdict};
use crate::store::seals::{self, FORMAT, Header, Line, READABLE, Seal};
use crate::store::{audit, from_ms, people, purge, seasons};
use age::secrecy::SecretString;
use anyhow::{Context, bail};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

/// What a seal wrote.
pub struct Sealed {
    pub sha256: String,
    pub bytes: u64,
    pub candidates: usize,
    pub chain_head: String,
    /// Rows of personal data and scores that left the live database, by table.
    pub purged: BTreeMap<&'static str, u64>,
}

/// The longest written reason for lifting a seal.
const MAX_REASON: usize = 500;

/// Who lifts a seal and why (附件4 二.5: the inspector holds the password; the city decides).
pub struct Lift<'a> {
    /// The bound 纪检监督 who lifts it.
    pub by: &'a str,
    pub passphrase: &'a SecretString,
    /// The bound city admin whose written reason it is.
    pub approved_by: &'a str,
    pub reason: &'a str,
}

/// Refuses a name that is no bound holder of `role` in the city (names as /whoami shows them).
async fn bound_name(
    conn: &mut Conn,
    role: Role,
    city: &str,
    name: &str,
    flag: &str,
) -> anyhow::Result<()> {
    let holders = people::all_holders(conn, role, city).await?;
    if !holders.iter().any(|b| b.name == name.trim()) {
        bail!(
            "no {} named \"{name}\" is bound in the city: {flag} names the binding as /whoami \
             shows it",
            role.label()
        );
    }
    Ok(())
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
        Line::Roster(_) => "roster",
        Line::EntryRows(_) => "entry_rows",
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
                if !READABLE.contains(&h.format.as_str()) {
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

    /// What a command about the season's candidates, requests or records answers once the
    /// season is sealed: its library is in the archive, not here. None while it is not sealed.
    pub async fn sealed_season_answer(&self, user: i64) -> anyhow::Result<Option<String>> {
        let mut conn = self.db.pool.acquire().await?;
        let city = self.city_of_user(&mut conn, user).await?;
        let Some(season) = seasons::current(&mut conn, &city).await? else {
            return Ok(None);
        };
        let Some(seal) = seals::in_force(&mut conn, season.id).await? else {
            return Ok(None);
        };
        let data = json!({"year": season.year, "by": seal.sealed_by,
                          "at": display(from_ms(seal.sealed_at), season.tz)});
        Ok(Some(self.render.render(tpl::SEASON_SEALED, &data)?))
    }

    /// The command line's records come from the live database; a sealed season's are in its
    /// archive (`seal open`).
    pub async fn refuse_records_if_sealed(&self) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        let city = self.cli_city(&mut conn).await?;
        if let Some(season) = seasons::current(&mut conn, &city).await?
            && let Some(seal) = seals::in_force(&mut conn, season.id).await?
        {
            bail!(
                "{}; the season's records are in the archive (exam-review-bot seal open)",
                self.sealed_message(&seal, season.tz)
            );
        }
        Ok(())
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
        bound_name(&mut conn, Role::Inspector, &city, by, "--by").await?;
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
            crate::store::read_one_snapshot(&mut snapshot).await?;
            let n = self
                .write_archive(&mut snapshot, out, by, passphrase, &season)
                .await?;
            snapshot.rollback().await?;
            anyhow::Ok(n)
        }
        .await;
        let written = match written {
            Ok(rows) => self.check_archive(out, passphrase, &rows).map(|()| rows),
            Err(e) => Err(e),
        };
        let rows = match written {
            Ok(rows) => rows,
            Err(e) => {
                let mut tx = self.db.begin().await?;
                seals::remove_unfinished(&mut tx, seal_id).await?;
                tx.commit().await?;
                return Err(e);
            }
        };
        let candidates = rows.get("candidates").copied().unwrap_or(0);
        let sha256 = sha256_of(out)?;
        let bytes = std::fs::metadata(out)?.len();
        let mut tx = self.db.begin().await?;
        // The archive is the record now: the live database keeps no clear score library of
        // the season (附件4 二.5).
        let purged = purge::season(&mut tx, season.id, &season.city_code).await?;
        // What leaves must be what the archive holds: a row written meanwhile (a roster
        // change) would otherwise be lost with it.
        let differs: Vec<&str> = purge::ARCHIVED
            .iter()
            .copied()
            .filter(|t| {
                purged.get(t).copied().unwrap_or(0) != rows.get(t).copied().unwrap_or(0) as u64
            })
            .collect();
        if !differs.is_empty() {
            drop(tx);
            let mut tx = self.db.begin().await?;
            seals::remove_unfinished(&mut tx, seal_id).await?;
            tx.commit().await?;
            std::fs::remove_file(out).ok();
            bail!(
                "the library changed while it was archived ({}): nothing was sealed; seal again",
                differs.join(", ")
            );
        }
        let removed: u64 = purged.values().sum();
        // The seal's own record closes the chain the archive holds.
        let (_, chain_head) = audit_chain::head(&mut tx).await?;
        let detail = format!(
            "season {} sealed by {by}: archive sha256 {sha256}, {candidates} candidates, chain \
             head {chain_head}; {removed} rows of personal data and scores removed from the \
             live database",
            season.year
        );
        audit(&mut tx, now, "cli", "seal", &detail).await?;
        seals::finish(&mut tx, seal_id, &sha256, &chain_head).await?;
        let data = json!({"by": by, "at": display(now, season.tz), "sha256": sha256,
                          "year": season.year, "lifted": false, "candidates": candidates});
        for role in [Role::CityAdmin, Role::Inspector] {
            for p in people::all_holders(&mut tx, role, &season.city_code).await? {
                self.tell(&mut tx, p.chat_id, tpl::SEAL_NOTICE, &data)
                    .await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Sealed {
            sha256,
            bytes,
            candidates,
            chain_head,
            purged,
        })
    }

    /// Reads the archive just written back with its passphrase: it must hold every row
    /// written, table by table, before anything leaves the live database.
    fn check_archive(
        &self,
        out: &Path,
        passphrase: &SecretString,
        written: &BTreeMap<&'static str, usize>,
    ) -> anyhow::Result<()> {
        let mut read: BTreeMap<&'static str, usize> = BTreeMap::new();
        read_archive(out, passphrase, |line| {
            if !matches!(line, Line::Header(_)) {
                *read.entry(table_of(&line)).or_default() += 1;
            }
            Ok(())
        })?;
        if &read != written {
            bail!(
                "the archive does not read back as written ({read:?}, not {written:?}): \
                 nothing was sealed"
            );
        }
        Ok(())
    }

    /// The season's rows as JSON Lines, compressed, through age's encryption into `out` (0600).
    async fn write_archive(
        &self,
        conn: &mut Conn,
        out: &Path,
        by: &str,
        passphrase: &SecretString,
        season: &seasons::Season,
    ) -> anyhow::Result<BTreeMap<&'static str, usize>> {
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
        let mut rows: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut put = |line: &Line| -> anyhow::Result<()> {
            serde_json::to_writer(&mut w, line)?;
            w.write_all(b"\n")?;
            if !matches!(line, Line::Header(_)) {
                *rows.entry(table_of(line)).or_default() += 1;
            }
            Ok(())
        };
        put(&Line::Header(Header {
            format: FORMAT.into(),
            season_year: season.year,
            sealed_by: by.into(),
            sealed_at: display(self.clock.now(), season.tz),
        }))?;
        let mut after = 0;
        loop {
            let page = seals::candidates_page(conn, season.id, after).await?;
            let Some(last) = page.last().map(|c| c.id) else {
                break;
            };
            for c in page {
                put(&Line::Candidates(c))?;
            }
            after = last;
        }
        let mut after = 0;
        loop {
            let page = seals::roster_page(conn, season.id, after).await?;
            let Some(last) = page.last().map(|r| r.id) else {
                break;
            };
            for r in page {
                put(&Line::Roster(r))?;
            }
            after = last;
        }
        for r in seals::entry_rows(conn, season.id).await? {
            put(&Line::EntryRows(r))?;
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
        let mut file = gzip.finish()?.finish()?;
        file.flush()?;
        // On disk before anything leaves the live database: the archive becomes the record.
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(rows)
    }

    /// `seal lift --archive FILE`: needs the very archive of the seal in force (its SHA-256),
    /// its passphrase, the bound 纪检监督 who lifts it and a bound city admin's written
    /// reason. The archived rows go back into the live database under their own ids; recorded
    /// in the chain, told to the city admins and inspectors.
    pub async fn lift_seal(&self, archive: &Path, lift: &Lift<'_>) -> anyhow::Result<()> {
        let now = self.clock.now();
        let reason = lift.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            bail!("--reason gives the city admin's written reason (1 to {MAX_REASON} characters)");
        }
        let (season, seal) = {
            let mut conn = self.db.pool.acquire().await?;
            let city = self.cli_city(&mut conn).await?;
            let season = seasons::current(&mut conn, &city)
                .await?
                .context("no current season")?;
            let seal = seals::in_force(&mut conn, season.id)
                .await?
                .context("the season is not sealed")?;
            bound_name(&mut conn, Role::Inspector, &city, lift.by, "--by").await?;
            bound_name(
                &mut conn,
                Role::CityAdmin,
                &city,
                lift.approved_by,
                "--approved-by",
            )
            .await?;
            (season, seal)
        };
        // A seal whose archive was never finished (the process stopped while writing it)
        // freezes the season with nothing to open and took nothing out: it is lifted without
        // one.
        let unfinished = seal.archive_sha256.is_empty();
        if !unfinished && sha256_of(archive)? != seal.archive_sha256 {
            bail!(
                "{} is not the archive of the seal in force (sealed by {})",
                archive.display(),
                seal.sealed_by
            );
        }
        let mut lines = Vec::new();
        if !unfinished {
            read_archive(archive, lift.passphrase, |line| {
                lines.push(line);
                Ok(())
            })?;
            if !matches!(lines.first(), Some(Line::Header(_))) {
                bail!("the archive has no header");
            }
        }
        let mut tx = self.db.begin().await?;
        if !seals::lift(&mut tx, seal.id, now, lift.by).await? {
            bail!("the seal was lifted meanwhile");
        }
        // A seal of the first format took nothing out of the live database.
        let purged = matches!(lines.first(), Some(Line::Header(h)) if h.format == FORMAT);
        for line in lines.iter().filter(|_| purged) {
            purge::restore(&mut tx, season.id, line)
                .await
                .context("the archived rows cannot go back: nothing was lifted")?;
        }
        let detail = format!(
            "season {} seal lifted by {} with {}'s written reason {reason:?} (archive sha256 {}); \
             {} archived rows put back",
            season.year,
            lift.by,
            lift.approved_by,
            seal.archive_sha256,
            lines.len().saturating_sub(1)
        );
        audit(&mut tx, now, "cli", "seal-lift", &detail).await?;
        let data = json!({"by": lift.by, "at": display(now, season.tz), "sha256": seal.archive_sha256,
                          "year": season.year, "lifted": true, "approved_by": lift.approved_by,
                          "reason": reason});
        for role in [Role::CityAdmin, Role::Inspector] {
            for p in people::all_holders(&mut tx, role, &season.city_code).await? {
                self.tell(&mut tx, p.chat_id, tpl::SEAL_NOTICE, &data)
                    .await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}
