//! Scenario tests: the real app and bot against the fake Telegram Bot API, each reading like the
//! story of the people involved. One test binary (link time matters on two cores).

mod cast;
mod support;

mod access;
mod audit;
mod batch_cards;
mod batches;
mod board;
mod board_browser;
mod board_tabs;
mod bombs;
mod bots;
mod chaos;
mod charts;
mod cities;
mod delegation;
mod delivery;
mod demo;
mod dingtalk;
mod directory;
mod entry;
mod exemption;
mod fidelity;
mod groups;
mod import;
mod instances;
mod intake;
mod kill_loop;
mod menus;
mod messengers;
mod onboarding;
mod permissions;
mod processes;
mod publish;
mod quick_filing;
mod records;
mod reminders;
mod restart;
mod review;
mod seal;
mod trust;
mod webhook;
mod window;
mod workflow_model;
