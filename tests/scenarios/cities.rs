//! Many cities in one deployment: a province runs every city's exam on one bot and
//! one database. Each city has its own season, its own people and its own data, and nothing of
//! one city reaches another city's people.

use crate::cast::{file, state_of};
use crate::support::*;
use exam_review_bot::app::{Actor, App};
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_telegram::FakeUser;

/// The second city: the sample city's shape under its own codes and names.
pub(crate) const B_CITY: &str = "8800";
pub(crate) const B_NAME: &str = "绿水市";

/// A district or school code of city B (D001 → E001, S00001 → T00001).
pub(crate) fn b_code(code: &str) -> String {
    code.replacen('D', "E", 1).replacen('S', "T", 1)
}

/// City B's units file, under the province: the sample's tree renamed (every name starts with
/// 绿水市).
fn b_units() -> String {
    let units: Vec<sample::SampleUnit> = sample::units(DISTRICTS, SCHOOLS)
        .into_iter()
        .map(|u| sample::SampleUnit {
            code: if u.code == sample::CITY_CODE {
                B_CITY.into()
            } else {
                b_code(&u.code)
            },
            name: format!("{B_NAME}{}", u.name.replace(sample::CITY_NAME, "")),
            parent: match u.parent.as_str() {
                "" => PROVINCE.into(),
                p if p == sample::CITY_CODE => B_CITY.into(),
                p => b_code(p),
            },
            ..u
        })
        .collect();
    sample::units_csv(&units)
}

