//! One framework for every chat dialogue. A dialogue is a type: its state (serde, stored as a
//! `dialogues` row, so a restart loses nothing), its steps and the buttons of its prompts,
//! each typed and named once (`Flow`). What is the same for all of them is written here once:
//! saving a step and sending its prompt, ⬅️ back and ✖ cancel under every prompt, a button
//! under a prompt the person has left (stale), a row an older build wrote that this one cannot
//! read, and the hint for a message the step cannot take. Which flow each kind is, and the
//! entry points that hand a person's message or press to their open dialogue, are
//! `app::dialogues`.

use crate::app::App;
use crate::app::callback::Press;
use crate::app::policy::Denied;
use crate::domain::attachment::Attachment;
use crate::render::tpl;
use crate::store::dialogues::{self, Dialogue};
use crate::store::outbox::{self, Outgoing};
use crate::store::{Conn, WriteTx};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::future::Future;

/// The kinds of dialogue, as the `dialogues.kind` column names them. Each is one `Flow`
/// (`app::dialogues` is the one place that says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Filing a review request (/review).
    File,
    /// Amending a returned review request.
    Amend,
    /// The reason for a rejection, return or dispute.
    Why,
    /// A review group's result for one request.
    Record,
    /// A 免考 application (附件2), or amending a returned one.
    Exempt,
    /// Inviting one person.
    Invite,
    /// A file sent in chat, to be imported.
    Import,
    /// An entry sheet of a half-day's batch (附件7).
    Entry,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::File,
        Kind::Amend,
        Kind::Why,
        Kind::Record,
        Kind::Exempt,
        Kind::Invite,
        Kind::Import,
        Kind::Entry,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Amend => "amend",
            Kind::Why => "why",
            Kind::Record => "record",
            Kind::Exempt => "exempt",
            Kind::Invite => "invite",
            Kind::Import => "import",
            Kind::Entry => "entry",
        }
    }

    pub fn parse(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// A dialogue's step, as `dialogues.step` and its buttons name it.
pub(crate) trait StepCode: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn code(self) -> &'static str;
    fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }
}

/// A button of a dialogue's prompt, besides back and cancel (which are the framework's).
pub(crate) trait PressCode: Sized + Send + Sync {
    fn code(&self) -> String;
    fn parse(code: &str) -> Option<Self>;
}

/// For a dialogue whose prompts have no buttons of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoPress {}

impl PressCode for NoPress {
    fn code(&self) -> String {
        match *self {}
    }
    fn parse(_: &str) -> Option<Self> {
        None
    }
}

/// Where back and cancel go under a prompt: after its own buttons in the same row, or in a
/// row of their own under a list of choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    SameRow,
    OwnRow,
}

/// What a step shows.
pub(crate) struct Prompt<P> {
    pub template: &'static str,
    pub data: Value,
    /// The step's own buttons: (label, press), row by row.
    pub rows: Vec<Vec<(String, P)>>,
    /// Sent as a reply to the person's message.
    pub reply: bool,
}

impl<P> Prompt<P> {
    pub fn new(template: &'static str, data: Value) -> Self {
        Prompt {
            template,
            data,
            rows: Vec::new(),
            reply: false,
        }
    }

