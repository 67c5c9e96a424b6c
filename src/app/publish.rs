//! Score publication (附件4 一): every school's contacts get their school's scores, every district
//! officer the district summary, the city admins a report. One transaction queues it all; the
//! dedupe keys make publishing again send only to people who were not reached before.

use super::callback::Callback;
use super::entry::Readiness;
use super::{Actor, App};
use crate::app::callback::Press;
use crate::buttons::{Buttons, button};
use crate::config::EntryMode;
use crate::domain::deadline::{display, local_date};
use crate::domain::score::Distribution;
use crate::domain::{Role, Score, UnitKind};
use crate::export;
use crate::render::tpl;
use crate::store::outbox::{self, Outgoing};
use crate::store::seasons::{self, Season};
use crate::store::units::Unit;
use crate::store::{audit, batches, candidates, people, units};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Batches the "not yet" answer lists (the board has them all).
const WAITING_LISTED: usize = 30;

/// What the city admin sees before confirming.
#[derive(Debug)]
pub enum Preview {
    NoSeason,
    NoScores,
    AlreadyPublished {
        season: Season,
    },
    Ready {
        season: Season,
        text: String,
    },
    /// County batches not yet reported nor 缺考 (`entry.mode = "county-batches"`): what the
    /// city waits for.
    Waiting {
        text: String,
    },
}

#[derive(Debug)]
pub struct PublishOutcome {
    pub year: i32,
    pub first_time: bool,
    pub late: bool,
    pub published_at: DateTime<Utc>,
    pub review_deadline: DateTime<Utc>,
    pub tz: chrono_tz::Tz,
    /// School notices queued by this call (0 when everything had been sent before).
    pub new_notices: usize,
    pub district_summaries: usize,
    pub schools_without_contact: Vec<(String, String)>,
}

#[derive(Serialize)]
struct SchoolLine {
    name: String,
    count: usize,
    average: String,
    has_contact: bool,
    /// Candidates given the 免考 score.
    exempt: usize,
}

impl App {
    pub async fn preview_publication(&self, actor: Actor) -> anyhow::Result<Preview> {
        let mut conn = self.db.pool.acquire().await?;
        let city = self.city_of_actor(&mut conn, actor).await?;
        let Some(season) = seasons::current(&mut conn, &city).await? else {
            return Ok(Preview::NoSeason);
        };
        if season.published_at.is_some() {
            return Ok(Preview::AlreadyPublished { season });
        }
        let counts = match self.config.entry.mode {
            EntryMode::CityFile => candidates::school_counts(&mut conn, season.id).await?,
            EntryMode::CountyBatches => match self.batch_readiness(&mut conn, &season).await? {
                // No batches: the scores are a city file's, if any was imported.
                Readiness::NoBatches => candidates::school_counts(&mut conn, season.id).await?,
                Readiness::Unseated(n) => {
                    let text = self
                        .render
                        .render(tpl::PUBLISH_UNSEATED, &json!({"count": n}))?;
                    return Ok(Preview::Waiting { text });
                }
                Readiness::Waiting(list) => {
                    let more = list.len().saturating_sub(WAITING_LISTED);
                    let lines: Vec<_> = list
                        .iter()
                        .take(WAITING_LISTED)
                        .map(|(b, county)| {
                            json!({"batch": b.id, "county": county, "half_day": b.half_day_label(),
                                   "stage": b.stage()})
                        })
                        .collect();
                    let text = self.render.render(
                        tpl::PUBLISH_WAITING_BATCHES,
                        &json!({"batches": lines, "more": more}),
                    )?;
                    return Ok(Preview::Waiting { text });
                }
                Readiness::Ready => {
                    crate::store::entry::school_counts(&mut conn, season.id).await?
                }
            },
        };
        if counts.is_empty() {
            return Ok(Preview::NoScores);
        }
        let mut without_contact = 0;
        for (code, _) in &counts {
            if people::holders(&mut conn, Role::SchoolContact, code)
                .await?
                .is_empty()
            {
                without_contact += 1;
            }
        }
        let now = self.clock.now();
        let text = self.render.render(
            tpl::PUBLISH_CONFIRM,
            &json!({
                "year": season.year,
                "candidate_count": counts.iter().map(|(_, n)| n).sum::<i64>(),
                "school_count": counts.len(),
                "schools_without_contact": without_contact,
                "publish_deadline": display(season.publish_deadline, season.tz),
                "late": now > season.publish_deadline,
                "review_deadline": display(self.review_deadline_for(now, &season), season.tz),
            }),
        )?;
        Ok(Preview::Ready { season, text })
    }

