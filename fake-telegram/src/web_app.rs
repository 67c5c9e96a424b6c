//! What a Telegram client hands a Mini App it opens for a person: `initData`, the person and the
//! moment, signed for the bot whose button was pressed. Built from Telegram's description of the
//! check (HMAC-SHA256 under the HMAC of the token keyed "WebAppData", over the sorted fields),
//! not from the bot's code, so that a test of the bot's check is a test against Telegram's rules.

use super::FakeUser;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

impl FakeUser {
    /// The `initData` this person's client would give a Mini App of the bot with `token`,
    /// opened at `auth_date` (Unix seconds), URL-encoded as the client passes it.
    pub fn init_data(&self, token: &str, auth_date: i64) -> String {
        let user = json!({
            "id": self.id,
            "first_name": self.first_name,
            "language_code": "zh-hans",
            "allows_write_to_pm": true,
        })
        .to_string();
        let mut fields = vec![
            ("auth_date".to_string(), auth_date.to_string()),
            ("query_id".to_string(), format!("AA{:016x}", self.id)),
            ("user".to_string(), user),
        ];
        fields.sort();
        let check_string: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut key = HmacSha256::new_from_slice(b"WebAppData").expect("a key of any length");
        key.update(token.as_bytes());
        let mut mac =
            HmacSha256::new_from_slice(&key.finalize().into_bytes()).expect("a key of any length");
        mac.update(check_string.join("\n").as_bytes());
        let hash: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            query.append_pair(k, v);
        }
        query.append_pair("hash", &hash);
        query.finish()
    }

    /// The address Telegram opens for a `web_app` button or menu button: the page's own URL
    /// with the launch parameters in its fragment (`tgWebAppData` is `initData` encoded once
    /// more), as the client does when it loads the page.
    pub fn web_app_url(&self, url: &str, token: &str, auth_date: i64) -> String {
        let data = self.init_data(token, auth_date);
        let mut fragment = form_urlencoded::Serializer::new(String::new());
        fragment
            .append_pair("tgWebAppData", &data)
            .append_pair("tgWebAppVersion", "8.0")
            .append_pair("tgWebAppPlatform", "tdesktop")
            .append_pair(
                "tgWebAppThemeParams",
                r##"{"bg_color":"#ffffff","text_color":"#000000","hint_color":"#707579","link_color":"#3390ec","button_color":"#3390ec","button_text_color":"#ffffff","secondary_bg_color":"#f4f4f5"}"##,
            );
        format!("{url}#{}", fragment.finish())
    }
}
