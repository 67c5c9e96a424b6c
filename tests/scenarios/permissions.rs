//! The permission matrix: every role × every action × where the person sits relative to the
//! request (own unit, sibling, parent, child, other district, unbound), read from the database
//! on both backends and checked against the table below, cell by cell. The same table is the
//! one in docs/permissions.md (the test fails when they differ).

use crate::support::*;
use exam_review_bot::app::policy::{Action, Denied};
use exam_review_bot::clock::Clock;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::people::{self, Invite};
use exam_review_bot::store::reviews::{self, NewEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Own,
    Sibling,
    Parent,
    Child,
    OtherDistrict,
}

const RELS: [(Rel, &str); 5] = [
    (Rel::Own, "own"),
    (Rel::Sibling, "sibling"),
    (Rel::Parent, "parent"),
    (Rel::Child, "child"),
    (Rel::OtherDistrict, "other district"),
];

const ACTIONS: [(Action, &str); 12] = [
    (Action::File, "file"),
    (Action::See, "see"),
    (Action::Decide { step: 0 }, "班主任"),
    (Action::Decide { step: 1 }, "校长"),
    (Action::Record, "record"),
    (Action::Sign, "sign"),
    (Action::Recheck, "复审"),
    (Action::Report, "上报"),
    (Action::Withdraw, "withdraw"),
    (Action::Status, "status"),
    (Action::Publish, "publish"),
    (Action::PrintForm, "form in full"),
];

/// Where each role sits for each relation to the candidate (school S1 of district D1, class K),
/// on the documents' route (the default configuration);
/// None where the role cannot be bound there (`Role::fits`).
fn seat(role: Role, rel: Rel, class: &str) -> Option<(String, Option<String>)> {
    let city = sample::CITY_CODE.to_string();
    let (d_own, d_other) = (sample::district_code(0), sample::district_code(1));
    // School 0 and 2 are in district 0; school 1 in district 1.
    let (s_own, s_sibling, s_other) = (
        sample::school_code(0),
        sample::school_code(2),
        sample::school_code(1),
    );
    let k = Some(class.to_string());
    use Rel::*;
    match role {
        Role::CityAdmin | Role::CityReviewer => match rel {
            Own => Some((city, None)),
            _ => None,
        },
        // The province above the sample city (`province_above_sample`).
        Role::ProvinceViewer => match rel {
            Own => Some((PROVINCE.to_string(), None)),
            _ => None,
        },
        Role::Inspector
        | Role::EntryClerk
        | Role::ChiefProctorRep
        | Role::EquipmentOfficer
        | Role::DirectSchoolHead => match rel {
            Own => Some((d_own, None)),
            Sibling => Some((d_other, None)),
            Parent => Some((city, None)),
            _ => None,
        },
        Role::DistrictOfficer => match rel {
            Own => Some((d_own, None)),
            Sibling => Some((d_other, None)),
            _ => None,
        },
        Role::SchoolContact | Role::Principal | Role::SchoolReviewLeader => match rel {
            Own => Some((s_own, None)),
            Sibling => Some((s_sibling, None)),
            OtherDistrict => Some((s_other, None)),
            _ => None,
        },
        Role::HomeroomTeacher => match rel {
            Own => Some((s_own, k)),
            Sibling => Some((s_own, Some("另一个班".into()))),
            // Bound to the school without a class.
            Parent => Some((s_own, None)),
            OtherDistrict => Some((s_other, k)),
            Child => None,
        },
    }
}

/// The expected answers, one string per role and relation, one letter per action in the order
/// of ACTIONS (Y allowed, . refused); "n/a" where the role cannot sit there.
fn expected(role: Role, rel: Rel) -> &'static str {
    use Rel::*;
    match (role, rel) {
        (Role::CityAdmin, Own) => ".Y.......YYY",
        (Role::CityReviewer, Own) => ".Y....Y.....",
        // The district's review group: its members bound to the candidate's district. Bound
        // to the city they are the city-direct schools' group, not this one.
        (Role::Inspector | Role::ChiefProctorRep | Role::EquipmentOfficer, Own) => ".Y..YY.Y....",
        (Role::DirectSchoolHead, Own) => ".Y..YY.Y....",
        (Role::Inspector, Parent) => ".Y..........",
        (Role::DistrictOfficer, Own) => ".Y.......Y.Y",
        (Role::SchoolContact, Own) => "YY.........Y",
        (Role::Principal, Own) => ".Y.Y.......Y",
        (Role::SchoolReviewLeader, Own) => ".Y..........",
        (Role::HomeroomTeacher, Own) => "YYY.........",
        _ => "............",
    }
}

