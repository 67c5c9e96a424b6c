//! The half-day's seal (附件7 二: "每半天考试结束后由其设置考试成绩数据密码"): the county's
//! 纪检监督 seals an agreed batch; its rows are encrypted under a password generated here and
//! shown once to the inspector outside the outbox, then taken back from the chat. The password
//! is shown before the seal is written and with no transaction open (a send may wait for its
//! chat); the write then checks that nothing changed, or the shown password is taken back and
//! nothing is sealed.

use super::{App, Area, password};
use crate::app::Actor;
use crate::app::ShowOnce;
use crate::app::callback::Press;
use crate::app::callback::{Callback, EntryAction};
use crate::app::policy::{self, Action};
use crate::buttons::{Buttons, button};
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::domain::entry::{self, EntryRow, Side};
use crate::render::tpl;
use crate::store::Conn;
use crate::store::entry::{self as batches, Batch};
use crate::store::people::{self, Binding};
use crate::store::{audit, entry_archives, seasons, takebacks};
use age::secrecy::ExposeSecret;
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// A batch the person may seal now, with its agreed rows and their hash.
struct Sealable {
    season: seasons::Season,
    batch: Batch,
    area: Area,
    bound: Vec<Binding>,
    rows: Vec<EntryRow>,
    hash: String,
}

impl App {
    /// Whether `user` may seal batch `id` now: theirs to seal, agreed, not sealed, not 缺考,
    /// before the cutoff (a seal after it would put data entered after the exam day into the
    /// scores). Read twice: before the password is shown and in the seal's transaction.
    async fn sealable(
        &self,
        conn: &mut Conn,
        user: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Sealable, Press>> {
        let Some((season, batch)) = self.unpublished_batch(conn, id).await? else {
            return Ok(Err(Press::Stale));
        };
        let area = Area::load(conn, &season.city_code).await?;
        let clerks = batches::clerks(conn, id).await?;
        let bound = people::of_user(conn, user).await?;
        let subject = area.subject(&batch.county_code, &clerks);
        let route = self.route(&season.city_code);
        if let Err(d) = policy::check(&route, user, &bound, Action::SealBatch, &subject) {
            return Ok(Err(Press::Denied(d)));
        }
        let late = now >= batch.cutoff();
        if batch.sealed_at.is_some() || batch.mismatches != Some(0) || batch.is_absent() || late {
            return Ok(Err(Press::Stale));
        }
        let rows = batches::rows(conn, id, Side::A).await?;
        let hash = entry::seal_hash(&rows);
        Ok(Ok(Sealable {
            season,
            batch,
            area,
            bound,
            rows,
            hash,
        }))
    }

    /// 🔒 on a seal card: the county's inspector seals the agreed batch with the half-day's
    /// password. The archive stays with the batch; its SHA-256 and the rows' hash go into the
    /// audit chain; the password message is taken back after `entry.password_shown_minutes`.
    pub async fn seal_batch(&self, user: i64, chat: i64, id: i64) -> anyhow::Result<Press> {
        let now = self.clock.now();
        let courier = self
            .courier
            .get()
            .cloned()
            .context("no messenger to show the half-day's password on")?;
        let first = {
            let mut conn = self.db.pool.acquire().await?;
            match self.sealable(&mut conn, user, id, now).await? {
                Ok(s) => s,
                Err(press) => return Ok(press),
            }
        };
        let inspector = first
            .bound
            .first()
            .map(|b| b.name.clone())
            .unwrap_or_default();
        let header = password::Header {
            format: password::FORMAT.into(),
            batch: id,
            county: first.area.name(&first.batch.county_code),
            half_day: first.batch.half_day_label(),
            sealed_by: inspector.clone(),
            sealed_at: display(now, first.season.tz),
            rows_sha256: first.hash.clone(),
        };
        let secret = password::generate();
        let archive = password::encrypt(&header, &first.rows, &secret)?;
        let minutes = self.config.entry.password_shown_minutes;
        // No button on the password's own message: a press would bring the message, password
        // and all, back in the update (which the webhook's inbox records).
        let shown = ShowOnce {
            chat,
            text: self.render.render(
                tpl::ENTRY_PASSWORD,
                &json!({"batch": id, "county": header.county, "half_day": header.half_day,
                        "password": secret.expose_secret(), "minutes": minutes}),
            )?,
        };
        drop(secret);
        let message = courier
            .show(&shown)
            .await
            .context("the half-day's password could not be shown; nothing was sealed")?;
        drop(shown);
        let written = self
            .write_seal(user, chat, id, now, &first.hash, &archive, message)
            .await;
        if !matches!(written, Ok(Press::Accepted)) {
            // Nothing was sealed under it (or the answer of a commit was lost: then the batch
            // is sealed, and its password stays).
            let sealed = match self.db.pool.acquire().await {
                Ok(mut conn) => batches::get(&mut conn, id)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|b| b.sealed_at.is_some() && b.sealed_by == Some(user)),
                Err(_) => false,
            };
            if !sealed || written.is_ok() {
                courier.take_back(chat, message).await.ok();
            }
        }
        written
    }

