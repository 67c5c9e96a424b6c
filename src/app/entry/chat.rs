//! A batch's sheet sent in chat by an entry clerk: the bot asks which of the county's open
//! batches it is (when there are several), who read the scores out and the two who watched the
//! reading and the entering (附件7 二: four people at each entry), then downloads it and
//! takes it through the same `upload_entry` as the command line. The uploader is the one who
//! entered (录入). The dialogue is a `dialogues` row like every other, with back and cancel.

use super::{App, Area, Upload};
use crate::app::dialogue::{Flow, Kind, Nav, Next, PressCode, Prompt, Session, Shown, StepCode};
use crate::app::policy::{self, Action};
use crate::domain::Role;
use crate::domain::entry::{Crew, Pair};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::entry::{self as batches, Batch};
use crate::store::{people, seasons};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Telegram's Bot API lets a bot download files of up to 20 MB; a larger sheet cannot reach
/// the bot through chat at all.
pub const BOT_DOWNLOAD_LIMIT: u64 = 20 * 1024 * 1024;

/// Problems a refused sheet's reply lists (the command line prints them all).
const LISTED_PROBLEMS: usize = 20;

/// A spreadsheet someone sent: Telegram's reference, its name and declared size.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub file_id: String,
    pub name: String,
    pub size: Option<u64>,
}

impl Sheet {
    /// Whether a document with this name is a sheet the entry takes (.xlsx, .xls, .csv).
    pub fn is_sheet_name(name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        [".xlsx", ".xls", ".csv"].iter().any(|e| lower.ends_with(e))
    }

    pub(crate) fn extension(&self) -> String {
        self.name
            .rsplit('.')
            .next()
            .unwrap_or("csv")
            .to_ascii_lowercase()
    }
}

/// A sheet being sent: which batch, and the people at its entry so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Entering {
    /// The sheet, as Telegram names it.
    file_id: String,
    name: String,
    size: Option<u64>,
    batch: Option<i64>,
    /// The county had one open batch: it was chosen without asking.
    single: bool,
    reader: Option<i64>,
    watched_reading: Option<i64>,
}

impl Entering {
    fn sheet(&self) -> Sheet {
        Sheet {
            file_id: self.file_id.clone(),
            name: self.name.clone(),
            size: self.size,
        }
    }
}

/// The dialogue's steps, as `dialogues.step` and the buttons name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Batch,
    Reader,
    WatchReading,
    WatchEntering,
}

impl StepCode for Step {
    const ALL: &'static [Step] = &[
        Step::Batch,
        Step::Reader,
        Step::WatchReading,
        Step::WatchEntering,
    ];

    fn code(self) -> &'static str {
        match self {
            Step::Batch => "ebatch",
            Step::Reader => "ereader",
            Step::WatchReading => "ewatchr",
            Step::WatchEntering => "ewatche",
        }
    }
}

/// A prompt's button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Button {
    Batch(i64),
    Reader(i64),
    Watcher(i64),
}

impl PressCode for Button {
    fn code(&self) -> String {
        match self {
            Button::Batch(id) => format!("b{id}"),
            Button::Reader(user) => format!("r{user}"),
            Button::Watcher(user) => format!("w{user}"),
        }
    }

    fn parse(code: &str) -> Option<Button> {
        Some(match crate::domain::code::segments(code)?.as_slice() {
            [("b", Some(id))] => Button::Batch(*id),
            [("r", Some(user))] => Button::Reader(*user),
            [("w", Some(user))] => Button::Watcher(*user),
            _ => return None,
        })
    }
}

/// The upload, once the dialogue has ended: the sheet, its batch and the four at its entry.
pub(crate) struct SheetUpload {
    sheet: Sheet,
    batch: i64,
    crew: Crew,
}

impl Flow for Entering {
    type Step = Step;
    type Press = Button;
    type After = SheetUpload;
    const NOT_TAKEN: &'static str = tpl::DLG_ENTRY_BUTTONS;
    const NAV: Nav = Nav::OwnRow;

    fn previous(s: &Session<Self>) -> Option<Step> {
        match s.step {
            Step::Batch => None,
            Step::Reader if s.state.single => None,
            Step::Reader => Some(Step::Batch),
            Step::WatchReading => Some(Step::Reader),
            Step::WatchEntering => Some(Step::WatchReading),
        }
    }

