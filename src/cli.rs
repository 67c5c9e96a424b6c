//! The command line: administration commands and `run`. Each command is a thin call into `app`.

use crate::app::records::{FileKind, Record};
use crate::app::{Actor, App};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::deadline::display;
use crate::import::Refused;
use crate::store::Db;
use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
mod args;

pub use args::{AuditWhat, Cli, Command, EntryWhat, ExportWhat, ImportWhat, SealThen};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The passphrase: from the file named (its first line), or asked for at the terminal without
/// echo (twice when sealing). It goes nowhere but the age library.
fn passphrase(
    file: Option<&std::path::Path>,
    twice: bool,
) -> anyhow::Result<age::secrecy::SecretString> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the passphrase file {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => {
            let first = rpassword::prompt_password("Passphrase: ")?;
            if twice && rpassword::prompt_password("Again: ")? != first {
                anyhow::bail!("the two passphrases differ");
            }
            first
        }
    };
    if text.chars().count() < 8 {
        anyhow::bail!("a passphrase needs at least 8 characters");
    }
    Ok(age::secrecy::SecretString::from(text))
}

/// What `seal half-day` prints: the sealed half-day, and each later change, field by field.
fn half_day_report(opened: &crate::app::entry::password::Opened) -> String {
    let h = &opened.header;
    let mut out = format!(
        "batch #{} ({} {}) sealed by {} at {}: {} rows, sha256 {}\n",
        h.batch,
        h.county,
        h.half_day,
        h.sealed_by,
        h.sealed_at,
        opened.rows.len(),
        h.rows_sha256
    );
    let mut list = |what: &str, changes: &[crate::domain::entry::Mismatch]| {
        if changes.is_empty() {
            out.push_str(&format!("{what}: as sealed\n"));
            return;
        }
        out.push_str(&format!(
            "{what}: {} changes since the seal\n",
            changes.len()
        ));
        for m in changes {
            out.push_str(&format!(
                "  {} {} {}: sealed {}, now {}\n",
                m.exam_no, m.name, m.field, m.a, m.b
            ));
        }
    };
    list("the agreed entry", &opened.entry_changes);
    match &opened.published_changes {
        Some(changes) => list("the published scores", changes),
        None => out.push_str("the published scores: not published yet\n"),
    }
    out
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints the chats; its log would only get in the way.
    let default_filter = match cli.command {
        Command::Demo { .. } | Command::Simulate { .. } => "warn",
        _ => "info,sqlx=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // LOG_FORMAT=json: one JSON object a line, for a log collector.
    match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => log.json().init(),
        _ => log.init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(refused) = e.downcast_ref::<Refused>() {
                for p in &refused.problems {
                    eprintln!("{p}");
                }
                if refused.problems.more() > 0 {
                    eprintln!("… and {} more", refused.problems.more());
                }
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The clock: the system's, unless `EXAM_REVIEW_BOT_CLOCK` (RFC 3339) sets where a drill or a
/// process-level test starts its day; from there it runs at real speed.
fn clock_from_env() -> anyhow::Result<Arc<dyn crate::clock::Clock>> {
    match std::env::var("EXAM_REVIEW_BOT_CLOCK") {
        Ok(at) if !at.is_empty() => {
            let at = DateTime::parse_from_rfc3339(&at)
                .with_context(|| format!("EXAM_REVIEW_BOT_CLOCK {at:?} is not RFC 3339"))?;
            tracing::warn!("running on a shifted clock starting at {at}");
            Ok(Arc::new(crate::clock::OffsetClock::starting_at(
                at.to_utc(),
            )))
        }
        _ => Ok(Arc::new(SystemClock)),
    }
}

/// The App a command runs on, acting in `--city` when one was given.
async fn open_app(config: Config, city: &Option<String>) -> anyhow::Result<App> {
    let db = Db::open(&config.database_url).await?;
    let mut app = App::new(db, config, clock_from_env()?)?;
    app.cli_city = city.clone();
    for code in app.unknown_city_sections().await? {
        tracing::warn!(
            "the configuration's [cities.{code}] names no city of the units: that section is \
             not used"
        );
    }
    for code in app.unknown_unit_sections().await? {
        tracing::warn!(
            "the configuration's [units.{code}] names no district or city-direct school of the \
             units: that section is not used"
        );
    }
    Ok(app)
}

pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let city = cli.city.clone();
    match cli.command {
        Command::Migrate => {
            open_app(config, &city).await?;
            println!("migrations applied");
        }
        Command::Season {
            year,
            last_exam_day,
            tz,
            full_score,
            exemption_closes,
            first_exam_day,
        } => {
            let app = open_app(config, &city).await?;
            let mut season = app.set_season(year, last_exam_day, tz, full_score).await?;
            if exemption_closes.is_some() || first_exam_day.is_some() {
                let closes = match exemption_closes {
                    Some(text) => Some(parse_time(&app, &text).await?),
                    None => season.exemption_closes,
                };
                let first = first_exam_day.or(season.first_exam_day);
                season = app.set_exemption_window(closes, first).await?;
            }
            println!("{}", app.describe_season(&season));
        }
        Command::Seal {
            then: None,
            out,
            by,
            passphrase_file,
        } => {
            let out = out.context("seal needs --out FILE (the archive to write)")?;
            let by = by.context("seal needs --by NAME (who seals)")?;
            let secret = passphrase(passphrase_file.as_deref(), true)?;
            let app = open_app(config, &city).await?;
            let sealed = app.seal(&out, &by, &secret).await?;
            println!(
                "sealed {} candidates into {} ({} bytes)\narchive sha256 {}\naudit chain head {}",
                sealed.candidates,
                out.display(),
                sealed.bytes,
                sealed.sha256,
                sealed.chain_head
            );
            let removed: Vec<String> = sealed
                .purged
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            println!(
                "removed from the live database: {}\nthe archive is the record: the final scores come from `seal open`",
                removed.join(", ")
            );
        }
        Command::Seal {
            then:
                Some(SealThen::Open {
                    archive,
                    out,
                    passphrase_file,
                }),
            ..
        } => {
            let secret = passphrase(passphrase_file.as_deref(), false)?;
            let opened = crate::app::seal::open_seal(&archive, &out, &secret)?;
            println!(
                "season {} sealed by {} at {}",
                opened.header.season_year, opened.header.sealed_by, opened.header.sealed_at
            );
            for (table, n) in &opened.rows {
                println!("{table}: {n} rows");
            }
            println!("{}", opened.chain);
            if !matches!(
                opened.chain,
                crate::store::audit_chain::Verdict::Intact { .. }
            ) {
                anyhow::bail!("the archived audit chain is broken");
            }
        }
        Command::Seal {
            then:
                Some(SealThen::HalfDay {
                    batch,
                    out,
                    passphrase_file,
                }),
            ..
        } => {
            let secret = passphrase(passphrase_file.as_deref(), false)?;
            let app = open_app(config, &city).await?;
            let opened = app.open_half_day(batch, &secret).await?;
            print!("{}", half_day_report(&opened));
            if let Some(out) = out {
                let mut text = String::new();
                for r in &opened.rows {
                    text.push_str(&serde_json::to_string(r)?);
                    text.push('\n');
                }
                crate::store::write_private(&out, text.as_bytes())?;
                println!("wrote the sealed rows to {}", out.display());
            }
            if !opened.entry_changes.is_empty()
                || opened
                    .published_changes
                    .as_ref()
                    .is_some_and(|c| !c.is_empty())
            {
                anyhow::bail!("the live data differs from the sealed half-day");
            }
        }
        Command::Seal {
            then:
                Some(SealThen::Lift {
                    archive,
                    by,
                    approved_by,
                    reason,
                    passphrase_file,
                }),
            ..
        } => {
            let secret = passphrase(passphrase_file.as_deref(), false)?;
            let app = open_app(config, &city).await?;
            let lift = crate::app::seal::Lift {
                by: &by,
                passphrase: &secret,
                approved_by: &approved_by,
                reason: &reason,
            };
            app.lift_seal(&archive, &lift).await?;
            println!("the seal is lifted: the archived rows are back in the database");
        }
        Command::Audit {
            what: AuditWhat::Verify,
        } => {
            let app = open_app(config, &city).await?;
            let verdict = app.verify_audit().await?;
            if !matches!(verdict, crate::store::audit_chain::Verdict::Intact { .. }) {
                anyhow::bail!("{verdict}");
            }
            println!("{verdict}");
        }
        Command::Backup { out } => {
            let app = open_app(config, &city).await?;
            let bytes = app.backup(&out).await?;
            println!("wrote {} ({bytes} bytes)", out.display());
        }
        Command::Export { what } => {
            let app = open_app(config, &city).await?;
            app.refuse_records_if_sealed().await?;
            match what {
                ExportWhat::ReviewSummary { unit, out } => {
                    let kind = out.as_deref().map_or(FileKind::Xlsx, FileKind::of);
                    let record = app.export_review_summary(&unit, kind).await?;
                    write_record(out, &record)?;
                }
                ExportWhat::ExemptionSummary { unit, out } => {
                    let kind = out.as_deref().map_or(FileKind::Xlsx, FileKind::of);
                    let record = app.export_exemption_summary(&unit, kind).await?;
                    write_record(out, &record)?;
                }
                // One form per request: 附件5 of a review, 附件2 of an exemption.
                ExportWhat::ReviewForm { request, out }
                | ExportWhat::ExemptionForm { request, out } => {
                    let record = app.export_review_form(request).await?;
                    write_record(out, &record)?;
                }
            }
        }
        Command::Import { what } => {
            let app = open_app(config, &city).await?;
            match what {
                ImportWhat::Units { file } => {
                    let units = app.import_units(&file).await?;
                    println!("imported {} units", units.len());
                }
                ImportWhat::Candidates { file } => {
                    let summary = app.import_candidates(&file).await?;
                    for (code, name, n) in &summary.per_school {
                        println!("{code}\t{name}\t{n}");
                    }
                    println!(
                        "imported a roster of {} candidates in {} schools into season {}",
                        summary.total,
                        summary.per_school.len(),
                        summary.season_year
                    );
                    if summary.unseated > 0 && summary.unseated as u64 == summary.total {
                        println!(
                            "the roster has no sittings (考试日期, 午别): no entry batches were \
                             planned, and the scores come as one file (import scores)"
                        );
                    } else if summary.unseated > 0 {
                        println!(
                            "warning: {} candidate(s) have no 考试日期/午别 and belong to no entry \
                             batch; /publish waits until a roster gives them a sitting",
                            summary.unseated
                        );
                    }
                }
                ImportWhat::Scores { file } => {
                    let summary = app.import_scores(&file).await?;
                    for (code, name, n) in &summary.per_school {
                        println!("{code}\t{name}\t{n}");
                    }
                    println!(
                        "imported {} candidates in {} schools into season {}",
                        summary.total,
                        summary.per_school.len(),
                        summary.season_year
                    );
                }
            }
        }
        Command::Entry { what } => entry(open_app(config, &city).await?, what).await?,
        Command::Invite {
            role,
            unit,
            name,
            class,
            from,
            out,
        } => {
            let app = open_app(config, &city).await?;
            match (from, role, unit, name) {
                (Some(roster), ..) => invite_roster(&app, &roster, &out).await?,
                (None, Some(role), Some(unit), Some(name)) => println!(
                    "{}",
                    app.invite(role, &unit, &name, class.as_deref()).await?
                ),
                _ => anyhow::bail!("give --role, --unit and --name, or --from a roster"),
            }
        }
        Command::Revoke { user, role, unit } => {
            let app = open_app(config, &city).await?;
            let n = app.revoke(user, role, unit.as_deref()).await?;
            println!("revoked {n} binding(s)");
        }
        Command::RevokeInvite { code } => {
            let app = open_app(config, &city).await?;
            if !app.revoke_invite(&code).await? {
                anyhow::bail!("no unused invite has that code (used, revoked, or mistyped)");
            }
            println!("invite revoked: its link no longer works");
        }
        Command::Publish { at } => {
            let app = open_app(config, &city).await?;
            let at = match at {
                Some(text) => Some(parse_time(&app, &text).await?),
                None => None,
            };
            let o = app.publish(Actor::Cli, at).await?;
            println!(
                "season {} {} at {}{}; review requests until {}",
                o.year,
                if o.first_time {
                    "published"
                } else {
                    "was already published"
                },
                display(o.published_at, o.tz),
                if o.late {
                    " (LATE: after the 2-day deadline)"
                } else {
                    ""
                },
                display(o.review_deadline, o.tz)
            );
            println!(
                "queued {} school notices and {} district summaries; {} schools have no bound contact",
                o.new_notices,
                o.district_summaries,
                o.schools_without_contact.len()
            );
            for (code, name) in &o.schools_without_contact {
                println!("  no contact: {code} {name}");
            }
            println!("`exam-review-bot run` delivers them");
        }
        Command::Run {
            webhook,
            listen,
            platform,
        } => {
            if platform.unwrap_or(config.platform) == crate::config::Platform::Dingtalk {
                if webhook.is_some() {
                    anyhow::bail!("--webhook is Telegram's; DingTalk's robot takes Stream mode");
                }
                let keys = crate::dingtalk::Keys::from_env()?;
                let config = crate::config::Config {
                    platform: crate::config::Platform::Dingtalk,
                    ..config
                };
                let app = open_app(config, &city).await?;
                let (_keep, stop) = tokio::sync::watch::channel(false);
                return crate::dingtalk::run(app, keys, stop, listen).await;
            }
            let webhook = match webhook {
                Some(url) => {
                    let secret = std::env::var("WEBHOOK_SECRET").unwrap_or_default();
                    Some(crate::telegram::webhook::Webhook::new(&url, &secret)?)
                }
                None => None,
            };
            let listen = listen.or_else(|| {
                webhook
                    .as_ref()
                    .map(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 8080)))
            });
            let app = open_app(config, &city).await?;
            let bot = crate::telegram::bot_from_env(&app)?;
            let (_keep, stop) = tokio::sync::watch::channel(false);
            let serving = crate::telegram::Serving {
                webhook,
                listen,
                no_sweep: false,
            };
            crate::telegram::run_with(app, bot, stop, serving).await?;
        }
        Command::Sweep { at } => {
            let app = open_app(config, &city).await?;
            let at = match at {
                Some(text) => parse_time(&app, &text).await?,
                None => app.clock.now(),
            };
            let report = app.sweep(at).await?;
            if report.skipped {
                println!("another instance is sweeping; nothing done");
            }
            for (key, n) in &report.sent {
                println!("{key}: {n} recipient(s)");
            }
            println!("{} reminder(s) sent", report.sent.len());
        }
        Command::Demo {
            out,
            board,
            platform,
        } => crate::demo::run(&out, board, platform).await?,
        Command::Simulate {
            cities,
            candidates,
            requests,
            schools,
            bots,
            instances,
            database_url,
            out,
            minutes,
        } => {
            std::fs::create_dir_all(&out)?;
            let db = out.join("province.db");
            if database_url.is_none() && db.exists() {
                anyhow::bail!(
                    "{} exists: simulate starts from an empty database",
                    db.display()
                );
            }
            let opts = crate::simulate::province::Options {
                cities,
                candidates,
                requests,
                schools,
                bots,
                instances,
                database_url,
                limit: std::time::Duration::from_secs(minutes * 60),
            };
            println!("{}", crate::simulate::province::run(&opts, &out).await?);
        }
        Command::Sample {
            out,
            districts,
            schools,
            candidates,
        } => {
            std::fs::create_dir_all(&out)?;
            let units = crate::sample::units(districts, schools);
            let units_csv = crate::sample::units_csv(&units);
            crate::store::write_private(&out.join("units.csv"), units_csv.as_bytes())?;
            let csv = crate::sample::scores_csv(candidates, schools, 2023);
            crate::store::write_private(&out.join("scores.csv"), csv.as_bytes())?;
            let roster = crate::sample::roster_csv(candidates, schools, 2023);
            crate::store::write_private(&out.join("roster.csv"), roster.as_bytes())?;
            println!(
                "wrote {dir}/units.csv, {dir}/roster.csv and {dir}/scores.csv",
                dir = out.display()
            );
        }
    }
    Ok(())
}