    /// Adds a row of the step's own buttons, each labelled by its template; none when empty.
    pub fn row(
        mut self,
        render: &crate::render::Renderer,
        buttons: impl IntoIterator<Item = (&'static str, P)>,
    ) -> anyhow::Result<Self> {
        let row = buttons
            .into_iter()
            .map(|(label, press)| Ok((render.text(label)?, press)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !row.is_empty() {
            self.rows.push(row);
        }
        Ok(self)
    }
}

/// A step's prompt, or the message that ends the dialogue when the step cannot be shown (what
/// it needs has gone meanwhile).
pub(crate) enum Shown<P> {
    Prompt(Prompt<P>),
    Ends(&'static str),
}

/// What a message or a press leads to.
pub(crate) enum Next<F: Flow> {
    /// On to this step (or the same again): its state is saved and its prompt sent.
    Go(F::Step),
    /// The step stays; this is said (a hint, or why the answer was not taken).
    Say(&'static str, Value),
    /// The dialogue is over (the flow has said what it had to).
    End,
    /// Over, and this runs once the transaction has committed (a download, an import).
    EndThen(F::After),
    /// Nothing is written, and the press is answered so.
    Refused,
    Stale,
    Denied(Denied),
}

impl<F: Flow> Next<F> {
    pub fn say(template: &'static str) -> Self {
        Next::Say(template, json!({}))
    }
}

/// A dialogue in progress.
pub(crate) struct Session<F: Flow> {
    pub user: i64,
    pub chat: i64,
    pub kind: Kind,
    pub step: F::Step,
    pub state: F,
}

impl<F: Flow> Session<F> {
    pub fn new(user: i64, chat: i64, kind: Kind, step: F::Step, state: F) -> Self {
        Session {
            user,
            chat,
            kind,
            step,
            state,
        }
    }
}

/// A dialogue: its state is the type itself.
pub(crate) trait Flow: Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    type Step: StepCode;
    type Press: PressCode;
    /// Work that runs after the dialogue has ended and its transaction committed.
    type After: Send;
    /// Where back and cancel go under its prompts.
    const NAV: Nav = Nav::SameRow;

    /// The step "back" goes to; None at the first (then back is not offered).
    fn previous(s: &Session<Self>) -> Option<Self::Step>;

    /// What going back forgets, beyond the step.
    fn on_back(&mut self) {}

    /// What a prompt's buttons are tied to: by default all the state holds, so a button under
    /// a prompt that showed other content is stale. A dialogue whose state grows while one
    /// prompt stands (photos sent one after another) ties them to less.
    fn shown(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The request this dialogue is about, if any (a decision made elsewhere ends it).
    fn request(&self) -> Option<i64> {
        None
    }

    /// The step's prompt; it may keep what it offered in the state (choices by their place).
    fn prompt(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
    ) -> impl Future<Output = anyhow::Result<Shown<Self::Press>>> + Send;

    /// What a message the flow does not take is answered with.
    const NOT_TAKEN: &'static str = tpl::DIALOGUE_TEXT_PLEASE;

    /// A text message. By default the flow takes none: only its buttons.
    fn text(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        text: &str,
    ) -> impl Future<Output = anyhow::Result<Next<Self>>> + Send {
        let _ = (app, conn, s, text);
        async { Ok(Next::say(Self::NOT_TAKEN)) }
    }

    /// A photo or file (`Some`), or anything else that is not text (`None`).
    fn file(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        file: Option<Attachment>,
    ) -> impl Future<Output = anyhow::Result<Next<Self>>> + Send {
        let _ = (app, conn, s, file);
        async { Ok(Next::say(Self::NOT_TAKEN)) }
    }

    fn press(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        press: Self::Press,
    ) -> impl Future<Output = anyhow::Result<Next<Self>>> + Send;

    fn after(
        app: &App,
        user: i64,
        chat: i64,
        after: Self::After,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = (app, user, chat, after);
        async { Ok(()) }
    }
}

/// The state as stored: the flow's fields, with the framework's own beside them.
const VERSION_FIELD: &str = "v";
const SHOWN_FIELD: &str = "shown";
/// The layout of the stored state (rows written before it was kept are layout 1). A row of
/// another layout, or one this build cannot read, is ended with an apology rather than misread.
const LAYOUT: u64 = 1;

/// A short fingerprint of what a prompt showed: its buttons carry it, so a button under an
/// older prompt, showing other content, acts on nothing (a second filing sent before the
/// first's 提交, say). FNV-1a, 32 bits: stable across builds, since the buttons outlive a
/// restart.
pub fn version(data: &str) -> String {
    let hash = data.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// A stored row read back: the session, and the version of the prompt it last showed (None
/// for a row written before prompts kept theirs).
pub(crate) struct Loaded<F: Flow> {
    pub session: Session<F>,
    pub shown: Option<String>,
}

pub(crate) fn load<F: Flow>(row: &Dialogue, kind: Kind) -> Option<Loaded<F>> {
    let value: Value = serde_json::from_str(&row.data).ok()?;
    if value
        .get(VERSION_FIELD)
        .and_then(Value::as_u64)
        .unwrap_or(1)
        != LAYOUT
    {
        return None;
    }
    let shown = match value.get(SHOWN_FIELD).and_then(Value::as_str) {
        Some(shown) => Some(shown.to_string()),
        None => shown_before_layouts(kind, &row.data),
    };
    let state: F = serde_json::from_value(value).ok()?;
    let step = F::Step::parse(&row.step)?;
    Some(Loaded {
        session: Session::new(row.user_id, row.chat_id, kind, step, state),
        shown,
    })
}

/// What the buttons of a row written before the state kept its prompt's version carry: a
/// review dialogue's the version of its data, a 免考 application's its kind's; the others none
/// (their buttons named what they acted on).
fn shown_before_layouts(kind: Kind, data: &str) -> Option<String> {
    match kind {
        Kind::File | Kind::Amend | Kind::Why | Kind::Record => Some(version(data)),
        Kind::Exempt => Some(version(kind.code())),
        Kind::Invite | Kind::Import | Kind::Entry => None,
    }
}

/// How a handled message or press ends, before the commit.
enum Applied<A> {
    Done(Option<A>),
    Press(Press),
}

impl App {
    /// Starts (or moves) a dialogue at a step: saves it and queues its prompt, in the caller's
    /// transaction.
    pub(crate) async fn enter<F: Flow>(
        &self,
        conn: &mut Conn,
        s: &mut Session<F>,
    ) -> anyhow::Result<()> {
        let prompt = match F::prompt(self, conn, s).await? {
            Shown::Prompt(p) => p,
            Shown::Ends(template) => {
                dialogues::clear(conn, s.user).await?;
                return self.tell(conn, s.chat, template, &json!({})).await;
            }
        };
        let mut stored = serde_json::to_value(&s.state)?;
        let shown = version(&s.state.shown());
        let Some(fields) = stored.as_object_mut() else {
            anyhow::bail!("a dialogue's state is a JSON object");
        };
        fields.insert(VERSION_FIELD.into(), json!(LAYOUT));
        fields.insert(SHOWN_FIELD.into(), json!(shown));
        let now = self.clock.now();
        let step = s.step.code();
        dialogues::set(conn, s.user, s.chat, s.kind.code(), step, &stored, now).await?;
        let encode = |action: String| {
            crate::app::callback::Callback::Dialogue {
                step: step.into(),
                action,
                shown: shown.clone(),
            }
            .encode()
        };
        let mut rows: Vec<Vec<crate::buttons::Button>> = prompt
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|(label, press)| crate::buttons::button(label, encode(press.code())))
                    .collect()
            })
            .collect();
        let mut nav = Vec::new();
        if F::previous(s).is_some() {
            nav.push(crate::buttons::button(
                self.render.text(tpl::BUTTON_BACK)?,
                encode(BACK.into()),
            ));
        }
        nav.push(crate::buttons::button(
            self.render.text(tpl::BUTTON_CANCEL)?,
            encode(CANCEL.into()),
        ));
        match (F::NAV, rows.last_mut()) {
            (Nav::SameRow, Some(last)) => last.extend(nav),
            _ => rows.push(nav),
        }
        let msg = Outgoing {
            chat_id: s.chat,
            body: self.render.render(prompt.template, &prompt.data)?,
            buttons: Some(crate::buttons::Buttons::rows(rows)),
            is_reply: prompt.reply,
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, now).await?;
        Ok(())
    }

    /// Carries out what a message or press led to, in the caller's transaction.
    async fn apply<F: Flow>(
        &self,
        conn: &mut Conn,
        mut s: Session<F>,
        next: Next<F>,
    ) -> anyhow::Result<Applied<F::After>> {
        Ok(match next {
            Next::Go(step) => {
                s.step = step;
                self.enter(conn, &mut s).await?;
                Applied::Done(None)
            }
            Next::Say(template, data) => {
                self.tell(conn, s.chat, template, &data).await?;
                Applied::Done(None)
            }
            Next::End => {
                dialogues::clear(conn, s.user).await?;
                Applied::Done(None)
            }
            Next::EndThen(after) => {
                dialogues::clear(conn, s.user).await?;
                Applied::Done(Some(after))
            }
            Next::Refused => Applied::Press(Press::Refused),
            Next::Stale => Applied::Press(Press::Stale),
            Next::Denied(d) => Applied::Press(Press::Denied(d)),
        })
    }

    /// Applies `next`, commits, and runs what comes after the commit.
    pub(crate) async fn finish<F: Flow>(
        &self,
        mut tx: WriteTx,
        s: Session<F>,
        next: Next<F>,
    ) -> anyhow::Result<Press> {
        let (user, chat) = (s.user, s.chat);
        match self.apply(&mut tx, s, next).await? {
            Applied::Press(press) => Ok(press),
            Applied::Done(after) => {
                self.commit_told(tx).await?;
                if let Some(after) = after {
                    F::after(self, user, chat, after).await?;
                }
                Ok(Press::Accepted)
            }
        }
    }

    /// A row this build cannot read (written by a later one, or of a kind since retired): it
    /// ends, and the person is asked to begin again.
    pub(crate) async fn unreadable(
        &self,
        mut tx: WriteTx,
        user: i64,
        chat: i64,
    ) -> anyhow::Result<()> {
        dialogues::clear(&mut tx, user).await?;
        self.tell(&mut tx, chat, tpl::DIALOGUE_UNREADABLE, &json!({}))
            .await?;
        self.commit_told(tx).await
    }

    /// `/cancel`: ends whatever dialogue the person is in.
    pub async fn cancel(&self, user: i64, chat: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let template = if crate::store::people::of_user(&mut tx, user)
            .await?
            .is_empty()
        {
            tpl::NOT_BOUND
        } else if dialogues::clear(&mut tx, user).await? {
            tpl::DIALOGUE_CANCELLED
        } else {
            tpl::CANCEL_NOTHING
        };
        self.tell(&mut tx, chat, template, &json!({})).await?;
        self.commit_told(tx).await
    }

    /// Handles a first answer as the dialogue's step would, in the caller's transaction, for a
    /// dialogue begun with it (a /review with everything in one message). A hint leaves the
    /// dialogue at `s`'s step, with its prompt after the hint.
    pub(crate) async fn answer_at_once<F: Flow>(
        &self,
        conn: &mut Conn,
        mut s: Session<F>,
        text: &str,
    ) -> anyhow::Result<()> {
        match F::text(self, conn, &mut s, text).await? {
            Next::Say(template, data) => {
                self.tell(conn, s.chat, template, &data).await?;
                self.enter(conn, &mut s).await
            }
            next => {
                self.apply(conn, s, next).await?;
                Ok(())
            }
        }
    }

    /// Ends the dialogue a person is in, if any (true when there was one).
    pub(crate) async fn end_dialogue(&self, conn: &mut Conn, user: i64) -> anyhow::Result<bool> {
        Ok(dialogues::clear(conn, user).await?)
    }

    /// The kind of dialogue a person is in, if any.
    pub(crate) async fn dialogue_kind(
        &self,
        conn: &mut Conn,
        user: i64,
    ) -> anyhow::Result<Option<Kind>> {
        Ok(dialogues::get(conn, user)
            .await?
            .and_then(|row| Kind::parse(&row.kind)))
    }

    /// Ends every dialogue of these kinds in a city (its window has closed): (user, chat) of
    /// each, for the caller to tell.
    pub(crate) async fn end_dialogues(
        &self,
        conn: &mut Conn,
        city: &str,
        kinds: &[Kind],
    ) -> anyhow::Result<Vec<(i64, i64)>> {
        let mut ended = Vec::new();
        for kind in kinds {
            for (user, chat) in dialogues::of_kind_in_city(conn, kind.code(), city).await? {
                dialogues::clear(conn, user).await?;
                ended.push((user, chat));
            }
        }
        Ok(ended)
    }
}

pub(crate) const BACK: &str = "back";
pub(crate) const CANCEL: &str = "cancel";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_as_stored() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.code()), Some(k));
        }
        assert_eq!(Kind::parse("nope"), None);
    }
}