    async fn prompt(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
    ) -> anyhow::Result<Shown<Button>> {
        let (user, step, e) = (s.user, s.step, &s.state);
        let city = app.city_of_user(conn, user).await?;
        let area = Area::load(conn, &city).await?;
        let mut rows: Vec<Vec<(String, Button)>> = Vec::new();
        let mut data = serde_json::to_value(e)?;
        let batch = match e.batch {
            Some(id) => batches::get(conn, id).await?,
            None => None,
        };
        match (step, batch) {
            (Step::Batch, _) => {
                for b in app.open_batches_of(conn, user).await? {
                    let label = format!(
                        "{} {}（#{}）",
                        area.name(&b.county_code),
                        b.half_day_label(),
                        b.id
                    );
                    rows.push(vec![(label, Button::Batch(b.id))]);
                }
            }
            (_, None) => return Ok(Shown::Ends(tpl::ENTRY_NO_OPEN_BATCH)),
            (Step::Reader, Some(batch)) => {
                data["county"] = json!(area.name(&batch.county_code));
                data["half_day"] = json!(batch.half_day_label());
                if let Some(first) = batches::first_pair(conn, batch.id).await? {
                    data["first_entered"] = json!(app.clerk_name(conn, first.entered).await?);
                    data["first_read"] = json!(app.clerk_name(conn, first.read).await?);
                }
                for b in people::holders(conn, Role::EntryClerk, &batch.county_code).await? {
                    if b.telegram_user_id != user {
                        rows.push(vec![(b.name, Button::Reader(b.telegram_user_id))]);
                    }
                }
                if rows.is_empty() {
                    data["no_reader"] = json!(true);
                }
            }
            (Step::WatchReading | Step::WatchEntering, Some(batch)) => {
                data["county"] = json!(area.name(&batch.county_code));
                data["half_day"] = json!(batch.half_day_label());
                data["read"] = json!(match e.reader {
                    Some(r) => app.clerk_name(conn, r).await?,
                    None => String::new(),
                });
                if let Some(w) = e.watched_reading {
                    data["watched_reading"] = json!(app.person_name(conn, w).await?);
                }
                // The county's clerks and inspectors not already at this entry.
                let taken = [
                    Some(user),
                    e.reader,
                    e.watched_reading.filter(|_| step == Step::WatchEntering),
                ];
                let mut shown = Vec::new();
                for role in [Role::EntryClerk, Role::Inspector] {
                    for b in people::holders(conn, role, &batch.county_code).await? {
                        let id = b.telegram_user_id;
                        if !taken.contains(&Some(id)) && !shown.contains(&id) {
                            shown.push(id);
                            rows.push(vec![(b.name, Button::Watcher(id))]);
                        }
                    }
                }
                if rows.is_empty() {
                    data["no_watcher"] = json!(true);
                }
            }
        }
        let template = match step {
            Step::Batch => tpl::DLG_ENTRY_EBATCH,
            Step::Reader => tpl::DLG_ENTRY_EREADER,
            Step::WatchReading => tpl::DLG_ENTRY_EWATCHR,
            Step::WatchEntering => tpl::DLG_ENTRY_EWATCHE,
        };
        let mut prompt = Prompt::new(template, data);
        prompt.rows = rows;
        Ok(Shown::Prompt(prompt))
    }

    async fn press(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        pressed: Button,
    ) -> anyhow::Result<Next<Self>> {
        let e = &mut s.state;
        Ok(match (s.step, pressed) {
            (Step::Batch, Button::Batch(id)) => {
                let open = app.open_batches_of(conn, s.user).await?;
                if !open.iter().any(|b| b.id == id) {
                    return Ok(Next::Refused);
                }
                e.batch = Some(id);
                Next::Go(Step::Reader)
            }
            (Step::Reader, Button::Reader(reader)) => {
                e.reader = Some(reader);
                Next::Go(Step::WatchReading)
            }
            (Step::WatchReading, Button::Watcher(watcher)) => {
                e.watched_reading = Some(watcher);
                Next::Go(Step::WatchEntering)
            }
            (Step::WatchEntering, Button::Watcher(watcher)) => {
                let (Some(batch), Some(reader), Some(watched_reading)) =
                    (e.batch, e.reader, e.watched_reading)
                else {
                    return Ok(Next::Stale);
                };
                let crew = Crew {
                    pair: Pair {
                        entered: s.user,
                        read: reader,
                    },
                    watched_reading,
                    watched_entering: watcher,
                };
                Next::EndThen(SheetUpload {
                    sheet: e.sheet(),
                    batch,
                    crew,
                })
            }
            _ => Next::Stale,
        })
    }

    /// The upload runs after the dialogue's transaction has committed: it downloads the file
    /// and takes its own.
    async fn after(app: &App, _: i64, chat: i64, up: SheetUpload) -> anyhow::Result<()> {
        app.upload_sheet(chat, up.batch, &up.sheet, up.crew).await
    }
}

