//! The one permission model: who may see and do what, decided over role, unit, class and the
//! request's history, and nothing else. Every command, button and dialogue step asks here;
//! nothing else in the code compares a binding's unit with a request's.
//!
//! The rules, as the documents and the paper offices have them:
//! - A homeroom teacher acts for their own class of their own school; school roles for their
//!   school; district roles for their district; city roles for the city. An inspector or entry
//!   clerk bound to a district is a district person, not a city one.
//! - Separation of duties: nobody decides on a request they filed, nobody approves two levels
//!   of one request, nobody signs one result twice, and the recorder does not countersign their
//!   own result. A person who approved a level is not also a signatory of the group's result,
//!   and a signatory of the group's result does not give the city's 复审 of it.
//! - The review group is the request's route's: the members bound under its roles in the unit
//!   whose group reviews the candidate's school (the district's, or the city's for a
//!   city-direct school).

use crate::domain::Role;
use crate::domain::workflow::{Purpose, Route, Scope};
use crate::render::tpl;
use crate::store::people::Binding;

/// What someone wants to do with a candidate or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// File a review for the candidate (/review), or see their record in the filing dialogue.
    File,
    /// See the request's card and history (/request N, the card of an open request).
    See,
    /// Approve, reject or return at approval step `step` of the route.
    Decide { step: usize },
    /// Record the review group's result (维持 / 更正).
    Record,
    /// Confirm (sign) or dispute the recorded result.
    Sign,
    /// Give the city's 复审 of the group's signed result: 同意, or return it to the group.
    Recheck,
    /// Send the request's unit's signed results to the city (上报, 附件6 注2): a member of the
    /// group that reviewed them.
    Report,
    /// Withdraw the request, or amend and resubmit it after a return.
    Withdraw,
    /// Count the candidate's school in the /status board.
    Status,
    /// Publish the season's scores (/publish and its confirm button), and close the season's
    /// review (/close): the city admins'.
    Publish,
    /// Upload an entry of a county's half-day batch (登分, 附件7): the county's entry clerks.
    /// The subject's `district` is the batch's county (None: the city's own 考区).
    Enter,
    /// Watch the reading out or the entering of an entry (监督报分, 监督录入; 附件7 二): the
    /// county's entry clerks and 纪检监督.
    WatchEntry,
    /// Seal a batch whose two entries agree (设置半天数据密码): the county's 纪检监督, who
    /// entered or read out none of its entries (`Subject::signers` holds those clerks).
    SealBatch,
    /// Report the county's sealed batches of a day to the city (上报): the county's officer (a
    /// city admin for the city's own 考区).
    ReportBatch,
    /// Lift a batch's 缺考 with a written reason: the city admins'.
    LiftAbsence,
    /// See a county's batches on the entry board: its clerks, inspector and officer, and the
    /// city admins.
    SeeBatch,
    /// Have a request's printed form (附件2, 附件5) with 身份证号 and 学籍号 in full: the units
    /// whose seal it bears print, stamp and file it — the candidate's school (its contact and
    /// 校长), its district's officer and the city admins. Everyone else's copy is masked.
    PrintForm,
}

/// The candidate or request an action is about, with the history the duty rules need.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    /// The city's code (bindings there are city people).
    pub city: &'a str,
    /// The province above the city ("" when the deployment has none): its viewers see the
    /// city's board.
    pub province: &'a str,
    pub school: &'a str,
    /// The school's district; None for a city-direct (市直属) school.
    pub district: Option<&'a str>,
    pub class: &'a str,
    /// Who filed; None while nothing is filed yet.
    pub filer: Option<i64>,
    /// Who recorded the group's current result.
    pub recorded_by: Option<i64>,
    /// Every approval given on this request so far, any round: (user, step).
    pub approvals: &'a [(i64, i64)],
    /// Who confirmed the current result (this round).
    pub signers: &'a [i64],
    /// Who gave the city's 复审 同意 to the current result (this round).
    pub rechecked: &'a [i64],
}

