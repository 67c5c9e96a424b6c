//! The calls the fake serves, by path: the v1.0 OpenAPI's on api.dingtalk.com, and the old
//! media upload of oapi.dingtalk.com.

pub(super) const TOKEN: &str = "/v1.0/oauth2/accessToken";
pub(super) const OPEN: &str = "/v1.0/gateway/connections/open";
pub(super) const CARD_SEND: &str = "/v1.0/im/v1.0/robot/interactiveCards/send";
pub(super) const CARD_UPDATE: &str = "/v1.0/im/robots/interactiveCards";
pub(super) const BATCH_SEND: &str = "/v1.0/robot/oToMessages/batchSend";
pub(super) const DOWNLOAD: &str = "/v1.0/robot/messageFiles/download";
/// oapi.dingtalk.com's: the token in the query, errors as `errcode`.
pub(super) const UPLOAD: &str = "/media/upload";

/// The calls that put something in front of a person: what chaos garbles and the limits count.
pub(super) const SEND_PATHS: [&str; 3] = [CARD_SEND, CARD_UPDATE, BATCH_SEND];
