//! 登分 and same-day upload (附件7): each county enters every half-day's scores twice, the
//! second time with the reader and the enterer swapped; its 纪检监督 seals the half-day once
//! both entries agree; its officer reports the day's sealed batches to the city the same day;
//! a batch not reported by 22:00 is 缺考. The city may accept it late with a written reason only
//! when its entries agreed and its seal came before the cutoff; nothing entered or sealed after
//! the cutoff becomes scores.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::app::callback::Press;
use exam_review_bot::app::entry::Upload;
use exam_review_bot::config::{Config, EntryMode, LateReport};
use exam_review_bot::domain::Role;
use exam_review_bot::domain::entry::{Crew, Pair};
use exam_review_bot::sample;
use exam_review_bot::store::entry::Batch;
use fake_telegram::FakeUser;

/// The first county (D001) and its people on the first exam day, the roster in; the second
/// county has a clerk of its own.
struct ExamDay {
    h: Harness,
    /// The scores every candidate got (the sample's), as the paper 登分表 has them.
    scores: String,
    jia: FakeUser,
    yi: FakeUser,
    bing: FakeUser,
    inspector: FakeUser,
    officer: FakeUser,
    other_clerk: FakeUser,
    admin: FakeUser,
}

async fn exam_day() -> ExamDay {
    exam_day_with(|_| {}).await
}

