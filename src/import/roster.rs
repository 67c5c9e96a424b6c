//! The season's roster as a scores import matches against it: for each 准考证号, a fingerprint
//! of the registered 姓名 and 身份证号, whether the candidate is 免考, and whether the file has
//! scored them yet. A province's roster has a million and a half candidates, so an entry keeps
//! no text: fingerprints and, for the usual all-digit 准考证号, the number itself.

use foldhash::fast::FixedState;
use std::collections::HashMap;
use std::hash::BuildHasher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub name: u64,
    pub id_card: u64,
    /// 学校代码 and 报名序号: a score under another school's code would reach that school.
    pub school: u64,
    pub reg_no: u64,
    pub exempt: bool,
    pub seen: bool,
}

/// What the roster registered of one candidate, as a scores row is compared with it.
pub struct Registered<'a> {
    pub exam_no: &'a str,
    pub name: &'a str,
    pub id_card: &'a str,
    pub school: &'a str,
    pub reg_no: &'a str,
}

#[derive(Default)]
pub struct Roster {
    numbers: HashMap<u64, Entry, foldhash::fast::RandomState>,
    others: HashMap<String, Entry, foldhash::fast::RandomState>,
}

/// A fixed seed: fingerprints are compared within one import only, but must not depend on
/// which map computed them.
const SEED: u64 = 0x6c61_625f_6578_616d;

/// The all-digit 准考证号 that fit a u64 without losing a leading zero ("01" and "1" differ).
fn as_number(exam_no: &str) -> Option<u64> {
    let numeric = (1..=19).contains(&exam_no.len())
        && !exam_no.starts_with('0')
        && exam_no.bytes().all(|b| b.is_ascii_digit());
    numeric.then(|| exam_no.parse().expect("checked: 1 to 19 digits"))
}

impl Roster {
    /// The fingerprint a 姓名 or 身份证号 is compared by (64 bits: a changed value passing as
    /// unchanged is a one in 2^64 chance).
    pub fn fingerprint(text: &str) -> u64 {
        FixedState::with_seed(SEED).hash_one(text)
    }

    pub fn len(&self) -> usize {
        self.numbers.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn insert(&mut self, r: &Registered, exempt: bool) {
        let entry = Entry {
            name: Self::fingerprint(r.name),
            id_card: Self::fingerprint(r.id_card),
            school: Self::fingerprint(r.school),
            reg_no: Self::fingerprint(r.reg_no),
            exempt,
            seen: false,
        };
        match as_number(r.exam_no) {
            Some(n) => self.numbers.insert(n, entry),
            None => self.others.insert(r.exam_no.to_string(), entry),
        };
    }

    /// The candidate's entry, now marked as scored; None when the roster does not have them.
    pub fn visit(&mut self, exam_no: &str) -> Option<Entry> {
        let entry = match as_number(exam_no) {
            Some(n) => self.numbers.get_mut(&n),
            None => self.others.get_mut(exam_no),
        }?;
        let before = *entry;
        entry.seen = true;
        Some(before)
    }

    /// The candidates the file did not score, by 准考证号, and whether each is 免考.
    pub fn unseen(&self) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = self
            .numbers
            .iter()
            .filter(|(_, e)| !e.seen)
            .map(|(n, e)| (n.to_string(), e.exempt))
            .chain(
                self.others
                    .iter()
                    .filter(|(_, e)| !e.seen)
                    .map(|(s, e)| (s.clone(), e.exempt)),
            )
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_is_found_by_either_form_of_number_and_marked_seen() {
        let mut r = Roster::default();
        let one = |exam_no, name, id_card| Registered {
            exam_no,
            name,
            id_card,
            school: "S1",
            reg_no: "BM1",
        };
        r.insert(&one("202300000001", "王小明", "410802200806150012"), false);
        r.insert(&one("0202", "李四", "410802200806150039"), true);
        assert_eq!(r.len(), 2);
        let e = r.visit("202300000001").unwrap();
        assert_eq!(e.name, Roster::fingerprint("王小明"));
        assert!(!e.seen && !e.exempt);
        assert!(
            r.visit("202300000001").unwrap().seen,
            "a second visit sees the first"
        );
        assert_eq!(r.visit("202"), None);
        assert_eq!(r.unseen(), vec![("0202".to_string(), true)]);
    }
}