    /// The seal's transaction, once its password is shown: the batch as it was when the
    /// password was made (the same agreed rows), sealed with its archive, the county told.
    #[allow(clippy::too_many_arguments)]
    async fn write_seal(
        &self,
        user: i64,
        chat: i64,
        id: i64,
        now: DateTime<Utc>,
        hash: &str,
        archive: &[u8],
        message: i64,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        self.lock_batch(&mut tx, id).await?;
        let s = match self.sealable(&mut tx, user, id, now).await? {
            Ok(s) if s.hash == hash => s,
            Ok(_) => return Ok(Press::Stale),
            Err(press) => return Ok(press),
        };
        if !batches::seal(&mut tx, id, user, hash, now).await? {
            return Ok(Press::Stale);
        }
        let archive_sha256 = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(archive));
        if !entry_archives::put(&mut tx, id, &archive_sha256, archive).await? {
            return Ok(Press::Stale);
        }
        let batch = &s.batch;
        audit(
            &mut tx,
            now,
            &Actor::Person(user).label(),
            "entry-seal",
            &format!(
                "batch #{id} ({} {}): {} rows sealed, sha256 {hash}, archive sha256 {archive_sha256}",
                batch.county_code,
                batch.half_day_label(),
                s.rows.len()
            ),
        )
        .await?;
        let mut data = self.batch_data(&s.area, batch, s.season.tz);
        data["hash"] = json!(&hash[..16]);
        data["inspector"] = json!(s.bound.first().map(|b| b.name.clone()));
        let officers = if batch.county_code == s.area.city {
            Role::CityAdmin
        } else {
            Role::DistrictOfficer
        };
        let officer_chats: Vec<i64> = people::holders(&mut tx, officers, &batch.county_code)
            .await?
            .into_iter()
            .map(|b| b.chat_id)
            .collect();
        for c in self
            .county_people(&mut tx, &s.area, &batch.county_code)
            .await?
        {
            if !officer_chats.contains(&c) {
                self.tell(&mut tx, c, tpl::ENTRY_SEALED, &data).await?;
            }
        }
        let markup = Buttons::rows(vec![vec![button(
            self.render.text(tpl::BUTTON_REPORT_DAY)?,
            Callback::Entry {
                batch: id,
                action: EntryAction::Report,
            }
            .encode(),
        )]]);
        for c in officer_chats {
            self.tell_with(
                &mut tx,
                c,
                tpl::ENTRY_REPORT_CARD,
                &data,
                Some(markup.clone()),
            )
            .await?;
        }
        let minutes = self.config.entry.password_shown_minutes;
        takebacks::record(
            &mut tx,
            chat,
            message,
            now + Duration::minutes(minutes.into()),
        )
        .await?;
        let noted = Buttons::rows(vec![vec![button(
            self.render.text(tpl::BUTTON_PASSWORD_NOTED)?,
            Callback::PasswordNoted { message }.encode(),
        )]]);
        let prompt = json!({"batch": id, "minutes": minutes});
        self.tell_with(
            &mut tx,
            chat,
            tpl::ENTRY_PASSWORD_NOTED,
            &prompt,
            Some(noted),
        )
        .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }

    /// The 已抄录 button after a half-day's password: its message goes from the chat now. Only
    /// a message this chat was shown to be taken back is touched.
    pub async fn password_noted(&self, chat: i64, message: i64) -> anyhow::Result<Press> {
        let courier = self
            .courier
            .get()
            .cloned()
            .context("no messenger to take the password back from")?;
        let mut conn = self.db.pool.acquire().await?;
        if !takebacks::is_due_later(&mut conn, chat, message).await? {
            return Ok(Press::Stale);
        }
        courier.take_back(chat, message).await?;
        takebacks::done_message(&mut conn, chat, message).await?;
        Ok(Press::Accepted)
    }
}
