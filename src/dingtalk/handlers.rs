//! What comes in through the Stream connection, translated: a message to the robot becomes the
//! app's `Incoming`, a card's button its press. Rights and state are checked in `app`.

use super::api::Api;
use super::sender;
use crate::app::App;
use crate::app::entry::Sheet;
use crate::app::inbound::{Incoming, Pressed};
use crate::domain::attachment::Attachment;
use crate::render::tpl;
use crate::store::{accounts, outbox};
use serde_json::Value;

/// The Stream topic of messages people send the robot.
pub const MESSAGES: &str = "/v1.0/im/bot/messages/get";
/// The Stream topic of presses on the robot's cards.
pub const PRESSES: &str = "/v1.0/card/instances/callback";

/// One frame's business, by its topic. An error is the bot's own failure (the person is told).
pub async fn handle(app: &App, api: &Api, bot_id: i64, topic: &str, data: &Value) {
    let result = match topic {
        MESSAGES => message(app, api, bot_id, data).await,
        PRESSES => press(app, api, bot_id, data).await,
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::error!(topic, "handling a DingTalk frame failed: {e:#}");
    }
}

/// The person behind a staff id, given a number now if they are new, and answered through this
/// app from now on.
async fn person(app: &App, api: &Api, bot_id: i64, staff: &str) -> anyhow::Result<i64> {
    let person = {
        let mut conn = app.db.pool.acquire().await?;
        accounts::person(&mut conn, &api.keys.client_id, staff).await?
    };
    if let Err(e) = app.talks_through(person, bot_id).await {
        tracing::warn!(person, "cannot record the person's app: {e:#}");
    }
    Ok(person)
}

async fn message(app: &App, api: &Api, bot_id: i64, data: &Value) -> anyhow::Result<()> {
    // One-to-one chats only: a group would show one person's business to all.
    if data["conversationType"].as_str() != Some("1") {
        return Ok(());
    }
    let Some(staff) = data["senderStaffId"].as_str().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let person = person(app, api, bot_id, staff).await?;
    let content = &data["content"];
    let code = content["downloadCode"].as_str().map(str::to_string);
    let name = content["fileName"].as_str().unwrap_or_default();
    let mut incoming = Incoming {
        person,
        chat: person,
        ..Incoming::default()
    };
    match data["msgtype"].as_str().unwrap_or_default() {
        "text" => incoming.text = data["text"]["content"].as_str().map(str::trim),
        "picture" => incoming.file = code.map(Attachment::Photo),
        "file" if Sheet::is_sheet_name(name) => {
            incoming.sheet = code.map(|file_id| Sheet {
                file_id,
                name: name.to_string(),
                // DingTalk's message does not say; the download stops at the limit.
                size: None,
            });
        }
        "file" if form_name(name) => incoming.file = code.map(Attachment::Document),
        _ => {}
    }
    if let Err(e) = app.take_message(incoming).await {
        tracing::error!(person, "handling a message failed: {e:#}");
        // Sent directly: the outbox may be what failed.
        let text = app.render.text(tpl::INTERNAL_ERROR)?;
        let data = sender::card(&text, &Default::default());
        let id = -rand::random_range(1..i64::MAX / 2);
        sender::send_card(api, staff, id, &data).await?;
    }
    Ok(())
}

/// A signed form sent as a file: a PDF or a picture, by its name.
fn form_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    [".pdf", ".jpg", ".jpeg", ".png"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

async fn press(app: &App, api: &Api, bot_id: i64, data: &Value) -> anyhow::Result<()> {
    let Some(staff) = data["userId"].as_str().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let person = person(app, api, bot_id, staff).await?;
    let content: Value = data["content"]
        .as_str()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    let pressed = content["cardPrivateData"]["actionIds"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The card must be one the bot sent this person: a card forwarded to someone else is
    // refused, as a press in a foreign chat is on Telegram.
    let card = data["outTrackId"]
        .as_str()
        .and_then(sender::message_of_card);
    let chat = match card {
        Some(message) => {
            let mut conn = app.db.pool.acquire().await?;
            outbox::chat_of_row(&mut conn, bot_id, message).await?
        }
        None => None,
    }
    .filter(|chat| *chat == person);
    let notice = match app.take_press(person, chat, &pressed).await {
        Ok(Pressed::Taken) => return Ok(()),
        Ok(Pressed::Notice(text)) => text,
        Err(e) => {
            tracing::error!(person, "handling a button failed: {e:#}");
            app.render.text(tpl::INTERNAL_ERROR)?
        }
    };
    // DingTalk shows no pop-up for a press: the notice is a message in the chat.
    app.reply(person, notice, None).await
}
