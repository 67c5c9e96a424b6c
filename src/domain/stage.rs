//! What a request's card was sent for, and what its buttons choose. Both travel in a button's
//! data and are kept with the cards, so each has a short code that reads back: a button under a
//! card that went out before a restart still means what it said.

use super::review::State;
use std::fmt;

/// The request's position when its card went out, in that round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Stage {
    /// Waiting at an approval level ("s2r1").
    Level { step: i64, round: i64 },
    /// The group records its result ("rec1").
    Record { round: i64 },
    /// The group's members sign the recorded result ("cf1").
    Confirm { round: i64 },
    /// The result waits for its unit's 上报 ("up1").
    Report { round: i64 },
    /// The city's 复审 ("rc1").
    Recheck { round: i64 },
    /// Sent back to its filer to amend ("ret1").
    Returned { round: i64 },
    /// The filer's 撤回, from any card that offers it ("wd").
    Withdraw,
}

impl Stage {
    /// The stage of a request in `state` at `step` of round `round`.
    pub fn of(state: State, step: i64, round: i64) -> Stage {
        match state {
            State::Recording => Stage::Record { round },
            State::Confirming => Stage::Confirm { round },
            State::Reporting => Stage::Report { round },
            State::Rechecking => Stage::Recheck { round },
            _ => Stage::Level { step, round },
        }
    }

    pub fn parse(code: &str) -> Option<Stage> {
        Some(match super::code::segments(code)?.as_slice() {
            [("wd", None)] => Stage::Withdraw,
            [("rec", Some(round))] => Stage::Record { round: *round },
            [("ret", Some(round))] => Stage::Returned { round: *round },
            [("rc", Some(round))] => Stage::Recheck { round: *round },
            [("cf", Some(round))] => Stage::Confirm { round: *round },
            [("up", Some(round))] => Stage::Report { round: *round },
            [("s", Some(step)), ("r", Some(round))] => Stage::Level {
                step: *step,
                round: *round,
            },
            _ => return None,
        })
    }

    /// Whether a press at this stage moves a result (recorded, signed or rechecked): none may
    /// while the score library is sealed.
    pub fn moves_a_result(self) -> bool {
        matches!(
            self,
            Stage::Record { .. } | Stage::Confirm { .. } | Stage::Recheck { .. }
        )
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Level { step, round } => write!(f, "s{step}r{round}"),
            Stage::Record { round } => write!(f, "rec{round}"),
            Stage::Confirm { round } => write!(f, "cf{round}"),
            Stage::Report { round } => write!(f, "up{round}"),
            Stage::Recheck { round } => write!(f, "rc{round}"),
            Stage::Returned { round } => write!(f, "ret{round}"),
            Stage::Withdraw => write!(f, "wd"),
        }
    }
}

/// What a card's button chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Choice {
    /// 同意 at a level.
    Approve,
    /// 不同意 at a level (a reason follows).
    Reject,
    /// 退回 to the filer (a reason follows).
    Return,
    /// The group keeps the original score.
    Keep,
    /// The group corrects the score.
    Correct,
    /// A member signs the recorded result.
    Sign,
    /// A member disputes it (a reason follows).
    Dispute,
    /// The city's 复审 agrees.
    Agree,
    /// The city's 复审 sends it back to the group (a reason follows).
    SendBack,
    /// The filer amends a returned request.
    Amend,
    /// The filer withdraws the request.
    Withdraw,
}

impl Choice {
    const ALL: [Choice; 11] = [
        Choice::Approve,
        Choice::Reject,
        Choice::Return,
        Choice::Keep,
        Choice::Correct,
        Choice::Sign,
        Choice::Dispute,
        Choice::Agree,
        Choice::SendBack,
        Choice::Amend,
        Choice::Withdraw,
    ];

    /// The code a button carries.
    pub fn code(self) -> &'static str {
        match self {
            Choice::Approve => "a",
            Choice::Reject => "r",
            Choice::Return => "b",
            Choice::Keep => "k",
            Choice::Correct => "c",
            Choice::Sign => "y",
            Choice::Dispute => "n",
            Choice::Agree => "ok",
            Choice::SendBack => "rg",
            Choice::Amend => "am",
            Choice::Withdraw => "w",
        }
    }

    pub fn parse(code: &str) -> Option<Choice> {
        Choice::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// Kept in a dialogue's stored state by their codes, as in the buttons.
impl From<Stage> for String {
    fn from(s: Stage) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Stage {
    type Error = String;
    fn try_from(code: String) -> Result<Stage, String> {
        Stage::parse(&code).ok_or_else(|| format!("unknown stage '{code}'"))
    }
}

impl From<Choice> for String {
    fn from(c: Choice) -> String {
        c.code().to_string()
    }
}

impl TryFrom<String> for Choice {
    type Error = String;
    fn try_from(code: String) -> Result<Choice, String> {
        Choice::parse(&code).ok_or_else(|| format!("unknown choice '{code}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_and_choice_reads_back_from_its_code() {
        let stages = [
            Stage::Level { step: 0, round: 1 },
            Stage::Level { step: 12, round: 3 },
            Stage::Record { round: 1 },
            Stage::Confirm { round: 2 },
            Stage::Report { round: 1 },
            Stage::Recheck { round: 4 },
            Stage::Returned { round: 1 },
            Stage::Withdraw,
        ];
        for s in stages {
            assert_eq!(Stage::parse(&s.to_string()), Some(s), "{s}");
        }
        for c in Choice::ALL {
            assert_eq!(Choice::parse(c.code()), Some(c));
        }
        assert_eq!(
            Stage::parse("s2r1"),
            Some(Stage::Level { step: 2, round: 1 })
        );
        for bad in [
            "", "s", "s1", "sxr1", "rec", "recx", "r1", "up-1", "wd1", "x",
        ] {
            assert_eq!(Stage::parse(bad), None, "{bad}");
        }
        assert_eq!(Choice::parse("approve"), None);
    }
}
