//! Files sent to the bot. An entry clerk's half-day sheet goes to 登分 (`entry::chat`); a city
//! admin's units, candidates, scores or people file is recognised by its header row, checked by
//! the same code as the command line's import, and imported only after ✅ — by the very use
//! case the command line calls. Anyone else's file is refused before it is downloaded.

use super::Origin;
use super::dialogue::{Flow, Kind, Next, PressCode, Prompt, Session, Shown, StepCode};
use super::entry::{BOT_DOWNLOAD_LIMIT, Sheet};
use super::{Actor, App};
use crate::domain::Role;
use crate::domain::attachment::Attachment;
use crate::import::table::Table;
use crate::import::{Problems, Refused, people as people_roster, scores as scores_file};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::outbox::{self, Outgoing};
use crate::store::{people, units as unit_store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Problems a refusal lists in chat; all of them come as a file when there are more.
const LISTED_PROBLEMS: usize = 20;

/// What a sent table is, by its header row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Units,
    Candidates,
    Scores,
    People,
}

impl TableKind {
    pub fn of(header: &[String]) -> Option<TableKind> {
        let has = |c: &str| header.iter().any(|h| h == c);
        if people_roster::is_header(header) {
            Some(TableKind::People)
        } else if ["代码", "名称", "类型", "上级代码"].iter().all(|c| has(c)) {
            Some(TableKind::Units)
        } else if scores_file::REQUIRED.iter().all(|c| has(c)) {
            Some(TableKind::Scores)
        } else if scores_file::REQUIRED[..8].iter().all(|c| has(c)) {
            Some(TableKind::Candidates)
        } else {
            None
        }
    }
}

/// A checked file waiting for its ✅: what it is, and what the check counted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Importing {
    file_id: String,
    name: String,
    size: Option<u64>,
    kind: TableKind,
    /// The check's counts, for the preview (none in a row an older build wrote).
    #[serde(default)]
    counts: Value,
}

/// The dialogue's one step: the preview, to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Confirm;

impl StepCode for Confirm {
    const ALL: &'static [Confirm] = &[Confirm];
    fn code(self) -> &'static str {
        "iconfirm"
    }
}

/// ✅ under the preview (✖ is the framework's cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Import;

impl PressCode for Import {
    fn code(&self) -> String {
        "i".into()
    }
    fn parse(code: &str) -> Option<Import> {
        (code == "i").then_some(Import)
    }
}

impl Flow for Importing {
    type Step = Confirm;
    type Press = Import;
    type After = Importing;
    const NOT_TAKEN: &'static str = tpl::DLG_ENTRY_BUTTONS;

    fn previous(_: &Session<Self>) -> Option<Confirm> {
        None
    }

    async fn prompt(
        app: &App,
        _: &mut Conn,
        s: &mut Session<Self>,
    ) -> anyhow::Result<Shown<Import>> {
        let mut data = s.state.counts.clone();
        data["name"] = json!(s.state.name);
        data["kind"] = json!(s.state.kind);
        let mut prompt = Prompt::new(tpl::IMPORT_PREVIEW, data);
        prompt.rows = vec![vec![(app.render.text(tpl::BUTTON_CONFIRM_IMPORT)?, Import)]];
        prompt.reply = true;
        Ok(Shown::Prompt(prompt))
    }

    async fn press(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        _: Import,
    ) -> anyhow::Result<Next<Self>> {
        let bound = people::of_user(conn, s.user).await?;
        let city = app.city_of_user(conn, s.user).await?;
        if let Err(denied) = super::policy::may_import(&bound, &city) {
            return Ok(Next::Denied(denied));
        }
        Ok(Next::EndThen(s.state.clone()))
    }

    /// The import runs after the dialogue's transaction has committed: it downloads the file
    /// again and takes its own.
    async fn after(app: &App, user: i64, chat: i64, file: Importing) -> anyhow::Result<()> {
        app.import_confirmed(user, chat, file).await
    }
}

/// What an import did, for the reply.
pub enum Imported {
    Units(usize),
    Table(super::scores::ImportSummary),
    People(super::invites::RosterInvites),
}

