//! The official records offices file: 附件6 复核汇总表, one per district and one per
//! city-direct school (附件6 注2) and the city's combined table, from the terminal and in chat.

use crate::support::*;
use exam_review_bot::app::records::FileKind;
use exam_review_bot::domain::Role;
use exam_review_bot::export::review_summary::{COLUMNS, stamp_line, title};
use exam_review_bot::sample;
use exam_review_bot::store::candidates::Candidate;
use std::process::Command;

/// A request for `pupil`, then set by hand to `state` with `result` (tenths) where given: the
/// records read what the review left, however it got there.
async fn request(h: &Harness, pupil: &Candidate, state: &str, result: Option<(&str, i64)>) -> i64 {
    let id = filed_by_user_1(h, pupil).await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (kind, score) = result.map_or((None, None), |(k, s)| (Some(k), Some(s)));
    sqlx::query(
        "UPDATE review_requests SET state = $2, result_kind = $3, result_score = $4,
                result_category = $5, result_note = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(kind)
    .bind(score)
    .bind(kind.filter(|k| *k == "corrected").map(|_| "漏评"))
    .bind(result.map(|_| "核对"))
    .execute(&mut *conn)
    .await
    .unwrap();
    id
}

/// The names listed in a table's lines (rows with a 序号).
fn names(rows: &[Vec<String>]) -> Vec<String> {
    rows[3..]
        .iter()
        .filter(|r| r[0].parse::<u32>().is_ok())
        .map(|r| r[2].clone())
        .collect()
}

fn points(tenths: i64) -> String {
    (tenths as f64 / 10.0).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_district_and_city_direct_school_has_its_own_summary_and_the_city_all_of_them() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    h.app
        .publish(exam_review_bot::app::Actor::Cli, None)
        .await
        .unwrap();
    // Schools 0 and 2 are in district 0 (东湖区), school 1 in district 1, the last city-direct.
    let s0 = h.school_candidates(&sample::school_code(0)).await;
    let s2 = h.school_candidates(&sample::school_code(2)).await;
    let s1 = h.school_candidates(&sample::school_code(1)).await;
    let direct = h.school_candidates(&sample::school_code(SCHOOLS - 1)).await;
    // A name as a clerk might type it, with what HTML, CSV and Excel each take for their own.
    let odd = "=SUM(A1)<b>&\"李\"😀";
    {
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        sqlx::query("UPDATE candidates SET name = $2 WHERE id = $1")
            .bind(s2[0].id)
            .bind(odd)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let corrected = s0[0].score + 10;
    request(&h, &s0[0], "completed", Some(("corrected", corrected))).await;
    request(&h, &s2[0], "pending", None).await;
    request(&h, &s0[1], "withdrawn", None).await;
    // Refiled after a 驳回 (where a city allows one): one line, the latest request's.
    request(&h, &s0[2], "rejected", None).await;
    request(&h, &s0[2], "reporting", Some(("kept", s0[2].score))).await;
    request(&h, &s1[0], "rechecking", Some(("kept", s1[0].score))).await;
    request(&h, &direct[0], "completed", Some(("kept", direct[0].score))).await;

    // 东湖区's table: exactly its candidates with requests, in the form's header.
    let d0 = h
        .app
        .export_review_summary(&sample::district_code(0), FileKind::Xlsx)
        .await
        .unwrap();
    let rows = h.cells(&d0.bytes);
    assert_eq!(rows[0][0], title(2023, sample::CITY_NAME));
    assert_eq!(rows[1][0], stamp_line("东湖区"));
    assert_eq!(rows[2], COLUMNS.map(String::from).to_vec());
    assert_eq!(
        names(&rows),
        [s0[0].name.clone(), odd.to_string(), s0[2].name.clone()],
        "{rows:?}"
    );
    assert_eq!(d0.lines, 3);
    let first = &rows[3];
    assert_eq!(
        first[3..9],
        [
            s0[0].reg_no.clone(),
            s0[0].exam_no.clone(),
            s0[0].sitting(),
            points(s0[0].score),
            points(corrected),
            "更正：漏评；核对".to_string(),
        ]
    );
    let pending = &rows[4];
    assert_eq!(
        (pending[7].as_str(), pending[8].as_str()),
        ("", "复核中"),
        "no 复核后成绩 before the group has signed"
    );
    assert_eq!(
        rows[5][7],
        points(s0[2].score),
        "signed: 维持, the same score"
    );

    // The city-direct school's: its own candidate only.
    let d = h
        .app
        .export_review_summary(&sample::school_code(SCHOOLS - 1), FileKind::Xlsx)
        .await
        .unwrap();
    assert_eq!(names(&h.cells(&d.bytes)), [direct[0].name.clone()]);
    // A school of a district reports with its district.
    let refused = h
        .app
        .export_review_summary(&sample::school_code(0), FileKind::Xlsx)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("reports with its district"), "{refused}");

    // The city's: every unit's lines under its heading, the city on the 盖章 line.
    let city = h
        .app
        .export_review_summary(sample::CITY_CODE, FileKind::Xlsx)
        .await
        .unwrap();
    let rows = h.cells(&city.bytes);
    assert_eq!(rows[1][0], stamp_line(sample::CITY_NAME));
    let headings: Vec<&str> = rows[3..]
        .iter()
        .filter(|r| r[0].contains("人）"))
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(headings.len(), 3, "{headings:?}");
    assert_eq!(headings[0], "东湖区（3 人）");
    assert_eq!(city.lines, 5);

    // The same as .csv: UTF-8 with a BOM, and a cell Excel would compute kept as text.
    let csv = h
        .app
        .export_review_summary(&sample::district_code(0), FileKind::Csv)
        .await
        .unwrap();
    assert!(csv.bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(csv.bytes[3..].to_vec()).unwrap();
    assert!(text.starts_with(&title(2023, sample::CITY_NAME)), "{text}");
    assert!(text.contains(&COLUMNS.join(",")), "{text}");
    assert!(
        text.contains("\"'=SUM(A1)<b>&\"\"李\"\"😀\""),
        "verbatim behind the quote: {text}"
    );

    // In chat: 东湖区's officer gets 东湖区's table; a school's contact gets none.
    let officer = h
        .join(
            Role::DistrictOfficer,
            &sample::district_code(0),
            "东湖区 赵科长",
        )
        .await;
    let contact = h
        .join(Role::SchoolContact, &sample::school_code(0), "一中 联系人")
        .await;
    officer.send("/export");
    h.expect(&officer, "东湖区 · 附件6 复核汇总表（3 人）")
        .await;
    let sent = h
        .fake
        .messages_to(officer.id)
        .into_iter()
        .find_map(|m| m.document)
        .unwrap();
    assert_eq!(sent.0, "附件6_复核汇总表_东湖区.xlsx");
    assert_eq!(names(&h.cells(&sent.1)), names(&h.cells(&d0.bytes)));
    contact.send("/export");
    h.expect(&contact, "没有权限").await;

    // From the terminal, to a file of its own.
    let out = Command::new(binary())
        .args([
            "export",
            "review-summary",
            "--unit",
            &sample::district_code(1),
            "--out",
            "d1.csv",
        ])
        .env("DATABASE_URL", &h.db.url)
        .env("RUST_LOG", "warn")
        .current_dir(h.dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let written = std::fs::read(h.dir().join("d1.csv")).unwrap();
    assert!(String::from_utf8_lossy(&written).contains(&s1[0].exam_no));

    // The review closes: not before the window ends; the sweep leaves it open while requests
    // are; the city admin closes it, and every office receives its own 附件6, once.
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    admin.send("/close");
    h.expect(&admin, "尚未截止").await;
    let after = shanghai(2023, 5, 3, 9, 0);
    h.clock.set(after);
    let report = h.sweep(after).await;
    assert!(
        report.sent.iter().all(|(k, _)| k != "review-closed"),
        "{report:?}"
    );
    admin.send("/close");
    h.expect(&admin, "已结束本季成绩复核").await;
    let told = h.expect(&officer, "成绩复核已结束").await;
    assert!(
        told.contains("东湖区的附件6") && told.contains("仍有"),
        "{told}"
    );
    let theirs = h
        .fake
        .messages_to(officer.id)
        .into_iter()
        .rev()
        .find_map(|m| m.document)
        .unwrap();
    assert_eq!(names(&h.cells(&theirs.1)), names(&h.cells(&d0.bytes)));
    let city_table = h
        .fake
        .messages_to(admin.id)
        .into_iter()
        .find_map(|m| m.document)
        .unwrap();
    assert_eq!(city_table.0, "附件6_复核汇总表_青山市.xlsx");
    admin.send("/close");
    h.expect(&admin, "已经结束").await;
    h.settle().await;
    let docs = h
        .fake
        .messages_to(officer.id)
        .iter()
        .filter(|m| m.document.is_some())
        .count();
    assert_eq!(
        docs, 2,
        "the /export and the closing one, not a second closing"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_every_request_has_ended_after_the_window_the_review_closes_by_itself() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    h.app
        .publish(exam_review_bot::app::Actor::Cli, None)
        .await
        .unwrap();
    let officer = h
        .join(
            Role::DistrictOfficer,
            &sample::district_code(0),
            "东湖区 赵科长",
        )
        .await;
    let pupil = h.school_candidates(&sample::school_code(0)).await.remove(0);
    request(&h, &pupil, "completed", Some(("kept", pupil.score))).await;
    let after = shanghai(2023, 5, 3, 0, 1);
    h.clock.set(after);
    let report = h.sweep(after).await;
    assert!(
        report
            .sent
            .iter()
            .any(|(k, n)| k == "review-closed" && *n >= 1),
        "{report:?}"
    );
    let told = h.expect(&officer, "成绩复核已结束").await;
    assert!(told.contains("（1 人）"), "{told}");
    let again = h.sweep(after + chrono::Duration::minutes(1)).await;
    assert!(again.sent.iter().all(|(k, _)| k != "review-closed"));
    h.stop().await;
}
