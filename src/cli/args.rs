//! What the command line accepts: the commands, their flags and their help texts (clap).
//! What each command does is `cli.rs`'s.

use crate::domain::Role;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "exam-review-bot",
    version,
    about = "中招实验考试 paperwork bot for Telegram"
)]
pub struct Cli {
    /// Configuration file (default: exam-review-bot.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The city a command acts in, by its unit code, in a deployment of several cities (a
    /// province's); with one city it may be left out.
    #[arg(long, global = true)]
    pub city: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the database migrations and exit.
    Migrate,
    /// Create or update a season and make it current.
    Season {
        #[arg(long)]
        year: i32,
        /// The last exam day, YYYY-MM-DD (local date in --tz).
        #[arg(long)]
        last_exam_day: NaiveDate,
        #[arg(long, default_value = "Asia/Shanghai")]
        tz: chrono_tz::Tz,
        #[arg(long, default_value_t = 30)]
        full_score: u32,
        /// 免考 applications are accepted until then: RFC 3339, or "YYYY-MM-DD HH:MM" in --tz.
        #[arg(long)]
        exemption_closes: Option<String>,
        /// The first exam day, YYYY-MM-DD: an exemption applicant's age is counted on it
        /// (default: the last exam day).
        #[arg(long)]
        first_exam_day: Option<NaiveDate>,
    },
    /// Import a file (.xlsx, or .csv in UTF-8 or GB18030).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// 登分 (附件7): the current season's half-day batches, and uploading one entry of a batch
    /// from a file (the same path as a sheet an entry clerk sends in chat).
    Entry {
        #[command(subcommand)]
        what: EntryWhat,
    },
    /// Write an official record of the current season (附件6) to a file.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// 加密封存: seal the current season's score library into an encrypted archive (the
    /// inspector, once the review window has closed), or open or lift a seal.
    #[command(args_conflicts_with_subcommands = true)]
    Seal {
        #[command(subcommand)]
        then: Option<SealThen>,
        /// The archive to write (a new file).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Who seals (the 纪检监督's name, as the chat and the audit chain will show it).
        #[arg(long)]
        by: Option<String>,
        /// Read the passphrase from this file (for drills) instead of asking for it twice.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// The audit chain.
    Audit {
        #[command(subcommand)]
        what: AuditWhat,
    },
    /// A consistent copy of the running SQLite database (PostgreSQL: pg_dump, see docs/operator.md).
    Backup {
        /// The new file (readable by its owner only).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a one-time invite link binding a Telegram account to a role in a unit; or, with
    /// --from, invite everyone of a people roster (姓名, 角色, 单位代码, 班级, 手机, 职务) and
    /// write invites.xlsx, qr-codes.xlsx and qr/*.png into --out.
    Invite {
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        role: Option<Role>,
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        unit: Option<String>,
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        name: Option<String>,
        /// The class, for homeroom teachers.
        #[arg(long, conflicts_with = "from")]
        class: Option<String>,
        /// A people roster (.xlsx, or .csv in UTF-8 or GB18030): one invite per row.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Where the roster's invites.xlsx, qr-codes.xlsx and qr/ go (default: here).
        #[arg(long, requires = "from", default_value = ".")]
        out: PathBuf,
    },
    /// Remove the bindings of a Telegram account (all, or one role / unit).
    Revoke {
        /// The Telegram user id (shown in the audit log and by /whoami).
        #[arg(long)]
        user: i64,
        #[arg(long)]
        role: Option<Role>,
        #[arg(long)]
        unit: Option<String>,
    },
    /// Revoke an invite nobody has used yet (give its code or its whole link).
    RevokeInvite {
        /// The invite's code, or the link `invite` printed.
        code: String,
    },
    /// Publish the current season's scores to every school.
    Publish {
        /// Record this publication time instead of now: RFC 3339, or "YYYY-MM-DD HH:MM" in the
        /// season's time zone. Not in the past: the deadlines run from it.
        #[arg(long)]
        at: Option<String>,
    },
    /// Run the bot: long polling, or with --webhook the updates Telegram pushes. Needs
    /// TELOXIDE_TOKEN (and WEBHOOK_SECRET with --webhook, the same on every instance).
    Run {
        /// The public https URL Telegram sends updates to (a load balancer in front of every
        /// instance); without it the bot polls, and removes a webhook left set.
        #[arg(long)]
        webhook: Option<String>,
        /// Where to serve the webhook, /healthz, /readyz and /metrics (default with --webhook:
        /// 0.0.0.0:8080; without: not served).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The messenger: telegram, or dingtalk (Stream mode; needs DINGTALK_CLIENT_ID and
        /// DINGTALK_CLIENT_SECRET). Default: the configuration's `platform`.
        #[arg(long, value_enum)]
        platform: Option<crate::config::Platform>,
    },
    /// One pass of the reminder sweep as if at TIME (recovery and tests); the running bot's
    /// ticker calls the same code every minute.
    Sweep {
        /// RFC 3339, or "YYYY-MM-DD HH:MM" in the season's time zone; default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Try everything offline: a sample city, a fake Telegram (or DingTalk), a publication, chat
    /// by chat.
    Demo {
        /// Folder for the demo database, input files and the spreadsheets schools received.
        #[arg(long, default_value = "demo-output")]
        out: PathBuf,
        /// Also serve the live season board on this address (e.g. 127.0.0.1:8080) when the
        /// review window has ended, with an address for each office to open it as Telegram
        /// would, until Enter is pressed.
        #[arg(long)]
        board: Option<std::net::SocketAddr>,
        /// The messenger the demo's bot runs on: the fake Telegram, or the fake DingTalk (the
        /// live board signs in through Telegram, so `--board` needs telegram).
        #[arg(long, value_enum, default_value = "telegram")]
        platform: crate::config::Platform,
    },
    /// Play a province's season offline against the fake Telegram: every city set up and
    /// published, then the review burst carried through the whole route by simulated people;
    /// prints throughput, latency, drain time, messages per request and peak memory.
    Simulate {
        #[arg(long, default_value_t = 3)]
        cities: usize,
        /// Candidates in the whole province.
        #[arg(long, default_value_t = 3000)]
        candidates: usize,
        /// Review requests in the whole province.
        #[arg(long, default_value_t = 300)]
        requests: usize,
        /// Schools in each city.
        #[arg(long, default_value_t = 10)]
        schools: usize,
        /// Bots of the province, each with its own Telegram rate (30 a second): the cities are
        /// shared out among them (a city's people talk to its bot).
        #[arg(long, default_value_t = 1)]
        bots: usize,
        /// Instances of each bot sharing the database (PostgreSQL only beyond one).
        #[arg(long, default_value_t = 1)]
        instances: usize,
        /// A PostgreSQL server's empty database (postgres://…); default: a new SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Folder for the files and the SQLite database.
        #[arg(long, default_value = "simulate-output")]
        out: PathBuf,
        /// Give up after this many minutes.
        #[arg(long, default_value_t = 60)]
        minutes: u64,
    },
    /// Write sample units and scores files (for trying imports and for benchmarks).
    #[command(hide = true)]
    Sample {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 10)]
        districts: usize,
        #[arg(long, default_value_t = 40)]
        schools: usize,
        #[arg(long, default_value_t = 3000)]
        candidates: usize,
    },
}

#[derive(Subcommand)]
pub enum ExportWhat {
    /// 附件6 复核汇总表 of a district, a city-direct school, or the city (every unit, grouped).
    ReviewSummary {
        /// The unit's code.
        #[arg(long)]
        unit: String,
        /// The file to write: .xlsx (default) or .csv (UTF-8 with BOM); default
        /// 附件6_复核汇总表_<unit>.xlsx in the current folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 附件5 成绩复核申请表 of one request, with every level's opinion (.xlsx).
    ReviewForm {
        /// The request's number.
        #[arg(long)]
        request: i64,
        /// The file to write; default 附件5_复核申请表_<N>_<姓名>.xlsx in the current folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 附件3 免考汇总表 (the approved 免考 candidates) of a county, a city-direct school, or the
    /// city (every unit, grouped).
    ExemptionSummary {
        /// The unit's code.
        #[arg(long)]
        unit: String,
        /// The file to write: .xlsx (default) or .csv (UTF-8 with BOM); default
        /// 附件3_免考汇总表_<unit>.xlsx in the current folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 附件2 免考申请表 of one application, with every level's opinion (.xlsx).
    ExemptionForm {
        /// The application's number.
        #[arg(long)]
        request: i64,
        /// The file to write; default 附件2_免考申请表_<N>_<姓名>.xlsx in the current folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum SealThen {
    /// Decrypt an archive with its passphrase, check the audit chain it holds, and write its
    /// tables as JSON Lines into a folder.
    Open {
        archive: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Open a half-day's archive (a sealed 登分 batch) with the password its inspector was
    /// shown, and name every change made since to its rows or its candidates' published scores.
    HalfDay {
        /// The batch's number (#N on its cards).
        batch: i64,
        /// Also write the sealed rows as JSON Lines to this new file (readable by its owner).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Lift the seal in force: needs its archive and passphrase, the bound 纪检监督 who lifts
    /// it and a bound city admin's written reason; the archived rows go back into the database.
    Lift {
        #[arg(long)]
        archive: PathBuf,
        /// The 纪检监督 who lifts it, as bound.
        #[arg(long)]
        by: String,
        /// The city admin whose decision it is, as bound.
        #[arg(long)]
        approved_by: String,
        /// The city admin's written reason.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum AuditWhat {
    /// Check every record of the chain; exits non-zero naming the first record altered,
    /// inserted or missing.
    Verify,
}

#[derive(Subcommand)]
pub enum ImportWhat {
    /// Units: 代码, 名称, 类型 (市/县区/学校), 上级代码, 市直属 (是/否).
    Units { file: PathBuf },
    /// Scores of the current season (docs/operator.md, "File formats"); matched against the
    /// season's roster when it has one.
    Scores { file: PathBuf },
    /// The current season's candidate roster before the exam: 准考证号, 报名序号, 姓名, 性别,
    /// 学校代码, 班级, 身份证号, 学籍号, and optionally 考试日期, 午别, 批次, 场次, 座号.
    Candidates { file: PathBuf },
}

#[derive(Subcommand)]
pub enum EntryWhat {
    /// List the season's batches: id, county, half-day, candidates, stage.
    Batches,
    /// Upload one entry of a batch (.xlsx, or .csv in UTF-8 or GB18030; the columns of
    /// `import scores`, only the batch's candidates). The first entry's pair gives (or
    /// corrects) the first entry; the same two with their roles swapped, the proofreading one.
    /// Each entry names its four people, all different.
    Upload {
        #[arg(long)]
        batch: i64,
        /// The Telegram user id of the entry clerk who entered (录入).
        #[arg(long)]
        entered_by: i64,
        /// The Telegram user id of the entry clerk who read out (报分).
        #[arg(long)]
        read_by: i64,
        /// The Telegram user id of the clerk or 纪检监督 who watched the reading out (附件7 二:
        /// 另两人分别监督报分与录入).
        #[arg(long)]
        watched_reading: i64,
        /// The Telegram user id of the clerk or 纪检监督 who watched the entering.
        #[arg(long)]
        watched_entering: i64,
        file: PathBuf,
    },
}
