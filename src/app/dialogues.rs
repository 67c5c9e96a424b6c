//! The dialogues there are: each kind to its flow (`with_flow!`), and the entry points that
//! hand what a person sends or presses to the dialogue they are in. The framework itself is
//! `app::dialogue`; each flow lives with its procedure.

use crate::app::App;
use crate::app::callback::Press;
use crate::app::dialogue::{BACK, CANCEL, Flow, Kind, Next, PressCode, load};
use crate::domain::attachment::Attachment;
use crate::render::tpl;
use crate::store::Conn;
use crate::store::dialogues;
use serde_json::json;

/// Runs `$body` with `$flow` naming the state type of `$kind`'s dialogue.
macro_rules! with_flow {
    ($kind:expr, $flow:ident => $body:expr) => {
        match $kind {
            Kind::File | Kind::Amend => {
                type $flow = crate::app::review::Filing;
                $body
            }
            Kind::Why => {
                type $flow = crate::app::workflow::decide::Why;
                $body
            }
            Kind::Record => {
                type $flow = crate::app::workflow::recording::Recording;
                $body
            }
            Kind::Exempt => {
                type $flow = crate::app::exemption::dialogue::Application;
                $body
            }
            Kind::Invite => {
                type $flow = crate::app::invites::chat::Inviting;
                $body
            }
            Kind::Import => {
                type $flow = crate::app::documents::Importing;
                $body
            }
            Kind::Entry => {
                type $flow = crate::app::entry::chat::Entering;
                $body
            }
        }
    };
}

/// What a person sent into a dialogue.
enum Message<'a> {
    Text(&'a str),
    /// A photo or a file (`Some`), or anything else that is not text.
    Other(Option<Attachment>),
}

impl App {
    /// A text message while a dialogue may be open; false when there is none (the caller then
    /// answers as to any other text).
    pub async fn dialogue_text(&self, user: i64, chat: i64, text: &str) -> anyhow::Result<bool> {
        self.dialogue_message(user, chat, Message::Text(text)).await
    }

    /// Anything but text while a dialogue is open: a photo or file (`Some`), or anything else.
    /// False when there is no dialogue.
    pub async fn dialogue_non_text(
        &self,
        user: i64,
        chat: i64,
        file: Option<Attachment>,
    ) -> anyhow::Result<bool> {
        self.dialogue_message(user, chat, Message::Other(file))
            .await
    }

    async fn dialogue_message(
        &self,
        user: i64,
        chat: i64,
        message: Message<'_>,
    ) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        let Some(row) = dialogues::get(&mut tx, user).await? else {
            return Ok(false);
        };
        let Some(kind) = Kind::parse(&row.kind) else {
            self.unreadable(tx, user, chat).await?;
            return Ok(true);
        };
        with_flow!(kind, F => {
            let Some(loaded) = load::<F>(&row, kind) else {
                self.unreadable(tx, user, chat).await?;
                return Ok(true);
            };
            let mut s = loaded.session;
            s.chat = chat;
            let next = match message {
                Message::Text(text) => F::text(self, &mut tx, &mut s, text).await?,
                Message::Other(file) => F::file(self, &mut tx, &mut s, file).await?,
            };
            self.finish(tx, s, next).await?;
        });
        Ok(true)
    }

    /// A dialogue button ("d:<step>:<action>:<shown>"). A button of a step the person has left
    /// is stale; so is one under a prompt that showed other content than the dialogue now
    /// holds (提交 under one filing's summary never submits another).
    pub async fn dialogue_button(
        &self,
        user: i64,
        chat: i64,
        step: &str,
        action: &str,
        shown: &str,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        let Some(row) = dialogues::get(&mut tx, user).await? else {
            return Ok(Press::Stale);
        };
        let Some(kind) = Kind::parse(&row.kind) else {
            self.unreadable(tx, user, chat).await?;
            return Ok(Press::Stale);
        };
        with_flow!(kind, F => {
            let Some(loaded) = load::<F>(&row, kind) else {
                self.unreadable(tx, user, chat).await?;
                return Ok(Press::Stale);
            };
            // A press without a version (under a prompt sent before prompts had one) is taken
            // as before: it acts only on the presser's own dialogue, with every check of its
            // step.
            let other = loaded.shown.as_deref().is_some_and(|v| !shown.is_empty() && v != shown);
            if row.step != step || other {
                return Ok(Press::Stale);
            }
            let mut s = loaded.session;
            s.chat = chat;
            let next = match action {
                CANCEL => {
                    dialogues::clear(&mut tx, user).await?;
                    self.tell(&mut tx, chat, tpl::DIALOGUE_CANCELLED, &json!({}))
                        .await?;
                    self.commit_told(tx).await?;
                    return Ok(Press::Accepted);
                }
                BACK => match F::previous(&s) {
                    Some(previous) => {
                        s.state.on_back();
                        Next::Go(previous)
                    }
                    None => return Ok(Press::Stale),
                },
                code => match <F as Flow>::Press::parse(code) {
                    Some(press) => F::press(self, &mut tx, &mut s, press).await?,
                    None => return Ok(Press::Refused),
                },
            };
            self.finish(tx, s, next).await
        })
    }

    /// Ends any dialogue a person had about this request (a decision made elsewhere overtook
    /// it).
    pub(crate) async fn drop_dialogues_about(
        &self,
        conn: &mut Conn,
        user: i64,
        id: i64,
    ) -> anyhow::Result<()> {
        let Some(row) = dialogues::get(conn, user).await? else {
            return Ok(());
        };
        let Some(kind) = Kind::parse(&row.kind) else {
            return Ok(());
        };
        let about =
            with_flow!(kind, F => load::<F>(&row, kind).and_then(|l| l.session.state.request()));
        if about == Some(id) {
            dialogues::clear(conn, user).await?;
        }
        Ok(())
    }
}
