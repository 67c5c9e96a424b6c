//! Interactive cards (the standard card, `StandardCard`): sent to one person by the robot and
//! updated in place later, as the bot edits a Telegram message. The card's JSON is read as a
//! DingTalk client shows it: the header's title, the markdown contents, the buttons.

use super::answer::{admit_v1, bad, json_body, ok};
use super::paths::{CARD_SEND, CARD_UPDATE};
use super::{Action, Button, FakeDingTalk, Kind, Sent};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use std::time::Instant;

/// What a card shows: its title, its markdown and its buttons.
struct Shown {
    title: String,
    markdown: String,
    buttons: Vec<Button>,
}

/// Reads `cardData` (JSON text) as the standard card: `header.title.text`, every `markdown`
/// content (joined by a line break), every button of every `action` content. None when it is
/// not JSON.
fn read_card(card_data: &str) -> Option<Shown> {
    let card: Value = serde_json::from_str(card_data).ok()?;
    let contents = card["contents"].as_array().map_or(&[][..], Vec::as_slice);
    let of_type = |kind: &'static str| contents.iter().filter(move |c| c["type"] == kind);
    let markdown = of_type("markdown")
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let buttons = of_type("action")
        .flat_map(|c| c["actions"].as_array().into_iter().flatten())
        .filter_map(|b| {
            let label = b["label"]["text"].as_str()?.to_string();
            let action = match b["actionType"].as_str()? {
                "request" => Action::Request(b["id"].as_str()?.to_string()),
                "openLink" => Action::Link(b["url"]["all"].as_str()?.to_string()),
                _ => return None,
            };
            Some(Button { label, action })
        })
        .collect();
    Some(Shown {
        title: card["header"]["title"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        markdown,
        buttons,
    })
}

/// `POST /v1.0/im/v1.0/robot/interactiveCards/send` → `{processQueryKey}`.
pub(super) async fn send(
    State(fake): State<FakeDingTalk>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let admitted = match admit_v1(&fake, CARD_SEND, &headers) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let response = match json_body(&body) {
        Ok(body) => deliver(&fake, &admitted.app, &body, arrived),
        Err(refused) => refused,
    };
    admitted.answer(response).await
}

fn deliver(fake: &FakeDingTalk, app: &str, body: &Value, arrived: Instant) -> Response {
    let text = |key: &str| body[key].as_str().unwrap_or_default();
    if text("robotCode") != app {
        return bad("invalidParameter.robotCode", "robotCode 不是该应用的机器人");
    }
    if text("cardTemplateId") != "StandardCard" {
        return bad("invalidParameter.cardTemplateId", "cardTemplateId 不存在");
    }
    let receiver: Value = serde_json::from_str(text("singleChatReceiver")).unwrap_or_default();
    let Some(staff_id) = receiver["userId"].as_str() else {
        return bad(
            "invalidParameter.singleChatReceiver",
            "singleChatReceiver 不合法",
        );
    };
    let Some(shown) = read_card(text("cardData")) else {
        return bad("invalidParameter.cardData", "cardData 不是合法的 JSON");
    };
    let biz_id = text("cardBizId");
    if biz_id.is_empty() {
        return bad("invalidParameter.cardBizId", "cardBizId 不能为空");
    }
    if !fake.reachable(app, staff_id) {
        return bad(
            "invalidParameter.userId.notFound",
            "用户不存在或不在可见范围",
        );
    }
    // Checked and taken at once: two sends of one card racing, one is refused.
    let mut inner = fake.lock();
    if inner.card_app.contains_key(biz_id) {
        return bad("invalidParameter.cardBizId.duplicate", "cardBizId 已被使用");
    }
    inner.card_app.insert(biz_id.to_string(), app.to_string());
    drop(inner);
    fake.record_sent(Sent {
        id: biz_id.to_string(),
        staff_id: staff_id.to_string(),
        kind: Kind::Card,
        title: shown.title,
        markdown: shown.markdown,
        buttons: shown.buttons,
        file: None,
        updates: 0,
        at: arrived,
    });
    ok(json!({"processQueryKey": fake.fresh_id("pqk")}))
}

/// `PUT /v1.0/im/robots/interactiveCards {cardBizId, cardData}` → `{success: true}`: the
/// card's title, text and buttons replaced.
pub(super) async fn update(
    State(fake): State<FakeDingTalk>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admitted = match admit_v1(&fake, CARD_UPDATE, &headers) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let response = match json_body(&body) {
        Ok(body) => replace(&fake, &admitted.app, &body),
        Err(refused) => refused,
    };
    admitted.answer(response).await
}

fn replace(fake: &FakeDingTalk, app: &str, body: &Value) -> Response {
    let biz_id = body["cardBizId"].as_str().unwrap_or_default();
    let Some(shown) = read_card(body["cardData"].as_str().unwrap_or_default()) else {
        return bad("invalidParameter.cardData", "cardData 不是合法的 JSON");
    };
    let mut inner = fake.lock();
    // Another app's card is as unknown as one never sent.
    if inner.card_app.get(biz_id).map(String::as_str) != Some(app) {
        return bad("invalidParameter.cardBizId.notFound", "卡片不存在");
    }
    let Some(card) = inner
        .sent
        .iter_mut()
        .rev()
        .find(|m| m.kind == Kind::Card && m.id == biz_id)
    else {
        return bad("invalidParameter.cardBizId.notFound", "卡片不存在");
    };
    card.title = shown.title;
    card.markdown = shown.markdown;
    card.buttons = shown.buttons;
    card.updates += 1;
    drop(inner);
    ok(json!({"success": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_card_is_read_as_a_client_shows_it() {
        let card = json!({
            "header": {"title": {"type": "text", "text": "审核"}},
            "contents": [
                {"type": "markdown", "text": "**第一行**"},
                {"type": "action", "actions": [
                    {"type": "button", "label": {"type": "text", "text": "批准"},
                     "actionType": "request", "id": "a:1", "status": "normal"},
                    {"type": "button", "label": {"type": "text", "text": "看板"},
                     "actionType": "openLink", "url": {"all": "https://board"}}]},
                {"type": "markdown", "text": "第二段"},
            ],
        });
        let shown = read_card(&card.to_string()).unwrap();
        assert_eq!(shown.title, "审核");
        assert_eq!(shown.markdown, "**第一行**\n第二段");
        assert_eq!(
            shown.buttons,
            vec![
                Button {
                    label: "批准".into(),
                    action: Action::Request("a:1".into())
                },
                Button {
                    label: "看板".into(),
                    action: Action::Link("https://board".into())
                },
            ]
        );
        assert!(read_card("not json").is_none());
    }
}
