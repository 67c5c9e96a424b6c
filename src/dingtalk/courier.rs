//! The app's `Courier` and `FileSource` on DingTalk: a secret shown at once as a card of its own
//! (outside the outbox) and later taken back by replacing the card's text, since a robot cannot
//! delete a card; and the files people sent, fetched by their download codes.

use super::api::Api;
use super::sender;
use crate::app::{Courier, FileSource, ShowOnce};
use crate::buttons::Buttons;
use crate::domain::attachment::Attachment;
use crate::store::{Db, accounts};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a taken-back card says instead of its secret.
const TAKEN_BACK: &str = "（此消息已收回）";

pub struct DingTalkCourier {
    pub api: Arc<Api>,
    pub db: Db,
}

impl Courier for DingTalkCourier {
    fn show<'a>(
        &'a self,
        shown: &'a ShowOnce,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<i64>> + Send + 'a>> {
        Box::pin(async move {
            let staff = {
                let mut conn = self.db.pool.acquire().await?;
                accounts::staff_id(&mut conn, &self.api.keys.client_id, shown.chat).await?
            };
            let staff = staff.ok_or_else(|| anyhow::anyhow!("not a person of this app"))?;
            // Numbered below every outbox row, whose ids are the other cards' numbers.
            let id = -rand::random_range(1..i64::MAX / 2);
            let data = sender::card(&shown.text, &Buttons::default());
            Ok(sender::send_card(&self.api, &staff, id, &data).await?)
        })
    }

    fn take_back(
        &self,
        _chat: i64,
        message: i64,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + '_>> {
        Box::pin(async move {
            let data = sender::card(TAKEN_BACK, &Buttons::default());
            let body = json!({"cardBizId": sender::card_id(message), "cardData": data.to_string()});
            match self
                .api
                .put("/v1.0/im/robots/interactiveCards", &body)
                .await
            {
                Ok(_) => Ok(()),
                // A card DingTalk no longer knows holds nothing to take back.
                Err(fault) if fault.code().is_some_and(|c| c.contains("notFound")) => Ok(()),
                Err(fault) => Err(fault.into()),
            }
        })
    }
}

pub struct DingTalkFiles {
    pub api: Arc<Api>,
}

impl FileSource for DingTalkFiles {
    fn fetch<'a>(
        &'a self,
        file: &'a Attachment,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<u8>>> + Send + 'a>> {
        Box::pin(async move {
            let (Attachment::Photo(code) | Attachment::Document(code)) = file;
            let limit = crate::app::entry::BOT_DOWNLOAD_LIMIT;
            self.api.download(code, limit).await
        })
    }
}
