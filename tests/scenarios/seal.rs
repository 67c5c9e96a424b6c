//! 加密封存 (附件4 二.5): once the whole review has ended (the window closed, every request with
//! its result) a bound 纪检监督 seals the score library with a passphrase only they keep; the
//! archive opens with it and nothing else, holds the same rows, and while the seal is in force
//! no score changes. The archive is then the record: the season's personal data and scores
//! leave the live database, and the bot says the season is sealed. Lifting it takes the
//! archive, its passphrase and a city admin's written reason, and puts the rows back.

use crate::cast::state_of;
use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::app::seal::open_seal;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use exam_review_bot::store::audit_chain::Verdict;
use exam_review_bot::store::candidates::{self, Candidate};
use exam_review_bot::store::seals::Line;
use fake_telegram::Sent;
use std::process::Command;
use std::time::Instant;

async fn all_candidates(h: &Harness) -> Vec<Candidate> {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    candidates::all(&mut conn, season.id).await.unwrap()
}

/// A request already at the city's 复审, with the group's result (one point more) recorded.
async fn at_the_recheck(h: &Harness, pupil: &Candidate) -> i64 {
    let id = filed_by_user_1(h, pupil).await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query(
        "UPDATE review_requests SET state = 'rechecking', step = 2, result_kind = 'corrected',
                result_score = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(pupil.score + 10)
    .execute(&mut *conn)
    .await
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_seals_the_library_and_nothing_changes_a_score_until_it_is_lifted() {
    let mut h = Harness::start().await;
    h.sample_city().await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "周主任").await;
    let reviewer = h
        .join(Role::CityReviewer, sample::CITY_CODE, "复审 甲")
        .await;
    let pupil = all_candidates(&h).await.remove(0);
    let waiting = at_the_recheck(&h, &pupil).await;
    let inspector = h
        .join(Role::Inspector, &sample::district_code(0), "区纪检 周")
        .await;
    let archive = h.dir().join("season.age");
    let pass = "correct horse battery staple";

    // Not while requests may still be filed.
    let early = h.app.seal(&archive, "区纪检 周", &secret(pass)).await;
    assert!(early.err().unwrap().to_string().contains("not closed"));
    assert!(!archive.exists());

    // Published 2023-04-29 → the window closed at 24:00 on May 2; the city admin closes the
    // review, but one request is still with the city's 复审: the whole review has not ended.
    h.clock.set(shanghai(2023, 5, 3, 9, 0));
    let still = h.app.seal(&archive, "区纪检 周", &secret(pass)).await;
    assert!(still.err().unwrap().to_string().contains("/close"));
    admin.send("/close");
    h.expect(&admin, "已结束本季成绩复核").await;
    let open = h.app.seal(&archive, "区纪检 周", &secret(pass)).await;
    assert!(
        open.err()
            .unwrap()
            .to_string()
            .contains("1 review requests are still open"),
        "a request is open"
    );
    let card = Sent {
        message_id: 1,
        chat_id: reviewer.id,
        text: String::new(),
        document: None,
        file_id: None,
        reply_markup: None,
        edits: 0,
        at: Instant::now(),
        deleted: false,
    };
    reviewer.press_data(&card, &format!("rv:{waiting}:rc1:ok"));
    h.settle().await;
    assert_eq!(state_of(&h, waiting).await, "completed");

    // Only a bound 纪检监督 seals, named as bound.
    for stranger in ["周主任", "某人"] {
        let refused = h.app.seal(&archive, stranger, &secret(pass)).await;
        assert!(
            refused
                .err()
                .unwrap()
                .to_string()
                .contains("no 纪检监督 named"),
            "{stranger}"
        );
    }
    assert!(!archive.exists());
    let library = all_candidates(&h).await;
    let sealed = h
        .app
        .seal(&archive, "区纪检 周", &secret(pass))
        .await
        .unwrap();
    assert_eq!(sealed.candidates, CANDIDATES);
    // The archive is the record: the live database keeps none of the season's personal data
    // or scores.
    assert_eq!(sealed.purged["candidates"], CANDIDATES as u64);
    assert_eq!(sealed.purged["review_requests"], 1);
    let season = h.app.cli_season().await.unwrap().unwrap();
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    assert_eq!(
        exam_review_bot::store::purge::remaining(&mut conn, season.id)
            .await
            .unwrap(),
        0
    );
    for (table, column) in [("outbox", "body"), ("audit_chain", "detail")] {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%' || $1 || '%'"
        )))
        .bind(&pupil.id_card)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} holds a 身份证号");
    }
    drop(conn);
    h.expect(&inspector, "已加密封存").await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let notice = h.expect(&admin, "已加密封存").await;
    assert!(
        notice.contains("区纪检 周") && notice.contains(&sealed.sha256),
        "{notice}"
    );
    assert!(
        h.fake.all_sent().iter().all(|m| !m.text.contains(pass)),
        "the passphrase goes nowhere"
    );
    let again = h
        .app
        .seal(&h.dir().join("second.age"), "区纪检 周", &secret(pass))
        .await;
    assert!(again.err().unwrap().to_string().contains("sealed already"));

    // It opens with the passphrase and nothing else, and holds the same rows.
    let wrong = open_seal(&archive, &h.dir().join("w"), &secret("not the passphrase"));
    assert!(
        wrong
            .err()
            .unwrap()
            .to_string()
            .contains("wrong passphrase")
    );
    let opened = open_seal(&archive, &h.dir().join("opened"), &secret(pass)).unwrap();
    assert_eq!(opened.header.sealed_by, "区纪检 周");
    assert_eq!(opened.rows["candidates"], CANDIDATES);
    assert_eq!(opened.rows["review_requests"], 1);
    assert!(
        matches!(opened.chain, Verdict::Intact { .. }),
        "{}",
        opened.chain
    );
    let text = std::fs::read_to_string(h.dir().join("opened/candidates.jsonl")).unwrap();
    let rows: Vec<Candidate> = text
        .lines()
        .map(|l| match serde_json::from_str::<Line>(l).unwrap() {
            Line::Candidates(c) => c,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(rows, library);

    // From the terminal too: a wrong passphrase is a clear error and a non-zero exit.
    std::fs::write(h.dir().join("wrong.txt"), "not the passphrase\n").unwrap();
    let out = Command::new(binary())
        .args(["seal", "open"])
        .arg(&archive)
        .args(["--out", "cli-opened", "--passphrase-file", "wrong.txt"])
        .env("DATABASE_URL", &h.db.url)
        .env("RUST_LOG", "warn")
        .current_dir(h.dir())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("wrong passphrase"),
        "{said}"
    );
    assert!(!said.contains("not the passphrase"), "{said}");

    // The bot says the season is sealed rather than that nothing is there.
    admin.send("/status");
    h.expect(&admin, "考生信息与成绩已移出机器人").await;
    admin.send("/request 1");
    h.expect(&admin, "考生信息与成绩已移出机器人").await;

    // Sealed: no import; nothing changes.
    let before = all_candidates(&h).await;
    let file = h.write("scores.csv", sample::scores_csv(3, SCHOOLS, 99).as_bytes());
    let refused = h.app.import_scores(&file).await.err().unwrap().to_string();
    assert!(
        refused.contains("sealed") && refused.contains("区纪检 周"),
        "{refused}"
    );
    h.settle().await;
    assert_eq!(all_candidates(&h).await, before);

    // Lifting takes this archive, its passphrase, the inspector and a city admin's written
    // reason; the archived rows come back.
    let lift = |archive: &std::path::Path, by: &str, pass: &str, admin: &str, reason: &str| {
        let (archive, by, pass, admin, reason) = (
            archive.to_path_buf(),
            by.to_string(),
            secret(pass),
            admin.to_string(),
            reason.to_string(),
        );
        let app = h.app.clone();
        async move {
            let lift = exam_review_bot::app::seal::Lift {
                by: &by,
                passphrase: &pass,
                approved_by: &admin,
                reason: &reason,
            };
            app.lift_seal(&archive, &lift)
                .await
                .err()
                .map(|e| format!("{e:#}"))
        }
    };
    let reason = "省招办要求核对一名考生的成绩";
    let other = h.dir().join("other.age");
    std::fs::write(&other, b"age-encryption.org/v1\n").unwrap();
    let not_it = lift(&other, "区纪检 周", pass, "周主任", reason).await;
    assert!(not_it.unwrap().contains("not the archive"));
    let wrong = lift(
        &archive,
        "区纪检 周",
        "not the passphrase",
        "周主任",
        reason,
    )
    .await;
    assert!(wrong.unwrap().contains("wrong passphrase"));
    let no_reason = lift(&archive, "区纪检 周", pass, "周主任", " ").await;
    assert!(no_reason.unwrap().contains("written reason"));
    let no_admin = lift(&archive, "区纪检 周", pass, "复审 甲", reason).await;
    assert!(
        no_admin.unwrap().contains("no 市级管理员 named"),
        "an admin decides"
    );
    let no_inspector = lift(&archive, "周主任", pass, "周主任", reason).await;
    assert!(no_inspector.unwrap().contains("no 纪检监督 named"));
    assert!(all_candidates(&h).await.is_empty(), "nothing came back");
    assert_eq!(
        lift(&archive, "区纪检 周", pass, "周主任", reason).await,
        None
    );
    let notice = h.expect(&admin, "封存已解除").await;
    assert!(notice.contains(reason), "{notice}");
    assert_eq!(
        all_candidates(&h).await,
        library,
        "the archived rows are back"
    );
    assert_eq!(state_of(&h, waiting).await, "completed");

    // The chain holds both, intact.
    let verdict = h.app.verify_audit().await.unwrap();
    assert!(matches!(verdict, Verdict::Intact { .. }), "{verdict}");
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_chain WHERE action IN ('seal', 'seal-lift')")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(n, 2);
    drop(conn);
    h.stop().await;
}
