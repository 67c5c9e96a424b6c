//! The model's side: who holds which role where, what each request stands at, and the rules of
//! the route and of the permission model as the documents state them (附件4 二.1–二.5, 附件5),
//! written here afresh rather than borrowed from `policy`, so that the two can disagree.

use exam_review_bot::domain::Role;

/// Where a binding is held: a model school (0 or 1, both in the first district), a district,
/// or the city.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    School(usize),
    District(usize),
    City,
}

/// Every binding of the model's people: (user id, role, where, class index for a 班主任).
/// User `u` is person `u - 1`; user 12 holds two roles, in the district's group and in the
/// city's 复审.
pub const BINDINGS: [(i64, Role, At, Option<usize>); 15] = [
    (1, Role::SchoolContact, At::School(0), None),
    (2, Role::HomeroomTeacher, At::School(0), Some(0)),
    (3, Role::HomeroomTeacher, At::School(0), Some(1)),
    (4, Role::Principal, At::School(0), None),
    (5, Role::SchoolContact, At::School(1), None),
    (6, Role::HomeroomTeacher, At::School(1), Some(0)),
    (7, Role::Principal, At::School(1), None),
    (8, Role::DistrictOfficer, At::District(0), None),
    (9, Role::CityAdmin, At::City, None),
    // The first district's 复核小组: 主监考代表, 纪检监督, 装备管理.
    (10, Role::ChiefProctorRep, At::District(0), None),
    (11, Role::Inspector, At::District(0), None),
    (12, Role::EquipmentOfficer, At::District(0), None),
    (12, Role::CityReviewer, At::City, None),
    (13, Role::CityReviewer, At::City, None),
    // The other district's 纪检监督: never a member of this group.
    (14, Role::Inspector, At::District(1), None),
];

/// How many people (users 1..=PEOPLE).
pub const PEOPLE: usize = 14;

/// The sample schools the model's two schools are: both in the first district (the sample
/// city puts school `s` in district `s % 2`).
pub const SAMPLE_SCHOOL: [usize; 2] = [0, 2];

/// The group's member roles and the one every result needs among its signers.
const GROUP: [Role; 3] = [
    Role::ChiefProctorRep,
    Role::Inspector,
    Role::EquipmentOfficer,
];
const GROUP_MIN: usize = 3;

pub fn user(person: usize) -> i64 {
    person as i64 + 1
}

/// A candidate the model files for, with the score as it stands.
#[derive(Clone)]
pub struct Pupil {
    pub school: usize,
    pub class: usize,
    pub exam_no: String,
    pub candidate_id: i64,
    pub mark: Mark,
}

/// A score in tenths and, when the candidate has them, the four item scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub total: i64,
    pub items: Option<[i64; 4]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stand {
    Pending(i64),
    Returned,
    Recording,
    Confirming,
    Reporting,
    Rechecking,
    Completed,
    Withdrawn,
}

impl Stand {
    pub fn open(self) -> bool {
        !matches!(self, Stand::Completed | Stand::Withdrawn)
    }

    pub fn db(self) -> (&'static str, Option<i64>) {
        match self {
            Stand::Pending(s) => ("pending", Some(s)),
            Stand::Returned => ("returned", None),
            Stand::Recording => ("recording", None),
            Stand::Confirming => ("confirming", None),
            Stand::Reporting => ("reporting", None),
            Stand::Rechecking => ("rechecking", None),
            Stand::Completed => ("completed", None),
            Stand::Withdrawn => ("withdrawn", None),
        }
    }
}

/// A recorded result: kept, or corrected to `mark`.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub corrected: bool,
    pub mark: Mark,
}

pub struct Filed {
    pub id: i64,
    pub pupil: usize,
    /// The person whose filing it is now (a revoked filer's passes to the school's contact).
    pub filer: usize,
    pub stand: Stand,
    pub round: i64,
    /// (person, step) of every approval, every round.
    pub approvals: Vec<(usize, i64)>,
    /// How many of them a 班主任 gave by filing (recorded, not announced: the filing is).
    pub by_filing: i64,
    /// This round's recorder, signers and 复审 signatures.
    pub recorder: Option<usize>,
    pub signers: Vec<usize>,
    pub rechecked: Vec<usize>,
    pub outcome: Option<Outcome>,
    /// The chats the result was sent to, once complete.
    pub told: usize,
    /// When it was last returned to be amended.
    pub returned_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a press asks to do on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deed {
    Decide,
    Record,
    Sign,
    Recheck,
    Withdraw,
    Amend,
}

pub struct World {
    pub pupils: Vec<Pupil>,
    pub filed: Vec<Filed>,
    pub revoked: [bool; PEOPLE],
    /// (request, old total, new total) of every score change, in order.
    pub history: Vec<(i64, i64, i64)>,
    /// Contacts who must have had the publication notice (after a 发布 while bound).
    pub noticed: [bool; PEOPLE],
}

impl World {
    /// Whether `person` holds `role` at `at` (and, for a 班主任, `class`) now.
    pub fn holds(&self, person: usize, role: Role, at: At, class: Option<usize>) -> bool {
        !self.revoked[person]
            && BINDINGS.iter().any(|(u, r, a, c)| {
                *u == user(person) && *r == role && *a == at && (class.is_none() || *c == class)
            })
    }