async fn exam_day_with(configure: impl FnOnce(&mut Config)) -> ExamDay {
    let mut h = Harness::start_with(|c| {
        c.entry.mode = EntryMode::CountyBatches;
        configure(c);
    })
    .await;
    h.clock.set(shanghai(2023, 4, 26, 12, 0));
    sample::load_city_before_exam(&h.app, h.dir(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
        .await
        .unwrap();
    let d1 = sample::district_code(0);
    let jia = h.join(Role::EntryClerk, &d1, "登分员甲").await;
    let yi = h.join(Role::EntryClerk, &d1, "登分员乙").await;
    let bing = h.join(Role::EntryClerk, &d1, "登分员丙").await;
    let inspector = h.join(Role::Inspector, &d1, "纪检王").await;
    let officer = h.join(Role::DistrictOfficer, &d1, "县区李").await;
    let other_clerk = h
        .join(Role::EntryClerk, &sample::district_code(1), "邻县登分员")
        .await;
    let admin = h.join(Role::CityAdmin, sample::CITY_CODE, "市管理员").await;
    ExamDay {
        h,
        scores: sample::scores_csv(CANDIDATES, SCHOOLS, 7),
        jia,
        yi,
        bing,
        inspector,
        officer,
        other_clerk,
        admin,
    }
}

/// The schools whose candidates a county enters (the city's own 考区: the city-direct ones).
fn schools_of(county: &str) -> Vec<String> {
    sample::units(DISTRICTS, SCHOOLS)
        .into_iter()
        .filter(|u| u.kind == "学校")
        .filter(|u| {
            if county == sample::CITY_CODE {
                u.city_direct
            } else {
                u.parent == county && !u.city_direct
            }
        })
        .map(|u| u.code)
        .collect()
}

impl ExamDay {
    /// The batch of `county` on `date` `half_day`, with the county's name.
    async fn batch(&self, county: &str, date: &str, half_day: &str) -> (Batch, String) {
        self.h
            .app
            .entry_batches()
            .await
            .unwrap()
            .into_iter()
            .find(|(b, _)| b.county_code == county && b.exam_date == date && b.half_day == half_day)
            .expect("the batch is planned")
    }

    /// The batch's sheet as the paper 登分表 has it.
    fn sheet(&self, b: &Batch) -> String {
        sample::batch_csv(
            &self.scores,
            &schools_of(&b.county_code),
            &b.exam_date,
            &b.half_day,
        )
    }

    /// A clerk sends a sheet in chat, picks the batch (when asked), the reader and the two who
    /// watch (the first two of 丙, 纪检王, 甲, 乙 who are neither the clerk nor the reader).
    async fn send(
        &self,
        clerk: &FakeUser,
        file: &str,
        bytes: Vec<u8>,
        batch: &(Batch, String),
        reader: &str,
    ) {
        let (b, county) = batch;
        clerk.send_sheet(&format!("{file}-{}", b.id), file, bytes);
        let label = format!("{county} {}（#{}）", b.half_day_label(), b.id);
        self.h.expect(clerk, "哪个批次").await;
        clerk.press(&label);
        self.h.expect(clerk, "请选择本次报分的登分员").await;
        clerk.press(reader);
        let mut watchers = ["登分员丙", "纪检王", "登分员甲", "登分员乙"]
            .into_iter()
            .filter(|w| *w != clerk.first_name && *w != reader);
        self.h.expect(clerk, "监督报分").await;
        clerk.press(watchers.next().unwrap());
        self.h.expect(clerk, "监督录入").await;
        clerk.press(watchers.next().unwrap());
    }

    /// The pair with the first two of 丙 and the inspector, 甲, 乙 who are not in it watching.
    fn crew(&self, pair: Pair) -> Crew {
        let mut watchers = [self.bing.id, self.inspector.id, self.jia.id, self.yi.id]
            .into_iter()
            .filter(|w| *w != pair.entered && *w != pair.read);
        Crew {
            pair,
            watched_reading: watchers.next().unwrap(),
            watched_entering: watchers.next().unwrap(),
        }
    }

    /// An entry through the command line's path (the same `upload_entry`).
    async fn upload(&self, b: &Batch, text: &str, pair: Pair) -> Upload {
        self.upload_by(b, text, self.crew(pair)).await
    }

    /// The same, naming all four.
    async fn upload_by(&self, b: &Batch, text: &str, crew: Crew) -> Upload {
        let path = self
            .h
            .write(&format!("entry-{}.csv", b.id), text.as_bytes());
        self.h
            .app
            .upload_entry(Actor::Cli, b.id, &path, "entry.csv", crew)
            .await
            .unwrap()
    }
}

/// One row's 主实验 and 成绩 read one point lower (both still a valid row on their own).
fn misread(sheet: &str) -> (String, String, String, String) {
    let mut lines: Vec<String> = sheet.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    let (exam_no, score) = (cells[0].clone(), cells[13].clone());
    for col in [13, 14] {
        cells[col] = (cells[col].parse::<u32>().unwrap() - 1).to_string();
    }
    let lower = cells[13].clone();
    lines[1] = cells.join(",");
    (lines.join("\n") + "\n", exam_no, score, lower)
}

#[tokio::test]
async fn two_entries_with_the_roles_swapped_must_agree_before_the_inspector_seals() {
    let day = exam_day().await;
    let h = &day.h;
    let d1 = sample::district_code(0);
    let batch = day.batch(&d1, "2023-04-26", "上午").await;
    let sheet = day.sheet(&batch.0);
    let rows = sheet.lines().count() - 1;

    // 甲 enters while 乙 reads out: the first entry, sent as an .xlsx.
    let xlsx = sample::scores_xlsx(&sheet).unwrap();
    day.send(&day.jia, "登分表.xlsx", xlsx, &batch, "登分员乙")
        .await;
    h.expect(
        &day.jia,
        &format!(
            "第一次录入已收到：{rows} 名考生（报分 登分员乙，录入 登分员甲，监督报分 登分员丙，\
             监督录入 纪检王）"
        ),
    )
    .await;
    // The inspector who watched the entering hears of it too.
    h.expect(&day.inspector, "第一次录入已收到").await;
    h.expect(&day.yi, "等待交叉校对录入：由 登分员乙 录入、登分员甲 报分")
        .await;

    // Four people, each in one place (附件7 二): one clerk cannot both read out and enter, nor
    // watch their own reading; a watcher is of the county; and 丙 was not of the pair.
    let pair = Pair {
        entered: day.jia.id,
        read: day.yi.id,
    };
    for repeated in [
        Crew {
            pair: Pair {
                entered: day.yi.id,
                read: day.yi.id,
            },
            watched_reading: day.bing.id,
            watched_entering: day.inspector.id,
        },
        Crew {
            pair,
            watched_reading: day.yi.id,
            watched_entering: day.inspector.id,
        },
        Crew {
            pair,
            watched_reading: day.bing.id,
            watched_entering: day.bing.id,
        },
    ] {
        let same = day.upload_by(&batch.0, &sheet, repeated).await;
        assert!(
            matches!(same, Upload::Refused(ref s) if s.template == "entry_not_four"),
            "{same:?}"
        );
    }
    let stranger = day
        .upload_by(
            &batch.0,
            &sheet,
            Crew {
                pair,
                watched_reading: day.bing.id,
                watched_entering: day.other_clerk.id,
            },
        )
        .await;
    assert!(
        matches!(stranger, Upload::Refused(ref s) if s.template == "entry_not_county_watcher"),
        "{stranger:?}"
    );
    day.send(
        &day.bing,
        "校对.csv",
        sheet.clone().into_bytes(),
        &batch,
        "登分员甲",
    )
    .await;
    h.expect(&day.bing, "只有这两人可以上传").await;
    // Nor may 甲 and 乙 give the proofreading entry without swapping: the same pair again
    // corrects the first entry instead.

    // The proofreading entry (乙 enters, 甲 reads out), saved as GB18030 CSV by Excel, with one
    // row misread: 主实验 and 成绩 one point lower.
    let (misread, exam_no, score, lower) = misread(&sheet);
    day.send(
        &day.yi,
        "校对.csv",
        sample::gb18030(&misread),
        &batch,
        "登分员甲",
    )
    .await;
    let text = h.expect(&day.yi, "交叉校对录入已收到").await;
    assert!(text.contains("有 2 处不一致"), "{text}");
    assert!(text.contains(&format!("{exam_no} ")), "{text}");
    assert!(
        text.contains(&format!("· 成绩：{score} / {lower}")),
        "{text}"
    );
    assert!(text.contains("· 主实验："), "{text}");
    h.expect(&day.jia, "有 2 处不一致").await;
    // The inspector has no seal card, and sealing is refused while they differ.
    let press = h
        .app
        .seal_batch(day.inspector.id, day.inspector.id, batch.0.id)
        .await
        .unwrap();
    assert_eq!(press, Press::Stale);

    // 乙 corrects the proofreading entry after checking 试卷 and 校对册: both agree now.
    day.send(
        &day.yi,
        "校对-更正.csv",
        sheet.clone().into_bytes(),
        &batch,
        "登分员甲",
    )
    .await;
    h.expect(&day.yi, "两次录入完全一致").await;
    h.expect(&day.inspector, "两次录入一致").await;
    // A clerk cannot seal; the inspector does.
    let refused = h
        .app
        .seal_batch(day.jia.id, day.jia.id, batch.0.id)
        .await
        .unwrap();
    assert!(matches!(refused, Press::Denied(_)), "{refused:?}");
    day.inspector.press("🔒 封存本半天数据");
    h.expect(&day.jia, "已由纪检监督 纪检王封存").await;
    h.expect(&day.officer, "请于 2023年4月26日 22:00 前上报")
        .await;

    // Sealed: no upload is taken any more, by anyone.
    let late = day
        .upload(
            &batch.0,
            &misread,
            Pair {
                entered: day.jia.id,
                read: day.yi.id,
            },
        )
        .await;
    assert!(
        matches!(late, Upload::Refused(ref s) if s.template == "entry_sealed_refused"),
        "{late:?}"
    );

    // The officer reports the day's sealed batches; the city hears it.
    day.officer.press("📤 上报当天已封存批次");
    h.expect(&day.admin, "已上报 2023-04-26 的成绩数据").await;
    h.settle().await;
    day.h.stop().await;
}

#[tokio::test]
async fn a_county_sees_and_enters_only_its_own_batches() {
    let day = exam_day().await;
    let h = &day.h;
    let d1 = sample::district_code(0);
    let d2 = sample::district_code(1);
    let ours = day.batch(&d1, "2023-04-26", "上午").await;
    let theirs = day.batch(&d2, "2023-04-26", "上午").await;

    // The neighbouring county's clerk cannot upload to D001's batch …
    let path = h.write("d1.csv", day.sheet(&ours.0).as_bytes());
    let denied = h
        .app
        .upload_entry(
            Actor::Person(day.other_clerk.id),
            ours.0.id,
            &path,
            "d1.csv",
            day.crew(Pair {
                entered: day.other_clerk.id,
                read: day.jia.id,
            }),
        )
        .await
        .unwrap();
    assert!(
        matches!(denied, Upload::Refused(ref s) if s.template == "denied_other_county"),
        "{denied:?}"
    );
    // … nor is D001's batch among those offered to them; a D001 sheet sent to their own batch
    // is refused whole, naming each candidate of another batch.
    day.other_clerk
        .send_sheet("x1", "d1.csv", day.sheet(&ours.0).into_bytes());
    let text = h.expect(&day.other_clerk, "哪个批次").await;
    assert!(!text.contains(&ours.1), "{text}");
    let offered = h
        .fake
        .messages_to(day.other_clerk.id)
        .last()
        .unwrap()
        .buttons();
    assert!(
        offered.iter().all(|(label, _)| !label.contains(&ours.1)),
        "{offered:?}"
    );

    // Their board shows their county only.
    day.other_clerk.send("/status");
    let board = h.expect(&day.other_clerk, "登分进度").await;
    assert!(
        board.contains(&theirs.1) && !board.contains(&ours.1),
        "{board}"
    );

    // A sheet holding one candidate of another half-day is refused whole: nothing is taken.
    let mut mixed = day.sheet(&ours.0);
    let stranger = day.sheet(&day.batch(&d1, "2023-04-26", "下午").await.0);
    let stranger_row = stranger.lines().nth(1).unwrap();
    mixed.push_str(stranger_row);
    mixed.push('\n');
    let refused = day
        .upload(
            &ours.0,
            &mixed,
            Pair {
                entered: day.jia.id,
                read: day.yi.id,
            },
        )
        .await;
    let Upload::Problems(problems) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].reason, "不是本批次（本考区、本半天）的考生");
    assert_eq!(problems[0].value, stranger_row.split(',').next().unwrap());
    let (after, _) = day.batch(&d1, "2023-04-26", "上午").await;
    assert_eq!(after.mismatches, None);
    assert!(
        exam_review_bot::store::entry::first_pair(
            &mut h.app.db.pool.acquire().await.unwrap(),
            after.id
        )
        .await
        .unwrap()
        .is_none(),
        "a refused sheet leaves no entry"
    );

    // A file over the 20 MB a bot may download is answered, not fetched.
    day.jia.send_big_sheet("big", "全县.xlsx", 25 * 1024 * 1024);
    h.expect(&day.jia, "机器人只能下载 20 MB").await;
    h.settle().await;
    day.h.stop().await;
}