impl App {
    /// A spreadsheet sent outside a dialogue of another kind.
    pub async fn document(&self, user: i64, chat: i64, sheet: Sheet) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user).await?;
        let open_dialogue = self.dialogue_kind(&mut conn, user).await?;
        let city = self.city_of_user(&mut conn, user).await?;
        drop(conn);
        let holds = |r: Role| bound.iter().any(|b| b.role == r);
        // A city admin who is also an entry clerk sends half-day sheets while the counties
        // enter the scores.
        let clerk_first = holds(Role::EntryClerk)
            && self.config.entry.mode == crate::config::EntryMode::CountyBatches;
        if super::policy::may_import(&bound, &city).is_err()
            || clerk_first
            || open_dialogue.is_some_and(|k| k != Kind::Import)
        {
            // 登分's sheet, a sheet inside another dialogue, or a refusal: entry decides.
            return self.entry_document(user, chat, sheet).await;
        }
        if sheet.size.is_some_and(|s| s > BOT_DOWNLOAD_LIMIT) {
            let mb = sheet.size.map_or(0, |s| s.div_ceil(1024 * 1024));
            let body = self
                .render
                .render(tpl::ENTRY_FILE_TOO_BIG, &json!({"mb": mb, "limit": 20}))?;
            return self.reply(chat, body, None).await;
        }
        let Some(path) = self.download(chat, &sheet).await? else {
            return Ok(());
        };
        let checked = self.check_file(&path, Actor::Person(user)).await;
        std::fs::remove_file(&path).ok();
        let (kind, counts) = match checked {
            Ok(Ok(found)) => found,
            Ok(Err(problems)) => return self.tell_problems(chat, &sheet.name, &problems).await,
            Err(e) => {
                let body = self.render.render(
                    tpl::IMPORT_UNREADABLE,
                    &json!({"name": sheet.name, "reason": format!("{e:#}")}),
                )?;
                return self.reply(chat, body, None).await;
            }
        };
        let file = Importing {
            file_id: sheet.file_id,
            name: sheet.name,
            size: sheet.size,
            kind,
            counts,
        };
        let mut tx = self.db.begin().await?;
        let mut s = Session::new(user, chat, Kind::Import, Confirm, file);
        self.enter(&mut tx, &mut s).await?;
        self.commit_told(tx).await
    }

    /// Downloads a sent file into a private temporary file named like it (the readers go by
    /// the extension); None when it could not be fetched (the person was told).
    pub(crate) async fn download(
        &self,
        chat: i64,
        sheet: &Sheet,
    ) -> anyhow::Result<Option<PathBuf>> {
        let Some(files) = self.files.get() else {
            anyhow::bail!("no file source: the file cannot be downloaded");
        };
        let bytes = match files
            .fetch(&Attachment::Document(sheet.file_id.clone()))
            .await
        {
            Ok(b) => b,
            // The messenger did not say the size beforehand (DingTalk): the download stopped
            // at the limit.
            Err(ref e) if let Some(big) = e.downcast_ref::<super::TooLarge>() => {
                let bytes = big.bytes.unwrap_or(big.limit + 1);
                let mb = bytes.div_ceil(1024 * 1024);
                let limit = big.limit / (1024 * 1024);
                let body = self
                    .render
                    .render(tpl::ENTRY_FILE_TOO_BIG, &json!({"mb": mb, "limit": limit}))?;
                self.reply(chat, body, None).await?;
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!("downloading a file failed: {e:#}");
                let body = self.render.render(tpl::ENTRY_DOWNLOAD_FAILED, &json!({}))?;
                self.reply(chat, body, None).await?;
                return Ok(None);
            }
        };
        // A fresh name each time, created exclusively and readable by its owner only: two
        // downloads in one process (or a file planted in a shared /tmp) never meet.
        let mut file = tempfile::Builder::new()
            .prefix(&format!("exam-review-bot-upload-{chat}-"))
            .suffix(&format!(".{}", sheet.extension()))
            .tempfile()?;
        std::io::Write::write_all(&mut file, &bytes)?;
        let (_, path) = file.keep()?;
        Ok(Some(path))
    }

    /// Recognises a table and checks it without writing: its kind and what it holds, or every
    /// problem. Candidates and scores are checked row by row here; what only the roster in the
    /// database can tell (a candidate left out) is checked again when the import runs.
    pub async fn check_file(
        &self,
        path: &Path,
        actor: Actor,
    ) -> anyhow::Result<Result<(TableKind, Value), Problems>> {
        let header = Table::open(path, &self.config.limits)?.header;
        let Some(kind) = TableKind::of(&header) else {
            anyhow::bail!(
                "表头不是单位、考生、成绩或人员名单文件的表头（找到：{}）",
                header.join("，")
            );
        };
        let table = Table::open(path, &self.config.limits)?;
        Ok(match kind {
            TableKind::People => {
                self.config.bot_username.as_deref().ok_or_else(|| {
                    anyhow::anyhow!(
                        "机器人用户名未配置（bot_username / BOT_USERNAME），无法生成邀请链接"
                    )
                })?;
                let mut conn = self.db.pool.acquire().await?;
                // A roster names units of its own city only.
                let city = self.city_of_actor(&mut conn, actor).await?;
                let units = unit_store::of_city(&mut conn, &city).await?;
                people_roster::check(table, &units)?
                    .map(|people| (kind, json!({"count": people.len()})))
            }
            TableKind::Units => {
                let mut conn = self.db.pool.acquire().await?;
                let known = unit_store::all(&mut conn).await?;
                let city = self.only_city_of(&mut conn, actor).await?;
                crate::import::units::check(table, &known, city.as_deref())?
                    .map(|units| (kind, json!({"count": units.len()})))
            }
            TableKind::Candidates | TableKind::Scores => {
                let scores = kind == TableKind::Scores;
                self.check_rows(table, scores, actor)
                    .await?
                    .map(|(rows, schools)| (kind, json!({"count": rows, "schools": schools})))
            }
        })
    }

    /// Candidates or scores checked row by row by the import's own `Checker`: (rows, schools),
    /// or every problem.
    async fn check_rows(
        &self,
        mut table: Table,
        scores: bool,
        actor: Actor,
    ) -> anyhow::Result<Result<(usize, usize), Problems>> {
        use crate::store::candidates::Load;
        let load = if scores { Load::Scores } else { Load::Roster };
        // The import's own refusals (a sealed or published season, 登分 batches, open
        // applications) come before ✅ is offered.
        let (season, units) = self.may_import(load, actor).await?;
        let schools: std::collections::HashSet<String> = units
            .into_iter()
            .filter(|u| u.is_school())
            .map(|u| u.code)
            .collect();
        let mut checker = self.checker(&table.header, schools, &season, load)?;
        if scores {
            let mut conn = self.db.pool.acquire().await?;
            let registered = crate::store::roster::count(&mut conn, season.id).await?;
            if registered > 0 {
                let registered = registered as usize;
                table = table.at_most(
                    Table::rows_for_roster(registered),
                    &format!("（报名名单 {registered} 名考生）"),
                );
            }
        }
        let mut problems = Problems::new();
        let mut rows = 0;
        let mut seen_schools = std::collections::HashSet::new();
        let mut cells = Vec::new();
        while let Some(row) = table.next_row(&mut cells) {
            match row {
                Ok(n) => {
                    if let Some(c) = checker.check(n, &cells, &mut problems) {
                        rows += 1;
                        seen_schools.insert(c.school_code.to_string());
                    }
                }
                Err(p) => problems.push(p),
            }
        }
        Ok(if problems.is_empty() {
            Ok((rows, seen_schools.len()))
        } else {
            Err(problems)
        })
    }

    /// The same use case the command line's `import` and `invite --from` call.
    pub async fn import_file(
        &self,
        origin: Origin<'_>,
        kind: TableKind,
        path: &Path,
    ) -> anyhow::Result<Imported> {
        Ok(match kind {
            TableKind::Units => Imported::Units(self.import_units_from(origin, path).await?.len()),
            TableKind::Candidates => {
                Imported::Table(self.import_candidates_from(origin, path).await?)
            }
            TableKind::Scores => Imported::Table(self.import_scores_from(origin, path).await?),
            TableKind::People => Imported::People(self.invite_roster(origin, path).await?),
        })
    }

    /// A refused file's problems: the first ones in chat, the first `Problems::KEPT` as a file
    /// when there are more.
    async fn tell_problems(
        &self,
        chat: i64,
        name: &str,
        problems: &Problems,
    ) -> anyhow::Result<()> {
        let listed: Vec<Value> = problems
            .iter()
            .take(LISTED_PROBLEMS)
            .map(
                |p| json!({"row": p.row, "column": p.column, "value": p.value, "reason": p.reason}),
            )
            .collect();
        let more = problems.len().saturating_sub(LISTED_PROBLEMS);
        let body = self.render.render(
            tpl::IMPORT_PROBLEMS,
            &json!({"name": name, "count": problems.len(), "problems": listed, "more": more,
                    "in_file": problems.iter().len()}),
        )?;
        let document = (more > 0).then(|| {
            let mut text: String = problems.iter().map(|p| format!("{p}\n")).collect();
            if problems.more() > 0 {
                text.push_str(&format!("… and {} more\n", problems.more()));
            }
            ("problems.txt".to_string(), text.into_bytes())
        });
        let mut tx = self.db.begin().await?;
        let msg = Outgoing {
            chat_id: chat,
            body,
            document,
            is_reply: true,
            ..Outgoing::default()
        };
        outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        self.commit_told(tx).await
    }

    /// ✅ on a file's confirm card, its dialogue ended: the file is fetched again and
    /// imported.
    async fn import_confirmed(&self, user: i64, chat: i64, file: Importing) -> anyhow::Result<()> {
        let name = &file.name;
        let sheet = Sheet {
            file_id: file.file_id.clone(),
            name: name.clone(),
            size: file.size,
        };
        let Some(path) = self.download(chat, &sheet).await? else {
            return Ok(());
        };
        let origin = Origin {
            actor: Actor::Person(user),
            name,
        };
        let outcome = self.import_file(origin, file.kind, &path).await;
        std::fs::remove_file(&path).ok();
        match outcome {
            Ok(done) => self.tell_imported(chat, name, done).await?,
            Err(e) => match e.downcast::<Refused>() {
                Ok(refused) => self.tell_problems(chat, name, &refused.problems).await?,
                Err(e) => {
                    let body = self.render.render(
                        tpl::IMPORT_UNREADABLE,
                        &json!({"name": name, "reason": format!("{e:#}")}),
                    )?;
                    self.reply(chat, body, None).await?;
                }
            },
        }
        Ok(())
    }

    async fn tell_imported(&self, chat: i64, name: &str, done: Imported) -> anyhow::Result<()> {
        let (data, documents) = match done {
            Imported::Units(n) => (json!({"units": n}), Vec::new()),
            Imported::Table(s) => (
                json!({"rows": s.total, "schools": s.per_school.len(), "unseated": s.unseated}),
                Vec::new(),
            ),
            Imported::People(made) => {
                let already: Vec<Value> = made
                    .already_bound
                    .iter()
                    .map(|p| json!({"row": p.row, "name": p.name, "role": p.role.label()}))
                    .collect();
                (
                    json!({"invites": made.issued.len(), "already": already}),
                    // The two workbooks; the PNGs are in qr-codes.xlsx.
                    made.files.into_iter().take(2).collect(),
                )
            }
        };
        let mut data = data;
        data["name"] = json!(name);
        let mut tx = self.db.begin().await?;
        let body = self.render.render(tpl::IMPORT_DONE, &data)?;
        self.reply_in(&mut tx, chat, body).await?;
        for (file, bytes) in documents {
            let msg = Outgoing {
                chat_id: chat,
                body: String::new(),
                document: Some((file, bytes)),
                is_reply: true,
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        }
        self.commit_told(tx).await
    }

    async fn reply_in(
        &self,
        conn: &mut crate::store::Conn,
        chat: i64,
        body: String,
    ) -> anyhow::Result<()> {
        let msg = Outgoing {
            chat_id: chat,
            body,
            is_reply: true,
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, self.clock.now()).await?;
        Ok(())
    }
}