    pub fn bound(&self, person: usize) -> bool {
        !self.revoked[person] && BINDINGS.iter().any(|b| b.0 == user(person))
    }

    fn in_group(&self, person: usize) -> bool {
        GROUP
            .iter()
            .any(|r| self.holds(person, *r, At::District(0), None))
    }

    /// The group's members who may act on `f`: bound in it, neither its filer nor an approver
    /// at a school level (附件4: nobody reviews what they decided below).
    pub fn members(&self, f: &Filed) -> Vec<usize> {
        (0..PEOPLE)
            .filter(|p| self.in_group(*p) && *p != f.filer && !approved(f, *p))
            .collect()
    }

    /// May `person` do `deed` on `f` now, by the route and the permission model?
    pub fn may(&self, person: usize, deed: Deed, f: &Filed) -> bool {
        let pu = &self.pupils[f.pupil];
        let school = At::School(pu.school);
        match (deed, f.stand) {
            (Deed::Decide, Stand::Pending(step)) => {
                let holder = match step {
                    0 => self.holds(person, Role::HomeroomTeacher, school, Some(pu.class)),
                    _ => self.holds(person, Role::Principal, school, None),
                };
                // One person, one level; never on one's own filing.
                holder
                    && person != f.filer
                    && !f.approvals.iter().any(|(p, s)| *p == person && *s != step)
            }
            (Deed::Record, Stand::Recording) => self.members(f).contains(&person),
            (Deed::Sign, Stand::Confirming) => {
                self.members(f).contains(&person)
                    && f.recorder != Some(person)
                    && !f.signers.contains(&person)
            }
            (Deed::Recheck, Stand::Rechecking) => {
                self.holds(person, Role::CityReviewer, At::City, None)
                    && person != f.filer
                    && !approved(f, person)
                    && f.recorder != Some(person)
                    && !f.signers.contains(&person)
                    && !f.rechecked.contains(&person)
            }
            (Deed::Withdraw, Stand::Pending(_) | Stand::Returned | Stand::Recording) => {
                person == f.filer && self.bound(person)
            }
            (Deed::Amend, Stand::Returned) => person == f.filer && self.bound(person),
            _ => false,
        }
    }

    /// Who may send the district's batch (上报): any member of its group.
    pub fn may_report(&self, person: usize) -> bool {
        self.in_group(person)
    }

    /// Whether the group has signed `f`'s result: every member but the recorder has confirmed,
    /// three signatures at least (the recorder's among them while a member), a 纪检监督 among
    /// the signers. A revoked person's signature no longer counts.
    pub fn group_signed(&self, f: &Filed) -> bool {
        let members = self.members(f);
        let recorder = f.recorder.filter(|r| members.contains(r));
        let confirmed: Vec<usize> = f
            .signers
            .iter()
            .copied()
            .filter(|s| members.contains(s))
            .collect();
        let all_others = members
            .iter()
            .filter(|m| Some(**m) != f.recorder)
            .all(|m| confirmed.contains(m));
        let signers: Vec<usize> = confirmed.iter().copied().chain(recorder).collect();
        let inspector = signers
            .iter()
            .any(|s| self.holds(*s, Role::Inspector, At::District(0), None));
        all_others && signers.len() >= GROUP_MIN && inspector
    }

    /// The 复审 agreed: the result is final; a corrected score replaces the old one, which
    /// stays in the history. The result goes to the filer, the school's contact, the class's
    /// 班主任 and the district's officer, each once.
    pub fn complete(&mut self, i: usize) {
        let f = &mut self.filed[i];
        f.stand = Stand::Completed;
        let pu = &mut self.pupils[f.pupil];
        if let Some(o) = f.outcome.filter(|o| o.corrected) {
            self.history.push((f.id, pu.mark.total, o.mark.total));
            pu.mark = Mark {
                total: o.mark.total,
                items: o.mark.items.or(pu.mark.items),
            };
        }
        let (school, class) = (At::School(pu.school), pu.class);
        let filer = f.filer;
        let mut chats = vec![filer];
        for p in 0..PEOPLE {
            let told = self.holds(p, Role::SchoolContact, school, None)
                || self.holds(p, Role::HomeroomTeacher, school, Some(class))
                || self.holds(p, Role::DistrictOfficer, At::District(0), None);
            if told && !chats.contains(&p) {
                chats.push(p);
            }
        }
        self.filed[i].told = chats.len();
    }

    /// `person` loses every binding; their open filings pass to the school's contact, when
    /// the school has one still.
    pub fn revoke(&mut self, person: usize) {
        self.revoked[person] = true;
        for i in 0..self.filed.len() {
            let f = &self.filed[i];
            if f.filer != person || !f.stand.open() {
                continue;
            }
            let school = At::School(self.pupils[f.pupil].school);
            if let Some(contact) =
                (0..PEOPLE).find(|p| self.holds(*p, Role::SchoolContact, school, None))
            {
                self.filed[i].filer = contact;
            }
        }
    }
}

/// Whether `person` approved `f` at any level, in any round.
fn approved(f: &Filed, person: usize) -> bool {
    f.approvals.iter().any(|(p, _)| *p == person)
}
