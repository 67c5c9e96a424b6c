//! Each person's command menu lists exactly what their roles may use: set for their own chat
//! when they join, dropped when their binding is revoked, the same commands in /help, and the
//! same as the permission matrices in docs/permissions.md say.

use crate::support::*;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use std::time::Duration;

/// The menu of each role, as docs/permissions.md's "Command menus" table shows it.
fn expected(role: Role) -> &'static str {
    match role {
        Role::CityAdmin => {
            "pending request status export publish close lift invite people contacts whoami cancel help"
        }
        Role::CityReviewer => "pending request contacts whoami cancel help",
        Role::Inspector => "pending request batch status contacts whoami cancel help",
        Role::DistrictOfficer => {
            "pending request status export invite people contacts whoami cancel help"
        }
        Role::SchoolContact => {
            "review exempt myrequests request invite people contacts whoami cancel help"
        }
        Role::Principal | Role::SchoolReviewLeader => "pending request contacts whoami cancel help",
        Role::HomeroomTeacher => {
            "review exempt pending myrequests request contacts whoami cancel help"
        }
        Role::EntryClerk => "status contacts whoami cancel help",
        Role::ChiefProctorRep | Role::EquipmentOfficer | Role::DirectSchoolHead => {
            "pending request batch contacts whoami cancel help"
        }
        Role::ProvinceViewer => "status contacts whoami cancel help",
    }
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/permissions.md")).unwrap()
}

/// The ✅ cells of a role's `own` row in the docs/permissions.md table whose header row starts with
/// `| role | seat |` and names `column`.
fn matrix_allows(readme: &str, first_column: &str, role: Role, column: &str) -> bool {
    let mut lines = readme.lines();
    let header = lines
        .by_ref()
        .find(|l| l.starts_with("| role | seat | ") && l.contains(first_column))
        .expect("the permission table is in docs/permissions.md");
    let names: Vec<&str> = header.split('|').map(str::trim).collect();
    let at = names.iter().position(|n| *n == column).unwrap();
    let row = lines
        .find(|l| l.starts_with(&format!("| {} | own |", role.slug())))
        .unwrap();
    row.split('|').map(str::trim).nth(at) == Some("✅")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_the_menu_of_exactly_the_commands_its_permissions_allow() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    h.province_above_sample().await;
    // Before anyone joins: the default menu, for the unbound.
    assert!(
        h.fake
            .wait_until(Duration::from_secs(10), |f| f.menu(None).is_some())
            .await
    );
    assert_eq!(h.fake.menu(None).unwrap(), ["start", "help"]);

    let (d1, s1) = (sample::district_code(0), sample::school_code(0));
    let mut table = String::from("| role | menu |\n|---|---|\n");
    let mut people = Vec::new();
    for role in Role::ALL {
        let unit = match role {
            Role::CityAdmin | Role::CityReviewer => sample::CITY_CODE.to_string(),
            Role::ProvinceViewer => PROVINCE.to_string(),
            r if r.fits(exam_review_bot::domain::UnitKind::District) => d1.clone(),
            _ => s1.clone(),
        };
        let user = if role == Role::HomeroomTeacher {
            h.join_class(role, &unit, "九年级1班", role.label()).await
        } else {
            h.join(role, &unit, role.label()).await
        };
        people.push((role, user));
        table.push_str(&format!(
            "| {} | {} |\n",
            role.slug(),
            expected(role).replace(' ', ", ")
        ));
    }
    for (role, user) in &people {
        let want: Vec<&str> = expected(*role).split(' ').collect();
        let id = user.id;
        let set = h
            .fake
            .wait_until(Duration::from_secs(10), |f| f.menu(Some(id)).is_some())
            .await;
        assert!(set, "{role} got no menu");
        assert_eq!(h.fake.menu(Some(id)).unwrap(), want, "{role}'s menu");
        // /help lists the same commands.
        user.send("/help");
        let help = h.expect(user, "本帮助").await;
        let listed: Vec<&str> = help
            .lines()
            .filter_map(|l| l.strip_prefix('/'))
            .map(|l| l.split([' ', '—']).next().unwrap().trim())
            .collect();
        assert_eq!(listed, want, "{role}'s /help");
    }

    // The menus agree with the permission matrices.
    let readme = readme();
    for role in Role::ALL {
        let menu = expected(role);
        let has = |c: &str| menu.split(' ').any(|m| m == c);
        let review = "| role | seat | file |";
        let entry = "| role | seat | see batch |";
        assert_eq!(
            has("review"),
            matrix_allows(&readme, review, role, "file"),
            "{role}"
        );
        assert_eq!(
            has("request"),
            matrix_allows(&readme, review, role, "see"),
            "{role}"
        );
        assert_eq!(
            has("batch"),
            matrix_allows(&readme, review, role, "上报"),
            "{role}"
        );
        assert_eq!(
            has("export"),
            matrix_allows(&readme, review, role, "status"),
            "{role}"
        );
        assert_eq!(
            has("publish"),
            matrix_allows(&readme, review, role, "publish"),
            "{role}"
        );
        assert_eq!(
            has("lift"),
            matrix_allows(&readme, entry, role, "lift 缺考"),
            "{role}"
        );
        assert_eq!(
            has("status"),
            matrix_allows(&readme, review, role, "status")
                || matrix_allows(&readme, entry, role, "see batch")
                // The province's board lists cities, not a request's schools (`cities.rs`).
                || role == Role::ProvinceViewer,
            "{role}"
        );
    }
    assert!(
        readme.contains(&table),
        "docs/permissions.md's command menus differ from the tested ones; they are:\n{table}"
    );

    // Revoked: the chat's own menu is dropped, and the default one shows again.
    let (_, principal) = people.iter().find(|(r, _)| *r == Role::Principal).unwrap();
    h.app.revoke(principal.id, None, None).await.unwrap();
    let id = principal.id;
    assert!(
        h.fake
            .wait_until(Duration::from_secs(10), |f| f.menu(Some(id)).is_none())
            .await,
        "the revoked principal's menu is gone"
    );
    h.stop().await;
}