/// Why not. Each has its own sentence for the person (`messages/denied_*.hbs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denied {
    NotBound,
    /// None of the person's roles acts here.
    NoRole,
    OtherClass,
    OtherSchool,
    OtherDistrict,
    /// A 登分 batch of another county (考区).
    OtherCounty,
    /// Deciding on one's own filing.
    OwnFiling,
    /// Already approved another level of this request.
    OtherLevel,
    /// Already signed this result, or recorded it.
    AlreadySigned,
    /// Already gave this level its opinion (同意 or 不同意) in this round.
    AlreadyDecided,
    /// Only the filer withdraws or amends.
    NotFiler,
    /// This level passes a request on or returns it; it does not end it (附件4 二).
    NoVeto,
    /// Sealing a batch one entered or read out.
    OwnEntry,
    /// The review's window has ended: nothing below the city acts on a request any more
    /// (附件6 注2: 逾期不予受理).
    ReviewOver,
    /// Filing has closed: a level below the group no longer returns a request, which could not
    /// come back in time.
    ReturnsClosed,
    /// A returned request's time to be amended is over (`review.amend_hours`).
    AmendClosed,
}

impl Denied {
    /// The template that says why.
    pub fn template(self) -> &'static str {
        match self {
            Denied::NotBound => tpl::NOT_BOUND,
            Denied::NoRole => tpl::NOT_ALLOWED,
            Denied::OtherClass => tpl::DENIED_OTHER_CLASS,
            Denied::OtherSchool => tpl::DENIED_OTHER_SCHOOL,
            Denied::OtherDistrict => tpl::DENIED_OTHER_DISTRICT,
            Denied::OtherCounty => tpl::DENIED_OTHER_COUNTY,
            Denied::OwnFiling => tpl::DENIED_OWN_FILING,
            Denied::OtherLevel => tpl::DENIED_OTHER_LEVEL,
            Denied::AlreadySigned => tpl::DENIED_ALREADY_SIGNED,
            Denied::AlreadyDecided => tpl::DENIED_ALREADY_DECIDED,
            Denied::NotFiler => tpl::DENIED_NOT_FILER,
            Denied::NoVeto => tpl::DENIED_NO_VETO,
            Denied::OwnEntry => tpl::DENIED_OWN_ENTRY,
            Denied::ReviewOver => tpl::DENIED_REVIEW_OVER,
            Denied::ReturnsClosed => tpl::DENIED_RETURNS_CLOSED,
            Denied::AmendClosed => tpl::DENIED_AMEND_CLOSED,
        }
    }

    /// Refusals that would confirm that a candidate or request exists somewhere the person may
    /// not look are answered as "not found" instead.
    pub fn hides_existence(self) -> bool {
        matches!(
            self,
            Denied::OtherClass
                | Denied::OtherSchool
                | Denied::OtherDistrict
                | Denied::OtherCounty
                | Denied::NoRole
        )
    }
}

/// The roles that may file a review for a candidate of their school (a homeroom teacher: of
/// their class).
pub const FILERS: [Role; 2] = [Role::SchoolContact, Role::HomeroomTeacher];

/// Where a binding sits relative to a subject, for the roles whose reach is a unit.
fn reach(b: &Binding, s: &Subject) -> Result<(), Denied> {
    let in_district = |code: &str| s.district == Some(code);
    match b.role {
        Role::CityAdmin | Role::CityReviewer => {
            if b.unit_code == s.city {
                Ok(())
            } else {
                Err(Denied::NoRole)
            }
        }
        // Bound to the city they see the city; bound to a district, their district only.
        // A review group's member bound to the city sits in the city-direct schools' group:
        // they see those schools' requests, not every district's.
        Role::ChiefProctorRep | Role::EquipmentOfficer | Role::DirectSchoolHead => {
            if in_district(&b.unit_code) || (b.unit_code == s.city && s.district.is_none()) {
                Ok(())
            } else {
                Err(Denied::OtherDistrict)
            }
        }
        Role::Inspector | Role::EntryClerk | Role::DistrictOfficer => {
            if (b.unit_code == s.city && b.role != Role::DistrictOfficer)
                || in_district(&b.unit_code)
            {
                Ok(())
            } else {
                Err(Denied::OtherDistrict)
            }
        }
        Role::SchoolContact | Role::Principal | Role::SchoolReviewLeader => {
            if b.unit_code == s.school {
                Ok(())
            } else {
                Err(Denied::OtherSchool)
            }
        }
        // A province's office reaches no city's requests: it sees boards, not files.
        Role::ProvinceViewer => Err(Denied::NoRole),
        Role::HomeroomTeacher => {
            if b.unit_code != s.school {
                Err(Denied::OtherSchool)
            } else if b.class_name.as_deref() != Some(s.class) {
                Err(Denied::OtherClass)
            } else {
                Ok(())
            }
        }
    }
}