#[tokio::test]
async fn an_unreported_batch_is_absent_at_the_cutoff_once_and_only_one_sealed_in_time_is_accepted_late()
 {
    let mut day = exam_day().await;
    let d1 = sample::district_code(0);
    let morning = day.batch(&d1, "2023-04-26", "上午").await;
    let afternoon = day.batch(&d1, "2023-04-26", "下午").await;
    let (jia, yi) = (day.jia.id, day.yi.id);
    let pair = Pair {
        entered: jia,
        read: yi,
    };
    // The morning is entered twice, sealed and reported; the afternoon entered twice and sealed
    // in time, but its 上报 is missed.
    for b in [&morning.0, &afternoon.0] {
        let sheet = day.sheet(b);
        day.upload(b, &sheet, pair).await;
        let Upload::Taken { mismatches, .. } = day.upload(b, &sheet, pair.swapped()).await else {
            panic!("taken");
        };
        assert_eq!(mismatches.map(|m| m.len()), Some(0));
    }
    let h = &day.h;
    assert_eq!(
        h.app
            .seal_batch(day.inspector.id, day.inspector.id, morning.0.id)
            .await
            .unwrap(),
        Press::Accepted
    );
    assert_eq!(
        h.app
            .report_batches(day.officer.id, day.officer.id, morning.0.id)
            .await
            .unwrap(),
        Press::Accepted
    );
    assert_eq!(
        h.app
            .seal_batch(day.inspector.id, day.inspector.id, afternoon.0.id)
            .await
            .unwrap(),
        Press::Accepted
    );

    // An hour before the cutoff the county is reminded and the city told what is missing.
    h.sweep(shanghai(2023, 4, 26, 21, 0)).await;
    h.expect(&day.inspector, "须于 2023年4月26日 22:00 前上报")
        .await;
    let missing = h.expect(&day.admin, "的登分数据上报截止").await;
    assert!(
        missing.contains(&format!("#{}", afternoon.0.id)),
        "{missing}"
    );
    assert!(
        !missing.contains(&format!("#{} ", morning.0.id)),
        "{missing}"
    );

    // One second before the cutoff nothing is marked; at it, every batch of the day not
    // reported is 缺考 — the reported morning is not.
    let before = h
        .sweep(shanghai(2023, 4, 26, 21, 59) + chrono::Duration::seconds(59))
        .await;
    assert!(
        !before.sent.iter().any(|(k, _)| k == "entry-absent"),
        "{:?}",
        before.sent
    );
    let at = h.sweep(shanghai(2023, 4, 26, 22, 0)).await;
    let unreported_that_day = 3 * 2 - 1;
    assert!(
        at.sent
            .contains(&("entry-absent".into(), unreported_that_day)),
        "{:?}",
        at.sent
    );
    h.expect(&day.officer, &format!("批次 #{}", afternoon.0.id))
        .await;
    h.expect(&day.admin, "视为缺考").await;
    // Once, across a restart.
    day.h.restart().await;
    let again = day.h.sweep(shanghai(2023, 4, 26, 22, 1)).await;
    assert!(
        !again.sent.iter().any(|(k, _)| k == "entry-absent"),
        "{:?}",
        again.sent
    );
    let h = &day.h;
    let (absent, _) = day.batch(&d1, "2023-04-26", "下午").await;
    assert!(absent.is_absent());
    assert!(!day.batch(&d1, "2023-04-26", "上午").await.0.is_absent());
    // The 缺考 batch (sealed) takes no upload and cannot be reported.
    let refused = day.upload(&absent, &day.sheet(&absent), pair).await;
    assert!(
        matches!(refused, Upload::Refused(ref s) if s.template == "entry_sealed_refused"),
        "{refused:?}"
    );
    h.clock.set(shanghai(2023, 4, 26, 22, 1));
    assert_eq!(
        h.app
            .report_batches(day.officer.id, day.officer.id, absent.id)
            .await
            .unwrap(),
        Press::Accepted
    );
    h.expect(&day.officer, "没有可上报的批次").await;
    assert!(day.batch(&d1, "2023-04-26", "下午").await.0.is_absent());

    // Accepting late needs a reason; with one the batch sealed in time counts as reported, the
    // acceptance audited and the county told.
    h.clock.set(shanghai(2023, 4, 26, 22, 5));
    day.admin.send(&format!("/lift {}", absent.id));
    h.expect(&day.admin, "理由必填").await;
    day.admin.send(&format!(
        "/lift {} 县区网络中断，数据 12:00 已封存，经核实",
        absent.id
    ));
    let told = h
        .expect(
            &day.officer,
            "理由：县区网络中断，数据 12:00 已封存，经核实",
        )
        .await;
    assert!(told.contains("按已上报处理"), "{told}");
    let (accepted, _) = day.batch(&d1, "2023-04-26", "下午").await;
    assert!(!accepted.is_absent() && accepted.reported_at.is_some());
    let lifted: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_chain WHERE action = 'entry-lift'")
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
    assert_eq!(lifted.0, 1);
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let chain = exam_review_bot::store::audit_chain::verify(&mut conn)
        .await
        .unwrap();
    assert!(
        matches!(
            chain,
            exam_review_bot::store::audit_chain::Verdict::Intact { .. }
        ),
        "{chain:?}"
    );
    drop(conn);

    // The next morning is entered twice in the evening but not sealed by the cutoff. At the
    // cutoff, before any sweep has marked it, it takes neither a seal nor an upload; marked
    // 缺考, it cannot be accepted late: its data was not in the bot, agreed and sealed, in time.
    let (next, _) = day.batch(&d1, "2023-04-27", "上午").await;
    h.clock.set(shanghai(2023, 4, 27, 21, 0));
    let sheet = day.sheet(&next);
    day.upload(&next, &sheet, pair).await;
    day.upload(&next, &sheet, pair.swapped()).await;
    h.clock.set(shanghai(2023, 4, 27, 22, 0));
    assert_eq!(
        h.app
            .seal_batch(day.inspector.id, day.inspector.id, next.id)
            .await
            .unwrap(),
        Press::Stale
    );
    let refused = day.upload(&next, &sheet, pair).await;
    assert!(
        matches!(refused, Upload::Refused(ref s) if s.template == "entry_absent_refused"),
        "{refused:?}"
    );
    h.sweep(shanghai(2023, 4, 27, 22, 0)).await;
    day.admin
        .send(&format!("/lift {} 当晚已录入，经核实", next.id));
    h.expect(&day.admin, "未在截止时间").await;
    assert!(day.batch(&d1, "2023-04-27", "上午").await.0.is_absent());

    // The other days pass unreported: every batch is reported or 缺考, and /publish
    // publishes from them.
    h.sweep(shanghai(2023, 4, 28, 22, 0)).await;
    h.clock.set(shanghai(2023, 4, 29, 9, 0));
    day.admin.send("/status");
    let board = h.expect(&day.admin, "登分进度").await;
    assert!(board.contains("缺考"), "{board}");
    day.admin.press("📊 登分进度表（.xlsx）");
    h.expect(&day.admin, "登分进度表：").await;
    h.app.publish(Actor::Cli, None).await.unwrap();
    // Published: a 缺考 is no longer lifted.
    let (still_absent, _) = day.batch(&d1, "2023-04-27", "上午").await;
    day.admin.send(&format!("/lift {} 补报", still_absent.id));
    h.expect(&day.admin, "本考试季成绩已公布").await;
    let school = &schools_of(&d1)[0];
    let published = h.school_candidates(school).await;
    let scored: Vec<_> = published
        .iter()
        .filter(|c| c.exam_date == "2023-04-26")
        .collect();
    assert!(
        !scored.is_empty() && scored.iter().all(|c| !c.is_absent()),
        "the 26th was reported"
    );
    let later: Vec<_> = published
        .iter()
        .filter(|c| c.exam_date != "2023-04-26")
        .collect();
    assert!(!later.is_empty() && later.iter().all(|c| c.is_absent() && c.sitting() == "缺考"));
    let sheet = day.sheet(&morning.0);
    for c in scored.iter().filter(|c| c.half_day == "上午") {
        let line = sheet.lines().find(|l| l.starts_with(&c.exam_no)).unwrap();
        let score: u32 = line.split(',').nth(13).unwrap().parse().unwrap();
        assert_eq!(c.score().tenths(), score * 10, "{}", c.exam_no);
    }
    // Published: no batch takes an upload; a score changes only through a review now.
    let after = day.upload(&morning.0, &sheet, pair).await;
    assert!(
        matches!(after, Upload::Refused(ref s) if s.template == "entry_published"),
        "{after:?}"
    );
    h.settle().await;
    day.h.stop().await;
}

