//! Delivery's DingTalk side: a queued row sent as a card (its text and buttons, so that it can be
//! changed in place later), a file as an uploaded file message, an earlier card updated; the
//! answers sorted into what delivery does next.

use super::api::{Api, Fault};
use super::markdown;
use crate::buttons::Buttons;
use crate::delivery::{BoxFuture, Messenger, Outcome};
use crate::domain::attachment::Attachment;
use crate::store::outbox::Row;
use crate::store::{Db, accounts};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long every send waits after DingTalk said "too fast" (its limits count per second).
const THROTTLED_WAIT: Duration = Duration::from_secs(1);

pub struct DingTalkSender {
    pub api: Arc<Api>,
    pub db: Db,
    pub messages_per_second: u32,
}

impl Messenger for DingTalkSender {
    fn send<'a>(&'a self, row: &'a Row) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let staff = match self.staff(row.chat_id).await {
                Ok(staff) => staff,
                Err(outcome) => return outcome,
            };
            match send(&self.api, &staff, row).await {
                Ok(id) => Outcome::Sent(id),
                Err(fault) => outcome(fault),
            }
        })
    }

    fn edit<'a>(&'a self, row: &'a Row, message_id: i64) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let data = match card_data(row) {
                Ok(data) => data,
                Err(e) => return Outcome::Failed(e),
            };
            let body = json!({"cardBizId": card_id(message_id), "cardData": data.to_string()});
            match self
                .api
                .put("/v1.0/im/robots/interactiveCards", &body)
                .await
            {
                Ok(_) => Outcome::Sent(message_id),
                Err(fault) => outcome(fault),
            }
        })
    }

    fn messages_per_second(&self, _: &crate::config::Config) -> u32 {
        self.messages_per_second
    }
}

impl DingTalkSender {
    /// The staff id a row's chat stands for; a chat that is none of this app's people cannot be
    /// reached through it.
    async fn staff(&self, chat: i64) -> Result<String, Outcome> {
        let found = async {
            let mut conn = self.db.pool.acquire().await?;
            accounts::staff_id(&mut conn, &self.api.keys.client_id, chat).await
        };
        match found.await {
            Ok(Some(staff)) => Ok(staff),
            Ok(None) => Err(Outcome::Unreachable(
                "not a person of this DingTalk app".into(),
            )),
            Err(e) => Err(Outcome::Retry(format!(
                "cannot read the person's staff id: {e}"
            ))),
        }
    }
}

/// A card's id at DingTalk for the bot's message number `id` (the outbox row's id, which the
/// message keeps): a row sent again after a lost answer names the same card, and DingTalk
/// refuses it as a duplicate instead of showing it twice.
pub fn card_id(id: i64) -> String {
    format!("erb{id}")
}

/// The message number of a card's id (`card_id` read back).
pub fn message_of_card(card: &str) -> Option<i64> {
    card.strip_prefix("erb")?.parse().ok()
}

/// Sends the row to the person; the message's number.
pub async fn send(api: &Api, staff: &str, row: &Row) -> Result<i64, Fault> {
    let file = match (&row.document_name, &row.document, row.file_ref.as_deref()) {
        (Some(name), Some(bytes), _) => Some((name.clone(), bytes.clone())),
        // A photo or form someone sent, sent on: DingTalk forwards nothing by its download
        // code, so it is fetched and uploaded again.
        (_, _, Some(stored)) => match Attachment::parse(stored) {
            Some(Attachment::Photo(code)) | Some(Attachment::Document(code)) => {
                let limit = crate::app::entry::BOT_DOWNLOAD_LIMIT;
                let bytes = api.download(&code, limit).await.map_err(|e| Fault::Later {
                    why: format!("{e:#}"),
                    throttled: false,
                })?;
                Some((attachment_name(stored), bytes))
            }
            None => None,
        },
        _ => None,
    };
    if let Some((name, bytes)) = file {
        send_file(api, staff, &name, bytes).await?;
        // The caption and buttons follow as the card, which is the message later edits change.
        if row.body.trim().is_empty() && row.reply_markup.is_none() {
            return Ok(row.id);
        }
    }
    let data = card_data(row).map_err(|why| Fault::Never {
        status: 0,
        code: "bad-buttons".into(),
        why,
    })?;
    send_card(api, staff, row.id, &data).await
}

fn attachment_name(stored: &str) -> String {
    match Attachment::parse(stored) {
        Some(Attachment::Photo(_)) => "photo.jpg".into(),
        _ => "附件.pdf".into(),
    }
}