    fn review_deadline_for(&self, published_at: DateTime<Utc>, season: &Season) -> DateTime<Utc> {
        self.config
            .review_rule()
            .deadline_after(local_date(published_at, season.tz), season.tz)
    }

    /// Publishes the current season's scores (or, when already published, sends the notices
    /// that have not been sent yet, to contacts bound since).
    pub async fn publish(
        &self,
        actor: Actor,
        at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<PublishOutcome> {
        let recorded = self.clock.now();
        let now = at.unwrap_or(recorded);
        let mut tx = self.db.begin().await?;
        let city = self.city_of_actor(&mut tx, actor).await?;
        let season = seasons::current(&mut tx, &city)
            .await?
            .context("no current season: run `exam-review-bot season` first")?;
        // The 2 days of 附件4 一 and the 3 of the review run from the publication: a time in
        // the past would move both (a minute is left for a clock a little behind).
        if now < recorded - chrono::Duration::minutes(1) {
            anyhow::bail!(
                "--at {}: a publication cannot be dated in the past (it is {} now); publish \
                 without --at, or at a time to come",
                display(now, season.tz),
                display(recorded, season.tz)
            );
        }
        if season.published_at.is_none() && self.config.entry.mode == EntryMode::CountyBatches {
            // The batches are read under their row locks: a lift or an upload waits for the
            // publication, then sees it.
            crate::store::entry::lock_season(&mut tx, season.id).await?;
            match self.batch_readiness(&mut tx, &season).await? {
                Readiness::Ready => {
                    self.assemble_from_batches(&mut tx, &season).await?;
                }
                Readiness::NoBatches => {}
                Readiness::Unseated(n) => anyhow::bail!(
                    "{n} candidate(s) of the roster belong to no entry batch (no 考试日期/午别, or \
                     a school not among the units): import the roster again with their sittings"
                ),
                Readiness::Waiting(list) => anyhow::bail!(
                    "{} batch(es) are neither reported nor 缺考 yet (the first: #{} {} {})",
                    list.len(),
                    list[0].0.id,
                    list[0].1,
                    list[0].0.half_day_label()
                ),
            }
        }
        let counts = candidates::school_counts(&mut tx, season.id).await?;
        anyhow::ensure!(
            !counts.is_empty(),
            "season {} has no scores yet: import them first",
            season.year
        );

        let first_time = season.published_at.is_none();
        let published_at = season.published_at.unwrap_or(now);
        let review_deadline = season
            .review_deadline
            .unwrap_or_else(|| self.review_deadline_for(published_at, &season));
        if first_time {
            seasons::mark_published(&mut tx, season.id, published_at, review_deadline).await?;
        }
        let late = published_at > season.publish_deadline;
        let tz = season.tz;
        let common = json!({
            "year": season.year,
            "published_at": display(published_at, tz),
            "publish_deadline": display(season.publish_deadline, tz),
            "review_deadline": display(review_deadline, tz),
            "late": late,
        });
        let batch = publication_batch(season.id);
        let all_units: BTreeMap<String, Unit> = units::of_city(&mut tx, &city)
            .await?
            .into_iter()
            .map(|u| (u.code.clone(), u))
            .collect();

        let mut new_notices = 0;
        let mut schools_without_contact = Vec::new();
        // District code → (all scores, one line per school).
        let mut districts: BTreeMap<String, (Vec<Score>, Vec<SchoolLine>)> = BTreeMap::new();
        // Every score of the city, and the city-direct schools' lines, for the city's report.
        let mut city_scores: Vec<Score> = Vec::new();
        let mut direct_lines: Vec<export::distribution::Line> = Vec::new();
        for (code, _) in &counts {
            let school = all_units
                .get(code)
                .with_context(|| format!("candidates of unknown school {code}"))?;
            let list = candidates::of_school(&mut tx, season.id, code).await?;
            // A 缺考 candidate has no score to count.
            let scores: Vec<Score> = list
                .iter()
                .filter(|c| !c.is_absent())
                .map(|c| c.score())
                .collect();
            let dist = Distribution::of(&scores, season.full_score);
            city_scores.extend_from_slice(&scores);
            if school.city_direct {
                direct_lines.push(export::distribution::Line {
                    name: school.name.clone(),
                    count: list.len(),
                    average: dist.average.clone(),
                });
            }
            let contacts = people::holders(&mut tx, Role::SchoolContact, code).await?;
            if contacts.is_empty() {
                schools_without_contact.push((school.code.clone(), school.name.clone()));
            } else {
                let mut data = common.clone();
                data["school_name"] = json!(school.name);
                data["dist"] = json!(dist);
                data["exempt"] = json!(list.iter().filter(|c| c.is_exempt()).count());
                let body = self.render.render(tpl::PUBLISH_NOTICE, &data)?;
                let file_name = format!("{}年中招实验考试成绩_{}.xlsx", season.year, school.name);
                let workbook = export::school_scores(&school.name, &list)?;
                for contact in &contacts {
                    let msg = Outgoing {
                        chat_id: contact.chat_id,
                        body: body.clone(),
                        document: Some((file_name.clone(), workbook.clone())),
                        dedupe_key: Some(school_notice_key(&batch, code, contact.chat_id)),
                        batch: Some(batch.clone()),
                        ..Outgoing::default()
                    };
                    if outbox::enqueue(&mut tx, &msg, now).await? {
                        new_notices += 1;
                    }
                }
            }
            if let Some(district) = school.parent_code.as_ref().filter(|_| !school.city_direct) {
                let entry = districts.entry(district.clone()).or_default();
                entry.0.extend_from_slice(&scores);
                entry.1.push(SchoolLine {
                    name: school.name.clone(),
                    count: list.len(),
                    average: dist.average.clone(),
                    has_contact: !contacts.is_empty(),
                    exempt: list.iter().filter(|c| c.is_exempt()).count(),
                });
            }
        }

        let mut district_summaries = 0;
        for (code, (scores, schools)) in &districts {
            let Some(district) = all_units.get(code).filter(|u| u.kind == UnitKind::District)
            else {
                continue;
            };
            let mut data = common.clone();
            let dist = Distribution::of(scores, season.full_score);
            data["district_name"] = json!(district.name);
            data["school_count"] = json!(schools.len());
            data["dist"] = json!(dist);
            data["schools"] = json!(schools);
            let body = self.render.render(tpl::PUBLISH_DISTRICT, &data)?;
            let lines: Vec<export::distribution::Line> = schools
                .iter()
                .map(|s| export::distribution::Line {
                    name: s.name.clone(),
                    count: s.count,
                    average: s.average.clone(),
                })
                .collect();
            let title = format!("{}年{}成绩分布", season.year, district.name);
            let charts = distribution_files(&title, &dist, &lines)?;
            for officer in people::holders(&mut tx, Role::DistrictOfficer, code).await? {
                let key = format!("{batch}:district:{code}:{}", officer.chat_id);
                let msg = Outgoing {
                    chat_id: officer.chat_id,
                    body: body.clone(),
                    dedupe_key: Some(key.clone()),
                    batch: Some(batch.clone()),
                    ..Outgoing::default()
                };
                if outbox::enqueue(&mut tx, &msg, now).await? {
                    district_summaries += 1;
                    enqueue_files(&mut tx, officer.chat_id, &key, &charts, now).await?;
                }
            }
        }

        let report = if first_time {
            let mut data = common.clone();
            data["candidate_count"] = json!(counts.iter().map(|(_, n)| n).sum::<i64>());
            data["school_count"] = json!(counts.len());
            data["notice_count"] = json!(new_notices);
            data["district_count"] = json!(district_summaries);
            data["schools_without_contact_count"] = json!(schools_without_contact.len());
            data["schools_without_contact"] = json!(
                schools_without_contact
                    .iter()
                    .map(|(code, name)| json!({"code": code, "name": name}))
                    .collect::<Vec<_>>()
            );
            self.render.render(tpl::PUBLISH_REPORT, &data)?
        } else {
            let mut data = common.clone();
            data["new_notices"] = json!(new_notices);
            self.render.render(tpl::PUBLISH_ALREADY, &data)?
        };
        // The city's distribution, with a line per district and per city-direct school.
        let city_files = if first_time {
            let mut lines: Vec<export::distribution::Line> = Vec::new();
            for (code, (scores, schools)) in &districts {
                let name = all_units.get(code).map_or(code.clone(), |u| u.name.clone());
                lines.push(export::distribution::Line {
                    name,
                    count: schools.iter().map(|s| s.count).sum(),
                    average: Distribution::of(scores, season.full_score).average,
                });
            }
            lines.extend(direct_lines);
            let dist = Distribution::of(&city_scores, season.full_score);
            distribution_files(&format!("{}年全市成绩分布", season.year), &dist, &lines)?
        } else {
            Vec::new()
        };
        for admin in people::all_holders(&mut tx, Role::CityAdmin, &city).await? {
            let msg = Outgoing {
                chat_id: admin.chat_id,
                body: report.clone(),
                ..Outgoing::default()
            };
            outbox::enqueue(&mut tx, &msg, now).await?;
            let key = format!("{batch}:city-report:{}", admin.chat_id);
            enqueue_files(&mut tx, admin.chat_id, &key, &city_files, now).await?;
        }
        audit(
            &mut tx,
            now,
            &actor.label(),
            if first_time { "publish" } else { "publish-again" },
            &format!(
                "season {}: {new_notices} notices, {district_summaries} district summaries, {} schools without contact{}{}",
                season.year,
                schools_without_contact.len(),
                if late { ", late" } else { "" },
                match now == recorded {
                    true => String::new(),
                    false => format!(", dated {now}, recorded {recorded}"),
                }
            ),
        )
        .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(PublishOutcome {
            year: season.year,
            first_time,
            late,
            published_at,
            review_deadline,
            tz,
            new_notices,
            district_summaries,
            schools_without_contact,
        })
    }
}

/// The distribution's picture and workbook, named after `title`.
/// The fan-out a season's publication is queued as.
pub(crate) fn publication_batch(season: i64) -> String {
    format!("publish:{season}")
}

/// The key of a school's notice to one of its contacts: sent once, however often the season is
/// published again.
fn school_notice_key(batch: &str, school: &str, chat: i64) -> String {
    format!("{batch}:school:{school}:{chat}")
}

/// The school a notice of `batch` was for, when the key is a school notice's.
pub(crate) fn school_of_notice<'k>(key: &'k str, batch: &str) -> Option<&'k str> {
    let rest = key.strip_prefix(batch)?.strip_prefix(":school:")?;
    Some(rest.rsplit_once(':')?.0)
}