/// A city that keeps 附件7's letter with no exception (`entry.late_report = "never"`): even a
/// batch sealed in time stays 缺考 when its 上报 is missed.
#[tokio::test]
async fn where_the_city_takes_no_late_report_a_batch_sealed_in_time_stays_absent() {
    let day = exam_day_with(|c| c.entry.late_report = LateReport::Never).await;
    let h = &day.h;
    let (b, _) = day
        .batch(&sample::district_code(0), "2023-04-26", "上午")
        .await;
    let pair = Pair {
        entered: day.jia.id,
        read: day.yi.id,
    };
    let sheet = day.sheet(&b);
    day.upload(&b, &sheet, pair).await;
    day.upload(&b, &sheet, pair.swapped()).await;
    assert_eq!(
        h.app
            .seal_batch(day.inspector.id, day.inspector.id, b.id)
            .await
            .unwrap(),
        Press::Accepted
    );
    h.sweep(shanghai(2023, 4, 26, 22, 0)).await;
    h.clock.set(shanghai(2023, 4, 26, 22, 10));
    day.admin.send(&format!("/lift {} 网络中断", b.id));
    h.expect(&day.admin, "本市不接受补报").await;
    assert!(
        day.batch(&sample::district_code(0), "2023-04-26", "上午")
            .await
            .0
            .is_absent()
    );
    day.h.stop().await;
}