/// City B's scores: the sample's candidates (the same 准考证号 as city A's) in B's schools.
fn b_scores() -> String {
    sample::scores_csv(CANDIDATES, SCHOOLS, 11)
        .lines()
        .map(|line| line.replace(",S0", ",T0"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The App as a command line run with `--city`.
fn in_city(app: &App, city: &str) -> App {
    let mut app = app.clone();
    app.cli_city = Some(city.into());
    app
}

/// Everything a person received, visible text and file names, as one string.
fn everything_to(h: &Harness, user: &FakeUser) -> String {
    h.fake
        .messages_to(user.id)
        .iter()
        .map(|m| {
            let file = m.document.as_ref().map_or("", |(name, _)| name.as_str());
            format!("{}\n{file}\n", m.visible_text())
        })
        .collect()
}

/// City A is the sample city, set up as a one-city deployment is (no --city anywhere); then
/// city B joins the province's deployment: its units from the province's terminal, then its
/// own season and scores, each command naming the city. The Apps of each city's terminal.
pub(crate) async fn two_cities(h: &Harness) -> (App, App) {
    h.sample_city().await;
    h.province_above_sample().await;
    let units = h.write("units-b.csv", b_units().as_bytes());
    h.app.import_units(&units).await.unwrap();
    let a = in_city(&h.app, sample::CITY_CODE);
    let b = in_city(&h.app, B_CITY);
    let last_exam_day = chrono::NaiveDate::from_ymd_opt(2023, 4, 28).unwrap();
    b.set_season(2023, last_exam_day, chrono_tz::Asia::Shanghai, 30)
        .await
        .unwrap();
    let scores = h.write("scores-b.csv", b_scores().as_bytes());
    b.import_scores(&scores).await.unwrap();
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_admin_of_city_a_sees_nothing_of_city_b() {
    let mut h = Harness::start().await;
    let (a, b) = two_cities(&h).await;
    // With two cities a command that names none is refused, and says how to name one.
    let err = h.app.publish(Actor::Cli, None).await.unwrap_err();
    assert!(format!("{err:#}").contains("--city"), "{err:#}");

    let admin_a = h
        .join(Role::CityAdmin, sample::CITY_CODE, "甲市 周主任")
        .await;
    let admin_b = h.join(Role::CityAdmin, B_CITY, "乙市 钱主任").await;
    let school_a = sample::school_code(0);
    let school_b = b_code(&school_a);
    let contact_a = h.join(Role::SchoolContact, &school_a, "甲校 联系人").await;
    let contact_b = h.join(Role::SchoolContact, &school_b, "乙校 联系人").await;
    // Each city publishes its own scores, to its own schools.
    a.publish(Actor::Cli, None).await.unwrap();
    b.publish(Actor::Cli, None).await.unwrap();
    h.settle().await;
    assert!(everything_to(&h, &contact_a).contains("成绩通知"));
    assert!(everything_to(&h, &contact_b).contains(&format!("{B_NAME}东湖区第1中学")));

    // The same 准考证号 is a candidate of each city; each school files for its own.
    let exam_no = {
        let season = a.cli_season().await.unwrap().unwrap();
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        exam_review_bot::store::candidates::of_school(&mut conn, season.id, &school_a)
            .await
            .unwrap()[0]
            .exam_no
            .clone()
    };
    let id_b = file(&h, &contact_b, &exam_no, "漏评").await;
    // B's principal is not bound yet: B's admins hear of it, A's do not.
    h.expect(&admin_b, &format!("申请 #{id_b}")).await;
    let id_a = file(&h, &contact_a, &exam_no, "合分错误").await;
    h.expect(&admin_a, &format!("申请 #{id_a}")).await;
    assert_ne!(id_a, id_b);

    // A's admin asks after B's request: it does not exist for them.
    admin_a.send(&format!("/request {id_b}"));
    h.expect(&admin_a, "找不到").await;
    admin_b.send(&format!("/request {id_b}"));
    h.expect(&admin_b, "复核申请").await;
    // Their board counts their own city's one request, and their own schools.
    admin_a.send("/status");
    let board = h.expect(&admin_a, "考试季").await;
    assert!(board.contains(&format!("学校 {SCHOOLS} 所")), "{board}");
    // Another city's units are not A's to list or to invite into.
    admin_a.send(&format!("/people {school_b}"));
    h.expect(&admin_a, "没有权限").await;
    // One account works in one city: A's admin cannot take a role in B with an invite, and
    // the invite stays good for the person it was meant for.
    let link = h
        .app
        .invite(Role::Principal, &school_b, "乙校 校长", None)
        .await
        .unwrap();
    let code = link.rsplit('=').next().unwrap().to_string();
    admin_a.send(&format!("/start {code}"));
    h.expect(&admin_a, "不能再绑定其他市").await;
    let principal_b = h.fake.user(777_777, "乙校 校长");
    principal_b.send(&format!("/start {code}"));
    h.expect(&principal_b, "绑定成功").await;
    // The province's office sees both cities' boards, and opens neither city's requests.
    let province = h
        .join(Role::ProvinceViewer, PROVINCE, "省教育厅 孙处长")
        .await;
    province.send("/status");
    let board = h.expect(&province, "各市考试季").await;
    assert!(
        board.contains(sample::CITY_NAME) && board.contains(B_NAME),
        "{board}"
    );
    assert!(board.contains("复核申请 1 件"), "{board}");
    province.send(&format!("/request {id_b}"));
    h.expect(&province, "找不到").await;
    // A's admin cannot pull B's school into A with a units file sent in chat: the row is
    // refused and B's school stays B's.
    let grab = format!(
        "{}\n{school_b},被移走的学校,学校,{},\n",
        sample::UNITS_HEADER.join(","),
        sample::district_code(0)
    );
    admin_a.send_sheet("grab", "units.csv", grab.into_bytes());
    let refused = h.expect(&admin_a, "未导入").await;
    assert!(refused.contains("只能导入本市的单位"), "{refused}");
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let still = exam_review_bot::store::units::get(&mut conn, &school_b)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert_eq!(still.city_code, B_CITY);
    assert!(still.name.starts_with(B_NAME));
    // A day of reminders: each city's digests to its own people.
    let at = shanghai(2023, 4, 30, 8, 0);
    h.clock.set(at);
    h.sweep(at).await;
    h.settle().await;

    // Nothing of B ever reached A's people, and nothing of A reached B's.
    for person in [&admin_a, &contact_a] {
        let seen = everything_to(&h, person);
        assert!(
            !seen.contains(B_NAME) && !seen.contains(&format!("#{id_b}（")),
            "city A's person saw city B:\n{}",
            h.fake.transcript(person.id)
        );
    }
    for person in [&admin_b, &contact_b] {
        let seen = everything_to(&h, person);
        assert!(
            !seen.contains(sample::CITY_NAME) && !seen.contains("东湖区第1中学（"),
            "city B's person saw city A:\n{}",
            h.fake.transcript(person.id)
        );
    }
    h.stop().await;
}

/// The button labels of the last message to `user` that says `needle`, as one string.
fn labels(h: &Harness, user: &FakeUser, needle: &str) -> String {
    let message = h
        .fake
        .messages_to(user.id)
        .into_iter()
        .rfind(|m| m.text.contains(needle))
        .unwrap();
    let labels: Vec<String> = message.buttons().into_iter().map(|(l, _)| l).collect();
    labels.join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_city_reviews_on_the_route_its_own_rules_set() {
    // City B's 实施细则 keep a district level and one city-wide group
    // (`[cities.8800.review]`); city A runs the deployment's route, the documents' one.
    let mut h = Harness::start_with(|config| {
        let mut b = exam_review_bot::config::Config::default();
        city_wide_group(&mut b);
        config.cities.insert(
            B_CITY.into(),
            exam_review_bot::config::CityRules {
                review: Some(b.review),
                ..Default::default()
            },
        );
    })
    .await;
    let (a, b) = two_cities(&h).await;
    // B's section names a city of the units; a section under a mistyped code is reported
    // (the command line warns of it at every start).
    assert!(h.app.unknown_city_sections().await.unwrap().is_empty());
    let mut typo = h.app.clone();
    let mut config = (*typo.config).clone();
    let own = config.cities.remove(B_CITY).unwrap();
    config.cities.insert("8080".into(), own);
    typo.config = std::sync::Arc::new(config);
    assert_eq!(typo.unknown_city_sections().await.unwrap(), ["8080"]);
    let school_a = sample::school_code(0);
    let school_b = b_code(&school_a);
    let district_a = sample::district_code(0);
    let district_b = b_code(&district_a);
    // One candidate of each city's first school, the same 准考证号 in both.
    let pupil = {
        let season = a.cli_season().await.unwrap().unwrap();
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        exam_review_bot::store::candidates::of_school(&mut conn, season.id, &school_a)
            .await
            .unwrap()
            .remove(0)
    };
    let class = pupil.class_name.clone();
    let mut cast = Vec::new();
    for (school, district, who) in [
        (&school_a, &district_a, "甲"),
        (&school_b, &district_b, "乙"),
    ] {
        cast.push((
            h.join(Role::SchoolContact, school, &format!("{who}校 联系人"))
                .await,
            h.join_class(
                Role::HomeroomTeacher,
                school,
                &class,
                &format!("{who}校 班主任"),
            )
            .await,
            h.join(Role::Principal, school, &format!("{who}校 校长"))
                .await,
            h.join(Role::DistrictOfficer, district, &format!("{who}区 科长"))
                .await,
        ));
    }
    a.publish(Actor::Cli, None).await.unwrap();
    b.publish(Actor::Cli, None).await.unwrap();
    h.settle().await;
    let mut ids = Vec::new();
    for (contact, teacher, principal, _) in &cast {
        let id = file(&h, contact, &pupil.exam_no, "漏评").await;
        h.expect(teacher, &format!("#{id}")).await;
        teacher.press("✅ 同意");
        h.expect(principal, &format!("#{id}")).await;
        principal.press("✅ 同意");
        ids.push(id);
    }
    // B's request climbs to its district's level, whose officer may also 驳回 it ...
    let officer_b = &cast[1].3;
    let card = h.expect(officer_b, &format!("#{}", ids[1])).await;
    assert!(card.contains("待您审核"), "{card}");
    assert!(labels(&h, officer_b, "待您审核").contains("驳回"));
    // ... while A's goes from the principal straight to its district's review group, and A's
    // district officer is asked nothing.
    h.settle().await;
    assert_eq!(state_of(&h, ids[0]).await, "recording");
    assert_eq!(state_of(&h, ids[1]).await, "pending");
    let officer_a = &cast[0].3;
    assert!(
        h.fake
            .messages_to(officer_a.id)
            .iter()
            .all(|m| !m.text.contains(&format!("#{}", ids[0]))),
        "{}",
        h.fake.transcript(officer_a.id)
    );
    // The route is each city's in the menus too: B's officer invites no review group (B's is
    // the city's), A's invites their district's.
    for (officer, groups) in [(officer_a, true), (officer_b, false)] {
        officer.send("/invite");
        h.expect(officer, "邀请人员").await;
        let roles = labels(&h, officer, "邀请人员");
        assert_eq!(roles.contains("主监考代表"), groups, "{roles}");
        assert!(roles.contains("班主任"), "{roles}");
    }
    h.stop().await;
}

/// `exam-review-bot simulate` at its smallest: two cities of a province file their review
/// bursts at once and every request is carried through the whole route to its result, with
/// the bot inside Telegram's limits throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_province_plays_its_whole_season_at_once() {
    use exam_review_bot::simulate::province::{Options, run};
    let db = TestDb::new().await;
    let opts = Options {
        cities: 2,
        candidates: 40,
        requests: 8,
        schools: 2,
        bots: 1,
        instances: 1,
        database_url: Some(db.url.clone()),
        limit: std::time::Duration::from_secs(600),
    };
    let report = run(&opts, db.dir.path()).await.unwrap();
    assert!(report.finished, "{report}");
    assert_eq!(report.requests, 8, "{report}");
    assert_eq!(report.completed, 8, "{report}");
    assert_eq!(
        (report.over_overall, report.over_per_chat),
        (0, 0),
        "{report}"
    );
}
