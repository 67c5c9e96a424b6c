//! What a person sent, as every messenger's adapter hands it over: a message in their private
//! chat, or a press of a button on a card there. The adapters only translate their platform's
//! update into these; which use case answers is decided here, once for every messenger.

use super::App;
use super::callback::{Callback, EntryAction, List, Press};
use super::command::{Command, Typed};
use super::entry::Sheet;
use super::limits::Admit;
use super::review::QuickFrom;
use crate::domain::attachment::Attachment;
use crate::domain::workflow::Purpose;
use crate::render::tpl;

/// A message someone sent the bot in their private chat.
#[derive(Debug, Default)]
pub struct Incoming<'a> {
    pub person: i64,
    pub chat: i64,
    pub text: Option<&'a str>,
    /// The caption of a photo or file.
    pub caption: Option<&'a str>,
    /// A photo, or a PDF or image sent as a file: what a signed form can be.
    pub file: Option<Attachment>,
    /// A spreadsheet sent as a file (a half-day sheet, an import).
    pub sheet: Option<Sheet>,
}

/// How a button press was taken: quietly, or with a short notice to the presser (Telegram shows
/// it as a pop-up; a messenger without one says it in the chat).
#[derive(Debug, PartialEq, Eq)]
pub enum Pressed {
    Taken,
    Notice(String),
}

impl App {
    /// Answers a message. An error is the bot's own failure: the adapter says so to the person
    /// directly, since the outbox may be what failed.
    pub async fn take_message(&self, m: Incoming<'_>) -> anyhow::Result<()> {
        let start_code = matches!(
            m.text.and_then(Command::parse),
            Some(Typed::Known(Command::Start, args)) if !args.is_empty()
        );
        match self.admit(m.person, start_code).await? {
            Admit::Yes => {}
            Admit::Notice => {
                return self
                    .reply(m.chat, self.render.text(tpl::TOO_MANY_UPDATES)?, None)
                    .await;
            }
            Admit::Drop => return Ok(()),
        }
        match m.sheet {
            Some(sheet) if m.text.is_none() => self.document(m.person, m.chat, sheet).await,
            _ => self.message(m).await,
        }
    }

    async fn message(&self, m: Incoming<'_>) -> anyhow::Result<()> {
        let (user_id, chat) = (m.person, m.chat);
        let say = |text: String| self.reply(chat, text, None);
        // A signed form captioned "准考证号 联系方式 理由" is a whole filing.
        if m.text.is_none()
            && m.file.is_some()
            && self
                .quick_filing(
                    user_id,
                    chat,
                    m.caption.unwrap_or_default(),
                    m.file.clone(),
                    QuickFrom::Caption,
                )
                .await?
        {
            return Ok(());
        }
        let Some(typed) = m.text.and_then(Command::parse) else {
            // Plain text or anything else: a dialogue in progress takes it first.
            let taken = match m.text {
                Some(t) => self.dialogue_text(user_id, chat, t).await?,
                None => self.dialogue_non_text(user_id, chat, m.file).await?,
            };
            if taken {
                return Ok(());
            }
            let answer = match (self.is_bound(user_id).await?, m.text.is_some()) {
                (false, _) => tpl::NOT_BOUND,
                (true, true) => tpl::UNKNOWN_COMMAND,
                (true, false) => tpl::TEXT_EXPECTED,
            };
            return say(self.render.text(answer)?).await;
        };
        let Typed::Known(command, args) = typed else {
            let answer = match self.is_bound(user_id).await? {
                true => tpl::UNKNOWN_COMMAND,
                false => tpl::NOT_BOUND,
            };
            return say(self.render.text(answer)?).await;
        };
        // A sealed season's library is in its archive: what would read it says so.
        if command.reads_the_season()
            && let Some(text) = self.sealed_season_answer(user_id).await?
        {
            return say(text).await;
        }
        match command {
            Command::Start => {
                let payload = (!args.is_empty()).then_some(args);
                say(self.start(user_id, chat, payload).await?).await
            }
            Command::Whoami => say(self.whoami(user_id).await?).await,
            Command::Contacts => self.contacts_command(user_id, chat).await,
            Command::Invite => self.invite_command(user_id, chat).await,
            Command::People => self.people_command(user_id, chat, args).await,
            Command::Help => say(self.help(user_id).await?).await,
            Command::Publish => self.publish_command(user_id, chat).await,
            Command::Cancel => self.cancel(user_id, chat).await,
            Command::Review => {
                // "/review 准考证号 联系方式 理由" files in one message; a bare /review asks.
                let quick = self.quick_filing(user_id, chat, args, None, QuickFrom::Command);
                if !quick.await? {
                    self.review_command(user_id, chat).await?;
                }
                Ok(())
            }
            Command::Exempt => self.exempt_command(user_id, chat).await,
            Command::Pending => self.pending_command(user_id, chat, 0).await,
            Command::Status => self.status_command(user_id, chat).await,
            Command::MyRequests => self.my_requests_command(user_id, chat, 0).await,
            Command::Request => self.request_command(user_id, chat, args).await,
            Command::Batch => self.batch_command(user_id, chat).await,
            Command::Export => self.export_command(user_id, chat).await,
            Command::Close => self.close_command(user_id, chat).await,
            Command::Lift => self.lift_command(user_id, chat, args).await,
        }
    }