/// Writes an exported record (0600) to `out`, or under its own name in the current folder.
fn write_record(out: Option<PathBuf>, record: &Record) -> anyhow::Result<()> {
    let path = out.unwrap_or_else(|| PathBuf::from(&record.name));
    crate::store::write_private(&path, &record.bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {} ({} candidates)", path.display(), record.lines);
    Ok(())
}

/// RFC 3339, or a local "YYYY-MM-DD HH:MM[:SS]" in the current season's time zone.
async fn parse_time(app: &App, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .with_context(|| format!("{text:?}: use RFC 3339 or \"YYYY-MM-DD HH:MM\""))?;
    // The season's zone; a province's cities share one, so any city's season tells it.
    let tz = match app.cli_season().await {
        Ok(Some(season)) => season.tz,
        _ => {
            let mut conn = app.db.pool.acquire().await?;
            match crate::store::seasons::all_current(&mut conn).await?.first() {
                Some(season) => season.tz,
                None => anyhow::bail!("no current season: run `exam-review-bot season` first"),
            }
        }
    };
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("--at {text:?} does not exist in {tz}"))
}

async fn entry(app: App, what: EntryWhat) -> anyhow::Result<()> {
    use crate::app::entry::Upload;
    match what {
        EntryWhat::Batches => {
            for (b, county) in app.entry_batches().await? {
                println!(
                    "#{}\t{county}\t{}\t{} candidates\t{:?}",
                    b.id,
                    b.half_day_label(),
                    b.candidates,
                    b.stage()
                );
            }
        }
        EntryWhat::Upload {
            batch,
            entered_by,
            read_by,
            watched_reading,
            watched_entering,
            file,
        } => {
            let crew = crate::domain::entry::Crew {
                pair: crate::domain::entry::Pair {
                    entered: entered_by,
                    read: read_by,
                },
                watched_reading,
                watched_entering,
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match app
                .upload_entry(Actor::Cli, batch, &file, &name, crew)
                .await?
            {
                Upload::Taken {
                    batch,
                    side,
                    rows,
                    mismatches,
                } => {
                    println!(
                        "batch #{}: entry {} taken, {rows} rows",
                        batch.id,
                        side.as_str()
                    );
                    match mismatches {
                        None => println!("waiting for the other entry"),
                        Some(m) if m.is_empty() => {
                            println!("the two entries agree; the inspector can seal the batch")
                        }
                        Some(m) => {
                            for x in &m {
                                println!(
                                    "{}\t{}\t{}\t{}\t{}",
                                    x.exam_no, x.name, x.field, x.a, x.b
                                );
                            }
                            anyhow::bail!("the two entries differ in {} field(s)", m.len());
                        }
                    }
                }
                Upload::Refused(said) => {
                    let text = app.render.render(said.template, &said.data)?;
                    anyhow::bail!("{text}");
                }
                Upload::Problems(problems) => {
                    return Err(crate::app::entry::problems_error(problems));
                }
            }
        }
    }
    Ok(())
}

/// `invite --from`: the invites of a roster, written where the office can print them.
async fn invite_roster(
    app: &App,
    roster: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let made = app
        .invite_roster(crate::app::Origin::cli(roster), roster)
        .await?;
    std::fs::create_dir_all(out.join("qr"))
        .with_context(|| format!("cannot create {}", out.join("qr").display()))?;
    for (name, bytes) in &made.files {
        let path = out.join(name);
        crate::store::write_private(&path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "{} invite(s) written to {} (invites.xlsx, qr-codes.xlsx, qr/)",
        made.issued.len(),
        out.display()
    );
    for p in &made.already_bound {
        println!(
            "row {}: {} is already bound as {}; no new invite",
            p.row,
            p.name,
            p.role.label()
        );
    }
    Ok(())
}
