//! Files people sent, fetched from Telegram by the reference it gave (getFile, then the file's
//! path): the app's `FileSource`.

use crate::app::FileSource;
use crate::domain::attachment::Attachment;
use crate::telegram::sender::TgBot;
use anyhow::bail;
use std::future::Future;
use std::pin::Pin;
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::FileId;

/// Telegram lets bots download files up to 20 MB (a 一寸 photo is tens of kilobytes, a
/// county's half-day sheet a few hundred).
const MAX_BYTES: u32 = crate::app::entry::BOT_DOWNLOAD_LIMIT as u32;

pub struct TelegramFiles {
    bot: TgBot,
}

impl TelegramFiles {
    pub fn new(bot: TgBot) -> Self {
        Self { bot }
    }
}

impl FileSource for TelegramFiles {
    fn fetch<'a>(
        &'a self,
        file: &'a Attachment,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<u8>>> + Send + 'a>> {
        Box::pin(async move {
            let (Attachment::Photo(id) | Attachment::Document(id)) = file;
            let found = self.bot.get_file(FileId(id.clone())).await?;
            if found.meta.size > MAX_BYTES {
                bail!(
                    "the file has {} bytes, more than is fetched",
                    found.meta.size
                );
            }
            let mut bytes = Vec::new();
            self.bot.download_file(&found.path, &mut bytes).await?;
            Ok(bytes)
        })
    }
}
