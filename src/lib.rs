//! exam-review-bot: the paperwork of a city's middle-school entrance lab exam (中招实验考试) after
//! the exam, run through a Telegram bot. See README.md for the tour and docs/architecture.md
//! for the layers.

pub mod app;
pub mod board;
pub mod buttons;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod dingtalk;
pub mod domain;
pub mod export;
pub mod import;
pub mod metrics;
pub mod ops;
pub mod render;
pub mod sample;
pub mod scheduler;
pub mod shutdown;
pub mod simulate;
pub mod store;
pub mod telegram;