    /// Answers a press of a button carrying `data`. `chat` is the chat the card sits in when it
    /// is the presser's own private chat, None otherwise (a forwarded card, a group): such a
    /// press is refused. A press over the person's rate is taken without a word.
    pub async fn take_press(
        &self,
        person: i64,
        chat: Option<i64>,
        data: &str,
    ) -> anyhow::Result<Pressed> {
        if self.admit(person, false).await? != Admit::Yes {
            return Ok(Pressed::Taken);
        }
        let pressed = Callback::parse(data);
        if let Some(request) = pressed.as_ref().and_then(Callback::request) {
            tracing::Span::current().record("request", request);
        }
        let press = match (chat, pressed) {
            (Some(chat), Some(cb)) => self.press(person, chat, cb).await?,
            _ => Press::Refused,
        };
        let notice = match press {
            Press::Accepted => return Ok(Pressed::Taken),
            Press::Stale => tpl::CALLBACK_STALE,
            Press::Refused => {
                self.record_refused_press(person, data).await?;
                tpl::CALLBACK_REFUSED
            }
            Press::Denied(denied) => {
                self.record_refused_press(person, data).await?;
                denied.template()
            }
        };
        Ok(Pressed::Notice(self.render.text(notice)?))
    }

    async fn press(&self, user_id: i64, chat: i64, cb: Callback) -> anyhow::Result<Press> {
        match cb {
            Callback::Dialogue {
                step,
                action,
                shown,
            } => {
                self.dialogue_button(user_id, chat, &step, &action, &shown)
                    .await
            }
            Callback::Review { id, stage, action } => {
                self.review_button(user_id, chat, id, stage, action).await
            }
            Callback::Page { list, page } => {
                match list {
                    List::Pending => self.pending_command(user_id, chat, page).await?,
                    List::Mine => self.my_requests_command(user_id, chat, page).await?,
                }
                Ok(Press::Accepted)
            }
            Callback::FullText { id } => self.full_opinions(user_id, chat, id).await,
            Callback::SignedForm { id } => self.signed_form(user_id, chat, id).await,
            Callback::Form { id } => self.review_form_button(user_id, chat, id).await,
            Callback::Exhibits { id } => self.exhibits_button(user_id, chat, id).await,
            Callback::Report { unit, count } => {
                self.send_up(user_id, chat, Purpose::Review, &unit, count)
                    .await
            }
            Callback::PasswordNoted { message } => self.password_noted(chat, message).await,
            Callback::ReportExemptions { unit, count } => {
                self.send_up(user_id, chat, Purpose::Exemption, &unit, count)
                    .await
            }
            Callback::Entry { batch, action } => match action {
                EntryAction::Seal => self.seal_batch(user_id, chat, batch).await,
                EntryAction::Report => self.report_batches(user_id, chat, batch).await,
            },
            Callback::EntryBoard => self.entry_board_button(user_id, chat).await,
            Callback::Revoke { binding } => self.revoke_button(user_id, chat, binding).await,
            Callback::CardListPage { list, page } => {
                self.card_list_page_button(user_id, list, page).await
            }
            Callback::CardListApprove { list, version } => {
                self.card_list_approve_button(user_id, chat, list, version)
                    .await
            }
            Callback::CardListKeep { list, version } => {
                self.card_list_keep_button(user_id, chat, list, version)
                    .await
            }
            Callback::StatusChart => self.status_chart(user_id, chat).await,
            Callback::Publish { season } => self.publish_button(user_id, chat, season).await,
            Callback::PublishCancel => self.publish_cancel_button(user_id, chat).await,
        }
    }
}