fn distribution_files(
    title: &str,
    dist: &Distribution,
    lines: &[export::distribution::Line],
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    Ok(vec![
        (format!("{title}.png"), export::distribution::png(dist)?),
        (
            format!("{title}.xlsx"),
            export::distribution::workbook(title, dist, lines)?,
        ),
    ])
}

/// Queues files after a summary, each once (keyed after the summary's key). They are not
/// part of the publication's batch: its delivery report counts the notices.
async fn enqueue_files(
    conn: &mut crate::store::Conn,
    chat_id: i64,
    key: &str,
    files: &[(String, Vec<u8>)],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for (i, (name, bytes)) in files.iter().enumerate() {
        let msg = Outgoing {
            chat_id,
            document: Some((name.clone(), bytes.clone())),
            dedupe_key: Some(format!("{key}:file{i}")),
            ..Outgoing::default()
        };
        outbox::enqueue(conn, &msg, now).await?;
    }
    Ok(())
}

impl App {
    /// `/publish`: what publishing would send, with 确认发布 and 取消; or why not yet; or, when
    /// the season is out already, publishing again to contacts bound since.
    pub async fn publish_command(&self, user_id: i64, chat: i64) -> anyhow::Result<()> {
        if let Err(denied) = self.may_publish(user_id).await? {
            return self
                .reply(chat, self.render.text(denied.template())?, None)
                .await;
        }
        match self.preview_publication(Actor::Person(user_id)).await? {
            nothing @ (Preview::NoSeason | Preview::NoScores) => {
                let no_season = matches!(nothing, Preview::NoSeason);
                let data = json!({ "no_season": no_season });
                let text = self.render.render(tpl::PUBLISH_NOTHING, &data)?;
                self.reply(chat, text, None).await
            }
            Preview::AlreadyPublished { season } => {
                // Publishing again only reaches contacts bound since; it needs no confirmation.
                let outcome = self.publish(Actor::Person(user_id), None).await?;
                tracing::info!(
                    season = season.year,
                    new = outcome.new_notices,
                    "published again"
                );
                Ok(())
            }
            Preview::Waiting { text } => self.reply(chat, text, None).await,
            Preview::Ready { season, text } => {
                let buttons = Buttons::rows(vec![vec![
                    button(
                        self.render.text(tpl::BUTTON_CONFIRM_PUBLISH)?,
                        Callback::Publish { season: season.id }.encode(),
                    ),
                    button(
                        self.render.text(tpl::BUTTON_CANCEL)?,
                        Callback::PublishCancel.encode(),
                    ),
                ]]);
                self.post_publish_card(user_id, chat, text, buttons).await
            }
        }
    }

