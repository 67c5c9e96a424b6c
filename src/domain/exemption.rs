//! 免考 (附件2): what an application holds beyond the roster, the candidate's age on the exam
//! day, the score an approved candidate is given, and the window for applying.

use crate::domain::Score;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of proof the documents accept (Henan: injury or disability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proof {
    /// 残疾证.
    DisabilityCard,
    /// 县级以上医院诊断证明.
    HospitalCertificate,
}

impl Proof {
    pub const ALL: [Proof; 2] = [Proof::DisabilityCard, Proof::HospitalCertificate];

    /// As the form writes it.
    pub fn label(self) -> &'static str {
        match self {
            Proof::DisabilityCard => "残疾证",
            Proof::HospitalCertificate => "医院诊断证明",
        }
    }

    /// The short code its button carries.
    pub fn code(self) -> &'static str {
        match self {
            Proof::DisabilityCard => "dc",
            Proof::HospitalCertificate => "hc",
        }
    }

    pub fn from_code(code: &str) -> Option<Proof> {
        Proof::ALL.into_iter().find(|p| p.code() == code)
    }
}

/// The 附件2 fields an application adds to the roster's, kept with the request as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// 年龄 on the first exam day, as confirmed by the applicant.
    pub age: u32,
    /// 联系人 and 联系方式.
    pub contact_person: String,
    pub contact: String,
    pub proof: Proof,
    /// 学生本人申请事由.
    pub reason: String,
    /// The 一寸 photo, the proofs and the signed application page (student's and parent's
    /// signatures), as `Attachment`s stored.
    pub photo: String,
    pub proofs: Vec<String>,
    pub page: String,
}

/// Proofs one application may carry (photos of a certificate's pages).
pub const MAX_PROOFS: usize = 10;

/// Age in whole years on `day`, from the birth date inside an 18-character 身份证号 (digits
/// 7–14, YYYYMMDD); None when those digits are not a date.
pub fn age_on(id_card: &str, day: NaiveDate) -> Option<u32> {
    let digits = id_card.get(6..14)?;
    let birth = NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    if birth > day {
        return None;
    }
    let mut years = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

/// How the exempt score is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    /// To a tenth of a point, half up (the scores' own precision).
    #[default]
    Tenth,
    /// To a whole point, half up.
    Point,
}

/// The score an approved 免考 candidate is given instead of sitting the exam: `share` of the
/// full score (Henan: 0.6, i.e. 18 of 30), rounded as configured.
pub fn exempt_score(full: Score, share: f64, rounding: Rounding) -> Score {
    let tenths = f64::from(full.tenths()) * share.clamp(0.0, 1.0);
    let rounded = match rounding {
        Rounding::Tenth => (tenths + 0.5).floor(),
        Rounding::Point => ((tenths / 10.0) + 0.5).floor() * 10.0,
    };
    Score::from_tenths((rounded as u32).min(full.tenths()))
}

/// Applications are accepted until `closes` (exclusive: at that moment the window is closed);
/// a season with no closing time set takes none.
pub fn window_open(closes: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    closes.is_some_and(|c| now < c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_is_counted_on_the_exam_day() {
        let id = "410802200806150012";
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(age_on(id, day("2023-06-14")), Some(14));
        assert_eq!(age_on(id, day("2023-06-15")), Some(15));
        assert_eq!(age_on("4108022008XX150012", day("2023-06-15")), None);
        assert_eq!(age_on(id, day("2001-01-01")), None);
    }

    #[test]
    fn the_exempt_score_is_the_configured_share() {
        let full = Score::from_points(30);
        assert_eq!(
            exempt_score(full, 0.6, Rounding::Tenth),
            Score::from_points(18)
        );
        assert_eq!(
            exempt_score(Score::from_points(25), 0.61, Rounding::Tenth),
            Score::from_tenths(153)
        );
        assert_eq!(
            exempt_score(Score::from_points(25), 0.61, Rounding::Point),
            Score::from_points(15)
        );
        assert_eq!(exempt_score(full, 2.0, Rounding::Tenth), full);
    }

    #[test]
    fn the_window_closes_to_the_second() {
        let closes: DateTime<Utc> = "2023-04-01T10:00:00Z".parse().unwrap();
        let second = chrono::Duration::seconds(1);
        assert!(window_open(Some(closes), closes - second));
        assert!(!window_open(Some(closes), closes));
        assert!(!window_open(None, closes));
    }

    #[test]
    fn proofs_read_back_from_their_codes() {
        for p in Proof::ALL {
            assert_eq!(Proof::from_code(p.code()), Some(p));
        }
        let d = Details {
            age: 15,
            contact_person: "王父".into(),
            contact: "13800001234".into(),
            proof: Proof::DisabilityCard,
            reason: "右臂骨折".into(),
            photo: "photo:a".into(),
            proofs: vec!["document:b".into()],
            page: "photo:c".into(),
        };
        let text = serde_json::to_string(&d).unwrap();
        assert!(text.contains("disability-card"), "{text}");
        assert_eq!(serde_json::from_str::<Details>(&text).unwrap(), d);
    }
}
