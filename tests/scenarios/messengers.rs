//! The main stories told once and played on both messengers: the same people, the same taps,
//! the same answers, on Telegram and on DingTalk. A `Person` is someone in a one-to-one chat
//! with the bot on either; the harness runs the bot on the messenger the story is played on.

use crate::support::*;
use exam_review_bot::app::Actor;
use exam_review_bot::config::Config;
use exam_review_bot::domain::Role;
use exam_review_bot::sample;
use fake_dingtalk::FakeDingUser;
use fake_telegram::FakeUser;

/// Someone in a private chat with the bot, on the story's messenger.
pub(crate) enum Person {
    Telegram(FakeUser),
    DingTalk(FakeDingUser),
}

impl Person {
    pub(crate) fn send(&self, text: &str) {
        match self {
            Person::Telegram(u) => u.send(text),
            Person::DingTalk(u) => {
                u.send(text);
            }
        }
    }

    pub(crate) fn press(&self, label: &str) {
        match self {
            Person::Telegram(u) => u.press(label),
            Person::DingTalk(u) => {
                u.press(label);
            }
        }
    }

    /// A photo of a signed form.
    pub(crate) fn send_photo(&self, name: &str) {
        match self {
            Person::Telegram(u) => u.send_photo(name),
            Person::DingTalk(u) => {
                u.send_picture(fake_telegram::SAMPLE_PNG.to_vec());
            }
        }
    }

    /// A PDF sent as a file (a doctor's certificate).
    pub(crate) fn send_pdf(&self, name: &str) {
        match self {
            Person::Telegram(u) => u.send_file(&format!("pdf-{name}"), name, "application/pdf"),
            Person::DingTalk(u) => {
                u.send_file(name, b"%PDF-1.4 fake".to_vec());
            }
        }
    }

    /// A spreadsheet sent as a file.
    pub(crate) fn send_sheet(&self, name: &str, bytes: Vec<u8>) {
        match self {
            Person::Telegram(u) => u.send_sheet(&format!("sheet-{name}"), name, bytes),
            Person::DingTalk(u) => {
                u.send_file(name, bytes);
            }
        }
    }
}

impl Harness {
    /// Someone receives an invite for `role` in `unit` (and `class`) and sends its code; returns
    /// them once the bot has welcomed them.
    pub(crate) async fn person(
        &mut self,
        role: Role,
        unit: &str,
        class: Option<&str>,
        name: &str,
    ) -> Person {
        let n = self.next_person();
        let person = match &self.ding {
            Some(ding) => Person::DingTalk(ding.user(&format!("staff{n}"), name)),
            None => Person::Telegram(self.fake.user(n, name)),
        };
        let link = self.app.invite(role, unit, name, class).await.unwrap();
        let code = link.rsplit(['=', ' ']).next().unwrap().to_string();
        person.send(&format!("/start {code}"));
        self.hears(&person, "绑定成功").await;
        person
    }