    /// Sends the confirm card and keeps it, to be edited when pressed; an earlier card of this
    /// person loses its buttons (one live card each).
    async fn post_publish_card(
        &self,
        user: i64,
        chat: i64,
        text: String,
        buttons: Buttons,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        if let Some(earlier) = batches::card(&mut tx, PUBLISH_CARD, user).await? {
            outbox::edit(&mut tx, earlier, &text, now).await?;
        }
        let msg = Outgoing {
            chat_id: chat,
            body: text,
            buttons: Some(buttons),
            is_reply: true,
            ..Outgoing::default()
        };
        if let Some(id) = outbox::enqueue_returning(&mut tx, &msg, now).await? {
            batches::set_card(&mut tx, PUBLISH_CARD, user, id).await?;
        }
        self.commit_told(tx).await
    }

    /// 确认发布 on the confirm card: the season is published, and the card says so.
    pub async fn publish_button(
        &self,
        user: i64,
        chat: i64,
        season_id: i64,
    ) -> anyhow::Result<Press> {
        if self.may_publish(user).await?.is_err() {
            return Ok(Press::Refused);
        }
        let (Preview::Ready { season, .. } | Preview::AlreadyPublished { season }) =
            self.preview_publication(Actor::Person(user)).await?
        else {
            return Ok(Press::Refused);
        };
        if season.id != season_id {
            return Ok(Press::Refused);
        }
        let outcome = self.publish(Actor::Person(user), None).await?;
        let text = self.render.render(
            tpl::PUBLISH_CONFIRMED,
            &json!({
                "published_at": display(outcome.published_at, outcome.tz),
                "first_time": outcome.first_time,
            }),
        )?;
        self.close_publish_card(user, chat, text).await?;
        Ok(Press::Accepted)
    }