async fn bind(h: &Harness, user: i64, role: Role, unit: &str, class: Option<&str>) {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let invite = Invite {
        code: format!("matrix-{user}-{role}"),
        role: role.slug().into(),
        unit_code: unit.into(),
        name: format!("{role}@{unit}"),
        class_name: class.map(String::from),
        expires_at: 0,
        used_at: None,
        issued_by: None,
        revoked_at: None,
    };
    people::insert_binding(&mut conn, user, user, &invite, h.clock.now())
        .await
        .unwrap();
}

fn verdict(v: &Result<(), Denied>) -> char {
    if v.is_ok() { 'Y' } else { '.' }
}

/// The matrix as docs/permissions.md shows it, under the columns `names`.
fn markdown(names: &[&str], rows: &[(String, String, String)]) -> String {
    let mut out = String::from("| role | seat |");
    for name in names {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(names.len()));
    out.push('\n');
    for (role, rel, answers) in rows {
        out.push_str(&format!("| {role} | {rel} |"));
        for c in answers.chars() {
            out.push_str(if c == 'Y' { " ✅ |" } else { " · |" });
        }
        out.push('\n');
    }
    out
}

/// One person bound in one seat of the matrix.
struct Seat {
    user: i64,
    role: Role,
    rel: Rel,
    rel_name: &'static str,
    unit: String,
    class: Option<String>,
}