    /// Waits for the next message to `person` (after those already read) that says `needle`;
    /// its text as the person sees it.
    pub(crate) async fn hears(&self, person: &Person, needle: &str) -> String {
        let heard = match (person, &self.ding) {
            (Person::Telegram(u), _) => self.fake.expect(u.id, needle, self.patience).await,
            (Person::DingTalk(u), Some(ding)) => {
                ding.expect(&u.staff_id, needle, self.patience).await
            }
            (Person::DingTalk(_), None) => panic!("a DingTalk person in a Telegram story"),
        };
        heard.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The files the bot sent `person`: each one's name and bytes.
    pub(crate) fn files_to(&self, person: &Person) -> Vec<(String, Vec<u8>)> {
        match (person, &self.ding) {
            (Person::Telegram(u), _) => self
                .fake
                .messages_to(u.id)
                .into_iter()
                .filter_map(|m| m.document)
                .collect(),
            (Person::DingTalk(u), Some(ding)) => ding
                .messages_to(&u.staff_id)
                .into_iter()
                .filter_map(|m| m.file)
                .collect(),
            (Person::DingTalk(_), None) => Vec::new(),
        }
    }

    /// How many messages to `person` say `needle`.
    pub(crate) fn count_heard(&self, person: &Person, needle: &str) -> usize {
        match (person, &self.ding) {
            (Person::Telegram(u), _) => self
                .fake
                .count_sent(|m| m.chat_id == u.id && m.visible_text().contains(needle)),
            (Person::DingTalk(u), Some(ding)) => ding
                .messages_to(&u.staff_id)
                .iter()
                .filter(|m| m.visible_text().contains(needle))
                .count(),
            (Person::DingTalk(_), None) => 0,
        }
    }
}

/// A published season of the sample city and the people of school 0's first candidate that a
/// review request meets before the city: the school's contact, the candidate's 班主任, the 校长
/// and the district's officer.
pub(crate) struct SchoolRoute {
    pub(crate) pupil: exam_review_bot::store::candidates::Candidate,
    pub(crate) contact: Person,
    pub(crate) teacher: Person,
    pub(crate) principal: Person,
    pub(crate) officer: Person,
}

impl Harness {
    pub(crate) async fn school_route(&mut self) -> SchoolRoute {
        self.sample_city().await;
        self.app.publish(Actor::Cli, None).await.unwrap();
        let school = sample::school_code(0);
        let pupil = self.school_candidates(&school).await.remove(0);
        let contact = self
            .person(Role::SchoolContact, &school, None, "一中 联系人")
            .await;
        let class = Some(pupil.class_name.as_str());
        let teacher = self
            .person(Role::HomeroomTeacher, &school, class, "班主任 王老师")
            .await;
        let principal = self
            .person(Role::Principal, &school, None, "一中 校长")
            .await;
        let district = sample::district_code(0);
        let officer = self
            .person(Role::DistrictOfficer, &district, None, "城区 李科长")
            .await;
        SchoolRoute {
            pupil,
            contact,
            teacher,
            principal,
            officer,
        }
    }
}

/// Plays a story on Telegram and on DingTalk, each a test of its own.
macro_rules! on_both_messengers {
    ($($story:ident),* $(,)?) => {$(
        mod $story {
            use crate::support::Platform;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_telegram() {
                super::$story(Platform::Telegram).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_dingtalk() {
                super::$story(Platform::Dingtalk).await
            }
        }
    )*};
}

on_both_messengers!(
    publication_reaches_every_school_contact_with_its_own_sheet,
    a_corrected_score_climbs_every_level_and_comes_back_down,
    the_city_admin_is_reminded_before_the_publication_deadline,
    an_exemption_climbs_school_county_and_city,
    a_half_days_scores_are_entered_twice_sealed_and_reported,
);

async fn publication_reaches_every_school_contact_with_its_own_sheet(on: Platform) {
    let mut h = Harness::start_on(on, |_| {}).await;
    h.sample_city().await;
    let admin = h
        .person(Role::CityAdmin, sample::CITY_CODE, None, "周主任")
        .await;
    let mut contacts = Vec::new();
    for s in 0..SCHOOLS {
        let code = sample::school_code(s);
        let name = format!("联系人{s}");
        contacts.push((
            code.clone(),
            h.person(Role::SchoolContact, &code, None, &name).await,
        ));
    }

    admin.send("/publish");
    h.hears(&admin, "确认公布").await;
    admin.press("✅ 确认公布");
    h.hears(&admin, "成绩通知发送完毕").await;
    h.settle().await;

    for (code, contact) in &contacts {
        let notice = h.hears(contact, "复核").await;
        assert!(notice.contains("2023年5月2日 24:00"), "{notice}");
        let files = h.files_to(contact);
        assert_eq!(
            files.len(),
            1,
            "{code}'s contact got {} sheets",
            files.len()
        );
        assert!(files[0].0.ends_with(".xlsx"), "{}", files[0].0);
        let rows = h.cells(&files[0].1);
        assert!(rows.len() > 1, "{code}'s sheet is empty");
    }
    h.stop().await;
}

async fn a_corrected_score_climbs_every_level_and_comes_back_down(on: Platform) {
    let mut h = Harness::start_on(on, city_wide_group).await;
    let SchoolRoute {
        pupil,
        contact,
        teacher,
        principal,
        officer,
    } = h.school_route().await;
    let city = sample::CITY_CODE;
    let reviewer1 = h.person(Role::CityReviewer, city, None, "复核组 甲").await;
    let reviewer2 = h.person(Role::CityReviewer, city, None, "复核组 乙").await;
    let inspector = h.person(Role::Inspector, city, None, "纪检 丙").await;

    // The school's contact files, with a photo of the signed form.
    contact.send("/review");
    h.hears(&contact, "准考证号").await;
    contact.send(&pupil.exam_no);
    h.hears(&contact, "的照片或 PDF").await;
    contact.send_photo("form");
    h.hears(&contact, "申请理由").await;
    contact.send("主实验第3项漏评");
    h.hears(&contact, "联系方式").await;
    contact.send("13800001234");
    h.hears(&contact, "请核对申请内容").await;
    contact.press("✅ 提交");
    h.hears(&contact, "已提交").await;

    // 班主任 → 校长 → 城区, each tapping 同意 on their card.
    for approver in [&teacher, &principal, &officer] {
        h.hears(approver, "待您审核").await;
        approver.press("✅ 同意");
    }
    h.hears(&contact, "市级复核小组").await;

    // The group: 甲 records a correction of one point, 乙 and the inspector sign.
    h.hears(&reviewer1, "市级复核").await;
    reviewer1.press("更正成绩");
    h.hears(&reviewer1, "更正后的总分").await;
    let new_total = pupil.score + 10;
    reviewer1.send(&(new_total / 10).to_string());
    h.hears(&reviewer1, "四项得分").await;
    let limits = [160, 60, 60, 20];
    let mut items = [
        pupil.item_main.unwrap(),
        pupil.item_sec1.unwrap(),
        pupil.item_sec2.unwrap(),
        pupil.item_tidy.unwrap(),
    ];
    let i = (0..4).find(|i| items[*i] < limits[*i]).unwrap();
    items[i] += 10;
    let items: Vec<String> = items.iter().map(|v| (v / 10).to_string()).collect();
    reviewer1.send(&items.join(" "));
    h.hears(&reviewer1, "错误类别").await;
    reviewer1.press("合分错误");
    h.hears(&reviewer1, "备注").await;
    reviewer1.send("第3项漏记1分，已更正");
    h.hears(&reviewer1, "请核对复核结果").await;
    reviewer1.press("✅ 确认记录");
    for signer in [&reviewer2, &inspector] {
        h.hears(signer, "请签字确认").await;
        signer.press("✅ 确认");
    }

    // The result goes down to the school, its teacher and the district.
    for person in [&contact, &teacher, &officer] {
        let result = h.hears(person, "成绩复核结果").await;
        assert!(
            result.contains(&format!("复核后成绩：{}", new_total / 10)),
            "{result}"
        );
    }
    h.settle().await;
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (score,): (i64,) = sqlx::query_as("SELECT score FROM candidates WHERE id = $1")
        .bind(pupil.id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(score, new_total);
    let (approvals,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM review_events WHERE action = 'approve'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(approvals, 3, "one approval a level");
    drop(conn);
    h.stop().await;
}

async fn the_city_admin_is_reminded_before_the_publication_deadline(on: Platform) {
    let tune = |_: &mut Config| {};
    let mut h = Harness::start_on(on, tune).await;
    h.sample_city().await;
    let admin = h
        .person(Role::CityAdmin, sample::CITY_CODE, None, "周主任")
        .await;
    // The deadline is 24:00 on April 30: the 24-hour reminder waits for the morning.
    for (when, said) in [
        (shanghai(2023, 4, 30, 0, 0), 0),
        (shanghai(2023, 4, 30, 7, 0), 1),
        (shanghai(2023, 4, 30, 8, 0), 1),
    ] {
        h.clock.set(when);
        h.sweep(when).await;
        h.settle().await;
        assert_eq!(h.count_heard(&admin, "还剩约 24 小时"), said, "at {when}");
    }
    h.stop().await;
}

async fn an_exemption_climbs_school_county_and_city(on: Platform) {
    let mut h = Harness::start_on(on, |_| {}).await;
    h.clock.set(shanghai(2023, 4, 1, 10, 0));
    let closes = shanghai(2023, 4, 10, 18, 0);
    sample::load_units_and_season(&h.app, h.dir(), DISTRICTS, SCHOOLS)
        .await
        .unwrap();
    let first_day = chrono::NaiveDate::from_ymd_opt(2023, 4, 26);
    h.app
        .set_exemption_window(Some(closes), first_day)
        .await
        .unwrap();
    let roster = h.write(
        "roster.csv",
        sample::roster_csv(CANDIDATES, SCHOOLS, 7).as_bytes(),
    );
    h.app.import_candidates(&roster).await.unwrap();
    let school = sample::school_code(0);
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let season = h.app.cli_season().await.unwrap().unwrap();
    let pupil = exam_review_bot::store::roster::by_exam_no(&mut conn, season.id, "202300000001")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let class = Some(pupil.class_name.as_str());
    let teacher = h
        .person(Role::HomeroomTeacher, &school, class, "班主任 王老师")
        .await;
    let contact = h
        .person(Role::SchoolContact, &school, None, "一中 联系人")
        .await;
    let leader = h
        .person(Role::SchoolReviewLeader, &school, None, "审核组长 孙老师")
        .await;
    let principal = h
        .person(Role::Principal, &school, None, "校长 李校长")
        .await;
    let district = sample::district_code(0);
    let mut officers = Vec::new();
    for name in ["东湖区 赵科长", "东湖区 钱科员", "东湖区 孙科员"] {
        officers.push(h.person(Role::DistrictOfficer, &district, None, name).await);
    }
    let admin = h
        .person(Role::CityAdmin, sample::CITY_CODE, None, "周主任")
        .await;

    // The 班主任 fills 附件2 in chat: the photo, two proofs and the signed page.
    teacher.send("/exempt");
    h.hears(&teacher, "准考证号").await;
    teacher.send(&pupil.exam_no);
    h.hears(&teacher, "年龄").await;
    teacher.press("✅ 年龄无误");
    h.hears(&teacher, "联系人").await;
    teacher.send("王父");
    h.hears(&teacher, "联系方式").await;
    teacher.send("13800001234");
    h.hears(&teacher, "证明材料的种类").await;
    teacher.press("残疾证");
    h.hears(&teacher, "申请事由").await;
    teacher.send("右臂骨折，无法完成实验操作");
    h.hears(&teacher, "一寸照片").await;
    teacher.send_photo("photo");
    h.hears(&teacher, "证明材料").await;
    teacher.send_photo("proof1");
    h.hears(&teacher, "已收到 1 份").await;
    teacher.send_pdf("诊断证明.pdf");
    h.hears(&teacher, "已收到 2 份").await;
    teacher.press("✅ 证明已发完");
    h.hears(&teacher, "签字的申请页").await;
    teacher.send_photo("page");
    h.hears(&teacher, "请核对免考申请内容").await;
    teacher.press("✅ 提交");
    h.hears(&teacher, "已由").await;

    // The school: 组长, then 校长; the county: three officers sign, the third sends it up.
    h.hears(&leader, "免考申请 #").await;
    leader.press("✅ 同意");
    h.hears(&principal, "免考申请 #").await;
    principal.press("✅ 同意");
    for officer in &officers {
        h.hears(officer, "免考申请 #").await;
        officer.press("✅ 同意");
    }
    h.hears(&officers[2], "免考申请上报市级（附件3）").await;
    officers[2].press("📤 上报附件3（1 份）");
    h.hears(&admin, "已上报免考汇总表（附件3）").await;
    let (name, _) = h.files_to(&admin).remove(0);
    assert!(name.starts_with("附件3_免考汇总表_东湖区_上报"), "{name}");
    h.hears(&admin, "免考申请 #").await;
    admin.press("✅ 同意");
    for side in [&teacher, &contact] {
        let done = h.hears(side, "该考生免考").await;
        assert!(done.contains("18"), "{done}");
    }

    // 附件2 with the 一寸 photo fetched from the messenger and printed in its box.
    let mut conn = h.app.db.pool.acquire().await.unwrap();
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM review_requests WHERE kind = 'exemption'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let form = h.app.export_review_form(id).await.unwrap();
    assert!(form.bytes.windows(14).any(|w| w == b"xl/media/image"));
    h.stop().await;
}

async fn a_half_days_scores_are_entered_twice_sealed_and_reported(on: Platform) {
    let tune = |c: &mut Config| c.entry.mode = exam_review_bot::config::EntryMode::CountyBatches;
    let mut h = Harness::start_on(on, tune).await;
    h.clock.set(shanghai(2023, 4, 26, 12, 0));
    sample::load_city_before_exam(&h.app, h.dir(), DISTRICTS, SCHOOLS, CANDIDATES, 7)
        .await
        .unwrap();
    let county = sample::district_code(0);
    let jia = h.person(Role::EntryClerk, &county, None, "登分员甲").await;
    let yi = h.person(Role::EntryClerk, &county, None, "登分员乙").await;
    h.person(Role::EntryClerk, &county, None, "登分员丙").await;
    let inspector = h.person(Role::Inspector, &county, None, "纪检王").await;
    let officer = h
        .person(Role::DistrictOfficer, &county, None, "县区李")
        .await;
    let admin = h
        .person(Role::CityAdmin, sample::CITY_CODE, None, "市管理员")
        .await;
    let (batch, name) = h
        .app
        .entry_batches()
        .await
        .unwrap()
        .into_iter()
        .find(|(b, _)| {
            b.county_code == county && b.exam_date == "2023-04-26" && b.half_day == "上午"
        })
        .unwrap();
    let schools: Vec<String> = sample::units(DISTRICTS, SCHOOLS)
        .into_iter()
        .filter(|u| u.kind == "学校" && u.parent == county && !u.city_direct)
        .map(|u| u.code)
        .collect();
    let scores = sample::scores_csv(CANDIDATES, SCHOOLS, 7);
    let sheet = sample::batch_csv(&scores, &schools, "2023-04-26", "上午");
    let label = format!("{name} {}（#{}）", batch.half_day_label(), batch.id);

    // 甲 enters while 乙 reads out, then 乙 enters while 甲 reads out; 丙 and the inspector watch.
    let entries = [
        (
            &jia,
            "登分表.xlsx",
            sample::scores_xlsx(&sheet).unwrap(),
            "登分员乙",
        ),
        (&yi, "校对.csv", sheet.clone().into_bytes(), "登分员甲"),
    ];
    for (clerk, file, bytes, reader) in entries {
        if reader == "登分员甲" {
            h.hears(clerk, "等待交叉校对录入").await;
        }
        clerk.send_sheet(file, bytes);
        h.hears(clerk, "哪个批次").await;
        clerk.press(&label);
        h.hears(clerk, "请选择本次报分的登分员").await;
        clerk.press(reader);
        h.hears(clerk, "请选择监督报分").await;
        clerk.press("登分员丙");
        h.hears(clerk, "请选择监督录入").await;
        clerk.press("纪检王");
    }
    h.hears(&yi, "两次录入完全一致").await;
    h.hears(&inspector, "两次录入一致").await;
    inspector.press("🔒 封存本半天数据");
    h.hears(&jia, "已由纪检监督 纪检王封存").await;
    h.hears(&officer, "请于 2023年4月26日 22:00 前上报").await;
    officer.press("📤 上报当天已封存批次");
    h.hears(&admin, "已上报 2023-04-26 的成绩数据").await;
    h.settle().await;
    h.stop().await;
}