/// Whether a binding works in the batch's county (the subject's district, or the city for the
/// city's own 考区): a county's clerks and inspector see and touch their county's batches only,
/// and the city's own ones only theirs.
fn in_county(b: &Binding, s: &Subject) -> Result<(), Denied> {
    if b.unit_code == s.district.unwrap_or(s.city) {
        Ok(())
    } else {
        Err(Denied::OtherCounty)
    }
}

/// Whether a binding holds approval step `step` of the route for this subject.
fn holds_step(route: &Route, step: usize, b: &Binding, s: &Subject) -> Result<(), Denied> {
    let Some(st) = route.steps.get(step) else {
        return Err(Denied::NoRole);
    };
    let (role, by_the_city) = st.holder(s.district.is_none());
    if b.role != role {
        return Err(Denied::NoRole);
    }
    if by_the_city {
        return match b.unit_code == s.city {
            true => Ok(()),
            false => Err(Denied::OtherDistrict),
        };
    }
    match st.unit {
        Scope::Class => reach(b, s),
        Scope::School => {
            if b.unit_code == s.school {
                Ok(())
            } else {
                Err(Denied::OtherSchool)
            }
        }
        Scope::District => {
            if s.district == Some(b.unit_code.as_str()) {
                Ok(())
            } else {
                Err(Denied::OtherDistrict)
            }
        }
        Scope::City => {
            if b.unit_code == s.city {
                Ok(())
            } else {
                Err(Denied::OtherDistrict)
            }
        }
    }
}

