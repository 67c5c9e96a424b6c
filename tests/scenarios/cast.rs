//! The people the review stories share: a published season of the sample city, a school's
//! contact, teacher and principal, the district's officer and group, the city's reviewers and
//! inspector, and the city-direct school's people (`Cast`); and what they do most often (file a
//! request, read where it stands).

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::config::Config;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::candidates::{self, Candidate};
use fake_telegram::{FakeTelegram, FakeUser};
use std::time::Duration;

/// A published season and everyone a request meets on its way.
pub(crate) struct Cast {
    pub(crate) h: Harness,
    /// A candidate of school 0 (district 0) and one of the city-direct school.
    pub(crate) pupil: Candidate,
    pub(crate) direct_pupil: Candidate,
    pub(crate) contact: FakeUser,
    pub(crate) teacher: FakeUser,
    pub(crate) principal: FakeUser,
    pub(crate) officer: FakeUser,
    pub(crate) reviewer1: FakeUser,
    pub(crate) reviewer2: FakeUser,
    pub(crate) inspector: FakeUser,
    /// District 0's 复核小组 (附件4 二.4): 主监考代表, 纪检监督, 装备管理.
    pub(crate) proctor: FakeUser,
    pub(crate) district_inspector: FakeUser,
    pub(crate) equipment: FakeUser,
    /// The city-direct schools' group, bound at the city: 市直学校负责人 and 主监考代表, with
    /// the city's 纪检 (`inspector`).
    pub(crate) direct_head: FakeUser,
    pub(crate) city_proctor: FakeUser,
    pub(crate) direct_teacher: FakeUser,
    pub(crate) direct_principal: FakeUser,
    pub(crate) direct_contact: FakeUser,
}

pub(crate) async fn first_candidate(h: &Harness, school: &str) -> Candidate {
    h.school_candidates(school).await.remove(0)
}

/// The cast on the documents' route, unless `tune` changes the configuration.
pub(crate) async fn cast_with(tune: impl FnOnce(&mut Config)) -> Cast {
    let mut h = Harness::start_with(tune).await;
    h.sample_city().await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    let school = sample::school_code(0);
    let direct = sample::school_code(SCHOOLS - 1);
    let pupil = first_candidate(&h, &school).await;
    let direct_pupil = first_candidate(&h, &direct).await;
    let contact = h.join(Role::SchoolContact, &school, "一中 联系人").await;
    let teacher = h
        .join_class(
            Role::HomeroomTeacher,
            &school,
            &pupil.class_name,
            "班主任 王老师",
        )
        .await;
    let principal = h.join(Role::Principal, &school, "校长 李校长").await;
    let officer = h
        .join(
            Role::DistrictOfficer,
            &sample::district_code(0),
            "东湖区 赵科长",
        )
        .await;
    let reviewer1 = h
        .join(Role::CityReviewer, sample::CITY_CODE, "复核组 甲")
        .await;
    let reviewer2 = h
        .join(Role::CityReviewer, sample::CITY_CODE, "复核组 乙")
        .await;
    let inspector = h.join(Role::Inspector, sample::CITY_CODE, "纪检 丙").await;
    let d0 = sample::district_code(0);
    let proctor = h.join(Role::ChiefProctorRep, &d0, "主监考代表 孙").await;
    let district_inspector = h.join(Role::Inspector, &d0, "区纪检 周").await;
    let equipment = h.join(Role::EquipmentOfficer, &d0, "装备管理 吴").await;
    let direct_head = h
        .join(
            Role::DirectSchoolHead,
            sample::CITY_CODE,
            "市直学校负责人 郑",
        )
        .await;
    let city_proctor = h
        .join(Role::ChiefProctorRep, sample::CITY_CODE, "市主监考代表 冯")
        .await;
    let direct_teacher = h
        .join_class(
            Role::HomeroomTeacher,
            &direct,
            &direct_pupil.class_name,
            "实验中学 班主任",
        )
        .await;
    let direct_principal = h.join(Role::Principal, &direct, "实验中学 校长").await;
    let direct_contact = h
        .join(Role::SchoolContact, &direct, "实验中学 联系人")
        .await;
    Cast {
        h,
        pupil,
        direct_pupil,
        contact,
        teacher,
        principal,
        officer,
        reviewer1,
        reviewer2,
        inspector,
        proctor,
        district_inspector,
        equipment,
        direct_head,
        city_proctor,
        direct_teacher,
        direct_principal,
        direct_contact,
    }
}

/// The filer walks the four steps of /review and submits; returns the request number.
pub(crate) async fn file(h: &Harness, filer: &FakeUser, exam_no: &str, reason: &str) -> i64 {
    file_through(&h.fake, h.patience, filer, exam_no, reason).await
}

/// `file`, through the bot of `fake` (a city's own bot, in a province with several).
pub(crate) async fn file_through(
    fake: &FakeTelegram,
    patience: Duration,
    filer: &FakeUser,
    exam_no: &str,
    reason: &str,
) -> i64 {
    let expect = |needle: &'static str| async move {
        fake.expect(filer.id, needle, patience)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    filer.send("/review");
    expect("准考证号").await;
    filer.send(exam_no);
    expect("的照片或 PDF").await;
    filer.send_photo(&format!("form-{exam_no}"));
    expect("申请理由").await;
    filer.send(reason);
    expect("联系方式").await;
    filer.send("13800001234");
    let summary = expect("请核对申请内容").await;
    assert!(
        summary.contains(&format!("本人申请理由：{reason}")),
        "{summary}"
    );
    filer.press("✅ 提交");
    let filed = expect("已提交").await;
    filed
        .split('#')
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

pub(crate) async fn state_of(h: &Harness, id: i64) -> String {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (state,): (String,) = sqlx::query_as("SELECT state FROM review_requests WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    state
}

pub(crate) async fn score_of(h: &Harness, candidate: i64) -> i64 {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    candidates::by_id(&mut conn, candidate)
        .await
        .unwrap()
        .unwrap()
        .score
}

/// No copy of any card still carries buttons once its stage is decided.
pub(crate) fn cards_closed(h: &Harness, users: &[&FakeUser], request: i64) {
    for u in users {
        for m in h.fake.messages_to(u.id) {
            if m.text.contains(&format!("#{request}")) {
                let live: Vec<_> = m
                    .buttons()
                    .into_iter()
                    .filter(|(_, d)| d.starts_with(&format!("rv:{request}:s")))
                    .collect();
                assert!(
                    live.is_empty(),
                    "chat {} still has {live:?} on:\n{}",
                    u.id,
                    m.visible_text()
                );
            }
        }
    }
}
