//! Button data: every kind of button the bot puts under a message, encoded and parsed here and
//! nowhere else. Telegram clients can send any data, so parsing is total: what does not parse
//! is refused like a press by a stranger.

use crate::app::policy::Denied;
use crate::domain::stage::{Choice, Stage};
use crate::render::limits;

/// What a button press came to, for the callback answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    Accepted,
    /// Not this person's to press (wrong role, unit or chat, or crafted data): an alert, audited.
    Refused,
    /// Someone else acted first, or the card is old.
    Stale,
    /// The person may not do this here, for a reason they are told (a duty rule, another
    /// class): an alert saying why, audited.
    Denied(Denied),
}

/// Which paged list a page button turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// /pending
    Pending,
    /// /myrequests
    Mine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// A dialogue prompt's button (submit, back, cancel …) for the step it was sent at, and
    /// the version of what the prompt showed (`dialogue::version`; empty under a prompt sent
    /// before prompts had one).
    Dialogue {
        step: String,
        action: String,
        shown: String,
    },
    /// A review card's button: the request, the stage the card was sent for, the action.
    Review {
        id: i64,
        stage: Stage,
        action: Choice,
    },
    /// The publication confirm card: publish this season, or cancel.
    Publish {
        season: i64,
    },
    PublishCancel,
    /// Another page of a list.
    Page {
        list: List,
        page: usize,
    },
    /// Every opinion of a request in full (cards cut long comments).
    FullText {
        id: i64,
    },
    /// The candidate's signed application of a request (the photo or PDF the filer sent).
    SignedForm {
        id: i64,
    },
    /// The request's printable form: 附件5 of a review, 附件2 of an exemption.
    Form {
        id: i64,
    },
    /// An exemption's photo, proofs and signed application page, sent at one tap.
    Exhibits {
        id: i64,
    },
    /// A half-day's password is copied: take back the message (its Telegram id) that showed
    /// it.
    PasswordNoted {
        message: i64,
    },
    /// A 附件3 card's 上报: send the unit's agreed 免考 applications to the city with their
    /// county's list. `count` as for `Report`.
    ReportExemptions {
        unit: String,
        count: usize,
    },
    /// A batch card's 上报: send the unit's signed results to the city. `count` is how many
    /// the card showed: if more or fewer wait now, the card was old and is shown again.
    Report {
        unit: String,
        count: usize,
    },
    /// A 登分 batch's card: the inspector's seal, or the county officer's 上报 of that day.
    Entry {
        batch: i64,
        action: EntryAction,
    },
    /// The entry board as a workbook (a city admin's /status).
    EntryBoard,
    /// The /status board's open requests per level, as a chart.
    StatusChart,
    /// Revoke a binding from a /people list.
    Revoke {
        binding: i64,
    },
    /// Another page of a batch card (a person's folded cards, `store::card_lists`).
    CardListPage {
        list: i64,
        page: usize,
    },
    /// A batch card's 本页全部同意: every item that version `version` of the list showed.
    CardListApprove {
        list: i64,
        version: i64,
    },
    /// A group recorder's batch card's 本页全部维持原成绩: every record card that version
    /// `version` of the list showed, recorded 维持原成绩.
    CardListKeep {
        list: i64,
        version: i64,
    },
}

/// What a batch card's button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryAction {
    Seal,
    Report,
}

impl Callback {
    /// The review request or 免考 application the button acts on, if it names one.
    pub fn request(&self) -> Option<i64> {
        match self {
            Callback::Review { id, .. }
            | Callback::FullText { id }
            | Callback::SignedForm { id }
            | Callback::Form { id }
            | Callback::Exhibits { id } => Some(*id),
            _ => None,
        }
    }
}

impl Callback {
    pub fn encode(&self) -> String {
        let data = match self {
            Callback::Dialogue {
                step,
                action,
                shown,
            } => match shown.as_str() {
                "" => format!("d:{step}:{action}"),
                shown => format!("d:{step}:{action}:{shown}"),
            },
            Callback::Review { id, stage, action } => format!("rv:{id}:{stage}:{action}"),
            Callback::Publish { season } => format!("pub:ok:{season}"),
            Callback::PublishCancel => "pub:no".into(),
            Callback::Page { list, page } => {
                let l = match list {
                    List::Pending => "p",
                    List::Mine => "m",
                };
                format!("pg:{l}:{page}")
            }
            Callback::FullText { id } => format!("ft:{id}"),
            Callback::SignedForm { id } => format!("sf:{id}"),
            Callback::Report { unit, count } => format!("up:{unit}:{count}"),
            Callback::ReportExemptions { unit, count } => format!("ux:{unit}:{count}"),
            Callback::PasswordNoted { message } => format!("pw:{message}"),
            Callback::Form { id } => format!("f5:{id}"),
            Callback::Exhibits { id } => format!("ex:{id}"),
            Callback::Entry { batch, action } => {
                let a = match action {
                    EntryAction::Seal => "s",
                    EntryAction::Report => "r",
                };
                format!("en:{batch}:{a}")
            }
            Callback::EntryBoard => "eb".into(),
            Callback::Revoke { binding } => format!("rk:{binding}"),
            Callback::StatusChart => "sc".into(),
            Callback::CardListPage { list, page } => format!("cl:{list}:{page}"),
            Callback::CardListApprove { list, version } => format!("ca:{list}:{version}"),
            Callback::CardListKeep { list, version } => format!("ck:{list}:{version}"),
        };
        debug_assert!(data.len() <= limits::CALLBACK_DATA, "{data}");
        data
    }

