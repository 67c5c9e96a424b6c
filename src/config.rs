//! Configuration: a TOML file (every key optional) with environment overrides for what differs
//! between machines. The bot token is never part of it: teloxide reads `TELOXIDE_TOKEN` itself.

use crate::domain::deadline::DayCountRule;
use crate::domain::score::ItemMaxima;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_FILE: &str = "exam-review-bot.toml";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://exam-review-bot.db";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `sqlite://FILE` (the default) or `postgres://…`. Env: `DATABASE_URL`.
    pub database_url: String,
    /// The bot's @username without the @, for invite links. Env: `BOT_USERNAME`.
    pub bot_username: Option<String>,
    /// How long an invite link stays valid.
    pub invite_valid_days: u32,
    pub rules: Rules,
    pub identifiers: Identifiers,
    pub delivery: Delivery,
    /// Which messenger the bot speaks: Telegram (the default) or DingTalk. `run --platform`
    /// overrides it.
    pub platform: Platform,
    pub telegram: Telegram,
    pub dingtalk: DingTalk,
    pub review: Review,
    pub exemption: Exemption,
    pub entry: Entry,
    pub reminders: crate::domain::schedule::ReminderConfig,
    pub limits: Limits,
    /// What a city of a province deployment runs differently, by the city's unit code
    /// (`[cities.4101.review]`, `[cities.4101.exemption]`): each city's 实施细则 set its own
    /// routes. A city without a section runs the deployment's.
    pub cities: BTreeMap<String, CityRules>,
    /// What a district, or a city-direct school, runs differently from its city, by its unit
    /// code (`[units.410802.review]`): 附件4 lets each 县（市）区 and school set 实施细则. Only
    /// the routes are taken from it; the review's window and the signed form are the city's.
    pub units: BTreeMap<String, UnitRules>,
}

/// One district's (or city-direct school's) own routes: a section given replaces its city's
/// for the requests and applications of its schools; keys left out take their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnitRules {
    pub review: Option<Review>,
    pub exemption: Option<Exemption>,
}

/// One city's own sections. A section given replaces the deployment's section of that name
/// for everything of the city (its requests, applications, cards, menus and permissions);
/// keys it leaves out take their defaults, as they do at the top of the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CityRules {
    pub review: Option<Review>,
    pub exemption: Option<Exemption>,
    /// The city's own bot, when it has one (Telegram's 30 messages a second are a bot's): its
    /// invite links name this bot, so that the city's people talk to it.
    pub bot_username: Option<String>,
}

/// 免考 (附件2, 附件3): the application's route and the score an approved candidate gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Exemption {
    /// The share of the full score an approved candidate is given (Henan: 0.6, 18 of 30).
    pub score_share: f64,
    /// How that score is rounded: `tenth` or `point` (half up).
    pub rounding: crate::domain::exemption::Rounding,
    /// The levels an application climbs (default: 班主任 → 学校审核小组组长 → 校长 → 县级, at
    /// least three signatures → 市级).
    pub steps: Vec<crate::domain::workflow::Step>,
    /// 附件3: applications agreed below the city wait for their county's 上报, which carries
    /// them to the city with the county's list; `false` sends each on as it is agreed.
    pub report: bool,
}

impl Default for Exemption {
    fn default() -> Self {
        Self {
            score_share: 0.6,
            rounding: Default::default(),
            steps: crate::domain::workflow::Route::exemption_default().steps,
            report: true,
        }
    }
}

impl Exemption {
    /// An approved candidate's score in a season of this full score.
    pub fn score(&self, full: crate::domain::Score) -> crate::domain::Score {
        crate::domain::exemption::exempt_score(full, self.score_share, self.rounding)
    }

    /// The route an application is filed on (kept with it, as a review's is).
    pub fn route(&self) -> crate::domain::workflow::Route {
        crate::domain::workflow::Route {
            steps: self.steps.clone(),
            report: self.report,
            ..crate::domain::workflow::Route::exemption_default()
        }
    }
}

