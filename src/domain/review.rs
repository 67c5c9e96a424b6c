//! Score review requests (复核): their states and the rules for what a filer may type.

use chrono::{DateTime, Utc};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting at an approval step.
    Pending,
    /// Sent back to the filer to amend and resubmit.
    Returned,
    /// With the review group: one member records the result.
    Recording,
    /// A result is recorded; every other member confirms or disputes it.
    Confirming,
    /// The group has signed; it waits for its unit's 上报 to the city, with the unit's other
    /// signed requests (附件6 注2).
    Reporting,
    /// The group has signed; the city's 复审 gives 同意 or returns it to the group.
    Rechecking,
    Completed,
    Rejected,
    Withdrawn,
    /// The review's window ended before the request's result reached the city (附件6 注2:
    /// 逾期不予受理): 逾期未报.
    Lapsed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Returned => "returned",
            State::Recording => "recording",
            State::Confirming => "confirming",
            State::Reporting => "reporting",
            State::Rechecking => "rechecking",
            State::Completed => "completed",
            State::Rejected => "rejected",
            State::Withdrawn => "withdrawn",
            State::Lapsed => "lapsed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [
            State::Pending,
            State::Returned,
            State::Recording,
            State::Confirming,
            State::Reporting,
            State::Rechecking,
            State::Completed,
            State::Rejected,
            State::Withdrawn,
            State::Lapsed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether a request in this state may move to `to`: the workflow's allowed moves, which
    /// the store's one guarded `transition` checks. Moving to the same state is a level passed
    /// on (Pending) or a new round. An ended request moves no more.
    pub fn may_become(self, to: State) -> bool {
        use State::*;
        let ends = matches!(to, Completed | Withdrawn | Lapsed);
        match self {
            Pending => ends || matches!(to, Pending | Returned | Recording | Reporting | Rejected),
            Returned => ends || matches!(to, Pending | Recording | Rejected),
            Recording => ends || matches!(to, Confirming | Reporting | Rechecking),
            Confirming => ends || matches!(to, Recording | Reporting | Rechecking),
            Reporting => ends || matches!(to, Pending | Rechecking),
            Rechecking => ends || matches!(to, Recording),
            Completed | Rejected | Withdrawn | Lapsed => false,
        }
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            State::Pending
                | State::Returned
                | State::Recording
                | State::Confirming
                | State::Reporting
                | State::Rechecking
        )
    }

    /// The filer may withdraw until the group has a result on the table.
    pub fn withdrawable(self) -> bool {
        matches!(self, State::Pending | State::Returned | State::Recording)
    }
}

/// The open states as an SQL list, for queries over open requests (`State::is_open`'s).
pub const OPEN_SQL: &str =
    "('pending', 'returned', 'recording', 'confirming', 'reporting', 'rechecking')";

/// The unit whose 上报 carries a school's requests to the city (附件6 注2: 区属考生以区为单位、
/// 市直属学校考生以学校为单位): the school's district, or the school itself when it is
/// city-direct (`district` None).
pub fn batch_unit<'a>(school: &'a str, district: Option<&'a str>) -> &'a str {
    district.unwrap_or(school)
}

/// The review's window (附件4 二(一): 成绩公布3日内进行复核; 附件6 注2: the units' summaries
/// reach the city within it, 逾期不予受理). Filing closes `filing_closes` earlier so that the
/// groups have time to review, sign and report what was filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewWindow {
    pub filing_closes: DateTime<Utc>,
    pub ends: DateTime<Utc>,
}

impl ReviewWindow {
    /// The window ending at `ends`, filing closing `filing_hours_before` hours before it.
    pub fn new(ends: DateTime<Utc>, filing_hours_before: u32) -> Self {
        Self {
            filing_closes: ends - chrono::Duration::hours(i64::from(filing_hours_before)),
            ends,
        }
    }

    /// Whether the levels below the review group, the group and the units' 上报 may still act:
    /// a result reaches the city before the window's end, or not at all.
    pub fn open(&self, now: DateTime<Utc>) -> bool {
        now < self.ends
    }

    /// A level below the group returns a request to be amended only while filing is open: a
    /// request returned later could not come back in time.
    pub fn may_return(&self, now: DateTime<Utc>) -> bool {
        now < self.filing_closes
    }

    /// Until when a request returned at `returned_at` may be amended: until filing closes, or
    /// `amend_hours` after the return if that is later, never past the window's end.
    pub fn amend_until(&self, returned_at: DateTime<Utc>, amend_hours: u32) -> DateTime<Utc> {
        let grace = returned_at + chrono::Duration::hours(i64::from(amend_hours));
        self.filing_closes.max(grace).min(self.ends)
    }
}

/// Why filing is not possible now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowClosed {
    NotPublished,
    /// 逾期不予受理.
    Late {
        deadline: DateTime<Utc>,
    },
}

