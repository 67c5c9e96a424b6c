//! Files both ways, and the one-to-one robot messages that carry the bot's files: the oapi
//! media upload, `batchSend` (files, markdown, text), and the download codes of what people
//! sent, served as DingTalk serves them: a download address, then the bytes.

use super::answer::{admit_oapi, admit_v1, bad, json_body, ok};
use super::paths::{BATCH_SEND, DOWNLOAD, UPLOAD};
use super::{FakeDingTalk, Kind, Sent, now_ms, random_token};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The largest file the media upload takes (DingTalk's limit for `type=file`).
const UPLOAD_LIMIT: usize = 20 << 20;

/// A big file's bytes are made as they are read, in pieces this large.
const PIECE: usize = 64 << 10;
static FILLER: [u8; PIECE] = [b'x'; PIECE];

/// What a download code serves.
pub(super) enum Download {
    Bytes(Arc<Vec<u8>>),
    /// `size` bytes, generated while read: nothing that large is held.
    Big(usize),
}

#[derive(Default)]
pub(super) struct Files {
    /// Uploaded media by media_id: the name it was uploaded under, and its bytes.
    media: HashMap<String, (String, Vec<u8>)>,
    downloads: HashMap<String, Download>,
    /// Bytes the file downloads handed to the network so far.
    served: Arc<AtomicUsize>,
}

impl FakeDingTalk {
    /// A new download code for these contents (what a person's file or picture gives).
    pub(super) fn download_code(&self, download: Download) -> String {
        let code = format!("dc{}", random_token(24));
        self.lock().files.downloads.insert(code.clone(), download);
        code
    }

    /// Bytes the downloads of people's files handed to the network so far: a reader that
    /// stops at its limit leaves a big file's download far short of its size.
    pub fn bytes_served(&self) -> usize {
        self.lock().files.served.load(Ordering::Relaxed)
    }

    /// The name and bytes of an uploaded media.
    pub fn media(&self, media_id: &str) -> Option<(String, Vec<u8>)> {
        self.lock().files.media.get(media_id).cloned()
    }
}

/// `POST /media/upload?access_token=…&type=file`, multipart field `media` →
/// `{errcode: 0, errmsg, media_id, type, created_at}`.
pub(super) async fn upload(State(fake): State<FakeDingTalk>, request: Request) -> Response {
    let query = Query::<HashMap<String, String>>::try_from_uri(request.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let token = query.get("access_token").map(String::as_str);
    let admitted = match admit_oapi(&fake, UPLOAD, token) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let kind = query.get("type").cloned().unwrap_or_default();
    let mut media = None;
    if let Ok(mut form) = Multipart::from_request(request, &()).await {
        while let Ok(Some(field)) = form.next_field().await {
            let is_media = field.name() == Some("media");
            let name = field.file_name().unwrap_or_default().to_string();
            let Ok(bytes) = field.bytes().await else {
                break;
            };
            if is_media {
                media = Some((name, bytes.to_vec()));
            }
        }
    }
    let response = match media {
        _ if !["file", "image", "voice", "video"].contains(&kind.as_str()) => {
            super::answer::oapi_err(40004, "不合法的媒体文件类型")
        }
        None => super::answer::oapi_err(41005, "缺少多媒体文件数据"),
        Some((_, bytes)) if bytes.len() > UPLOAD_LIMIT => {
            super::answer::oapi_err(40006, "不合法的文件大小")
        }
        Some(media) => {
            let media_id = format!("@lA{}", random_token(30));
            fake.lock().files.media.insert(media_id.clone(), media);
            ok(
                json!({"errcode": 0, "errmsg": "ok", "media_id": media_id, "type": kind,
                      "created_at": now_ms()}),
            )
        }
    };
    admitted.answer(response).await
}

/// `POST /v1.0/robot/oToMessages/batchSend {robotCode, userIds, msgKey, msgParam}` →
/// `{processQueryKey, invalidStaffIdList, flowControlledStaffIdList}`.
pub(super) async fn batch_send(
    State(fake): State<FakeDingTalk>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let admitted = match admit_v1(&fake, BATCH_SEND, &headers) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let response = match json_body(&body) {
        Ok(body) => send_each(
            &fake,
            &admitted.app,
            &body,
            admitted.flow_controlled,
            arrived,
        ),
        Err(refused) => refused,
    };
    admitted.answer(response).await
}

fn send_each(
    fake: &FakeDingTalk,
    app: &str,
    body: &Value,
    flow_controlled: bool,
    arrived: Instant,
) -> Response {
    if body["robotCode"].as_str() != Some(app) {
        return bad("invalidParameter.robotCode", "robotCode 不是该应用的机器人");
    }
    let users: Vec<&str> = body["userIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if users.is_empty() {
        return bad("invalidParameter.userIds", "userIds 不能为空");
    }
    let param: Value = match body["msgParam"].as_str().map(serde_json::from_str) {
        Some(Ok(v)) => v,
        _ => return bad("invalidParameter.msgParam", "msgParam 不是合法的 JSON"),
    };
    let text = |key: &str| param[key].as_str().unwrap_or_default().to_string();
    let (kind, title, markdown, file) = match body["msgKey"].as_str().unwrap_or_default() {
        "sampleFile" => {
            let Some((_, bytes)) = fake.media(&text("mediaId")) else {
                return bad("invalidParameter.mediaId", "mediaId 不存在");
            };
            let name = text("fileName");
            (Kind::File, name.clone(), String::new(), Some((name, bytes)))
        }
        "sampleMarkdown" => (Kind::Markdown, text("title"), text("text"), None),
        "sampleText" => (Kind::Text, String::new(), text("content"), None),
        _ => return bad("invalidParameter.msgKey", "msgKey 不存在"),
    };
    let key = fake.fresh_id("pqk");
    let (reachable, invalid): (Vec<&str>, Vec<&str>) =
        users.iter().copied().partition(|u| fake.reachable(app, u));
    let mut held = Vec::new();
    for staff_id in reachable {
        if flow_controlled {
            held.push(staff_id);
            continue;
        }
        let id = match users.len() {
            1 => key.clone(),
            _ => format!("{key}/{staff_id}"),
        };
        fake.record_sent(Sent {
            id,
            staff_id: staff_id.to_string(),
            kind,
            title: title.clone(),
            markdown: markdown.clone(),
            buttons: Vec::new(),
            file: file.clone(),
            updates: 0,
            at: arrived,
        });
    }
    ok(
        json!({"processQueryKey": key, "invalidStaffIdList": invalid,
              "flowControlledStaffIdList": held}),
    )
}

/// `POST /v1.0/robot/messageFiles/download {downloadCode, robotCode}` → `{downloadUrl}`.
pub(super) async fn download(
    State(fake): State<FakeDingTalk>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admitted = match admit_v1(&fake, DOWNLOAD, &headers) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let response = match json_body(&body) {
        Ok(body) if body["robotCode"].as_str() != Some(&admitted.app) => {
            bad("invalidParameter.robotCode", "robotCode 不是该应用的机器人")
        }
        Ok(body) => {
            let code = body["downloadCode"].as_str().unwrap_or_default();
            if fake.lock().files.downloads.contains_key(code) {
                ok(json!({"downloadUrl": format!("{}/files/{code}", fake.api_url())}))
            } else {
                bad(
                    "invalidParameter.downloadCode",
                    "downloadCode 不合法或已过期",
                )
            }
        }
        Err(refused) => refused,
    };
    admitted.answer(response).await
}

/// `GET /files/<code>`: the download address, which needs no token (DingTalk's is signed).
pub(super) async fn serve(State(fake): State<FakeDingTalk>, Path(code): Path<String>) -> Response {
    let inner = fake.lock();
    let served = inner.files.served.clone();
    let size = match inner.files.downloads.get(&code) {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(Download::Bytes(bytes)) => {
            let bytes = bytes.clone();
            drop(inner);
            served.fetch_add(bytes.len(), Ordering::Relaxed);
            return (StatusCode::OK, bytes.to_vec()).into_response();
        }
        Some(Download::Big(size)) => *size,
    };
    drop(inner);
    // Made as read: hyper asks for the next piece only when the reader takes the last.
    let pieces = (0..size.div_ceil(PIECE)).map(move |i| {
        let len = PIECE.min(size - i * PIECE);
        served.fetch_add(len, Ordering::Relaxed);
        Ok::<_, std::convert::Infallible>(Bytes::from_static(&FILLER[..len]))
    });
    let body = Body::from_stream(futures_util::stream::iter(pieces));
    (
        StatusCode::OK,
        [(header::CONTENT_LENGTH, size.to_string())],
        body,
    )
        .into_response()
}