/// Where the published scores come from, and the same-day cutoff of 登分 (附件7).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Entry {
    /// `county-batches`: each county enters, seals and reports its half-days in the bot, and
    /// /publish publishes from those batches. `city-file`: the city imports one scores file
    /// (`import scores`).
    pub mode: EntryMode,
    /// The local time on each exam day by which a county reports that day's batches; a batch
    /// not reported by then is 缺考 (附件7: 逾期不报的视为缺考).
    pub report_by: String,
    /// Hours before the cutoff that the county's clerks, inspector and officer are reminded of
    /// batches not yet reported, and the city told what is missing.
    pub remind_before_hours: Vec<u32>,
    /// Which 缺考 batch a city admin may accept late (`/lift`). 附件7 四 gives no exception;
    /// the default accepts only a batch whose data was agreed and sealed in the bot before the
    /// cutoff, i.e. was in the city's system on the exam day and only the 上报 press was late.
    pub late_report: LateReport,
    /// How long a half-day's password stays in the inspector's chat before the bot deletes it
    /// (附件7 二: the password is the inspector's; the bot never keeps it).
    pub password_shown_minutes: u32,
    /// Retired: a lifted batch used to get these hours to be sealed and reported late. Kept only
    /// so that a file still naming it is refused with a message saying what replaced it.
    pub lift_grace_hours: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LateReport {
    /// A batch agreed and sealed before the cutoff may be accepted with a written reason.
    SealedBeforeCutoff,
    /// The documents' letter with no exception: 缺考 stands.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryMode {
    CountyBatches,
    CityFile,
}

impl Default for Entry {
    fn default() -> Self {
        Self {
            mode: EntryMode::CountyBatches,
            report_by: "22:00".into(),
            remind_before_hours: vec![3, 1],
            late_report: LateReport::SealedBeforeCutoff,
            password_shown_minutes: 10,
            lift_grace_hours: None,
        }
    }
}

impl Entry {
    pub fn report_by(&self) -> anyhow::Result<chrono::NaiveTime> {
        crate::domain::schedule::parse_hm(&self.report_by)
            .map_err(|e| anyhow::anyhow!("entry.report_by: {e}"))
    }
}

/// What one person (or one file) can make the bot do. Excess is dropped, not queued: a flood
/// must never delay anyone else's messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Replies per minute to someone who has not joined (everything else they send is dropped).
    pub unbound_replies_per_minute: u32,
    /// `/start <code>` attempts per minute from someone who has not joined (a mistyped link is
    /// retried; a code cannot be guessed at this rate).
    pub unbound_starts_per_minute: u32,
    /// Messages and button presses per minute from a bound person; the first one over gets a
    /// notice, the rest of that minute is dropped.
    pub bound_updates_per_minute: u32,
    /// Largest file `import` reads, in megabytes.
    pub max_file_mb: u64,
    /// A spreadsheet may declare at most this many cells per byte of file (a 4 KB file that
    /// declares a million rows is refused before it is read).
    pub max_declared_cells_per_byte: u64,
    /// The most rows a table without a roster to bound it may have (units, people, a season's
    /// roster, a scores file before any roster). A scores file is bounded by the season's
    /// roster and an entry sheet by its batch's candidates, each with a margin.
    pub max_rows: u64,
    /// The most an .xlsx may unpack to, all its parts together, in megabytes (deflate packs a
    /// thousand times: the file's size says little).
    pub max_unpacked_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            unbound_replies_per_minute: 1,
            unbound_starts_per_minute: 5,
            bound_updates_per_minute: 60,
            max_file_mb: 50,
            max_declared_cells_per_byte: 64,
            max_rows: 2_000_000,
            max_unpacked_mb: 512,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Review {
    /// Replaced by `review.group.min_size`; kept only to say so instead of "unknown field".
    #[serde(default)]
    pub min_group: Option<u32>,
    /// The approval levels a review request climbs before its review group.
    pub steps: Vec<crate::domain::workflow::Step>,
    /// Which group reviews which schools, its member roles, the roles that must sign and its
    /// minimum size (`[review.group]`).
    pub group: crate::domain::workflow::Group,
    /// The city's 复审 of each signed result (`[review.recheck]`).
    pub recheck: crate::domain::workflow::Recheck,
    /// Filing asks for the photo (or PDF) of the candidate's own signed 附件5 page (附件6 注1:
    /// the candidate fills and signs it and answers for what it says).
    pub require_signed_form: bool,
    /// Signed results wait for the district's (or the city-direct school's) 上报 to the city,
    /// as a batch with its 附件6 (附件6 注2).
    pub report: bool,
    /// Hours before the review window's end (`rules.review_within_days`) that filing closes, so
    /// that the groups can review, sign and report what was filed before the window ends
    /// (附件4 二(一): the review, not only the filing, is within the 3 days).
    pub filing_closes_hours: u32,
    /// Hours a request returned while filing was open may be amended after its return when
    /// filing closes sooner (never past the window's end).
    pub amend_hours: u32,
}

