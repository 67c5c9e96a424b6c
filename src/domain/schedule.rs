//! When reminders are due. Pure: given the season's deadlines, the configuration and the time,
//! it lists the reminder moments that should fire now. The sweep records each moment's key once
//! sent, so a moment fires once even across restarts and instances.
//!
//! A moment is due from `at` until `until`: a bot that was down when a moment came sends it on
//! start if its `until` has not passed (it still makes sense) and skips it otherwise (a later
//! moment of the same series has taken its place). In quiet hours a moment waits, unless it
//! falls in the last hour before its deadline.

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReminderConfig {
    /// City admins are reminded this many hours before the publication deadline.
    pub publish_before_hours: Vec<u32>,
    /// Daily digests to everyone with pending review items, local times "HH:MM".
    pub digest_times: Vec<String>,
    /// Urgent reminders this many hours before the review deadline, for items below the city.
    pub urgent_before_hours: Vec<u32>,
    /// The city admins' daily status digest, local time.
    pub admin_digest_time: String,
    /// Quiet hours, local times; no reminders then except in the last hour before a deadline.
    pub quiet_start: String,
    pub quiet_end: String,
    /// How often the scheduler ticks (cron with seconds). Due work is found in the database,
    /// so the tick only decides how soon after its moment a reminder goes out.
    pub tick: String,
}

impl Default for ReminderConfig {
    fn default() -> Self {
        Self {
            publish_before_hours: vec![24, 4, 1],
            digest_times: vec!["08:00".into(), "14:00".into()],
            urgent_before_hours: vec![12, 3, 1],
            admin_digest_time: "08:00".into(),
            quiet_start: "22:00".into(),
            quiet_end: "07:00".into(),
            tick: "0 * * * * *".into(),
        }
    }
}

pub fn parse_hm(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| format!("{s:?} is not a time like 08:00"))
}

impl ReminderConfig {
    pub fn check(&self) -> Result<(), String> {
        for t in self.digest_times.iter().chain([
            &self.admin_digest_time,
            &self.quiet_start,
            &self.quiet_end,
        ]) {
            parse_hm(t)?;
        }
        Ok(())
    }

    /// Whether `at` falls in quiet hours (which may run over midnight).
    pub fn quiet(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let (Ok(start), Ok(end)) = (parse_hm(&self.quiet_start), parse_hm(&self.quiet_end)) else {
            return false;
        };
        let t = at.with_timezone(&tz).time();
        if start <= end {
            t >= start && t < end
        } else {
            t >= start || t < end
        }
    }
}

/// What a moment is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Hours left before the publication deadline.
    PublishSoon(u32),
    PublishLate,
    /// A digest to everyone with pending review items.
    Digest,
    /// Hours left before the review deadline, to holders of items below the city level.
    Urgent(u32),
    AdminDaily,
    /// The review deadline passed: everything still open goes to the city admins.
    ReviewClosed,
    /// Filing closed: whoever is in the middle of filing is told at once (not a reminder, so
    /// quiet hours do not hold it back).
    FilingClosed,
    /// A digest to everyone with 免考 applications waiting, while applications are accepted.
    ExemptDigest,
    /// Hours left before 免考 applications close, to everyone with one waiting.
    ExemptUrgent(u32),
    /// Applications closed: the city admins get what is still open, and every county and
    /// city-direct school its 附件3 of the approved.
    ExemptClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub key: String,
    pub kind: Kind,
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The deadline it leads up to (for the last-hour exemption from quiet hours).
    pub deadline: DateTime<Utc>,
}

/// The season's facts the schedule depends on.
pub struct SeasonTimes {
    pub id: i64,
    pub tz: Tz,
    pub publish_deadline: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub review_deadline: Option<DateTime<Utc>>,
    /// When filing closes, before the review window's end (None: at it).
    pub filing_closes: Option<DateTime<Utc>>,
    /// When 免考 applications close, if the season takes them.
    pub exemption_closes: Option<DateTime<Utc>>,
}

/// Days before the 免考 close that its digests run (the window has no opening moment of its
/// own: applications are taken from the day the roster is in).
const EXEMPT_DIGEST_DAYS: u64 = 30;

fn far_future() -> DateTime<Utc> {
    DateTime::<Utc>::MAX_UTC
}

/// A series counting down to `deadline`: each moment lasts until the next one comes.
fn countdown(
    prefix: &str,
    deadline: DateTime<Utc>,
    hours: &[u32],
    kind: impl Fn(u32) -> Kind,
) -> Vec<Moment> {
    let mut hours: Vec<u32> = hours.to_vec();
    hours.sort_unstable_by(|a, b| b.cmp(a));
    hours.dedup();
    let ats: Vec<DateTime<Utc>> = hours
        .iter()
        .map(|h| deadline - Duration::hours(i64::from(*h)))
        .collect();
    hours
        .iter()
        .enumerate()
        .map(|(i, h)| Moment {
            key: format!("{prefix}:{h}h"),
            kind: kind(*h),
            at: ats[i],
            until: ats.get(i + 1).copied().unwrap_or(deadline),
            deadline,
        })
        .collect()
}

