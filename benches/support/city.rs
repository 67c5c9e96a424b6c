//! The configuration the in-process benches run a city on: an SQLite file at `url`, the scores
//! loaded as one city file rather than county entry batches.

use exam_review_bot::config::{Config, Entry, EntryMode};

pub fn city_file_config(url: &str) -> Config {
    Config {
        database_url: url.to_string(),
        bot_username: Some("ExamReviewBot".into()),
        entry: Entry {
            mode: EntryMode::CityFile,
            ..Default::default()
        },
        ..Config::default()
    }
}
