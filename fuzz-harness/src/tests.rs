//! The fuzz targets in `cargo test`: every file of the seed corpus, then `FUZZ_CASES` inputs
//! per target (256 unless set), half random bytes and half seeds with random edits (bytes
//! replaced, inserted, removed, a run repeated, the tail cut), as a coverage-guided fuzzer
//! would start. Long runs: `cargo +nightly fuzz run <target>` in `fuzz/` (see RELIABILITY.md).

use super::TARGETS;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("a corpus file reads"))
        .collect()
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// One edit of a seed: where (a fraction of its length), what, and with which byte.
#[derive(Debug, Clone)]
enum Edit {
    Replace(u16, u8),
    Insert(u16, u8),
    Remove(u16),
    Repeat(u16, u8),
    Cut(u16),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<u16>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<u16>().prop_map(Edit::Remove),
        (any::<u16>(), 1..64u8).prop_map(|(at, n)| Edit::Repeat(at, n)),
        any::<u16>().prop_map(Edit::Cut),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = seed.to_vec();
    let at = |frac: u16, len: usize| (usize::from(frac) * len) / (usize::from(u16::MAX) + 1);
    for e in edits {
        let len = out.len();
        match *e {
            Edit::Replace(f, b) if len > 0 => out[at(f, len)] = b,
            Edit::Insert(f, b) => out.insert(at(f, len + 1), b),
            Edit::Remove(f) if len > 0 => {
                out.remove(at(f, len));
            }
            Edit::Repeat(f, n) if len > 0 => {
                let start = at(f, len);
                let end = (start + usize::from(n)).min(len);
                let run = out[start..end].to_vec();
                out.splice(start..start, run);
            }
            Edit::Cut(f) => out.truncate(at(f, len + 1)),
            _ => {}
        }
    }
    out
}

fn run(target: &str) {
    let (_, check) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of that name");
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seed");
    for seed in &seeds {
        check(seed);
    }
    let input = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (0..seeds.len(), proptest::collection::vec(edit(), 1..8))
            .prop_map(move |(i, edits)| apply(&seeds[i], &edits)),
    ];
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config)
        .run(&input, |bytes| {
            check(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("fuzz target {target}: {e}"));
}

#[test]
fn any_csv_file_is_read_or_refused_row_by_row() {
    run("csv");
}

#[test]
fn any_xlsx_file_is_read_or_refused_row_by_row() {
    run("xlsx");
}

#[test]
fn any_scores_row_is_accepted_or_refused_naming_its_column() {
    run("rows");
}

#[test]
fn any_button_data_is_refused_or_reads_back_to_the_same_button() {
    run("callback");
}

#[test]
fn anything_typed_in_a_dialogue_is_refused_with_words_or_reads_back() {
    run("inputs");
}

#[test]
fn any_config_file_is_refused_or_usable_everywhere() {
    run("config");
}

/// Writes the seed corpus from the sample city (`cargo test -p fuzz-harness -- --ignored write_the_seed_corpus`);
/// the files are in the repository, so this is only for changing them.
#[test]
#[ignore]
fn write_the_seed_corpus() {
    use exam_review_bot::sample;
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let scores = sample::scores_csv(4, 3, 7);
    let roster = sample::roster_csv(4, 3, 7);
    write("csv", "scores.csv", scores.as_bytes());
    write("csv", "roster.csv", roster.as_bytes());
    write("csv", "scores-gb18030.csv", &sample::gb18030(&scores));
    write(
        "csv",
        "units.csv",
        sample::units_csv(&sample::units(2, 3)).as_bytes(),
    );
    write(
        "csv",
        "people.csv",
        "姓名,角色,单位代码,班级,手机,职务\n王芳,校长,S00001,,13912345678,校长\n\
         李强,班主任,S00001,九年级1班,0391-1234567,\n张伟,县区装备管理,D001,,,组长\n"
            .as_bytes(),
    );
    write(
        "xlsx",
        "scores.xlsx",
        &sample::scores_xlsx(&scores).unwrap(),
    );
    write(
        "xlsx",
        "roster.xlsx",
        &sample::scores_xlsx(&roster).unwrap(),
    );
    let mut rows = String::new();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    for n in 0..3 {
        rows.push_str(&sample::candidate_row(&mut rng, n, n).join("\t"));
        rows.push('\n');
    }
    write("rows", "three.txt", rows.as_bytes());
    for (i, data) in [
        "d:confirm:submit",
        "rv:12:s0r1:a",
        "rv:9:rec1:k",
        "pub:ok:7",
        "pub:no",
        "pg:p:3",
        "ft:42",
        "sf:9",
        "f5:9",
        "ex:11",
        "en:3:s",
        "eb",
        "sc",
        "rk:5",
        "up:D001:37",
    ]
    .iter()
    .enumerate()
    {
        write("callback", &format!("{i:02}"), data.as_bytes());
    }
    let id = sample::id_card(1);
    let student = format!("G{id}");
    for (i, text) in [
        "28.5",
        "30",
        id.as_str(),
        student.as_str(),
        "13912345678",
        "0391-1234567",
        "2023-04-27",
        "2023年4月27日",
        "08:00",
        "202300000001",
        "对主实验的扣分有疑问",
    ]
    .iter()
    .enumerate()
    {
        write("inputs", &format!("{i:02}"), text.as_bytes());
    }
    write(
        "config",
        "example.toml",
        include_bytes!("../../exam-review-bot.example.toml"),
    );
    write(
        "config",
        "city-wide-group.toml",
        include_bytes!("../../config/city-wide-group.toml"),
    );
}
