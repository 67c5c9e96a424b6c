//! What a call goes through before it is served (its token, the injected faults and chaos,
//! the enforced limits), and DingTalk's two ways of answering: the v1.0 OpenAPI's HTTP status
//! with `{code, message, requestid}`, and the old oapi's HTTP 200 with `{errcode, errmsg}`.

use super::chaos::{self, Fault};
use super::paths::{BATCH_SEND, SEND_PATHS};
use super::{FakeDingTalk, limits, random_token};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Duration;

/// The header every v1.0 call carries its token in.
const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";

/// A v1.0 OpenAPI error: the status, and `{code, message, requestid}`.
pub(super) fn v1_err(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "requestid": random_token(20)});
    (status, axum::Json(body)).into_response()
}

/// An oapi error: HTTP 200 all the same, with `{errcode, errmsg}`.
pub(super) fn oapi_err(errcode: i64, errmsg: &str) -> Response {
    let body = json!({"errcode": errcode, "errmsg": errmsg, "request_id": random_token(20)});
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// 401 `InvalidAuthentication`: no token, a wrong one or an expired one, or a wrong secret.
pub(super) fn unauthorized(message: &str) -> Response {
    v1_err(StatusCode::UNAUTHORIZED, "InvalidAuthentication", message)
}

/// A 400 `invalidParameter…` answer.
pub(super) fn bad(code: &str, message: &str) -> Response {
    v1_err(StatusCode::BAD_REQUEST, code, message)
}

pub(super) fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// A request body as JSON, or the 400 DingTalk answers a body it cannot read with.
#[allow(clippy::result_large_err)]
pub(super) fn json_body(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| bad("InvalidParameter", "请求体不是合法的 JSON"))
}

/// A call let through: the app whose token it carries, and what a fault still does to it.
pub(super) struct Admitted {
    pub(super) app: String,
    /// Served, then answered only after this long (`Fault::Hang`).
    pub(super) hang: Option<Duration>,
    /// A batch send whose people are all flow-controlled (`Fault::FlowControlled`).
    pub(super) flow_controlled: bool,
}

impl Admitted {
    /// The answer, after the hang a fault asked for: the work is done already, so a client
    /// that gave up and sends again makes it twice (DingTalk's time-outs are that).
    pub(super) async fn answer(&self, response: Response) -> Response {
        if let Some(hang) = self.hang {
            tokio::time::sleep(hang).await;
        }
        response
    }
}

/// What a v1.0 call goes through before it is served: its token (from the header), then the
/// faults injected for it, chaos, and the enforced limits.
#[allow(clippy::result_large_err)]
pub(super) fn admit_v1(
    fake: &FakeDingTalk,
    path: &str,
    headers: &HeaderMap,
) -> Result<Admitted, Response> {
    let token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    let Some(app) = token.and_then(|t| fake.token_app(t)) else {
        return Err(unauthorized("不合法的access_token"));
    };
    admit(fake, path, app, false)
}

/// The same for the oapi upload, whose token is in the query and whose errors are oapi's.
#[allow(clippy::result_large_err)]
pub(super) fn admit_oapi(
    fake: &FakeDingTalk,
    path: &str,
    token: Option<&str>,
) -> Result<Admitted, Response> {
    let Some(app) = token.and_then(|t| fake.token_app(t)) else {
        return Err(oapi_err(40014, "不合法的access_token"));
    };
    admit(fake, path, app, true)
}

#[allow(clippy::result_large_err)]
fn admit(fake: &FakeDingTalk, path: &str, app: String, oapi: bool) -> Result<Admitted, Response> {
    let mut admitted = Admitted {
        app,
        hang: None,
        flow_controlled: false,
    };
    let fault = fake
        .take_fault(path, false)
        .or_else(|| chaos::roll(fake, path));
    match fault {
        None => {}
        Some(Fault::Hang(d)) => admitted.hang = Some(d),
        Some(Fault::FlowControlled) if path == BATCH_SEND => admitted.flow_controlled = true,
        Some(f) => return Err(fault_response(&f, oapi)),
    }
    if SEND_PATHS.contains(&path) && !limits::admit(fake, &admitted.app) {
        return Err(throttled());
    }
    Ok(admitted)
}

/// 403 `QpsLimitForApi`: the app called this API too often within a second.
pub(super) fn throttled() -> Response {
    v1_err(
        StatusCode::FORBIDDEN,
        "Forbidden.AccessDenied.QpsLimitForApi",
        "调用该接口的频率超过了限制",
    )
}

/// How DingTalk answers when a fault strikes (the oapi host answers them as errcodes).
pub(super) fn fault_response(fault: &Fault, oapi: bool) -> Response {
    match (fault, oapi) {
        (Fault::ServerError, false) => v1_err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceUnavailable",
            "服务暂不可用",
        ),
        (Fault::ServerError, true) => oapi_err(-1, "系统繁忙"),
        (Fault::TooMany, false) => {
            v1_err(StatusCode::TOO_MANY_REQUESTS, "Throttling", "请求过于频繁")
        }
        (_, true) => oapi_err(90018, "当前企业调用该接口的QPS超过上限"),
        (Fault::Throttled | Fault::FlowControlled | Fault::Hang(_), false) => throttled(),
    }
}

impl FakeDingTalk {
    /// For the token and connection calls, which faults spare unless a rule names their path
    /// exactly: the refusal a named fault gives, or None to serve the call (after the wait a
    /// hang asks for: nothing is done before, so the answer is not lost work).
    pub(super) async fn named_fault(&self, path: &str) -> Option<Response> {
        match self.take_fault(path, true)? {
            Fault::Hang(d) => {
                tokio::time::sleep(d).await;
                None
            }
            f => Some(fault_response(&f, false)),
        }
    }
}