/// Moments at a local time of day on every day from `from` to `to` (inclusive), each lasting
/// until the next one.
fn daily(
    prefix: &str,
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    times: &[NaiveTime],
    kind: Kind,
    deadline: DateTime<Utc>,
) -> Vec<Moment> {
    let mut ats = Vec::new();
    let mut day = from;
    while day <= to {
        for t in times {
            if let Some(at) = tz.from_local_datetime(&day.and_time(*t)).earliest() {
                ats.push((day, *t, at.to_utc()));
            }
        }
        day = day + Days::new(1);
    }
    ats.sort_by_key(|(_, _, at)| *at);
    (0..ats.len())
        .map(|i| {
            let (day, t, at) = ats[i];
            Moment {
                key: format!("{prefix}:{day}:{}", t.format("%H:%M")),
                kind: kind.clone(),
                at,
                until: ats.get(i + 1).map_or(deadline, |n| n.2).min(deadline),
                deadline,
            }
        })
        .filter(|m| m.at < deadline)
        .collect()
}

/// Every moment of the season, in time order.
pub fn moments(s: &SeasonTimes, config: &ReminderConfig) -> Vec<Moment> {
    let mut out = Vec::new();
    let sid = s.id;
    match (s.published_at, s.review_deadline) {
        (None, _) => {
            out.extend(countdown(
                &format!("{sid}:publish"),
                s.publish_deadline,
                &config.publish_before_hours,
                Kind::PublishSoon,
            ));
            out.push(Moment {
                key: format!("{sid}:publish-late"),
                kind: Kind::PublishLate,
                at: s.publish_deadline,
                until: far_future(),
                deadline: s.publish_deadline,
            });
        }
        (Some(published), Some(deadline)) => {
            let first = published.with_timezone(&s.tz).date_naive();
            let last = deadline.with_timezone(&s.tz).date_naive();
            let digest: Vec<NaiveTime> = config
                .digest_times
                .iter()
                .filter_map(|t| parse_hm(t).ok())
                .collect();
            // A digest is about what waits now: it starts after publication.
            out.extend(
                daily(
                    &format!("{sid}:digest"),
                    s.tz,
                    first,
                    last,
                    &digest,
                    Kind::Digest,
                    deadline,
                )
                .into_iter()
                .filter(|m| m.at > published),
            );
            out.extend(countdown(
                &format!("{sid}:urgent"),
                deadline,
                &config.urgent_before_hours,
                Kind::Urgent,
            ));
            if let Ok(t) = parse_hm(&config.admin_digest_time) {
                out.extend(
                    daily(
                        &format!("{sid}:admin-daily"),
                        s.tz,
                        first,
                        last,
                        &[t],
                        Kind::AdminDaily,
                        deadline,
                    )
                    .into_iter()
                    .filter(|m| m.at > published),
                );
            }
            out.push(Moment {
                key: format!("{sid}:review-closed"),
                kind: Kind::ReviewClosed,
                at: deadline,
                until: far_future(),
                deadline,
            });
            let filing_closes = s.filing_closes.unwrap_or(deadline).min(deadline);
            out.push(Moment {
                key: format!("{sid}:filing-closed"),
                kind: Kind::FilingClosed,
                at: filing_closes,
                until: far_future(),
                deadline: filing_closes,
            });
        }
        (Some(_), None) => {}
    }
    if let Some(closes) = s.exemption_closes {
        out.extend(exemption_moments(s, config, closes));
    }
    out.sort_by_key(|m| m.at);
    out
}

/// The 免考 window's moments: digests before the close, the countdown, the close.
fn exemption_moments(
    s: &SeasonTimes,
    config: &ReminderConfig,
    closes: DateTime<Utc>,
) -> Vec<Moment> {
    let sid = s.id;
    let last = closes.with_timezone(&s.tz).date_naive();
    let first = last - Days::new(EXEMPT_DIGEST_DAYS);
    let digest: Vec<NaiveTime> = config
        .digest_times
        .iter()
        .filter_map(|t| parse_hm(t).ok())
        .collect();
    let mut out = daily(
        &format!("{sid}:ex-digest"),
        s.tz,
        first,
        last,
        &digest,
        Kind::ExemptDigest,
        closes,
    );
    out.extend(countdown(
        &format!("{sid}:ex-urgent"),
        closes,
        &config.urgent_before_hours,
        Kind::ExemptUrgent,
    ));
    out.push(Moment {
        key: format!("{sid}:ex-closed"),
        kind: Kind::ExemptClosed,
        at: closes,
        until: far_future(),
        deadline: closes,
    });
    out
}

