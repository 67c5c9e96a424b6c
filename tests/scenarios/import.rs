//! Offices send files; the city's clerk imports them. Bad rows are listed, nothing half-imported.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::sample;
use exam_review_bot::store::candidates;
use std::process::Command;

/// Runs the real binary against the test database.
fn cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .current_dir(db.dir.path())
        .output()
        .unwrap()
}

async fn all_candidates(h: &Harness) -> Vec<candidates::Candidate> {
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    candidates::all(&mut conn, season.id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_bad_rows_is_refused_whole_and_every_problem_is_named() {
    let h = Harness::start().await;
    h.sample_city().await;
    let before = all_candidates(&h).await;
    assert_eq!(before.len(), CANDIDATES);

    // The clerk's new file: a header and rows each with a different kind of mistake.
    let good = sample::scores_csv(3, SCHOOLS, 99);
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let row = |i: usize| lines[i].split(',').map(str::to_string).collect::<Vec<_>>();
    let mut bad_rows = Vec::new();
    let base = row(1);
    // Each bad row has its own 准考证号, so that only the intended mistake shows.
    let with = |col: usize, value: &str| {
        let mut r = base.clone();
        r[0] = format!("2099{:08}", col);
        r[col] = value.to_string();
        r.join(",")
    };
    let main_item: u32 = base[14].parse().unwrap();
    let other_main = if main_item == 16 { 15 } else { main_item + 1 }.to_string();
    let id = &base[6];
    let wrong_check = format!("{}{}", &id[..17], if id.ends_with('0') { '1' } else { '0' });
    bad_rows.push(with(6, &wrong_check)); // row 2: 身份证号 check digit (and so 学籍号)
    bad_rows.push(with(7, "X123")); // row 3: 学籍号 form
    bad_rows.push(with(4, "S99999")); // row 4: unknown school
    bad_rows.push(with(13, "31")); // row 5: score above full marks
    bad_rows.push(with(14, &other_main)); // row 6: items no longer add up to 成绩 (合分)
    bad_rows.push(with(9, "晚上")); // row 7: 午别
    bad_rows.push(row(2).join(",")); // row 8: fine
    bad_rows.push(row(2).join(",")); // row 9: duplicate 准考证号 of row 8
    lines.truncate(1);
    lines.extend(bad_rows);
    let file = h.write("bad.csv", (lines.join("\n") + "\n").as_bytes());

    let out = cli(&h.db, &["import", "scores", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a bad file must fail:\n{stderr}");
    for (row, column) in [
        (2, "身份证号"),
        (3, "学籍号"),
        (4, "学校代码"),
        (5, "成绩"),
        (6, "成绩"),
        (7, "午别"),
        (9, "准考证号"),
    ] {
        let line = format!("row {row}, column {column}");
        assert!(stderr.contains(&line), "expected {line:?} in:\n{stderr}");
    }
    assert!(stderr.contains("合分错误"), "{stderr}");
    assert!(stderr.contains("与第8行重复"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(!stderr.contains("row 8,"), "row 8 is fine:\n{stderr}");

    assert_eq!(
        all_candidates(&h).await,
        before,
        "the database must not change"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_gb18030_and_xlsx_give_the_same_candidates() {
    let h = Harness::start().await;
    h.sample_city().await;
    let text = sample::scores_csv(CANDIDATES, SCHOOLS, 11);
    let utf8 = h.write("utf8.csv", text.as_bytes());
    let gbk = h.write("gbk.csv", &sample::gb18030(&text));
    let xlsx = h.write("scores.xlsx", &sample::scores_xlsx(&text).unwrap());
    assert_ne!(std::fs::read(&utf8).unwrap(), std::fs::read(&gbk).unwrap());

    let mut contents = Vec::new();
    for file in [&utf8, &gbk, &xlsx] {
        let summary = h.app.import_scores(file).await.unwrap();
        assert_eq!(summary.total as usize, CANDIDATES);
        let mut rows = all_candidates(&h).await;
        // Ids are the database's own; the contents are what must match.
        rows.iter_mut().for_each(|c| c.id = 0);
        contents.push(rows);
    }
    assert_eq!(contents[0], contents[1], "GB18030 differs from UTF-8");
    assert_eq!(contents[0], contents[2], "XLSX differs from UTF-8");
    assert!(contents[0].iter().any(|c| c.item_main.is_some()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_file_problems_are_listed_and_reimport_updates_in_place() {
    let h = Harness::start().await;
    let bad = "代码,名称,类型,上级代码,市直属\n\
               C1,青山市,市,,\n\
               D1,东湖区,县区,C1,\n\
               S1,一中,学校,D9,\n\
               S2,二中,学校,C1,\n\
               S3,三中,学堂,D1,\n\
               D1,重复区,县区,C1,\n";
    let file = h.write("units.csv", bad.as_bytes());
    let err = h.app.import_units(&file).await.unwrap_err();
    let refused = err
        .downcast_ref::<exam_review_bot::import::Refused>()
        .unwrap();
    let got: Vec<(usize, &str)> = refused
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(4, "上级代码"), (5, "上级代码"), (6, "类型"), (7, "代码")]
    );

    let good = "代码,名称,类型,上级代码,市直属\nC1,青山市,市,,\nD1,东湖区,县区,C1,\nS1,一中,学校,D1,\nS2,二中,学校,C1,是\n";
    let file = h.write("units.csv", good.as_bytes());
    assert_eq!(h.app.import_units(&file).await.unwrap().len(), 4);
    let renamed = good.replace("一中", "第一中学");
    let file = h.write("units.csv", renamed.as_bytes());
    h.app.import_units(&file).await.unwrap();
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let units = exam_review_bot::store::units::all(&mut conn).await.unwrap();
    assert_eq!(units.len(), 4);
    assert!(units.iter().any(|u| u.code == "S1" && u.name == "第一中学"));
    assert!(units.iter().any(|u| u.code == "S2" && u.city_direct));
    drop(conn);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_sets_up_a_season_end_to_end() {
    let db = TestDb::new().await;
    let dir = db.dir.path();
    let ok = |args: &[&str]| {
        let out = cli(&db, args);
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // The office's files, as `sample` writes them: with 身份证号, so for the owner's eyes only.
    let folder = dir.to_str().unwrap();
    ok(&[
        "sample",
        "--out",
        folder,
        "--districts",
        "2",
        "--schools",
        "5",
        "--candidates",
        "50",
    ]);
    for name in ["units.csv", "scores.csv"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    ok(&["migrate"]);
    let season = ok(&["season", "--year", "2023", "--last-exam-day", "2023-04-28"]);
    assert!(season.contains("2023年4月30日 24:00"), "{season}");
    ok(&["import", "units", "units.csv"]);
    let imported = ok(&["import", "scores", "scores.csv"]);
    assert!(
        imported.contains("imported 50 candidates in 5 schools"),
        "{imported}"
    );
    let out = cli(
        &db,
        &[
            "invite",
            "--role",
            "school-contact",
            "--unit",
            "S00001",
            "--name",
            "王老师",
        ],
    );
    assert!(!out.status.success(), "no bot username configured yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("BOT_USERNAME"));
    let out = Command::new(binary())
        .args([
            "invite",
            "--role",
            "principal",
            "--unit",
            "D001",
            "--name",
            "x",
        ])
        .env("DATABASE_URL", &db.url)
        .env("BOT_USERNAME", "QsExamBot")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong"));
    let out = Command::new(binary())
        .args([
            "invite",
            "--role",
            "principal",
            "--unit",
            "S00001",
            "--name",
            "校长",
        ])
        .env("DATABASE_URL", &db.url)
        .env("BOT_USERNAME", "QsExamBot")
        .current_dir(dir)
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&out.stdout);
    assert!(link.starts_with("https://t.me/QsExamBot?start="), "{link}");
    // A publication dated in the past would move the 2 days and the review's 3: refused.
    let out = cli(&db, &["publish", "--at", "2023-05-01 09:00"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "backdated: {said}");
    assert!(said.contains("cannot be dated in the past"), "{said}");
    // On the day itself (the process's clock is the 1st of May, 09:00 in the city), it is late.
    let out = Command::new(binary())
        .args(["publish", "--at", "2023-05-01 09:00"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env("EXAM_REVIEW_BOT_CLOCK", "2023-05-01T09:00:00+08:00")
        .current_dir(dir)
        .output()
        .unwrap();
    let published = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(published.contains("LATE"), "{published}");
    assert!(published.contains("2023年5月4日 24:00"), "{published}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_file_says_is_what_is_stored_to_the_last_character() {
    let h = Harness::start().await;
    h.sample_city().await;
    let id = |first17: &str| {
        let check = exam_review_bot::domain::ids::check_char(first17.as_bytes()) as char;
        format!("{first17}{check}")
    };
    let plain = id("41080220080101001");
    // A check character X typed in lower case: stored in upper case, as the ID card shows it.
    let x_id = (0..1000)
        .map(|n| format!("410802200801{n:05}"))
        .map(|first17| id(&first17))
        .find(|full| full.ends_with('X'))
        .unwrap();
    let lower_x = x_id.to_lowercase();
    let header = sample::SCORES_HEADER.join(",");
    let text = format!(
        "{header}\n\
         990000000001,BM0001,\"王\\五 \"\"小五\"\" 😀\",男,S00001,\"九年级1班, 实验\",{plain},G{plain},2023/4/27,下,2,3,15,28.5,16,6,5.5,1\n\
         990000000002,BM0002,李四,女,S00002,九年级2班,{lower_x},g{lower_x},2023-04-26,上午,1,1,1,20,,,,\n"
    );
    let file = h.write("odd.csv", text.as_bytes());
    if let Err(e) = h.app.import_scores(&file).await {
        let refused = e.downcast_ref::<exam_review_bot::import::Refused>();
        panic!("{e}: {:?}", refused.map(|r| &r.problems));
    }

    let rows = all_candidates(&h).await;
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a.exam_no, "990000000001");
    assert_eq!(a.reg_no, "BM0001");
    assert_eq!(a.name, "王\\五 \"小五\" 😀");
    assert_eq!(a.gender, "男");
    assert_eq!(a.school_code, "S00001");
    assert_eq!(a.class_name, "九年级1班, 实验");
    assert_eq!(a.id_card, plain);
    assert_eq!(a.student_no, format!("G{plain}"));
    assert_eq!(a.exam_date, "2023-04-27");
    assert_eq!(a.half_day, "下午");
    assert_eq!((a.batch, a.room, a.seat, a.score), (2, 3, 15, 285));
    assert_eq!(
        (a.item_main, a.item_sec1, a.item_sec2, a.item_tidy),
        (Some(160), Some(60), Some(55), Some(10))
    );
    assert_eq!(b.id_card, x_id);
    assert_eq!(b.student_no, format!("G{x_id}"));
    assert_eq!(
        (b.exam_date.as_str(), b.half_day.as_str()),
        ("2023-04-26", "上午")
    );
    assert_eq!(b.score, 200);
    assert_eq!(
        (b.item_main, b.item_sec1, b.item_sec2, b.item_tidy),
        (None, None, None, None)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_still_reading_its_file_when_scores_are_published_changes_nothing() {
    let h = Harness::start().await;
    h.sample_city().await;
    let before = all_candidates(&h).await;
    // The new file comes through a pipe, so the import is held in the middle of reading it:
    // past its first "not yet published" look, before it writes anything.
    let pipe = h.dir().join("late.csv");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap()
            .success()
    );
    let import = {
        let app = h.app.clone();
        let pipe = pipe.clone();
        tokio::spawn(async move { app.import_scores(&pipe).await })
    };
    // Opening a pipe for writing returns once its reader has opened it: the import is reading.
    let mut writer = {
        let pipe = pipe.clone();
        tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).open(pipe))
            .await
            .unwrap()
            .unwrap()
    };
    h.app.publish(Actor::Cli, None).await.unwrap();
    let other_scores = sample::scores_csv(CANDIDATES, SCHOOLS, 99);
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        // The import may stop reading as soon as it sees the season published.
        let _ = writer.write_all(other_scores.as_bytes());
    })
    .await
    .unwrap();
    let refused = import.await.unwrap().unwrap_err().to_string();
    assert!(
        refused.contains("was published while the file was being read"),
        "{refused}"
    );
    assert_eq!(all_candidates(&h).await, before);
    h.stop().await;
}

/// The roster comes before the exam; the scores file after it is matched against it, row by row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_are_matched_against_the_roster_by_exam_number() {
    let h = Harness::start().await;
    h.sample_city().await;
    let roster = h.write("roster.csv", sample::roster_csv(40, SCHOOLS, 5).as_bytes());
    let summary = h.app.import_candidates(&roster).await.unwrap();
    assert_eq!(summary.total, 40);
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    assert_eq!(
        exam_review_bot::store::roster::count(&mut conn, season.id)
            .await
            .unwrap(),
        40
    );
    drop(conn);

    // The matching file: accepted, every candidate scored.
    let scores = sample::scores_csv(40, SCHOOLS, 5);
    let file = h.write("scores.csv", scores.as_bytes());
    assert_eq!(h.app.import_scores(&file).await.unwrap().total, 40);
    let before = all_candidates(&h).await;

    // A file where one candidate's 身份证号 changed, one is not on the roster (in place of
    // a registered one, who is now missing), one's name changed, one is under another school's
    // code (their score would reach that school), and the last registered candidate is
    // missing too.
    let mut lines: Vec<String> = scores.lines().map(str::to_string).collect();
    let cells = |l: &str| l.split(',').map(str::to_string).collect::<Vec<_>>();
    let mut changed_id = cells(&lines[1]);
    let other = cells(&lines[3]);
    changed_id[6] = other[6].clone();
    changed_id[7] = other[7].clone();
    lines[1] = changed_id.join(",");
    let mut stranger = cells(&lines[2]);
    stranger[0] = "202399999999".into();
    lines[2] = stranger.join(",");
    let mut renamed = cells(&lines[4]);
    renamed[2] = "改名".into();
    lines[4] = renamed.join(",");
    let mut moved = cells(&lines[5]);
    moved[4] = match moved[4] == sample::school_code(0) {
        true => sample::school_code(1),
        false => sample::school_code(0),
    };
    lines[5] = moved.join(",");
    let missing = cells(lines.last().unwrap())[0].clone();
    lines.pop();
    let file = h.write("changed.csv", (lines.join("\n") + "\n").as_bytes());
    let err = h.app.import_scores(&file).await.unwrap_err();
    let refused = err
        .downcast_ref::<exam_review_bot::import::Refused>()
        .unwrap();
    let got: Vec<(usize, &str, &str)> = refused
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "身份证号", "与报名名单中的身份证号不符"),
            (3, "准考证号", "报名名单中没有此准考证号"),
            (5, "姓名", "与报名名单中的姓名不符"),
            (6, "学校代码", "与报名名单中的学校不符"),
            (0, "准考证号", "报名名单中有此考生，成绩文件中没有其成绩"),
            (0, "准考证号", "报名名单中有此考生，成绩文件中没有其成绩"),
        ],
        "{refused:?}"
    );
    assert_eq!(
        refused.problems[4].value,
        cells(scores.lines().nth(2).unwrap())[0]
    );
    assert_eq!(refused.problems[5].value, missing);
    assert!(
        !refused.problems[0].to_string().contains(&other[6]),
        "a 身份证号 is never printed whole: {}",
        refused.problems[0]
    );
    assert_eq!(all_candidates(&h).await, before, "nothing changed");

    // The roster can be replaced while no application names it.
    h.app.import_candidates(&roster).await.unwrap();
    h.stop().await;
}