/// An entry clerk's "sheet" of twenty thousand one-cell rows (a few hundred KB): the bot reads
/// no further than the batch's candidates and a margin, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sheet_of_endless_rows_is_refused_at_the_batchs_size() {
    let day = exam_day().await;
    let h = &day.h;
    let batch = day
        .batch(&sample::district_code(0), "2023-04-26", "上午")
        .await;
    let candidates = day.sheet(&batch.0).lines().count() - 1;
    let bomb = exam_review_bot::import::bombs::Bomb::TinyRows.build(1);
    day.send(&day.jia, "登分表.xlsx", bomb, &batch, "登分员乙")
        .await;
    let bound = candidates + candidates / 10 + 100;
    h.expect(
        &day.jia,
        &format!("文件超过 {bound} 行（本批次 {candidates} 名考生）"),
    )
    .await;
    day.h.stop().await;
}

/// Every message the bot sent to a chat that still shows `needle` (deleted ones show nothing).
fn showing(day: &ExamDay, chat: &FakeUser, needle: &str) -> usize {
    day.h
        .fake
        .messages_to(chat.id)
        .iter()
        .filter(|m| m.text.contains(needle))
        .count()
}

/// The password a message shows.
fn password_in(text: &str) -> String {
    regex::Regex::new(r"[34679A-Y]{4}(-[34679A-Y]{4}){4}")
        .unwrap()
        .find(text)
        .expect("the password is in the message")
        .as_str()
        .to_string()
}