impl App {
    /// A spreadsheet sent outside any other dialogue.
    /// Inside another dialogue a sheet is that dialogue's to answer (a review's signed form
    /// is a photo or a PDF, not a spreadsheet).
    pub async fn entry_document(&self, user: i64, chat: i64, sheet: Sheet) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        let other = self
            .dialogue_kind(&mut conn, user)
            .await?
            .is_some_and(|k| k != Kind::Entry);
        drop(conn);
        if other {
            self.dialogue_non_text(user, chat, None).await?;
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        let bound = people::of_user(&mut tx, user).await?;
        let template = if bound.is_empty() {
            Some(tpl::NOT_BOUND)
        } else if !bound.iter().any(|b| b.role == Role::EntryClerk) {
            Some(tpl::ENTRY_SHEET_NOT_CLERK)
        } else if sheet.size.is_some_and(|s| s > BOT_DOWNLOAD_LIMIT) {
            Some(tpl::ENTRY_FILE_TOO_BIG)
        } else {
            None
        };
        if let Some(t) = template {
            let mb = sheet.size.map_or(0, |s| s.div_ceil(1024 * 1024));
            self.tell(&mut tx, chat, t, &json!({"mb": mb, "limit": 20}))
                .await?;
            return self.commit_told(tx).await;
        }
        let open = self.open_batches_of(&mut tx, user).await?;
        let mut e = Entering {
            file_id: sheet.file_id,
            name: sheet.name,
            size: sheet.size,
            ..Entering::default()
        };
        match open.as_slice() {
            [] => {
                self.tell(&mut tx, chat, tpl::ENTRY_NO_OPEN_BATCH, &json!({}))
                    .await?;
                self.end_dialogue(&mut tx, user).await?;
            }
            [only] => {
                e.batch = Some(only.id);
                e.single = true;
                let mut s = Session::new(user, chat, Kind::Entry, Step::Reader, e);
                self.enter(&mut tx, &mut s).await?;
            }
            _ => {
                let mut s = Session::new(user, chat, Kind::Entry, Step::Batch, e);
                self.enter(&mut tx, &mut s).await?;
            }
        }
        self.commit_told(tx).await
    }

    /// The batches this clerk may upload to now: their county's, not sealed, not 缺考.
    async fn open_batches_of(&self, conn: &mut Conn, user: i64) -> anyhow::Result<Vec<Batch>> {
        let city = self.city_of_user(conn, user).await?;
        let Some(season) = seasons::current(conn, &city).await? else {
            return Ok(Vec::new());
        };
        if season.published_at.is_some() {
            return Ok(Vec::new());
        }
        let bound = people::of_user(conn, user).await?;
        let area = Area::load(conn, &city).await?;
        let route = self.route(&city);
        Ok(batches::all(conn, season.id)
            .await?
            .into_iter()
            .filter(|b| b.sealed_at.is_none() && !b.is_absent())
            .filter(|b| {
                let subject = area.subject(&b.county_code, &[]);
                policy::check(&route, user, &bound, Action::Enter, &subject).is_ok()
            })
            .collect())
    }

    /// Downloads the sheet and uploads it as one entry; the refusal or the file's problems are
    /// the reply (a taken entry's notices are queued by `upload_entry`).
    async fn upload_sheet(
        &self,
        chat: i64,
        batch: i64,
        sheet: &Sheet,
        crew: Crew,
    ) -> anyhow::Result<()> {
        let Some(path) = self.download(chat, sheet).await? else {
            return Ok(());
        };
        let outcome = self
            .upload_entry(
                super::Actor::Person(crew.pair.entered),
                batch,
                &path,
                &sheet.name,
                crew,
            )
            .await;
        std::fs::remove_file(&path).ok();
        let body = match outcome {
            Ok(Upload::Taken { .. }) => return Ok(()),
            Ok(Upload::Refused(said)) => self.render.render(said.template, &said.data)?,
            Ok(Upload::Problems(problems)) => {
                let listed: Vec<Value> = problems
                    .iter()
                    .take(LISTED_PROBLEMS)
                    .map(|p| {
                        json!({"row": p.row, "column": p.column, "value": p.value,
                               "reason": p.reason})
                    })
                    .collect();
                self.render.render(
                    tpl::ENTRY_PROBLEMS,
                    &json!({"count": problems.len(), "problems": listed,
                            "more": problems.len().saturating_sub(LISTED_PROBLEMS),
                            "name": sheet.name}),
                )?
            }
            // A file that cannot be read at all (not a sheet, wrong columns): its reason.
            Err(e) => self
                .render
                .render(tpl::ENTRY_UNREADABLE, &json!({"reason": format!("{e:#}")}))?,
        };
        self.reply(chat, body, None).await
    }
}