/// The sample city published, one request filed by its school's contact (user 1), and someone
/// bound in every seat of the matrix (users from 101 on).
async fn every_seat_of_one_request() -> (Harness, i64, Vec<Seat>) {
    let h = Harness::start().await;
    h.sample_city().await;
    h.province_above_sample().await;
    h.app
        .publish(exam_review_bot::app::Actor::Cli, None)
        .await
        .unwrap();
    let pupil = h.school_candidates(&sample::school_code(0)).await.remove(0);
    bind(&h, 1, Role::SchoolContact, &sample::school_code(0), None).await;
    let request = filed_by_user_1(&h, &pupil).await;
    let mut seats = Vec::new();
    let mut user = 100;
    for role in Role::ALL {
        for (rel, rel_name) in RELS {
            let Some((unit, class)) = seat(role, rel, &pupil.class_name) else {
                continue;
            };
            user += 1;
            bind(&h, user, role, &unit, class.as_deref()).await;
            seats.push(Seat {
                user,
                role,
                rel,
                rel_name,
                unit,
                class,
            });
        }
    }
    (h, request, seats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_in_every_seat_gets_exactly_the_answers_of_the_table() {
    let (h, request, seats) = every_seat_of_one_request().await;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for s in seats {
        let mut got = String::new();
        for (action, _) in ACTIONS {
            got.push(verdict(
                &h.app.permission(s.user, action, request).await.unwrap(),
            ));
        }
        if got != expected(s.role, s.rel) {
            failures.push(format!(
                "{} ({}, {} {:?}): got {got}, table says {}",
                s.role,
                s.rel_name,
                s.unit,
                s.class,
                expected(s.role, s.rel)
            ));
        }
        rows.push((s.role.slug().to_string(), s.rel_name.to_string(), got));
    }
    // Someone who never joined, and the filer.
    let mut unbound = String::new();
    let mut filer = String::new();
    for (action, _) in ACTIONS {
        unbound.push(verdict(
            &h.app.permission(99_999, action, request).await.unwrap(),
        ));
        filer.push(verdict(
            &h.app.permission(1, action, request).await.unwrap(),
        ));
    }
    assert_eq!(
        h.app
            .permission(99_999, Action::See, request)
            .await
            .unwrap(),
        Err(Denied::NotBound)
    );
    for (who, got, want) in [
        ("unbound", &unbound, "............"),
        ("filer", &filer, "YY......Y..Y"),
    ] {
        if got != want {
            failures.push(format!("{who}: got {got}, table says {want}"));
        }
        rows.push((who.into(), "—".into(), got.clone()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let names: Vec<&str> = ACTIONS.iter().map(|(_, n)| *n).collect();
    let table = markdown(&names, &rows);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/permissions.md"))
            .unwrap();
    assert!(
        readme.contains(&table),
        "docs/permissions.md's permission matrix differs from the tested one; it is:\n{table}"
    );
    h.stop().await;
}

/// Separation of duties, in the same database: nobody decides on what they filed, nobody
/// approves two levels of one request, nobody signs one result twice (on the route with a
/// district level and one city-wide group).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_decides_their_own_filing_or_two_levels_or_signs_twice() {
    let h = Harness::start_with(city_wide_group).await;
    h.sample_city().await;
    let pupil = h.school_candidates(&sample::school_code(0)).await.remove(0);
    let school = sample::school_code(0);
    // User 1 is the class's homeroom teacher and files; user 2 is principal and district
    // officer at once; user 3 a city reviewer.
    bind(
        &h,
        1,
        Role::HomeroomTeacher,
        &school,
        Some(&pupil.class_name),
    )
    .await;
    bind(&h, 2, Role::Principal, &school, None).await;
    bind(
        &h,
        2,
        Role::DistrictOfficer,
        &sample::district_code(0),
        None,
    )
    .await;
    bind(&h, 3, Role::CityReviewer, sample::CITY_CODE, None).await;
    let request = filed_by_user_1(&h, &pupil).await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let approve = |user, step| NewEvent {
        request_id: request,
        user_id: user,
        actor_name: "x",
        actor_role: "x",
        step: Some(step),
        round: 1,
        action: "approve",
        comment: "",
    };
    reviews::add_event(&mut conn, &approve(2, 1), h.clock.now())
        .await
        .unwrap();
    drop(conn);
    let p = |user, action| {
        let app = h.app.clone();
        async move { app.permission(user, action, request).await.unwrap() }
    };
    assert_eq!(
        p(1, Action::Decide { step: 0 }).await,
        Err(Denied::OwnFiling)
    );
    assert_eq!(p(2, Action::Decide { step: 1 }).await, Ok(()));
    assert_eq!(
        p(2, Action::Decide { step: 2 }).await,
        Err(Denied::OtherLevel)
    );
    assert_eq!(p(3, Action::Record).await, Ok(()));
    // The recorder does not countersign; a signer does not sign again.
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query("UPDATE review_requests SET recorded_by = 3, state = 'confirming' WHERE id = $1")
        .bind(request)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(p(3, Action::Sign).await, Err(Denied::AlreadySigned));
    bind(&h, 4, Role::Inspector, sample::CITY_CODE, None).await;
    assert_eq!(p(4, Action::Sign).await, Ok(()));
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let confirm = NewEvent {
        step: None,
        action: "confirm",
        ..approve(4, 0)
    };
    assert!(
        reviews::add_event(&mut conn, &confirm, h.clock.now())
            .await
            .unwrap()
    );
    // A second tap records nothing (the vote index covers the NULL step of a confirmation).
    assert!(
        !reviews::add_event(&mut conn, &confirm, h.clock.now())
            .await
            .unwrap()
    );
    drop(conn);
    assert_eq!(p(4, Action::Sign).await, Err(Denied::AlreadySigned));
    h.stop().await;
}

/// What each role may do with a 登分 batch of district D1 (附件7), one letter per action of
/// BATCH_ACTIONS: the county's clerks enter, its 纪检监督 seals, its officer reports, the city
/// admins lift a 缺考; each of them sees the county's batches on the board.
const BATCH_ACTIONS: [(Action, &str); 6] = [
    (Action::SeeBatch, "see batch"),
    (Action::Enter, "enter"),
    (Action::SealBatch, "seal"),
    (Action::ReportBatch, "上报 batch"),
    (Action::LiftAbsence, "lift 缺考"),
    (Action::WatchEntry, "watch"),
];

fn expected_on_batch(role: Role, rel: Rel) -> &'static str {
    use Rel::*;
    match (role, rel) {
        (Role::CityAdmin, Own) => "Y...Y.",
        (Role::EntryClerk, Own) => "YY...Y",
        (Role::Inspector, Own) => "Y.Y..Y",
        (Role::DistrictOfficer, Own) => "Y..Y..",
        // An inspector or clerk bound to the city works the city's own 考区, not D1's.
        _ => "......",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_in_every_seat_gets_exactly_the_answers_of_the_batch_table() {
    let h = Harness::start_with(|c| {
        c.entry.mode = exam_review_bot::config::EntryMode::CountyBatches;
    })
    .await;
    sample::load_city_before_exam(&h.app, h.dir(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
        .await
        .unwrap();
    h.province_above_sample().await;
    let d1 = sample::district_code(0);
    let (batch, _) = h
        .app
        .entry_batches()
        .await
        .unwrap()
        .into_iter()
        .find(|(b, _)| b.county_code == d1)
        .unwrap();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut user = 100;
    for role in Role::ALL {
        for (rel, rel_name) in RELS {
            let Some((unit, class)) = seat(role, rel, "九年级1班") else {
                continue;
            };
            user += 1;
            bind(&h, user, role, &unit, class.as_deref()).await;
            let mut got = String::new();
            for (action, _) in BATCH_ACTIONS {
                got.push(verdict(
                    &h.app
                        .batch_permission(user, action, batch.id)
                        .await
                        .unwrap(),
                ));
            }
            if got != expected_on_batch(role, rel) {
                failures.push(format!(
                    "{role} ({rel_name}, {unit} {class:?}): got {got}, table says {}",
                    expected_on_batch(role, rel)
                ));
            }
            rows.push((role.slug().to_string(), rel_name.to_string(), got));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Separation of duties: a clerk who also holds the inspector's role does not seal a
    // batch they entered or read out; another inspector of the county does.
    bind(&h, 7, Role::EntryClerk, &d1, None).await;
    bind(&h, 7, Role::Inspector, &d1, None).await;
    bind(&h, 8, Role::EntryClerk, &d1, None).await;
    let sheet = sample::batch_csv(
        &sample::scores_csv(CANDIDATES, SCHOOLS, 7),
        &[sample::school_code(0), sample::school_code(2)],
        &batch.exam_date,
        &batch.half_day,
    );
    let path = h.write("matrix-sheet.csv", sheet.as_bytes());
    // Two more of the county watch the reading and the entering.
    bind(&h, 10, Role::EntryClerk, &d1, None).await;
    bind(&h, 11, Role::Inspector, &d1, None).await;
    let crew = exam_review_bot::domain::entry::Crew {
        pair: exam_review_bot::domain::entry::Pair {
            entered: 8,
            read: 7,
        },
        watched_reading: 10,
        watched_entering: 11,
    };
    // On the exam day, before its cutoff (an entry after it is refused).
    h.clock.set(shanghai(2023, 4, 26, 12, 0));
    for p in [crew, crew.swapped()] {
        let taken = h
            .app
            .upload_entry(
                exam_review_bot::app::Actor::Cli,
                batch.id,
                &path,
                "s.csv",
                p,
            )
            .await
            .unwrap();
        assert!(
            matches!(taken, exam_review_bot::app::entry::Upload::Taken { .. }),
            "{taken:?}"
        );
    }
    assert_eq!(
        h.app
            .batch_permission(7, Action::SealBatch, batch.id)
            .await
            .unwrap(),
        Err(Denied::OwnEntry)
    );
    bind(&h, 9, Role::Inspector, &d1, None).await;
    assert_eq!(
        h.app
            .batch_permission(9, Action::SealBatch, batch.id)
            .await
            .unwrap(),
        Ok(())
    );

    let names: Vec<&str> = BATCH_ACTIONS.iter().map(|(_, n)| *n).collect();
    let table = markdown(&names, &rows);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/permissions.md"))
            .unwrap();
    assert!(
        readme.contains(&table),
        "docs/permissions.md's batch permission table differs from the tested one; it is:\n{table}"
    );
    h.stop().await;
}

/// Who may invite (and so revoke) which role where: every inviter in their own unit, against
/// every unit of a city of two districts (S1, S2 of D1; S3 of D2; SD city-direct), asked of
/// `policy::may_invite` itself. The same table is in docs/permissions.md. The file import's
/// rule sits beside it: only a city admin's file is taken.
#[test]
fn every_inviter_invites_exactly_the_roles_and_units_of_the_table() {
    use exam_review_bot::app::invites::chat::seat;
    use exam_review_bot::app::policy::{may_import, may_invite};
    use exam_review_bot::domain::UnitKind;
    use exam_review_bot::domain::workflow::Group;
    use exam_review_bot::store::people::Binding;
    use exam_review_bot::store::units::Unit;
    let unit = |code: &str, kind, parent: Option<&str>, city_direct| Unit {
        code: code.into(),
        name: code.into(),
        kind,
        parent_code: parent.map(str::to_string),
        city_direct,
        city_code: "C".into(),
    };
    let units = [
        unit("C", UnitKind::City, None, false),
        unit("D1", UnitKind::District, Some("C"), false),
        unit("D2", UnitKind::District, Some("C"), false),
        unit("S1", UnitKind::School, Some("D1"), false),
        unit("S2", UnitKind::School, Some("D1"), false),
        unit("S3", UnitKind::School, Some("D2"), false),
        unit("SD", UnitKind::School, Some("C"), true),
    ];
    let groups = Group::default().roles;
    let mut table = String::from("| inviter (bound in) | unit | may invite |\n|---|---|---|\n");
    for inviter in Role::ALL {
        let home = match inviter {
            Role::CityAdmin | Role::CityReviewer => "C",
            Role::ProvinceViewer => "P",
            r if r.fits(UnitKind::District) => "D1",
            _ => "S1",
        };
        let bound = [Binding {
            id: 1,
            telegram_user_id: 1,
            chat_id: 1,
            name: "x".into(),
            role: inviter,
            unit_code: home.into(),
            class_name: Some("K".into()),
        }];
        assert_eq!(may_import(&bound, "C").is_ok(), inviter == Role::CityAdmin);
        for u in &units {
            let roles: Vec<&str> = Role::ALL
                .into_iter()
                .filter(|r| may_invite(&bound, *r, seat("C", u), &groups).is_ok())
                .map(Role::slug)
                .collect();
            if !roles.is_empty() {
                table.push_str(&format!(
                    "| {} ({home}) | {} | {} |\n",
                    inviter.slug(),
                    u.code,
                    roles.join(", ")
                ));
            }
        }
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/permissions.md"))
            .unwrap();
    assert!(
        readme.contains(&table),
        "docs/permissions.md's invite table differs from the tested one; it is:\n{table}"
    );
}

/// The season board answers each seat of the matrix as chat does: the request is on a person's
/// board, and its page opens for them, exactly where the matrix lets them see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seat_sees_on_the_board_exactly_what_the_matrix_lets_it_see() {
    let (h, request, bound) = every_seat_of_one_request().await;
    let base = crate::board::serve_board(&h).await;
    let key = exam_review_bot::board::SessionKey::derive(crate::board::TOKEN);
    let client = reqwest::Client::new();
    let now = h.clock.now();
    let column = |action| ACTIONS.iter().position(|(a, _)| *a == action).unwrap();
    let (see, status) = (column(Action::See), column(Action::Status));
    // (user, who, may see the request, may follow its school's progress)
    let mut seats = vec![
        (1, "filer".to_string(), true, None),
        (99_999, "unbound".into(), false, Some(false)),
    ];
    for s in bound {
        let row = expected(s.role, s.rel).as_bytes();
        let who = format!("{} ({})", s.role, s.rel_name);
        seats.push((s.user, who, row[see] == b'Y', Some(row[status] == b'Y')));
    }
    let school = format!("data-school=\"{}\"", sample::school_code(0));
    let mut failures = Vec::new();
    for (user, who, may, follows) in seats {
        let cookie = format!("board={}", key.issue(user, now));
        let get = |path: String| {
            client
                .get(format!("{base}{path}"))
                .header("cookie", cookie.clone())
                .send()
        };
        let list = get("/board/requests".into()).await.unwrap();
        let listed = list.status() == 200
            && list
                .text()
                .await
                .unwrap()
                .contains(&format!("data-id=\"{request}\""));
        let opened = get(format!("/board/requests/{request}"))
            .await
            .unwrap()
            .status();
        let answers = (listed, opened == 200);
        if answers != (may, may) {
            failures.push(format!(
                "{who}: listed {listed}, detail {opened}; the matrix says see = {may}"
            ));
        }
        // The school's score notice is on the 公布 tab of those who follow its progress.
        if let Some(follows) = follows {
            let notices = get("/board/notices".into()).await.unwrap();
            let shown = notices.status() == 200 && notices.text().await.unwrap().contains(&school);
            if shown != follows {
                failures.push(format!(
                    "{who}: school on the notices {shown}; the matrix says status = {follows}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    h.stop().await;
}