/// Filing is open from publication until the deadline (exclusive: at the deadline it is closed).
pub fn filing_window(
    published_at: Option<DateTime<Utc>>,
    deadline: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, WindowClosed> {
    match (published_at, deadline) {
        (Some(p), Some(d)) if now >= p && now < d => Ok(d),
        (Some(_), Some(d)) if now >= d => Err(WindowClosed::Late { deadline: d }),
        _ => Err(WindowClosed::NotPublished),
    }
}

pub const REASON_MAX: usize = 500;

/// 申请理由: 1 to 500 characters.
pub fn reason(text: &str) -> Result<String, usize> {
    let t = text.trim();
    let n = t.chars().count();
    if n == 0 || n > REASON_MAX {
        Err(n)
    } else {
        Ok(t.to_string())
    }
}

/// 联系方式: a mainland mobile (11 digits from 13–19) or a landline with area code
/// (0391-1234567, 03911234567); spaces and dashes are tidied.
pub fn contact(text: &str) -> Option<String> {
    let t: String = text.trim().chars().filter(|c| !c.is_whitespace()).collect();
    let digits: String = t.chars().filter(|c| *c != '-').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || t.matches('-').count() > 1 {
        return None;
    }
    let b = digits.as_bytes();
    let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
    if mobile && !t.contains('-') {
        return Some(digits);
    }
    // Area codes are 3 or 4 digits starting with 0; local numbers 7 or 8 digits.
    let landline = b.first() == Some(&b'0') && (10..=12).contains(&b.len());
    if landline {
        if let Some((area, local)) = t.split_once('-') {
            let ok = (3..=4).contains(&area.len()) && (7..=8).contains(&local.len());
            return ok.then_some(t);
        }
        return Some(digits);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_ended_request_moves_no_more_and_no_move_skips_the_group() {
        use State::*;
        let all = [
            Pending, Returned, Recording, Confirming, Reporting, Rechecking, Completed, Rejected,
            Withdrawn, Lapsed,
        ];
        for to in all {
            for ended in [Completed, Rejected, Withdrawn, Lapsed] {
                assert!(!ended.may_become(to), "{ended:?} → {to:?}");
            }
        }
        // A result is recorded before it is signed, and signed before it goes up.
        assert!(!Pending.may_become(Confirming));
        assert!(!Returned.may_become(Confirming));
        assert!(!Rechecking.may_become(Reporting));
        assert!(
            Confirming.may_become(Recording),
            "a dispute goes back to recording"
        );
        assert!(
            Reporting.may_become(Pending),
            "a 免考 list sent up reaches the city's level"
        );
        for open in all.into_iter().filter(|s| s.is_open()) {
            assert!(
                open.may_become(Withdrawn) && open.may_become(Lapsed),
                "{open:?}"
            );
        }
    }

    #[test]
    fn a_return_may_be_amended_until_filing_closes_or_its_grace_never_past_the_window() {
        let ends = Utc.with_ymd_and_hms(2023, 5, 4, 16, 0, 0).unwrap();
        let w = ReviewWindow::new(ends, 24);
        let h = chrono::Duration::hours;
        assert_eq!(w.filing_closes, ends - h(24));
        // Returned early: until filing closes.
        assert_eq!(w.amend_until(ends - h(72), 24), w.filing_closes);
        // Returned just before filing closed: a day after the return.
        assert_eq!(w.amend_until(ends - h(25), 24), ends - h(1));
        // Never past the window's end.
        assert_eq!(w.amend_until(ends - h(25), 48), ends);
        assert!(w.may_return(ends - h(25)) && !w.may_return(w.filing_closes));
        assert!(w.open(ends - chrono::Duration::seconds(1)) && !w.open(ends));
    }

    #[test]
    fn the_sql_list_of_open_states_is_is_open() {
        for s in [
            "pending",
            "returned",
            "recording",
            "confirming",
            "reporting",
            "rechecking",
            "completed",
        ] {
            let state = State::parse(s).unwrap();
            assert_eq!(OPEN_SQL.contains(&format!("'{s}'")), state.is_open(), "{s}");
        }
    }

    #[test]
    fn contacts() {
        assert_eq!(contact("138 0000 1234").as_deref(), Some("13800001234"));
        assert_eq!(contact("0391-1234567").as_deref(), Some("0391-1234567"));
        assert_eq!(contact("03911234567").as_deref(), Some("03911234567"));
        assert_eq!(contact("12800001234"), None);
        assert_eq!(contact("1380000123"), None);
        assert_eq!(contact("abc"), None);
        assert_eq!(contact("0391-12"), None);
    }

    #[test]
    fn reasons() {
        assert!(reason("  ").is_err());
        assert!(reason(&"字".repeat(501)).is_err());
        assert_eq!(reason(" 漏评 ").unwrap(), "漏评");
    }

    #[test]
    fn the_window_closes_exactly_at_the_deadline() {
        let p: DateTime<Utc> = "2023-04-29T02:00:00Z".parse().unwrap();
        let d: DateTime<Utc> = "2023-05-02T16:00:00Z".parse().unwrap();
        let second = chrono::Duration::seconds(1);
        assert!(filing_window(Some(p), Some(d), d - second).is_ok());
        assert_eq!(
            filing_window(Some(p), Some(d), d),
            Err(WindowClosed::Late { deadline: d })
        );
        assert_eq!(
            filing_window(None, None, d),
            Err(WindowClosed::NotPublished)
        );
    }
}
