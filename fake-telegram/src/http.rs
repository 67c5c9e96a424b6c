//! The Bot API's HTTP face: each call read (JSON or a multipart upload), recorded, checked
//! against the injected faults and Telegram's limits, and answered as Telegram answers it.

use super::*;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub(super) const SEND_METHODS: [&str; 3] = ["sendmessage", "senddocument", "sendphoto"];

pub(super) fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": true, "result": result})),
    )
        .into_response()
}

pub(super) fn err(status: StatusCode, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (status, axum::Json(body)).into_response()
}

/// Reads the call's parameters from JSON or multipart (with a file).
pub(super) async fn read_params(request: Request) -> (Value, Option<(String, Vec<u8>)>) {
    let content_type = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type.starts_with("multipart/form-data") {
        let mut params = serde_json::Map::new();
        let mut file = None;
        if let Ok(mut multipart) = Multipart::from_request(request, &()).await {
            while let Ok(Some(field)) = multipart.next_field().await {
                let name = field.name().unwrap_or_default().to_string();
                let file_name = field.file_name().map(str::to_string);
                let Ok(data) = field.bytes().await else { break };
                match file_name {
                    Some(f) => file = Some((f, data.to_vec())),
                    None => {
                        let text = String::from_utf8_lossy(&data).to_string();
                        // Keyboards and numbers arrive as JSON text inside the form.
                        let value = serde_json::from_str::<Value>(&text)
                            .ok()
                            .filter(|v| v.is_object() || v.is_array() || v.is_number())
                            .unwrap_or(Value::String(text));
                        params.insert(name, value);
                    }
                }
            }
        }
        (Value::Object(params), file)
    } else {
        let body = axum::body::to_bytes(request.into_body(), 64 << 20)
            .await
            .unwrap_or_default();
        (serde_json::from_slice(&body).unwrap_or(json!({})), None)
    }
}

/// A file's bytes, as Telegram serves them to the bot at /file/bot<token>/<file_path>.
pub(super) async fn file(
    State(fake): State<FakeTelegram>,
    Path((_token, path)): Path<(String, String)>,
) -> Response {
    let id = path.strip_prefix("file-").unwrap_or(&path);
    match fake.lock().files.get(id) {
        Some(FileBody::Bytes(b)) => (StatusCode::OK, b.clone()).into_response(),
        Some(FileBody::TooBig) => StatusCode::NOT_FOUND.into_response(),
        None => (StatusCode::OK, SAMPLE_PNG.to_vec()).into_response(),
    }
}

