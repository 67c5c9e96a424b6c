//! The people of a test or the demo, speaking to the robot in a one-to-one chat through the
//! fake DingTalk: texts, files, pictures, card button presses (honest or crafted). Each is a
//! CALLBACK frame queued for the app's Stream connection.

use super::files::Download;
use super::{Action, CORP_ID, FakeDingTalk, Sent, now_ms};
use serde_json::{Value, json};
use std::sync::Arc;

/// The topic of a message to the robot.
pub const MESSAGE_TOPIC: &str = "/v1.0/im/bot/messages/get";

/// The topic of a card button pressed.
pub const CARD_TOPIC: &str = "/v1.0/card/instances/callback";

/// How long the session webhook of a message stays valid, in milliseconds (DingTalk: 90 min).
const SESSION_WEBHOOK_LIFE_MS: i64 = 90 * 60 * 1000;

/// A person of the organisation the test or demo speaks as.
#[derive(Clone)]
pub struct FakeDingUser {
    pub(super) fake: FakeDingTalk,
    pub staff_id: String,
    pub nick: String,
    /// The Client ID of the app whose robot they talk to.
    pub app: String,
}

impl FakeDingUser {
    /// Sends a text to the robot. Returns the frame's messageId.
    pub fn send(&self, text: &str) -> String {
        let mut data = self.message("text");
        data["text"] = json!({"content": text});
        self.queue_message(data, format!("{}: {text}", self.nick))
    }

    /// Sends a file (a sheet, a signed form) with its contents: the robot fetches them by the
    /// download code.
    pub fn send_file(&self, name: &str, bytes: Vec<u8>) -> String {
        let code = self.fake.download_code(Download::Bytes(Arc::new(bytes)));
        self.queue_file(name, code)
    }

    /// Sends a file whose download serves `size` bytes, made as they are read: a reader that
    /// keeps to its limit stops long before (see `FakeDingTalk::bytes_served`).
    pub fn send_big_file(&self, name: &str, size: usize) -> String {
        let code = self.fake.download_code(Download::Big(size));
        self.queue_file(name, code)
    }

    fn queue_file(&self, name: &str, code: String) -> String {
        let mut data = self.message("file");
        let space = "fakespace";
        data["content"] = json!({"downloadCode": code, "fileName": name, "spaceId": space,
                                 "fileId": self.fake.fresh_id("file")});
        self.queue_message(data, format!("{}: [文件 {name}]", self.nick))
    }

    /// Sends a picture (a photo of a signed form).
    pub fn send_picture(&self, bytes: Vec<u8>) -> String {
        let bytes = Arc::new(bytes);
        let code = self.fake.download_code(Download::Bytes(bytes.clone()));
        let picture_code = self.fake.download_code(Download::Bytes(bytes));
        let mut data = self.message("picture");
        data["content"] = json!({"downloadCode": code, "pictureDownloadCode": picture_code});
        self.queue_message(data, format!("{}: [图片]", self.nick))
    }

    /// A message from this person in their one-to-one chat with the robot, before its content.
    fn message(&self, msgtype: &str) -> Value {
        let now = now_ms();
        let staff = &self.staff_id;
        json!({
            "conversationType": "1",
            "conversationId": format!("cid{staff}"),
            "msgId": self.fake.fresh_id("msg"),
            "senderStaffId": staff,
            "senderId": format!("$:LWCP_v1:${staff}"),
            "senderNick": self.nick,
            "senderCorpId": CORP_ID,
            "chatbotCorpId": CORP_ID,
            "chatbotUserId": "$:LWCP_v1:$robot",
            "robotCode": self.app,
            "createAt": now,
            "isAdmin": false,
            "sessionWebhook": format!("{}/robot/sendBySession?session=x", self.fake.api_url()),
            "sessionWebhookExpiredTime": now + SESSION_WEBHOOK_LIFE_MS,
            "msgtype": msgtype,
        })
    }

    fn queue_message(&self, data: Value, said: String) -> String {
        self.fake.said(&self.staff_id, said);
        self.fake.queue(&self.app, MESSAGE_TOPIC, &data)
    }

    /// Presses the button labelled `label` on the newest card to this person that has one.
    /// Panics with the person's transcript when there is none (a test bug worth seeing).
    pub fn press(&self, label: &str) -> String {
        let (card, id) = self.button(label);
        self.press_id(&card, &id)
    }

    /// The newest card to this person with a request button labelled `label`, and the
    /// button's id: kept, it can be pressed later, after the card has changed (`press_id`).
    /// Panics when there is none.
    pub fn button(&self, label: &str) -> (Sent, String) {
        let found = self
            .fake
            .messages_to(&self.staff_id)
            .into_iter()
            .rev()
            .find_map(|m| {
                let id = m.buttons.iter().find_map(|b| match &b.action {
                    Action::Request(id) if b.label == label => Some(id.clone()),
                    _ => None,
                });
                id.map(|id| (m, id))
            });
        found.unwrap_or_else(|| {
            panic!(
                "no button {label:?} for {}:\n{}",
                self.staff_id,
                self.fake.transcript(&self.staff_id)
            )
        })
    }

    /// Presses a button id on a given card, whatever the card shows now (as a crafted client,
    /// or a stale screen, could). Returns the frame's messageId.
    pub fn press_id(&self, card: &Sent, id: &str) -> String {
        let label = card
            .buttons
            .iter()
            .find(|b| b.action == Action::Request(id.to_string()))
            .map_or(format!("[按钮 {id}]"), |b| format!("[{}]", b.label));
        self.fake
            .said(&self.staff_id, format!("{}: {label}", self.nick));
        let content = json!({"cardPrivateData": {"actionIds": [id], "params": {}}}).to_string();
        let data = json!({
            "corpId": CORP_ID,
            "userId": self.staff_id,
            "outTrackId": card.id,
            "type": "actionCallback",
            "spaceType": "IM",
            "spaceId": "",
            "userIdType": 1,
            "extension": "{}",
            "content": content,
            "value": content,
        });
        self.fake.queue(&self.app, CARD_TOPIC, &data)
    }
}
