//! The newcomer's first command works offline and shows every school its notice.

use exam_review_bot::telegram::init_data::check;
use std::process::Command;

#[test]
fn the_demo_publishes_to_every_school_of_the_sample_city() {
    // The demo always runs on its own embedded SQLite file: the PostgreSQL pass of the suite
    // would run the very same thing again (minutes of waiting out per-chat rate limits).
    if std::env::var_os("TEST_POSTGRES_URL").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(crate::support::binary())
        .args(["demo", "--board", "127.0.0.1:0", "--out"])
        .arg(dir.path().join("demo"))
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("中招实验考试成绩通知").count(),
        40,
        "{stdout}"
    );
    assert!(stdout.contains("完成：40 所学校收到成绩通知"), "{stdout}");
    // It opens with what it will show, and its chats show what each person sent and pressed.
    assert!(stdout.starts_with("== 演示："), "{stdout}");
    assert!(stdout.contains("→ [✅ 提交]"), "{stdout}");
    // Onboarding without a shell: the rosters sent in chat, invitations delegated down.
    assert!(stdout.contains("已导入：3000 名考生"), "{stdout}");
    assert!(stdout.contains("已生成 48 个邀请"), "{stdout}");
    assert!(
        stdout.contains("用 /invite 邀请了本区 4 所学校的联系人"),
        "{stdout}"
    );
    assert!(stdout.contains("52 人已加入"), "{stdout}");
    assert!(stdout.contains("完成：4 份复核申请"), "{stdout}");
    // Each office's season board, as a page to open in any browser.
    let boards = dir.path().join("demo/board");
    let pages: Vec<_> = std::fs::read_dir(&boards).unwrap().collect();
    assert!(pages.len() >= 3, "{stdout}");
    // Each office's tabs link to each other's files; the city's charts are drawn in the page.
    let names: Vec<String> = pages
        .iter()
        .map(|p| {
            p.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let charts = names
        .iter()
        .find(|n| n.contains("市") && n.ends_with("-charts.html"))
        .unwrap_or_else(|| panic!("{names:?}"));
    let page = std::fs::read_to_string(boards.join(charts)).unwrap();
    assert!(page.contains("<svg class=\"stacked\""), "{page}");
    let requests = charts.replace("-charts.html", "-requests.html");
    assert!(page.contains(&format!("href=\"{requests}\"")), "{page}");
    assert!(names.contains(&requests), "{names:?}");
    // `--board`: the live board's address for each office, signed for the demo bot as
    // Telegram's client signs it (standard input is closed, so the demo went on at once).
    let opens: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once(" → http://127.0.0.1:"))
        .filter(|(_, url)| url.contains("/board#tgWebAppData="))
        .map(|(_, url)| url)
        .collect();
    assert!(opens.len() >= 3, "{stdout}");
    for url in opens {
        let (_, fragment) = url.split_once('#').unwrap();
        let data = form_urlencoded::parse(fragment.as_bytes())
            .find(|(k, _)| k == "tgWebAppData")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let opened: i64 = form_urlencoded::parse(data.as_bytes())
            .find(|(k, _)| k == "auth_date")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap();
        let now = chrono::DateTime::from_timestamp(opened + 60, 0).unwrap();
        let hour = chrono::Duration::hours(1);
        assert!(check(&data, "demo-token", now, hour).is_ok(), "{url}");
    }
    assert!(stdout.contains("看板快照"), "{stdout}");
    // Before the exam: one 免考 approved at every level, one refused at the county; the
    // approved candidate's score is 18 of 30.
    assert!(
        stdout.contains("完成：免考申请 2 份（同意 1、县级不同意 1）"),
        "{stdout}"
    );
    assert!(stdout.contains("的成绩：18（免考）"), "{stdout}");
    // The exam days' 登分: every half-day of every county entered twice, sealed and reported;
    // one misread score found and corrected; one late batch 缺考 until the city accepted it,
    // sealed in time.
    assert!(
        stdout.contains("个登分批次全部上报；1 处录入不一致已更正；1 个批次逾期视为缺考"),
        "{stdout}"
    );
    assert!(stdout.contains("有 2 处不一致"), "{stdout}");
    // Four people at each entry: one reads out, one enters, two watch (附件7 二).
    assert!(
        stdout.contains("监督报分 ") && stdout.contains("监督录入 "),
        "{stdout}"
    );
    assert!(stdout.contains("按规定视为缺考"), "{stdout}");
    assert!(stdout.contains("复核后成绩"), "{stdout}");
    // The review's deadline: the request left at the 班主任 is 逾期未报 at the window's end.
    assert!(
        stdout.contains("urgent:12h") && stdout.contains("已列为逾期未报"),
        "{stdout}"
    );
    // The review closed: every 附件6 and the four 附件5 written, the season sealed, its
    // personal data and scores gone from the database, and the bot saying so.
    assert!(stdout.contains("已加密封存"), "{stdout}");
    assert!(
        stdout.contains("数据库中已清除本季考生个人信息与成绩")
            && stdout.contains("考生信息与成绩已移出机器人"),
        "{stdout}"
    );
    // The half-day's password was shown to the inspector in chat (and taken back later).
    assert!(stdout.contains("本半天成绩数据密码"), "{stdout}");
    let records = dir.path().join("demo/records");
    for name in [
        "附件6_复核汇总表_青山市.xlsx",
        "附件6_复核汇总表_东湖区.xlsx",
        "免考名单_市级审核_东湖区.xlsx",
    ] {
        assert!(records.join(name).exists(), "{name}");
    }
    // Standard error tells the acts as they begin, and how Telegram's limits held on the
    // demo's faster clock: its fake refuses (429) what Telegram would, and nothing it took was
    // over them.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in 1..=9 {
        assert!(
            stderr.contains(&format!("demo: act {n} of 9 — ")),
            "{stderr}"
        );
    }
    assert!(
        !stdout.contains("demo: act"),
        "progress kept out of the transcript"
    );
    assert!(
        stderr.contains(" 0 over Telegram's limits on the demo's clock"),
        "{stderr}"
    );
    let forms = std::fs::read_dir(&records)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("附件5")
        })
        .count();
    assert_eq!(forms, 4);
    assert!(dir.path().join("demo/season-2023.age").exists());
    let sheets: Vec<_> = std::fs::read_dir(dir.path().join("demo/notices"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sheets.len(), 40);
    // The notices name every candidate with their 身份证号; the database holds them all.
    use std::os::unix::fs::PermissionsExt;
    for file in sheets.iter().chain([&dir.path().join("demo/demo.db")]) {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[test]
fn the_demo_plays_the_same_season_on_dingtalk() {
    // As above: the demo's own SQLite file, once.
    if std::env::var_os("TEST_POSTGRES_URL").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = |args: &[&str]| {
        Command::new(crate::support::binary())
            .args(["demo", "--platform", "dingtalk", "--out"])
            .arg(dir.path().join("demo"))
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    // The live board signs in through Telegram: asked for on DingTalk, the demo refuses at once.
    let refused = demo(&["--board", "127.0.0.1:0"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("the season board signs in through Telegram"),
        "{said}"
    );

    let out = demo(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("== 演示：") && stdout.contains("（模拟的）钉钉 聊天"),
        "{stdout}"
    );
    // DingTalk's transcripts: a press is shown with the name of the one who pressed.
    assert!(stdout.contains("班主任: [✅ 提交]"), "{stdout}");
    assert!(stdout.contains("完成：40 所学校收到成绩通知"), "{stdout}");
    assert!(stdout.contains("52 人已加入"), "{stdout}");
    assert!(stdout.contains("已加密封存"), "{stdout}");
    assert!(stderr.contains("DingTalk's 20 calls a second"), "{stderr}");
    // The schools' score sheets came as DingTalk files; the records were written.
    let sheets = std::fs::read_dir(dir.path().join("demo/notices"))
        .unwrap()
        .count();
    assert_eq!(sheets, 40, "{stdout}");
    let records = dir.path().join("demo/records");
    for name in [
        "附件6_复核汇总表_青山市.xlsx",
        "附件6_复核汇总表_东湖区.xlsx",
        "免考名单_市级审核_东湖区.xlsx",
    ] {
        assert!(records.join(name).exists(), "{name}");
    }
    assert!(dir.path().join("demo/season-2023.age").exists());
}