impl Review {
    /// The route a review request is filed on (kept with it: a change of configuration does
    /// not move requests already filed).
    pub fn route(&self) -> crate::domain::workflow::Route {
        crate::domain::workflow::Route {
            steps: self.steps.clone(),
            group: self.group.clone(),
            recheck: self.recheck.clone(),
            report: self.report,
            purpose: crate::domain::workflow::Purpose::Review,
        }
    }
}

impl Default for Review {
    fn default() -> Self {
        let route = crate::domain::workflow::Route::review_default();
        Self {
            steps: route.steps,
            group: route.group,
            recheck: route.recheck,
            report: route.report,
            require_signed_form: true,
            min_group: None,
            filing_closes_hours: 24,
            amend_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Scores reach schools by 24:00 of this many calendar days after the last exam day.
    pub publish_within_days: u32,
    /// The review's window ends at 24:00 of this many calendar days after publication: every
    /// result reaches the city by then (filing closes `review.filing_closes_hours` earlier).
    pub review_within_days: u32,
    /// Item maxima; item scores in a file must stay within them and add up to the total.
    pub item_maxima: ItemMaxima,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Identifiers {
    /// 准考证号 pattern (regular expression); formats differ by year and city.
    pub exam_no_pattern: String,
    /// 报名序号 pattern.
    pub reg_no_pattern: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Delivery {
    /// Sends in flight at once (Telegram's limits are kept by the delivery pacer).
    pub concurrency: usize,
    /// Attempts for one message on server errors and time-outs before it is given up.
    pub max_attempts: u32,
    /// First back-off after a failed attempt; doubles each time, capped at 5 minutes.
    pub retry_base_ms: u64,
    /// How long a claimed message stays with the instance that claimed it: the backstop when
    /// instances cannot be told apart (a dead instance's claims are normally taken back within
    /// seconds, see `store::instances`); keep it above the longest send.
    pub lease_secs: u64,
    /// A person with this many cards waiting to go out gets them as one batch card, a page at a
    /// time, instead of a message each (Telegram sends one message a second to a chat, so 2,000
    /// cards to a 复审 chat would take over half an hour). 0 never folds.
    pub fold_cards_at: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Telegram {
    /// HTTP time-out for one Bot API call, in seconds.
    pub request_timeout_secs: u64,
    /// Long-polling wait, in seconds (must be below the request time-out).
    pub polling_timeout_secs: u32,
    /// Messages per second over all chats, evenly spaced. Telegram allows about 30; the default
    /// keeps a margin so that network jitter never lets Telegram count 31 in one second.
    pub messages_per_second: u32,
    /// How many updates the bot takes from Telegram and handles at once. The rest wait at
    /// Telegram until a slot frees: SQLite writes one transaction at a time, so taking more only
    /// makes each update wait longer inside the bot (and more are lost if it is killed).
    pub updates_in_flight: u32,
    /// The season board's public address (`https://…/board`, served under `/board` on
    /// `run --listen`, behind TLS): when set, /status offers it as a button that opens it
    /// inside Telegram. Telegram opens only HTTPS pages.
    pub board_url: Option<String>,
}

/// The messenger a deployment's people use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    #[default]
    Telegram,
    /// 钉钉, through an enterprise internal app's robot in Stream mode (docs/dingtalk.md). Its
    /// keys come from `DINGTALK_CLIENT_ID` and `DINGTALK_CLIENT_SECRET`.
    Dingtalk,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DingTalk {
    /// The v1.0 OpenAPI (and the Stream gateway's registration).
    pub api_url: String,
    /// The older API, for uploading the files the bot sends.
    pub oapi_url: String,
    /// HTTP time-out for one call, in seconds.
    pub request_timeout_secs: u64,
    /// Messages (cards, files and card updates) per second over all people, evenly spaced:
    /// below the app's 20 calls a second, with room for the bot's other calls.
    pub messages_per_second: u32,
}

impl Default for DingTalk {
    fn default() -> Self {
        Self {
            api_url: "https://api.dingtalk.com".into(),
            oapi_url: "https://oapi.dingtalk.com".into(),
            request_timeout_secs: 10,
            messages_per_second: 15,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.into(),
            bot_username: None,
            invite_valid_days: 7,
            rules: Rules::default(),
            identifiers: Identifiers::default(),
            delivery: Delivery::default(),
            platform: Platform::default(),
            telegram: Telegram::default(),
            dingtalk: DingTalk::default(),
            review: Review::default(),
            exemption: Exemption::default(),
            entry: Entry::default(),
            reminders: Default::default(),
            limits: Limits::default(),
            cities: BTreeMap::new(),
            units: BTreeMap::new(),
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            publish_within_days: 2,
            review_within_days: 3,
            item_maxima: ItemMaxima::default(),
        }
    }
}

impl Default for Identifiers {
    fn default() -> Self {
        Self {
            exam_no_pattern: "^[0-9]{6,16}$".into(),
            reg_no_pattern: "^[0-9A-Za-z]{4,20}$".into(),
        }
    }
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_attempts: 8,
            retry_base_ms: 2_000,
            lease_secs: 120,
            fold_cards_at: 6,
        }
    }
}

impl Default for Telegram {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            polling_timeout_secs: 10,
            messages_per_second: 29,
            updates_in_flight: 8,
            board_url: None,
        }
    }
}

impl Config {
    /// Reads `path` if given (it must exist), else `exam-review-bot.toml` if present, else the
    /// defaults; then applies the environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let file: Option<PathBuf> = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let mut config = match file {
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", p.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok());
        config.check()?;
        Ok(config)
    }

    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(url) = var("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = url;
        }
        if let Some(name) = var("BOT_USERNAME").filter(|v| !v.is_empty()) {
            self.bot_username = Some(name);
        }
        match var("ENTRY_MODE").as_deref() {
            Some("city-file") => self.entry.mode = EntryMode::CityFile,
            Some("county-batches") => self.entry.mode = EntryMode::CountyBatches,
            _ => {}
        }
    }

    /// Whether `username` is a city's own bot (a `[cities.CODE] bot_username`; Telegram's
    /// usernames ignore case): it then writes only to chats that wrote to it.
    pub fn is_city_bot(&self, username: &str) -> bool {
        self.cities.values().any(|c| {
            c.bot_username
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(username))
        })
    }

    /// The bot a city's invite links name: its own, else the deployment's.
    pub fn bot_username_of(&self, city: &str) -> Option<&str> {
        self.cities
            .get(city)
            .and_then(|c| c.bot_username.as_deref())
            .or(self.bot_username.as_deref())
    }

    /// The `[review]` a city runs: its own section, else the deployment's.
    pub fn review_of(&self, city: &str) -> &Review {
        self.cities
            .get(city)
            .and_then(|c| c.review.as_ref())
            .unwrap_or(&self.review)
    }

    /// The `[exemption]` a city runs: its own section, else the deployment's.
    pub fn exemption_of(&self, city: &str) -> &Exemption {
        self.cities
            .get(city)
            .and_then(|c| c.exemption.as_ref())
            .unwrap_or(&self.exemption)
    }

    /// The review route of a city's new requests.
    pub fn review_route(&self, city: &str) -> crate::domain::workflow::Route {
        self.review_of(city).route()
    }

    /// The review route of a new request from a school whose 上报 unit is `unit` (its
    /// district, or itself when city-direct): the unit's own, else its city's.
    pub fn review_route_of_unit(&self, city: &str, unit: &str) -> crate::domain::workflow::Route {
        match self.units.get(unit).and_then(|u| u.review.as_ref()) {
            Some(own) => own.route(),
            None => self.review_route(city),
        }
    }

    /// The 免考 route of a new application from a school whose unit is `unit`, as above.
    pub fn exemption_route_of_unit(
        &self,
        city: &str,
        unit: &str,
    ) -> crate::domain::workflow::Route {
        match self.units.get(unit).and_then(|u| u.exemption.as_ref()) {
            Some(own) => own.route(),
            None => self.exemption_of(city).route(),
        }
    }

    pub fn publish_rule(&self) -> DayCountRule {
        DayCountRule {
            days_after: self.rules.publish_within_days,
        }
    }

    pub fn review_rule(&self) -> DayCountRule {
        DayCountRule {
            days_after: self.rules.review_within_days,
        }
    }
}

mod check;