/// Sends a card numbered `id`; a card already sent under that number counts as sent.
pub async fn send_card(api: &Api, staff: &str, id: i64, data: &Value) -> Result<i64, Fault> {
    let body = json!({
        "cardTemplateId": "StandardCard",
        "robotCode": api.keys.client_id,
        "cardBizId": card_id(id),
        "singleChatReceiver": json!({"userId": staff}).to_string(),
        "cardData": data.to_string(),
    });
    match api
        .post("/v1.0/im/v1.0/robot/interactiveCards/send", &body)
        .await
    {
        Ok(_) => Ok(id),
        Err(fault) if fault.code().is_some_and(|c| c.contains("duplicate")) => Ok(id),
        Err(fault) => Err(fault),
    }
}

async fn send_file(api: &Api, staff: &str, name: &str, bytes: Vec<u8>) -> Result<(), Fault> {
    let media = api.upload(name, bytes).await?;
    let kind = name.rsplit_once('.').map_or("file", |(_, ext)| ext);
    let param = json!({"mediaId": media, "fileName": name, "fileType": kind});
    let body = json!({
        "robotCode": api.keys.client_id,
        "userIds": [staff],
        "msgKey": "sampleFile",
        "msgParam": param.to_string(),
    });
    let answer = api.post("/v1.0/robot/oToMessages/batchSend", &body).await?;
    let listed = |key: &str| {
        answer[key]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(staff)))
    };
    if listed("invalidStaffIdList") {
        return Err(Fault::Never {
            status: 200,
            code: "invalidStaffIdList".into(),
            why: "DingTalk does not know this person in the app".into(),
        });
    }
    if listed("flowControlledStaffIdList") {
        return Err(Fault::Later {
            why: "DingTalk holds messages to this person back for now".into(),
            throttled: true,
        });
    }
    Ok(())
}

/// The standard card: the first line as its title, the text, a row of buttons per row.
pub fn card_data(row: &Row) -> Result<Value, String> {
    let buttons = match row.reply_markup.as_deref() {
        Some(stored) => Buttons::from_stored(stored)
            .map_err(|e| format!("stored buttons are not valid: {e}"))?,
        None => Buttons::default(),
    };
    Ok(card(&row.body, &buttons))
}

pub fn card(html: &str, buttons: &Buttons) -> Value {
    let mut contents =
        vec![json!({"type": "markdown", "text": markdown::from_html(html), "id": "text"})];
    for (n, row) in buttons.0.iter().enumerate() {
        let actions: Vec<Value> = row
            .iter()
            // The season board signs people in through Telegram; it has no button here.
            .filter(|b| b.page.is_none())
            .map(|b| {
                json!({
                    "type": "button",
                    "label": {"type": "text", "text": b.label},
                    "actionType": "request",
                    "status": "normal",
                    "id": b.press,
                })
            })
            .collect();
        if !actions.is_empty() {
            contents.push(json!({"type": "action", "actions": actions, "id": format!("row{n}")}));
        }
    }
    json!({
        "config": {"autoLayout": true, "enableForward": false},
        "header": {"title": {"type": "text", "text": markdown::title(html)}},
        "contents": contents,
    })
}

fn outcome(fault: Fault) -> Outcome {
    match fault {
        Fault::Later {
            why,
            throttled: true,
        } => Outcome::Throttled(why, THROTTLED_WAIT),
        Fault::Later { why, .. } => Outcome::Retry(why),
        Fault::Never { ref code, .. }
            if code.starts_with("invalidParameter.userId") || code == "invalidStaffIdList" =>
        {
            Outcome::Unreachable(fault.to_string())
        }
        fault => Outcome::Failed(fault.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buttons::{button, page_button};

    #[test]
    fn a_card_carries_its_buttons_typed_actions_and_no_board_button() {
        let buttons = Buttons::rows(vec![
            vec![
                button("✅ 同意".into(), "rv:1:s0r1:a".into()),
                button("↩️ 退回".into(), "rv:1:s0r1:r".into()),
            ],
            vec![page_button("看板".into(), "https://x.org/board".into())],
        ]);
        let data = card("<b>复核申请</b>\n张三", &buttons);
        assert_eq!(data["header"]["title"]["text"], "复核申请");
        assert_eq!(data["contents"][0]["text"], "**复核申请**\n张三");
        assert_eq!(data["contents"][1]["actions"][1]["id"], "rv:1:s0r1:r");
        assert_eq!(data["contents"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn card_ids_read_back_and_refusals_sort() {
        assert_eq!(message_of_card(&card_id(42)), Some(42));
        assert_eq!(message_of_card("other"), None);
        let gone = Fault::Never {
            status: 400,
            code: "invalidParameter.userId.notFound".into(),
            why: String::new(),
        };
        assert!(matches!(outcome(gone), Outcome::Unreachable(_)));
    }
}