/// The moments to fire at `now`: due, not expired, and not held back by quiet hours.
pub fn due(all: &[Moment], now: DateTime<Utc>, config: &ReminderConfig, tz: Tz) -> Vec<Moment> {
    all.iter()
        .filter(|m| m.at <= now && now < m.until)
        .filter(|m| {
            let last_hour = m.deadline > now && m.deadline - now <= Duration::hours(1);
            // Closings tell whoever is mid-dialogue at once: not reminders, not held back.
            let closing = matches!(m.kind, Kind::FilingClosed | Kind::ExemptClosed);
            last_hour || closing || !config.quiet(now, tz)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn local(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(2023, 4, d, h, m, 0)
            .unwrap()
            .to_utc()
    }

    fn unpublished() -> SeasonTimes {
        SeasonTimes {
            id: 1,
            tz: Shanghai,
            publish_deadline: Shanghai
                .with_ymd_and_hms(2023, 5, 1, 0, 0, 0)
                .unwrap()
                .to_utc(),
            published_at: None,
            review_deadline: None,
            filing_closes: None,
            exemption_closes: None,
        }
    }

    fn keys(v: &[Moment]) -> Vec<String> {
        v.iter().map(|m| m.key.clone()).collect()
    }

    #[test]
    fn publication_countdown_and_supersession() {
        let c = ReminderConfig::default();
        let all = moments(&unpublished(), &c);
        // 24 h before is midnight (quiet): it waits for 07:00, when it is still the latest.
        assert!(due(&all, local(30, 0, 0), &c, Shanghai).is_empty());
        assert_eq!(
            keys(&due(&all, local(30, 7, 0), &c, Shanghai)),
            ["1:publish:24h"]
        );
        // Down from 07:00 to 21:00: the 24 h reminder is superseded by the 4 h one.
        assert_eq!(
            keys(&due(&all, local(30, 21, 0), &c, Shanghai)),
            ["1:publish:4h"]
        );
        // 23:00 is quiet, but the last hour before the deadline.
        assert_eq!(
            keys(&due(&all, local(30, 23, 0), &c, Shanghai)),
            ["1:publish:1h"]
        );
        // Past the deadline at midnight: the alert waits for the morning.
        let after = Shanghai
            .with_ymd_and_hms(2023, 5, 1, 0, 0, 1)
            .unwrap()
            .to_utc();
        assert!(due(&all, after, &c, Shanghai).is_empty());
        let morning = Shanghai
            .with_ymd_and_hms(2023, 5, 1, 7, 0, 0)
            .unwrap()
            .to_utc();
        assert_eq!(keys(&due(&all, morning, &c, Shanghai)), ["1:publish-late"]);
    }

    #[test]
    fn review_window_moments() {
        let c = ReminderConfig::default();
        let s = SeasonTimes {
            published_at: Some(local(29, 10, 0)),
            review_deadline: Some(
                Shanghai
                    .with_ymd_and_hms(2023, 5, 3, 0, 0, 0)
                    .unwrap()
                    .to_utc(),
            ),
            ..unpublished()
        };
        let all = moments(&s, &c);
        let k = keys(&all);
        assert!(k.contains(&"1:digest:2023-04-29:14:00".to_string()));
        assert!(
            !k.contains(&"1:digest:2023-04-29:08:00".to_string()),
            "before publication"
        );
        assert!(k.contains(&"1:urgent:12h".to_string()));
        assert!(k.contains(&"1:review-closed".to_string()));
        let at = Shanghai
            .with_ymd_and_hms(2023, 5, 2, 12, 0, 0)
            .unwrap()
            .to_utc();
        assert_eq!(
            keys(&due(&all, at, &c, Shanghai)),
            [
                "1:digest:2023-05-02:08:00",
                "1:admin-daily:2023-05-02:08:00",
                "1:urgent:12h"
            ]
        );
    }

    #[test]
    fn quiet_hours_over_midnight() {
        let c = ReminderConfig::default();
        assert!(c.quiet(local(30, 23, 0), Shanghai));
        assert!(c.quiet(local(30, 6, 59), Shanghai));
        assert!(!c.quiet(local(30, 7, 0), Shanghai));
        assert!(!c.quiet(local(30, 21, 59), Shanghai));
    }

    #[test]
    fn exemption_window_moments_come_before_the_exam_whatever_the_publication() {
        let c = ReminderConfig::default();
        let closes = local(10, 18, 0);
        let s = SeasonTimes {
            exemption_closes: Some(closes),
            ..unpublished()
        };
        let all = moments(&s, &c);
        let k = keys(&all);
        assert!(k.contains(&"1:ex-digest:2023-04-10:14:00".to_string()));
        assert!(k.contains(&"1:ex-urgent:3h".to_string()));
        assert!(
            k.contains(&"1:publish-late".to_string()),
            "the season's own go on"
        );
        assert_eq!(
            keys(&due(&all, local(10, 15, 30), &c, Shanghai)),
            ["1:ex-digest:2023-04-10:14:00", "1:ex-urgent:3h"]
        );
        assert_eq!(keys(&due(&all, closes, &c, Shanghai)), ["1:ex-closed"]);
    }
}