pub(super) async fn handle(
    State(fake): State<FakeTelegram>,
    Path((token, method)): Path<(String, String)>,
    request: Request,
) -> Response {
    // Timestamps are taken on arrival: what Telegram would count.
    let arrived = Instant::now();
    let method = method.to_ascii_lowercase();
    let (params, file) = read_params(request).await;
    let chat_id = params.get("chat_id").and_then(|v| match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    if let Some(id) = bot_id_of(&token) {
        fake.lock().bot_id = Some(id);
    }
    let (chaos_fault, lose_answer) = match chaos::roll(&fake, &method, chat_id) {
        chaos::Roll::Pass => (None, None),
        chaos::Roll::Fault(f) => (Some(f), None),
        chaos::Roll::Slow(d) => {
            tokio::time::sleep(d).await;
            (None, None)
        }
        chaos::Roll::LoseAnswer(d) => (None, Some(d)),
    };
    let response = respond(&fake, arrived, &method, params, file, chat_id, chaos_fault).await;
    fake.answered.notify_waiters();
    if let Some(hang) = lose_answer {
        // Done, but the client never hears: it gives up and tries again.
        tokio::time::sleep(hang).await;
    }
    response
}

/// Answers one call as Telegram would (or with the fault injected for it).
async fn respond(
    fake: &FakeTelegram,
    arrived: Instant,
    method: &str,
    params: Value,
    file: Option<(String, Vec<u8>)>,
    chat_id: Option<i64>,
    chaos_fault: Option<Fault>,
) -> Response {
    let is_send = SEND_METHODS.contains(&method);

    // Holding: the call waits, and is then dropped without delivery.
    if is_send && fake.lock().hold_sends {
        fake.lock().held += 1;
        loop {
            let released = fake.release.notified();
            if fake.lock().drop_held {
                break;
            }
            released.await;
        }
        fake.lock().held -= 1;
        return err(StatusCode::BAD_GATEWAY, "Bad Gateway", None);
    }

    let fault = {
        let mut inner = fake.lock();
        let found = inner.faults.iter_mut().find(|r| {
            r.remaining > 0
                && r.method.as_deref().is_none_or(|m| m == method)
                && r.chat_id.is_none_or(|c| Some(c) == chat_id)
        });
        found.map(|r| {
            r.remaining -= 1;
            r.fault.clone()
        })
    }
    .or(chaos_fault);
    if is_send && let Some(refused) = limits::refuse_over(fake, method, chat_id, arrived, &params) {
        return refused;
    }
    let record = |status: u16| {
        fake.lock().calls.push(Call {
            method: method.to_string(),
            chat_id,
            at: arrived,
            status,
            params: params.clone(),
        });
    };
    if let Some(fault) = fault {
        return match fault {
            Fault::RetryAfter(secs) => {
                record(429);
                err(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("Too Many Requests: retry after {secs}"),
                    Some(json!({"retry_after": secs})),
                )
            }
            Fault::ServerError => {
                record(500);
                err(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    None,
                )
            }
            Fault::BadGateway => {
                record(502);
                err(StatusCode::BAD_GATEWAY, "Bad Gateway", None)
            }
            Fault::Timeout(d) => {
                tokio::time::sleep(d).await;
                record(504);
                err(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout", None)
            }
            Fault::Blocked => {
                record(403);
                err(
                    StatusCode::FORBIDDEN,
                    "Forbidden: bot was blocked by the user",
                    None,
                )
            }
        };
    }

    match method {
        "getme" => {
            record(200);
            let mut me = bot_user();
            let state = fake.lock();
            if let Some(id) = state.bot_id {
                me["id"] = json!(id);
            }
            if let Some(name) = &state.username {
                me["username"] = json!(name);
            }
            drop(state);
            me["can_join_groups"] = json!(true);
            me["can_read_all_group_messages"] = json!(false);
            me["supports_inline_queries"] = json!(false);
            me["has_main_web_app"] = json!(false);
            ok(me)
        }
        "getwebhookinfo" => {
            record(200);
            let url = fake.webhook_url().unwrap_or_default();
            ok(json!({"url": url, "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "setwebhook" => {
            record(200);
            let url = params["url"].as_str().unwrap_or_default();
            let secret = params["secret_token"].as_str().map(str::to_string);
            fake.set_webhook(url, secret);
            ok(json!(true))
        }
        "getupdates" if fake.webhook_is_set() => {
            record(409);
            err(
                StatusCode::CONFLICT,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                None,
            )
        }
        "deletewebhook" | "setmycommands" | "deletemycommands" | "setchatmenubutton" => {
            record(200);
            if method == "setmycommands" {
                let chat = scope_chat(params.get("scope"));
                let commands = match params.get("commands") {
                    Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
                    Some(v) => v.clone(),
                    None => Value::Null,
                };
                let names = commands
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["command"].as_str().map(str::to_string))
                    .collect();
                fake.lock().menus.insert(chat, names);
            }
            if method == "deletewebhook" {
                fake.delete_webhook();
            }
            if method == "setchatmenubutton" {
                let chat = params.get("chat_id").and_then(Value::as_i64);
                let button = match params.get("menu_button") {
                    Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
                    Some(v) => v.clone(),
                    None => Value::Null,
                };
                fake.lock().menu_buttons.insert(chat, button);
            }
            if method == "deletemycommands" {
                let chat = scope_chat(params.get("scope"));
                fake.lock().menus.remove(&chat);
            }
            ok(json!(true))
        }
        "getupdates" => polling::get_updates(fake, &params).await,
        // A sheet a user sent is served as sent; any other file is the sample picture, under
        // a path of its own. A file over 20 MB is refused, as Telegram refuses it.
        "getfile" => {
            let id = params
                .get("file_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let size = match fake.lock().files.get(id) {
                Some(FileBody::Bytes(b)) => b.len(),
                Some(FileBody::TooBig) => {
                    record(400);
                    return err(
                        StatusCode::BAD_REQUEST,
                        "Bad Request: file is too big",
                        None,
                    );
                }
                None => SAMPLE_PNG.len(),
            };
            record(200);
            ok(json!({"file_id": id, "file_unique_id": format!("u{id}"),
                      "file_size": size, "file_path": format!("file-{id}")}))
        }
        "sendmessage" | "senddocument" | "sendphoto" => {
            let (status, response) = messages::send(fake, method, &params, file, chat_id, arrived);
            record(status);
            response
        }
        "editmessagetext" | "editmessagereplymarkup" | "editmessagecaption" => {
            let (status, response) = messages::edit(fake, &params, chat_id);
            record(status);
            response
        }
        "deletemessage" => {
            let (status, response) = messages::delete(fake, &params, chat_id);
            record(status);
            response
        }
        "answercallbackquery" => {
            fake.lock().callback_answers.push((
                params["callback_query_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                params["text"].as_str().unwrap_or_default().to_string(),
                params["show_alert"].as_bool().unwrap_or(false),
            ));
            record(200);
            ok(json!(true))
        }
        _ => {
            record(404);
            err(StatusCode::NOT_FOUND, "Not Found: method not found", None)
        }
    }
}

/// The chat of a `BotCommandScope` parameter (None: the default scope). A form-encoded call
/// carries it as JSON text.
pub(super) fn scope_chat(scope: Option<&Value>) -> Option<i64> {
    let scope = match scope {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    (scope["type"] == "chat")
        .then(|| scope["chat_id"].as_i64())
        .flatten()
}
