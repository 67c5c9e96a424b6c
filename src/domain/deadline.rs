//! Deadline arithmetic. The documents count calendar days in the season's time zone: "within 2
//! days after the last exam day" ends at 24:00 of the second day after it.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// "24:00 of the Nth calendar day after day D", as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct DayCountRule {
    pub days_after: u32,
}

impl DayCountRule {
    pub fn deadline_after(self, day: NaiveDate, tz: Tz) -> DateTime<Utc> {
        let next_midnight = day + Days::new(u64::from(self.days_after) + 1);
        start_of_day(next_midnight, tz)
    }
}

/// The first instant of a calendar day in a time zone.
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let local = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&local)
        .earliest()
        .expect("Asia/* zones have no gap at midnight")
        .with_timezone(&Utc)
}

/// The calendar date of an instant in a time zone.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Shows an instant as offices write it: "2023年4月30日 24:00" for the midnight that ends the 30th.
pub fn display(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    let time = local.time();
    if time == chrono::NaiveTime::MIN {
        let day = local.date_naive() - Days::new(1);
        format!("{}年{}月{}日 24:00", day.year(), day.month(), day.day())
    } else {
        format!(
            "{}年{}月{}日 {}",
            local.year(),
            local.month(),
            local.day(),
            local.format("%H:%M")
        )
    }
}

/// How a deadline stands at `now`, as a countdown reads: "还剩1天3小时", "还剩25分钟", or, once
/// it has passed, "已超时2小时".
pub fn countdown(now: DateTime<Utc>, deadline: DateTime<Utc>) -> String {
    let (words, left) = match deadline - now {
        d if d > chrono::Duration::zero() => ("还剩", d),
        d => ("已超时", -d),
    };
    let minutes = left.num_minutes();
    let (days, hours, minutes) = (minutes / (24 * 60), minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{words}{minutes}分钟"),
        (0, h) => format!("{words}{h}小时{minutes}分钟"),
        (d, h) => format!("{words}{d}天{h}小时"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    #[test]
    fn a_countdown_reads_in_days_hours_and_minutes_and_says_when_it_has_passed() {
        let deadline = Utc.with_ymd_and_hms(2023, 4, 30, 16, 0, 0).unwrap();
        let at =
            |h: i64, m: i64| deadline - chrono::Duration::hours(h) - chrono::Duration::minutes(m);
        assert_eq!(countdown(at(27, 0), deadline), "还剩1天3小时");
        assert_eq!(countdown(at(5, 12), deadline), "还剩5小时12分钟");
        assert_eq!(countdown(at(0, 25), deadline), "还剩25分钟");
        assert_eq!(countdown(at(-2, 0), deadline), "已超时2小时0分钟");
        assert_eq!(countdown(deadline, deadline), "已超时0分钟");
    }

    #[test]
    fn two_days_after_the_last_exam_ends_at_midnight_shanghai() {
        let last = NaiveDate::from_ymd_opt(2023, 4, 28).unwrap();
        let at = DayCountRule { days_after: 2 }.deadline_after(last, Shanghai);
        assert_eq!(at.to_rfc3339(), "2023-04-30T16:00:00+00:00");
        assert_eq!(display(at, Shanghai), "2023年4月30日 24:00");
    }

    #[test]
    fn display_of_an_ordinary_time() {
        let at = "2023-04-29T02:05:00Z".parse().unwrap();
        assert_eq!(display(at, Shanghai), "2023年4月29日 10:05");
        assert_eq!(local_date(at, Shanghai).to_string(), "2023-04-29");
    }
}