/// Which of the person's bindings may do `action` on `subject`, or why none may. Among several
/// refusals the most telling one is given (a duty rule over "not your unit" over "no role").
pub fn check(
    route: &Route,
    user: i64,
    bound: &[Binding],
    action: Action,
    s: &Subject,
) -> Result<Binding, Denied> {
    if bound.is_empty() {
        return Err(Denied::NotBound);
    }
    let is_filer = s.filer == Some(user);
    // The duty rules do not depend on which binding acts.
    let duty = || -> Result<(), Denied> {
        if is_filer {
            return Err(Denied::OwnFiling);
        }
        Ok(())
    };
    let mut worst = Denied::NoRole;
    let mut refuse = |d: Denied| {
        if rank(d) > rank(worst) {
            worst = d;
        }
    };
    for b in bound {
        let verdict = match action {
            Action::File => {
                if FILERS.contains(&b.role) {
                    reach(b, s)
                } else {
                    Err(Denied::NoRole)
                }
            }
            Action::See => {
                // A 免考 application carries medical proofs: only the roles on its route and
                // the school's contact see it, not the review groups or the city's 复审.
                let off_route = route.purpose == Purpose::Exemption
                    && b.role != Role::SchoolContact
                    && !route
                        .steps
                        .iter()
                        .any(|st| st.holder(s.district.is_none()).0 == b.role);
                if is_filer {
                    Ok(())
                } else if b.role == Role::EntryClerk || off_route {
                    Err(Denied::NoRole)
                } else {
                    reach(b, s)
                }
            }
            Action::Decide { step } => holds_step(route, step, b, s).and_then(|()| {
                duty()?;
                let other_level = s
                    .approvals
                    .iter()
                    .any(|(u, at)| *u == user && *at != step as i64);
                if other_level {
                    Err(Denied::OtherLevel)
                } else {
                    Ok(())
                }
            }),
            Action::Record | Action::Sign => {
                let group = &route.group;
                if !group.roles.contains(&b.role) {
                    Err(Denied::NoRole)
                } else if b.unit_code != group.unit_of(s.city, s.district) {
                    Err(Denied::OtherDistrict)
                } else {
                    duty().and_then(|()| {
                        if s.approvals.iter().any(|(u, _)| *u == user) {
                            Err(Denied::OtherLevel)
                        } else if action == Action::Sign
                            && (s.recorded_by == Some(user) || s.signers.contains(&user))
                        {
                            Err(Denied::AlreadySigned)
                        } else {
                            Ok(())
                        }
                    })
                }
            }
            // A 免考 application goes up with its 附件3 from the level below the city's.
            Action::Report if route.purpose == Purpose::Exemption => {
                match route.sent_up_by(s.district.is_none()) {
                    Some(step) => holds_step(route, step, b, s),
                    None => Err(Denied::NoRole),
                }
            }
            Action::Report => {
                if !route.group.roles.contains(&b.role) {
                    Err(Denied::NoRole)
                } else if b.unit_code != route.group.unit_of(s.city, s.district) {
                    Err(Denied::OtherDistrict)
                } else {
                    Ok(())
                }
            }
            Action::Recheck => {
                if b.role != route.recheck.role || b.unit_code != s.city {
                    Err(Denied::NoRole)
                } else {
                    duty().and_then(|()| {
                        let signed_below = s.approvals.iter().any(|(u, _)| *u == user)
                            || s.recorded_by == Some(user)
                            || s.signers.contains(&user);
                        if signed_below {
                            Err(Denied::OtherLevel)
                        } else if s.rechecked.contains(&user) {
                            Err(Denied::AlreadySigned)
                        } else {
                            Ok(())
                        }
                    })
                }
            }
            Action::Withdraw => {
                if is_filer {
                    Ok(())
                } else {
                    Err(Denied::NotFiler)
                }
            }
            Action::Status => match b.role {
                Role::CityAdmin => reach(b, s),
                Role::DistrictOfficer => reach(b, s),
                // Every city of their province, read-only.
                Role::ProvinceViewer if !s.province.is_empty() && b.unit_code == s.province => {
                    Ok(())
                }
                _ => Err(Denied::NoRole),
            },
            Action::Publish | Action::LiftAbsence => {
                if b.role == Role::CityAdmin && b.unit_code == s.city {
                    Ok(())
                } else {
                    Err(Denied::NoRole)
                }
            }
            Action::Enter => match b.role {
                Role::EntryClerk => in_county(b, s),
                _ => Err(Denied::NoRole),
            },
            Action::WatchEntry => match b.role {
                Role::EntryClerk | Role::Inspector => in_county(b, s),
                _ => Err(Denied::NoRole),
            },
            Action::SealBatch => match b.role {
                Role::Inspector => in_county(b, s).and_then(|()| {
                    if s.signers.contains(&user) {
                        Err(Denied::OwnEntry)
                    } else {
                        Ok(())
                    }
                }),
                _ => Err(Denied::NoRole),
            },
            Action::ReportBatch => match b.role {
                Role::DistrictOfficer => in_county(b, s),
                Role::CityAdmin if s.district.is_none() => in_county(b, s),
                _ => Err(Denied::NoRole),
            },
            Action::PrintForm => match b.role {
                Role::SchoolContact | Role::Principal | Role::DistrictOfficer | Role::CityAdmin => {
                    reach(b, s)
                }
                _ => Err(Denied::NoRole),
            },
            Action::SeeBatch => match b.role {
                Role::EntryClerk | Role::Inspector | Role::DistrictOfficer => in_county(b, s),
                Role::CityAdmin if b.unit_code == s.city => Ok(()),
                _ => Err(Denied::NoRole),
            },
        };
        match verdict {
            Ok(()) => return Ok(b.clone()),
            Err(d) => refuse(d),
        }
    }
    Err(worst)
}

fn rank(d: Denied) -> u8 {
    match d {
        Denied::NotBound => 0,
        Denied::NoRole => 1,
        Denied::OtherDistrict | Denied::OtherCounty => 2,
        Denied::OtherSchool => 3,
        Denied::OtherClass => 4,
        Denied::NotFiler => 5,
        Denied::OtherLevel => 6,
        Denied::AlreadySigned | Denied::AlreadyDecided => 7,
        Denied::OwnFiling => 8,
        Denied::NoVeto => 9,
        Denied::OwnEntry => 10,
        Denied::ReviewOver | Denied::ReturnsClosed | Denied::AmendClosed => 11,
    }
}

/// The filer's binding that gives approval step `step` its opinion by filing: the route's step
/// is `signed_by_filer` and one of the filer's bindings holds it for this subject (a 班主任
/// handing in their own class's 免考 application has signed its 班主任意见).
pub fn signs_by_filing(
    route: &Route,
    step: usize,
    bound: &[Binding],
    s: &Subject,
) -> Option<Binding> {
    // One person's filing settles only a level where one opinion does.
    let st = route.steps.get(step)?;
    if !st.signed_by_filer || st.rule != crate::domain::workflow::Rule::AnyOne {
        return None;
    }
    bound
        .iter()
        .find(|b| holds_step(route, step, b, s).is_ok())
        .cloned()
}