/// The half-day password (附件7 二: 每半天考试结束后由其设置考试成绩数据密码): sealing encrypts the
/// agreed rows under a password shown once to the inspector, outside the outbox, and deleted
/// from the chat after ten minutes (or at once, when they say they copied it). The bot keeps
/// the archive, never the password; opened with it later, the archive names any change made
/// behind the seal.
#[tokio::test]
async fn a_half_days_password_is_shown_once_and_opens_its_archive_naming_later_changes() {
    let day = exam_day().await;
    let h = &day.h;
    let d1 = sample::district_code(0);
    let pair = Pair {
        entered: day.jia.id,
        read: day.yi.id,
    };
    let (morning, _) = day.batch(&d1, "2023-04-26", "上午").await;
    let sheet = day.sheet(&morning);
    day.upload(&morning, &sheet, pair).await;
    day.upload(&morning, &sheet, pair.swapped()).await;
    h.expect(&day.inspector, "两次录入一致").await;
    day.inspector.press("🔒 封存本半天数据");
    let shown = h.expect(&day.inspector, "本半天成绩数据密码：").await;
    let password = password_in(&shown);
    assert!(shown.contains("10 分钟后从聊天中删除"), "{shown}");
    assert!(
        h.fake
            .messages_to(day.inspector.id)
            .iter()
            .filter(|m| m.text.contains(&password))
            .all(|m| m.reply_markup.is_none()),
        "no button on the password's message: a press would carry it back in its update"
    );
    h.expect(&day.officer, "请于 2023年4月26日 22:00 前上报")
        .await;
    h.settle().await;

    // Nowhere in the database: not in the outbox, the audit chain or a dialogue.
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    for holder in [
        "SELECT COUNT(*) FROM outbox WHERE body LIKE '%' || $1 || '%'",
        "SELECT COUNT(*) FROM audit_chain WHERE detail LIKE '%' || $1 || '%'",
        "SELECT COUNT(*) FROM dialogues WHERE data LIKE '%' || $1 || '%'",
    ] {
        let (n,): (i64,) = sqlx::query_as(holder)
            .bind(&password)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "{holder}");
    }
    let (audited,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_chain WHERE action = 'entry-seal' AND detail LIKE '%archive sha256%'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(audited, 1, "the archive's SHA-256 is in the audit chain");
    drop(conn);

    // Ten minutes later the message is gone from the chat.
    assert_eq!(showing(&day, &day.inspector, &password), 1);
    h.clock.set(shanghai(2023, 4, 26, 12, 11));
    assert!(
        h.fake
            .wait_until(h.patience, |f| f
                .messages_to(day.inspector.id)
                .iter()
                .all(|m| !m.text.contains(&password)))
            .await,
        "the password was taken back"
    );

    // The archive opens with the password as the inspector copied it (case and dashes aside),
    // and with nothing else.
    let typed = secret(&password.to_lowercase().replace('-', " "));
    let opened = h.app.open_half_day(morning.id, &typed).await.unwrap();
    assert_eq!(opened.rows.len(), morning.candidates as usize);
    assert!(opened.entry_changes.is_empty(), "as sealed");
    assert!(opened.published_changes.is_none(), "not published yet");
    let wrong = h
        .app
        .open_half_day(morning.id, &secret("AAAA-AAAA-AAAA-AAAA-AAAA"))
        .await;
    assert_eq!(
        wrong.err().map(|e| e.to_string()),
        Some("wrong password for this half-day".to_string())
    );

    // Someone changes a sealed score behind the bot's back: the archive names it.
    let exam_no = opened.rows[0].exam_no.clone();
    let sealed = opened.rows[0].score;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    sqlx::query(
        "UPDATE entry_rows SET score = score + 10 WHERE batch_id = $1 AND side = 'a' AND exam_no = $2",
    )
    .bind(morning.id)
    .bind(&exam_no)
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let reopened = h.app.open_half_day(morning.id, &typed).await.unwrap();
    let named: Vec<_> = reopened
        .entry_changes
        .iter()
        .map(|m| (m.exam_no.as_str(), m.field, m.a.clone(), m.b.clone()))
        .collect();
    assert_eq!(
        named,
        vec![(
            exam_no.as_str(),
            "成绩",
            exam_review_bot::domain::score::Score::from_tenths(sealed as u32).to_string(),
            exam_review_bot::domain::score::Score::from_tenths(sealed as u32 + 10).to_string()
        )]
    );

    // The afternoon's inspector copies the password and takes it back at once.
    let (afternoon, _) = day.batch(&d1, "2023-04-26", "下午").await;
    let sheet = day.sheet(&afternoon);
    day.upload(&afternoon, &sheet, pair).await;
    day.upload(&afternoon, &sheet, pair.swapped()).await;
    h.expect(&day.inspector, &format!("批次 #{}（", afternoon.id))
        .await;
    h.expect(&day.inspector, "两次录入一致").await;
    day.inspector.press("🔒 封存本半天数据");
    let shown = h.expect(&day.inspector, "本半天成绩数据密码：").await;
    h.expect(
        &day.inspector,
        &format!("批次 #{} 的密码抄录好后", afternoon.id),
    )
    .await;
    day.inspector.press("✅ 已抄录，删除密码消息");
    let gone = password_in(&shown);
    assert!(
        h.fake
            .wait_until(h.patience, |f| f
                .messages_to(day.inspector.id)
                .iter()
                .all(|m| !m.visible_text().contains(&gone)))
            .await,
        "the copied password was taken back at once"
    );
    h.settle().await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (waiting,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM takebacks")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "nothing left to take back");
    drop(conn);
    day.h.stop().await;
}
