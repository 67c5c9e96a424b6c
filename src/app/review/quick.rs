//! Filing in one message: the signed form's photo (or PDF) with the caption
//! "准考证号 联系方式 理由", or `/review 准考证号 联系方式 理由` where the city does not ask for
//! the form.
//!
//! A school contact with fifty requests to file would otherwise answer six prompts fifty
//! times, and the chat would get six messages a request at Telegram's one a second: five
//! minutes of prompts before anyone downstream hears of the last request. Here it
//! is one message and 提交, and two messages back. It fills the /review dialogue's data and
//! enters the dialogue at the first step still missing, so everything after is the dialogue's
//! own: the 附件5 summary to confirm, 修改, 返回, /cancel, and the same checks at 提交.

use super::dialogue::Step;
use super::filing::Filing;
use crate::app::App;
use crate::app::dialogue::{Kind, Session};
use crate::domain::attachment::Attachment;
use crate::domain::review;
use crate::render::tpl;
use serde_json::json;

/// What one message says of a filing. Only the 准考证号 is required to call it one; what is
/// missing or wrong the dialogue asks for.
#[derive(Debug, PartialEq)]
pub(crate) struct QuickFiling {
    pub exam_no: String,
    pub contact: Option<String>,
    pub reason: Option<String>,
}

impl QuickFiling {
    /// "准考证号 联系方式 理由": the first word is the 准考证号 (letters and digits, at least one
    /// digit); the first later word that is a phone number is the 联系方式, wherever it stands;
    /// the rest, as written, is the reason. None when the first word is no 准考证号 (a caption
    /// that is a note, not a filing).
    pub fn parse(text: &str) -> Option<QuickFiling> {
        let text = text.trim();
        let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let looks_like_exam_no = (4..=32).contains(&first.len())
            && first.bytes().all(|b| b.is_ascii_alphanumeric())
            && first.bytes().any(|b| b.is_ascii_digit());
        if !looks_like_exam_no {
            return None;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let phone = words.iter().position(|w| review::contact(w).is_some());
        let contact = phone.and_then(|i| review::contact(words[i]));
        let reason_words: Vec<&str> = words
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != phone)
            .map(|(_, w)| *w)
            .collect();
        // A reason too long for the form is asked for again, with the limit.
        let reason = review::reason(&reason_words.join(" ")).ok();
        Some(QuickFiling {
            exam_no: first.to_string(),
            contact,
            reason,
        })
    }
}

/// Where a quick filing came from: a command is asked for and replaces any open dialogue, as
/// /review does; a captioned file leaves another kind of dialogue (a 免考 application wanting
/// its photos, say) to take it as before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuickFrom {
    Command,
    Caption,
}

impl App {
    /// A filing in one message (`QuickFiling`). True when handled: refused with its reason,
    /// the dialogue entered at its first missing step, or (a file whose caption is no filing,
    /// from someone who may file, with no dialogue open) told how to file in one message.
    /// False when it is none of this bot's business here: the caller goes on as before.
    pub async fn quick_filing(
        &self,
        user_id: i64,
        chat_id: i64,
        text: &str,
        form: Option<Attachment>,
        from: QuickFrom,
    ) -> anyhow::Result<bool> {
        let quick = QuickFiling::parse(text);
        // A bare /review, or a file with nothing to file: nothing to look up.
        if quick.is_none() && (from == QuickFrom::Command || form.is_none()) {
            return Ok(false);
        }
        let mut tx = self.db.begin().await?;
        let open = self.dialogue_kind(&mut tx, user_id).await?;
        if from == QuickFrom::Caption && open.is_some_and(|k| k != Kind::File) {
            return Ok(false);
        }
        let refused = self.filing_refused(&mut tx, user_id).await?;
        match (quick, refused) {
            (None, None) if open.is_none() => {
                self.tell(&mut tx, chat_id, tpl::REVIEW_QUICK_HOW, &json!({}))
                    .await?;
            }
            (None, _) => return Ok(false),
            (Some(_), Some((template, data))) => {
                self.tell(&mut tx, chat_id, template, &data).await?
            }
            (Some(quick), None) => {
                // "quick": the dialogue goes on to the first step still missing. The 准考证号
                // is answered as its first step: the same lookup, the same replies (not found,
                // already filed, 免考); a number not found leaves it at that step.
                let start = Filing {
                    quick: true,
                    form: form.map(|f| f.to_string()),
                    contact: quick.contact,
                    reason: quick.reason,
                    ..Filing::default()
                };
                let s = Session::new(user_id, chat_id, Kind::File, Step::ExamNo, start);
                self.answer_at_once(&mut tx, s, &quick.exam_no).await?;
            }
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::QuickFiling;

    fn parse(s: &str) -> Option<QuickFiling> {
        QuickFiling::parse(s)
    }

    #[test]
    fn a_caption_in_the_documented_order_fills_all_three() {
        let q = parse("202300000017 13800001234 主实验第3题漏评").unwrap();
        assert_eq!(q.exam_no, "202300000017");
        assert_eq!(q.contact.as_deref(), Some("13800001234"));
        assert_eq!(q.reason.as_deref(), Some("主实验第3题漏评"));
    }

    #[test]
    fn the_phone_may_stand_anywhere_and_the_reason_keeps_its_words() {
        let q = parse("202300000017  物理 第3题 漏评 0391-1234567").unwrap();
        assert_eq!(q.contact.as_deref(), Some("0391-1234567"));
        assert_eq!(q.reason.as_deref(), Some("物理 第3题 漏评"));
    }

    #[test]
    fn what_is_missing_is_left_for_the_dialogue() {
        let q = parse("202300000017").unwrap();
        assert_eq!((q.contact, q.reason), (None, None));
        let q = parse("202300000017 漏评").unwrap();
        assert_eq!(q.contact, None);
        assert_eq!(q.reason.as_deref(), Some("漏评"));
        let too_long = format!("202300000017 13800001234 {}", "很".repeat(1000));
        assert_eq!(parse(&too_long).unwrap().reason, None);
    }

    #[test]
    fn a_caption_that_is_a_note_is_no_filing() {
        for caption in [
            "",
            "申请表",
            "见附件 13800001234",
            "abcd 13800001234 漏评",
            "12",
        ] {
            assert_eq!(parse(caption), None, "{caption:?}");
        }
    }
}
