//! The season board's 公布 tab: each school's score notice (附件4 一) — queued, delivered, or not
//! reaching its contacts — and the 2-day deadline's countdown. A person sees the schools whose
//! progress they follow (`schools_in_view`, as `/status` counts them).

use super::Whose;
use crate::app::App;
use crate::app::publish::{publication_batch, school_of_notice};
use crate::domain::Role;
use crate::domain::deadline::{countdown, display};
use crate::store::units::Unit;
use crate::store::{outbox, people};
use serde::Serialize;
use std::collections::HashMap;

/// Where one school's notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// The season is not published yet.
    Unpublished,
    /// Published, and the school has no contact to send it to.
    NoContact,
    /// Published before the school's contact joined: publishing again sends it to them.
    NotSent,
    /// Queued, and not yet delivered to every contact.
    Queued,
    Delivered,
    /// Telegram refused it for at least one contact (blocked the bot, or never reachable).
    Unreachable,
}

impl NoticeState {
    pub fn words(self) -> &'static str {
        match self {
            NoticeState::Unpublished => "未公布",
            NoticeState::NoContact => "无联系人",
            NoticeState::NotSent => "未发送（再次发布即补发）",
            NoticeState::Queued => "发送中",
            NoticeState::Delivered => "已送达",
            NoticeState::Unreachable => "无法送达",
        }
    }
}

/// One school's line.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeLine {
    pub school_code: String,
    pub school: String,
    pub district: String,
    pub candidates: i64,
    pub contacts: usize,
    pub delivered: usize,
    pub state: NoticeState,
}

/// The tab as it stands.
#[derive(Debug, Clone)]
pub enum Notices {
    NotBound,
    NoSeason,
    Shown(NoticeBoard),
}

#[derive(Debug, Clone)]
pub struct NoticeBoard {
    pub year: i32,
    /// When the scores were published, if they were.
    pub published_at: Option<String>,
    /// The 2-day deadline of 附件4 一.
    pub deadline: String,
    /// The deadline's countdown while unpublished.
    pub countdown: String,
    /// Published after the deadline, or unpublished past it.
    pub late: bool,
    pub lines: Vec<NoticeLine>,
}

impl App {
    /// The notices of the schools this person follows, school by school.
    pub async fn season_notices(&self, user_id: i64) -> anyhow::Result<Notices> {
        let (bound, season) = match self.whose_season(user_id).await? {
            Whose::NotBound => return Ok(Notices::NotBound),
            Whose::NoSeason => return Ok(Notices::NoSeason),
            Whose::Season(bound, season) => (bound, season),
        };
        let city = &season.city_code;
        let mut conn = self.db.pool.acquire().await?;
        // The units and each school's candidates come with the season's read; who is a
        // contact and where each notice stands are read on every call.
        let read = self.season_read(&season).await?;
        let schools = self.schools_in_view(user_id, &bound, city, &read.units);
        let by_code: HashMap<&str, &Unit> =
            read.units.iter().map(|u| (u.code.as_str(), u)).collect();
        let mut contacts: HashMap<String, usize> = HashMap::new();
        for b in people::all_holders(&mut conn, Role::SchoolContact, city).await? {
            *contacts.entry(b.unit_code).or_default() += 1;
        }
        // Per school: its notices' statuses, one per contact it was queued for.
        let batch = publication_batch(season.id);
        let mut sent: HashMap<String, Vec<String>> = HashMap::new();
        for (key, status) in outbox::states_in_batch(&mut conn, &batch).await? {
            if let Some(school) = school_of_notice(&key, &batch) {
                sent.entry(school.to_string()).or_default().push(status);
            }
        }
        drop(conn);
        let published = season.published_at.is_some();
        let mut lines: Vec<NoticeLine> = read
            .candidates
            .iter()
            .filter(|(code, _)| schools.contains(code))
            .map(|(code, candidates)| (code.clone(), *candidates))
            .filter_map(|(code, candidates)| {
                let unit = *by_code.get(code.as_str())?;
                let district = super::district_name(unit, &by_code).to_string();
                let statuses = sent.get(&code).map(Vec::as_slice).unwrap_or_default();
                let delivered = statuses.iter().filter(|s| *s == "sent").count();
                let contacts = contacts.get(&unit.code).copied().unwrap_or(0);
                let state = if !published {
                    NoticeState::Unpublished
                } else if statuses.iter().any(|s| s == "failed") {
                    NoticeState::Unreachable
                } else if statuses.is_empty() && contacts == 0 {
                    NoticeState::NoContact
                } else if statuses.is_empty() {
                    NoticeState::NotSent
                } else if delivered == statuses.len() {
                    NoticeState::Delivered
                } else {
                    NoticeState::Queued
                };
                Some(NoticeLine {
                    school: unit.name.clone(),
                    school_code: code,
                    district,
                    candidates,
                    contacts,
                    delivered,
                    state,
                })
            })
            .collect();
        // By district, then school, as the offices list them.
        let parent = |code: &str| by_code.get(code).and_then(|u| u.parent_code.clone());
        lines.sort_by_cached_key(|l| (parent(&l.school_code), l.school_code.clone()));
        let now = self.clock.now();
        let tz = season.tz;
        let deadline = season.publish_deadline;
        let (countdown, late) = match season.published_at {
            Some(at) => (String::new(), at > deadline),
            None => (countdown(now, deadline), now > deadline),
        };
        Ok(Notices::Shown(NoticeBoard {
            year: season.year,
            published_at: season.published_at.map(|at| display(at, tz)),
            deadline: display(deadline, tz),
            countdown,
            late,
            lines,
        }))
    }
}