/// Where a request or application starts: the route's first level for the school, or the one
/// after it when the filer gives that level's opinion by filing (a 班主任 for their own class:
/// then the level and the filer's binding come back too, to be recorded as their approval).
/// Otherwise a filer who is the level's only holder would leave it waiting for ever.
pub fn starting_level(
    route: &Route,
    city_direct: bool,
    bound: &[Binding],
    subject: &Subject,
) -> (Option<usize>, Option<(usize, Binding)>) {
    let first = route.step_from(0, city_direct);
    let signed = first.and_then(|f| signs_by_filing(route, f, bound, subject).map(|b| (f, b)));
    let start = match &signed {
        Some((f, _)) => route.step_from(f + 1, city_direct),
        None => first,
    };
    (start, signed)
}

/// Whether approval step `step` of the route may end a request with 驳回 (its holder's right
/// to decide there is `check`'s question; this is the level's).
pub fn may_reject(route: &Route, step: usize) -> Result<(), Denied> {
    match route.steps.get(step) {
        Some(s) if s.may_reject => Ok(()),
        _ => Err(Denied::NoVeto),
    }
}

/// Where an invite would put someone: the unit, and the county it belongs to (a school's
/// district; None for the city and its city-direct schools).
#[derive(Debug, Clone, Copy)]
pub struct Seat<'a> {
    pub city: &'a str,
    pub unit: &'a str,
    pub kind: crate::domain::UnitKind,
    pub district: Option<&'a str>,
}

/// The school roles a school contact invites (附件2, 附件5: the people who sign at the school).
pub const SCHOOL_INVITEES: [Role; 3] = [
    Role::Principal,
    Role::SchoolReviewLeader,
    Role::HomeroomTeacher,
];

/// Who may invite `role` into `seat`, and so also revoke such a binding: a city admin anyone;
/// a district officer the school roles of their district's schools and their district's own
/// review group (`group_roles` that belong in a district); a school contact the principal,
/// 审核小组组长 and homeroom teachers of their school. Nobody invites into a unit the role does
/// not belong in.
pub fn may_invite(
    bound: &[Binding],
    role: Role,
    seat: Seat,
    group_roles: &[Role],
) -> Result<Binding, Denied> {
    if bound.is_empty() {
        return Err(Denied::NotBound);
    }
    let school_role = matches!(
        role,
        Role::SchoolContact | Role::Principal | Role::SchoolReviewLeader | Role::HomeroomTeacher
    );
    let mut worst = Denied::NoRole;
    for b in bound {
        let verdict = if !role.fits(seat.kind) {
            Err(Denied::NoRole)
        } else {
            match b.role {
                Role::CityAdmin if b.unit_code == seat.city => Ok(()),
                Role::DistrictOfficer => {
                    // 市直学校负责人 sits in the city-direct schools' group, at the city.
                    let group_role = group_roles.contains(&role)
                        && role != Role::DirectSchoolHead
                        && seat.kind == crate::domain::UnitKind::District;
                    if !(school_role || group_role) {
                        Err(Denied::NoRole)
                    } else if (school_role && seat.district == Some(b.unit_code.as_str()))
                        || (group_role && seat.unit == b.unit_code)
                    {
                        Ok(())
                    } else {
                        Err(Denied::OtherDistrict)
                    }
                }
                Role::SchoolContact => {
                    if !SCHOOL_INVITEES.contains(&role) {
                        Err(Denied::NoRole)
                    } else if seat.unit == b.unit_code {
                        Ok(())
                    } else {
                        Err(Denied::OtherSchool)
                    }
                }
                _ => Err(Denied::NoRole),
            }
        };
        match verdict {
            Ok(()) => return Ok(b.clone()),
            Err(d) if rank(d) > rank(worst) => worst = d,
            Err(_) => {}
        }
    }
    Err(worst)
}

/// Who may import a file sent in chat (units, candidates, scores, a people roster): the city
/// admins, as on the command line.
pub fn may_import(bound: &[Binding], city: &str) -> Result<Binding, Denied> {
    if bound.is_empty() {
        return Err(Denied::NotBound);
    }
    bound
        .iter()
        .find(|b| b.role == Role::CityAdmin && b.unit_code == city)
        .cloned()
        .ok_or(Denied::NoRole)
}