    /// 取消 on the confirm card.
    pub async fn publish_cancel_button(&self, user: i64, chat: i64) -> anyhow::Result<Press> {
        if let Err(denied) = self.may_publish(user).await? {
            return Ok(Press::Denied(denied));
        }
        let text = self.render.text(tpl::PUBLISH_CANCELLED)?;
        self.close_publish_card(user, chat, text).await?;
        Ok(Press::Accepted)
    }

    /// The confirm card becomes `text`, its buttons gone (a new message where none is kept).
    async fn close_publish_card(&self, user: i64, chat: i64, text: String) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        match batches::card(&mut tx, PUBLISH_CARD, user).await? {
            Some(card) => outbox::edit(&mut tx, card, &text, now).await?,
            None => {
                let msg = Outgoing {
                    chat_id: chat,
                    body: text,
                    is_reply: true,
                    ..Outgoing::default()
                };
                outbox::enqueue(&mut tx, &msg, now).await?;
            }
        }
        self.commit_told(tx).await
    }
}

/// The key the confirm card of /publish is kept under, per person.
const PUBLISH_CARD: &str = "publish";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_school_notices_key_names_its_school_and_no_other_key_does() {
        let batch = publication_batch(7);
        let key = school_notice_key(&batch, "S00012", -100123);
        assert_eq!(school_of_notice(&key, &batch), Some("S00012"));
        assert_eq!(school_of_notice(&key, &publication_batch(70)), None);
        let district = format!("{batch}:district:D001:42");
        assert_eq!(school_of_notice(&district, &batch), None);
    }
}