    pub fn parse(data: &str) -> Option<Callback> {
        if data.len() > limits::CALLBACK_DATA {
            return None;
        }
        // A step's code, or a press carrying one person's number: Telegram's have up to 16
        // digits, DingTalk's people are numbered above them (`store::accounts`).
        let short = |s: &str| (!s.is_empty() && s.len() <= 20).then(|| s.to_string());
        let parts: Vec<&str> = data.split(':').collect();
        Some(match parts.as_slice() {
            ["d", step, action] => Callback::Dialogue {
                step: short(step)?,
                action: short(action)?,
                shown: String::new(),
            },
            ["d", step, action, shown] => Callback::Dialogue {
                step: short(step)?,
                action: short(action)?,
                shown: short(shown)?,
            },
            ["rv", id, stage, action] => Callback::Review {
                id: id.parse().ok()?,
                stage: Stage::parse(stage)?,
                action: Choice::parse(action)?,
            },
            ["pub", "ok", season] => Callback::Publish {
                season: season.parse().ok()?,
            },
            ["pub", "no"] => Callback::PublishCancel,
            ["pg", list, page] => Callback::Page {
                list: match *list {
                    "p" => List::Pending,
                    "m" => List::Mine,
                    _ => return None,
                },
                page: page.parse().ok().filter(|p| *p < 100_000)?,
            },
            ["ft", id] => Callback::FullText {
                id: id.parse().ok()?,
            },
            ["sf", id] => Callback::SignedForm {
                id: id.parse().ok()?,
            },
            ["f5", id] => Callback::Form {
                id: id.parse().ok()?,
            },
            ["ex", id] => Callback::Exhibits {
                id: id.parse().ok()?,
            },
            ["en", batch, action] => Callback::Entry {
                batch: batch.parse().ok()?,
                action: match *action {
                    "s" => EntryAction::Seal,
                    "r" => EntryAction::Report,
                    _ => return None,
                },
            },
            ["eb"] => Callback::EntryBoard,
            ["sc"] => Callback::StatusChart,
            ["rk", binding] => Callback::Revoke {
                binding: binding.parse().ok()?,
            },
            ["up", unit, count] => Callback::Report {
                unit: (!unit.is_empty() && unit.len() <= 32).then(|| unit.to_string())?,
                count: count.parse().ok().filter(|n| *n < 1_000_000)?,
            },
            ["pw", message] => Callback::PasswordNoted {
                message: message.parse().ok().filter(|m| *m > 0)?,
            },
            ["ux", unit, count] => Callback::ReportExemptions {
                unit: (!unit.is_empty() && unit.len() <= 32).then(|| unit.to_string())?,
                count: count.parse().ok().filter(|n| *n < 1_000_000)?,
            },
            ["cl", list, page] => Callback::CardListPage {
                list: list.parse().ok()?,
                page: page.parse().ok().filter(|p| *p < 100_000)?,
            },
            ["ca", list, version] => Callback::CardListApprove {
                list: list.parse().ok()?,
                version: version.parse().ok()?,
            },
            ["ck", list, version] => Callback::CardListKeep {
                list: list.parse().ok()?,
                version: version.parse().ok()?,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_button_parses_back_to_itself() {
        for c in [
            Callback::Dialogue {
                step: "confirm".into(),
                action: "submit".into(),
                shown: String::new(),
            },
            Callback::Dialogue {
                step: "confirm".into(),
                action: "submit".into(),
                shown: "0a1b2c3d".into(),
            },
            // A choice of a person by their number: a DingTalk person's is the longest.
            Callback::Dialogue {
                step: "ereader".into(),
                action: format!("r{}", crate::store::accounts::FIRST + 123_456),
                shown: "0a1b2c3d".into(),
            },
            Callback::Review {
                id: i64::MAX,
                stage: Stage::Level {
                    step: 12,
                    round: 99,
                },
                action: Choice::Approve,
            },
            Callback::Publish { season: 7 },
            Callback::PublishCancel,
            Callback::Page {
                list: List::Mine,
                page: 3,
            },
            Callback::FullText { id: 42 },
            Callback::SignedForm { id: i64::MAX },
            Callback::Report {
                unit: "410802".into(),
                count: 37,
            },
            Callback::Form { id: 9 },
            Callback::ReportExemptions {
                unit: "410802".into(),
                count: 3,
            },
            Callback::PasswordNoted { message: 4_242 },
            Callback::Exhibits { id: 11 },
            Callback::Entry {
                batch: i64::MAX,
                action: EntryAction::Seal,
            },
            Callback::Entry {
                batch: 3,
                action: EntryAction::Report,
            },
            Callback::EntryBoard,
            Callback::Revoke { binding: i64::MAX },
            Callback::StatusChart,
            Callback::CardListPage {
                list: i64::MAX,
                page: 99_999,
            },
            Callback::CardListApprove {
                list: i64::MAX,
                version: i64::MAX,
            },
            Callback::CardListKeep {
                list: i64::MAX,
                version: i64::MAX,
            },
        ] {
            let data = c.encode();
            assert!(data.len() <= limits::CALLBACK_DATA);
            assert_eq!(Callback::parse(&data), Some(c));
        }
        for bad in [
            "",
            "rv:x:s0r1:a",
            "pg:z:1",
            "pub:ok",
            "d::a",
            "up::3",
            "up:410802:x",
            "en:3:x",
            "en:x:s",
            "rk:x",
            "cl:1:x",
            "cl:1:100000",
            "ca:x:1",
            &"x".repeat(65),
        ] {
            assert_eq!(Callback::parse(bad), None, "{bad}");
        }
    }
}
