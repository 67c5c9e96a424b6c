//! A batch's sheet sent in chat by an entry clerk: the bot asks which of the county's open
//! batches it is (when there are several), who read the scores out and the two who watched the
//! reading and the entering (附件7 二: four people at each entry), then downloads it and
//! takes it through the same `upload_entry` as the command line. The uploader is the one who
//! entered (录入). The dialogue is a `dialogues` row like every other, with back and cancel.

use super::{App, Area, ENTRY, Upload};
use crate::app::callback::Callback;
use crate::app::policy::{self, Action};
use crate::app::review::{Press, button, keyboard};
use crate::domain::Role;
use crate::domain::entry::{Crew, Pair};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::dialogues::{self, Dialogue};
use crate::store::entry::{self as batches, Batch};
use crate::store::outbox::{self, Outgoing};
use crate::store::{WriteTx, people, seasons};
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

/// The dialogue's steps, as `dialogues.step` and the buttons name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Batch,
    Reader,
    WatchReading,
    WatchEntering,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Batch => "ebatch",
            Step::Reader => "ereader",
            Step::WatchReading => "ewatchr",
            Step::WatchEntering => "ewatche",
        }
    }

    fn parse(s: &str) -> Option<Step> {
        [
            Step::Batch,
            Step::Reader,
            Step::WatchReading,
            Step::WatchEntering,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A prompt's button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Button {
    Batch(i64),
    Reader(i64),
    Watcher(i64),
    Back,
    Cancel,
}

impl Button {
    fn code(self) -> String {
        match self {
            Button::Batch(id) => format!("b{id}"),
            Button::Reader(user) => format!("r{user}"),
            Button::Watcher(user) => format!("w{user}"),
            Button::Back => "back".into(),
            Button::Cancel => "cancel".into(),
        }
    }

    fn parse(code: &str) -> Option<Button> {
        Some(match code {
            "back" => Button::Back,
            "cancel" => Button::Cancel,
            _ => match code.split_at_checked(1)? {
                ("b", id) => Button::Batch(id.parse().ok()?),
                ("r", user) => Button::Reader(user.parse().ok()?),
                ("w", user) => Button::Watcher(user.parse().ok()?),
                _ => return None,
            },
        })
    }
}

impl App {
    /// A spreadsheet sent outside any other dialogue.
    /// Inside another dialogue a sheet is that dialogue's to answer (a review's signed form
    /// is a photo or a PDF, not a spreadsheet).
    pub async fn entry_document(&self, user: i64, chat: i64, sheet: Sheet) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        let other = dialogues::get(&mut conn, user)
            .await?
            .is_some_and(|d| d.kind != ENTRY);
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
        let data = json!({"file_id": sheet.file_id, "name": sheet.name, "size": sheet.size});
        match open.as_slice() {
            [] => {
                self.tell(&mut tx, chat, tpl::ENTRY_NO_OPEN_BATCH, &json!({}))
                    .await?;
                dialogues::clear(&mut tx, user).await?;
            }
            [only] => {
                let mut data = data;
                data["batch"] = json!(only.id);
                data["single"] = json!(true);
                self.enter_entry_step(&mut tx, user, chat, Step::Reader, &data)
                    .await?;
            }
            _ => {
                self.enter_entry_step(&mut tx, user, chat, Step::Batch, &data)
                    .await?
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

    async fn enter_entry_step(
        &self,
        conn: &mut Conn,
        user: i64,
        chat: i64,
        step: Step,
        data: &Value,
    ) -> anyhow::Result<()> {
        dialogues::set(
            conn,
            user,
            chat,
            ENTRY,
            step.as_str(),
            data,
            self.clock.now(),
        )
        .await?;
        let city = self.city_of_user(conn, user).await?;
        let area = Area::load(conn, &city).await?;
        let dialogue = |b: Button| {
            Callback::Dialogue {
                step: step.as_str().into(),
                action: b.code(),
                shown: String::new(),
            }
            .encode()
        };
        let mut rows: Vec<Vec<crate::buttons::Button>> = Vec::new();
        let mut prompt = data.clone();
        match step {
            Step::Batch => {
                for b in self.open_batches_of(conn, user).await? {
                    let label = format!(
                        "{} {}（#{}）",
                        area.name(&b.county_code),
                        b.half_day_label(),
                        b.id
                    );
                    rows.push(vec![button(label, dialogue(Button::Batch(b.id)))]);
                }
            }
            Step::Reader => {
                let batch = match data["batch"].as_i64() {
                    Some(id) => batches::get(conn, id).await?,
                    None => None,
                };
                let Some(batch) = batch else {
                    dialogues::clear(conn, user).await?;
                    let msg = Outgoing {
                        chat_id: chat,
                        body: self.render.text(tpl::ENTRY_NO_OPEN_BATCH)?,
                        ..Outgoing::default()
                    };
                    outbox::enqueue(conn, &msg, self.clock.now()).await?;
                    return Ok(());
                };
                prompt["county"] = json!(area.name(&batch.county_code));
                prompt["half_day"] = json!(batch.half_day_label());
                prompt["batch"] = json!(batch.id);
                if let Some(first) = batches::first_pair(conn, batch.id).await? {
                    prompt["first_entered"] = json!(self.clerk_name(conn, first.entered).await?);
                    prompt["first_read"] = json!(self.clerk_name(conn, first.read).await?);
                }
                for b in people::holders(conn, Role::EntryClerk, &batch.county_code).await? {
                    if b.telegram_user_id != user {
                        rows.push(vec![button(
                            b.name,
                            dialogue(Button::Reader(b.telegram_user_id)),
                        )]);
                    }
                }
                if rows.is_empty() {
                    prompt["no_reader"] = json!(true);
                }
            }
            Step::WatchReading | Step::WatchEntering => {
                let Some(batch) = data["batch"].as_i64() else {
                    return Ok(());
                };
                let Some(batch) = batches::get(conn, batch).await? else {
                    return Ok(());
                };
                prompt["county"] = json!(area.name(&batch.county_code));
                prompt["half_day"] = json!(batch.half_day_label());
                prompt["read"] = json!(match data["reader"].as_i64() {
                    Some(r) => self.clerk_name(conn, r).await?,
                    None => String::new(),
                });
                if let Some(w) = data["watched_reading"].as_i64() {
                    prompt["watched_reading"] = json!(self.person_name(conn, w).await?);
                }
                // The county's clerks and inspectors not already at this entry.
                let taken = [
                    Some(user),
                    data["reader"].as_i64(),
                    data["watched_reading"]
                        .as_i64()
                        .filter(|_| step == Step::WatchEntering),
                ];
                let mut shown = Vec::new();
                for role in [Role::EntryClerk, Role::Inspector] {
                    for b in people::holders(conn, role, &batch.county_code).await? {
                        let id = b.telegram_user_id;
                        if !taken.contains(&Some(id)) && !shown.contains(&id) {
                            shown.push(id);
                            rows.push(vec![button(b.name, dialogue(Button::Watcher(id)))]);
                        }
                    }
                }
                if rows.is_empty() {
                    prompt["no_watcher"] = json!(true);
                }
            }
        }
        let mut last = Vec::new();
        let back = match step {
            Step::Batch => false,
            Step::Reader => !data["single"].as_bool().unwrap_or(false),
            Step::WatchReading | Step::WatchEntering => true,
        };
        if back {
            last.push(button(
                self.render.text(tpl::BUTTON_BACK)?,
                dialogue(Button::Back),
            ));
        }
        last.push(button(
            self.render.text(tpl::BUTTON_CANCEL)?,
            dialogue(Button::Cancel),
        ));
        rows.push(last);
        let msg = Outgoing {
            chat_id: chat,
            body: self
                .render
                .render(&format!("dlg_entry_{}", step.as_str()), &prompt)?,
            buttons: Some(keyboard(rows)),
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, self.clock.now()).await?;
        Ok(())
    }

    /// A button of the sheet dialogue. The upload itself runs after the dialogue's
    /// transaction has committed (it downloads the file and takes its own).
    pub(crate) async fn entry_button(
        &self,
        mut tx: WriteTx,
        d: &Dialogue,
        chat: i64,
        action: &str,
    ) -> anyhow::Result<Press> {
        let (Some(step), Some(pressed)) = (Step::parse(&d.step), Button::parse(action)) else {
            return Ok(Press::Refused);
        };
        let user = d.user_id;
        let mut data = d.data();
        match (step, pressed) {
            (_, Button::Cancel) => {
                dialogues::clear(&mut tx, user).await?;
                self.tell(&mut tx, chat, tpl::DIALOGUE_CANCELLED, &json!({}))
                    .await?;
            }
            (Step::Reader, Button::Back) => {
                self.enter_entry_step(&mut tx, user, chat, Step::Batch, &data)
                    .await?
            }
            (Step::Batch, Button::Batch(id)) => {
                let open = self.open_batches_of(&mut tx, user).await?;
                if !open.iter().any(|b| b.id == id) {
                    return Ok(Press::Refused);
                }
                data["batch"] = json!(id);
                self.enter_entry_step(&mut tx, user, chat, Step::Reader, &data)
                    .await?;
            }
            (Step::WatchReading, Button::Back) => {
                self.enter_entry_step(&mut tx, user, chat, Step::Reader, &data)
                    .await?
            }
            (Step::WatchEntering, Button::Back) => {
                self.enter_entry_step(&mut tx, user, chat, Step::WatchReading, &data)
                    .await?
            }
            (Step::Reader, Button::Reader(reader)) => {
                data["reader"] = json!(reader);
                self.enter_entry_step(&mut tx, user, chat, Step::WatchReading, &data)
                    .await?;
            }
            (Step::WatchReading, Button::Watcher(watcher)) => {
                data["watched_reading"] = json!(watcher);
                self.enter_entry_step(&mut tx, user, chat, Step::WatchEntering, &data)
                    .await?;
            }
            (Step::WatchEntering, Button::Watcher(watcher)) => {
                let (Some(batch), Some(reader), Some(watched_reading)) = (
                    data["batch"].as_i64(),
                    data["reader"].as_i64(),
                    data["watched_reading"].as_i64(),
                ) else {
                    return Ok(Press::Stale);
                };
                dialogues::clear(&mut tx, user).await?;
                self.commit_told(tx).await?;
                let sheet = Sheet {
                    file_id: data["file_id"].as_str().unwrap_or_default().to_string(),
                    name: data["name"].as_str().unwrap_or("sheet.csv").to_string(),
                    size: data["size"].as_u64(),
                };
                let crew = Crew {
                    pair: Pair {
                        entered: user,
                        read: reader,
                    },
                    watched_reading,
                    watched_entering: watcher,
                };
                self.upload_sheet(chat, batch, &sheet, crew).await?;
                return Ok(Press::Accepted);
            }
            _ => return Ok(Press::Stale),
        }
        self.commit_told(tx).await?;
        Ok(Press::Accepted)
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
                super::Actor::Telegram(crew.pair.entered),
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
