//! Files made to take the bot down on an exam day — a few hundred KB that unpack to gigabytes,
//! one endless line, a million empty rows — sent by an office as a scores file, an entry clerk's
//! sheet or in chat. Each is refused, saying which bound it crossed, with at most
//! `Problems::KEPT` problems held (the bombs bench measures the time and memory at full size).

use crate::support::*;
use exam_review_bot::import::Refused;
use exam_review_bot::import::bombs::Bomb;
use exam_review_bot::sample;
use std::process::Command;

/// What the refusal of each bomb says, as a scores file against a roster of `CANDIDATES`.
fn refusal_of(bomb: Bomb) -> &'static str {
    match bomb {
        Bomb::TinyRows => "文件超过 375 行（报名名单 250 名考生）",
        Bomb::SharedStrings => "sharedStrings.xml unpacks to more than 16 MB",
        // Read, then refused: the sheet scores nobody of the roster.
        Bomb::SharedStringsAtTheBound => "报名名单中有此考生，成绩文件中没有其成绩",
        Bomb::HugeCell => "holds a cell or tag of more than 1024 KB",
        Bomb::ManySheets => "parts, more than the 1000",
        Bomb::DeepXml => "nests elements more than 100 deep",
        Bomb::EndlessLine => "一行超过 1024 KB",
        Bomb::EmptyLines => "文件超过 375 行",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bomb_sent_as_a_scores_file_is_refused_naming_the_bound_it_crossed() {
    let h = Harness::start().await;
    sample::load_city_before_exam(&h.app, h.dir(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
        .await
        .unwrap();
    for bomb in Bomb::ALL {
        let file = h.write(bomb.file_name(), &bomb.build(1));
        let err = h
            .app
            .import_scores(&file)
            .await
            .expect_err(bomb.file_name());
        let said = match err.downcast_ref::<Refused>() {
            Some(refused) => {
                assert!(
                    refused.problems.iter().len() <= 200,
                    "{bomb:?}: {} problems kept",
                    refused.problems.iter().len()
                );
                refused
                    .problems
                    .iter()
                    .map(|p| format!("{p}\n"))
                    .collect::<String>()
            }
            None => format!("{err:#}"),
        };
        let expected = refusal_of(bomb);
        assert!(
            said.contains(expected),
            "{bomb:?}: expected {expected:?} in\n{said}"
        );
    }
    h.stop().await;
}

/// A file of five thousand bad rows: the clerk reads the first two hundred problems and how
/// many more there were; the refusal holds no more than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_thousands_of_bad_rows_lists_the_first_two_hundred_and_counts_the_rest() {
    let h = Harness::start().await;
    h.sample_city().await;
    let mut text = sample::scores_csv(1, SCHOOLS, 3)
        .lines()
        .next()
        .unwrap()
        .to_string();
    text.push('\n');
    for i in 0..5_000 {
        text.push_str(&format!("X{i},,,,,,,,,,,,,,,,,\n"));
    }
    let file = h.write("bad.csv", text.as_bytes());
    let out = Command::new(binary())
        .args(["import", "scores", file.to_str().unwrap()])
        .env("DATABASE_URL", &h.db.url)
        .env("RUST_LOG", "warn")
        .current_dir(h.db.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let listed = stderr.lines().filter(|l| l.starts_with("row ")).count();
    assert_eq!(listed, 200, "{stderr}");
    let more = stderr
        .lines()
        .find_map(|l| l.strip_prefix("… and "))
        .and_then(|l| l.strip_suffix(" more"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no count of the rest in:\n{stderr}"));
    assert!(more > 5_000, "{more}");
    h.stop().await;
}
