//! A simulated season against the fake Telegram: a city set up through the same use cases as
//! the command line, its scores published, and then school contacts filing review requests
//! through the chat dialogue while 班主任 and 校长 tap 同意 on their cards, as people would:
//! each waits for the bot's answer before the next step. It drives a bot running elsewhere
//! (the real binary, killed and restarted by a harness, or soaking for an hour) and knows
//! nothing of its database.

use crate::app::{Actor, App};
use crate::domain::Role;
use crate::fakeapi::{FakeTelegram, FakeUser};
use crate::sample;
use crate::store::{candidates, seasons};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

/// The people of one school, by Telegram user id, and the candidates its contact will file for.
#[derive(Debug, Clone)]
pub struct School {
    pub code: String,
    pub contact: i64,
    pub principal: i64,
    /// A 班主任 per class.
    pub teachers: Vec<i64>,
    /// 准考证号 of the school's candidates, each filed at most once.
    pub pupils: Vec<String>,
}

/// The whole cast.
#[derive(Debug, Clone)]
pub struct City {
    pub schools: Vec<School>,
}

/// A city of `schools` schools and `pupils` candidates each, published, with a contact, a
/// principal and a 班主任 for every class of every school bound (user ids from `first_user`).
pub async fn prepare(
    app: &App,
    dir: &Path,
    schools: usize,
    pupils: usize,
    first_user: i64,
) -> anyhow::Result<City> {
    let units = dir.join("units.csv");
    std::fs::write(&units, sample::units_csv(&sample::units(2, schools)))?;
    app.import_units(&units).await?;
    let today = chrono::Utc::now().date_naive();
    app.set_season(2023, today, chrono_tz::Asia::Shanghai, 30)
        .await?;
    let scores = dir.join("scores.csv");
    std::fs::write(&scores, sample::scores_csv(schools * pupils, schools, 5))?;
    app.import_scores(&scores).await?;
    let mut next_user = first_user;
    let mut bind = async |role, unit: &str, class: Option<&str>| -> anyhow::Result<i64> {
        let link = app.invite(role, unit, "模拟用户", class).await?;
        let code = link.rsplit('=').next().unwrap_or_default().to_string();
        next_user += 1;
        app.start(next_user, next_user, Some(&code)).await?;
        Ok(next_user)
    };
    let mut out = Vec::new();
    for s in 0..schools {
        let code = sample::school_code(s);
        let mut conn = app.db.pool.acquire().await?;
        let season = seasons::current(&mut conn)
            .await?
            .expect("a season was set");
        let candidates = candidates::of_school(&mut conn, season.id, &code).await?;
        drop(conn);
        let mut classes: Vec<String> = candidates.iter().map(|c| c.class_name.clone()).collect();
        classes.sort();
        classes.dedup();
        let contact = bind(Role::SchoolContact, &code, None).await?;
        let principal = bind(Role::Principal, &code, None).await?;
        let mut teachers = Vec::new();
        for class in &classes {
            teachers.push(bind(Role::HomeroomTeacher, &code, Some(class)).await?);
        }
        let pupils = candidates.into_iter().map(|c| c.exam_no).collect();
        out.push(School {
            code,
            contact,
            principal,
            teachers,
            pupils,
        });
    }
    app.publish(Actor::Cli, None).await?;
    Ok(City { schools: out })
}

const APPROVE: &str = "✅ 同意";

/// What a filer sends at each step of the /review dialogue, and what the bot's answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Command,
    ExamNo,
    Photo,
    Reason,
    Phone,
    Submit,
}

impl Step {
    const ALL: [Step; 6] = [
        Step::Command,
        Step::ExamNo,
        Step::Photo,
        Step::Reason,
        Step::Phone,
        Step::Submit,
    ];

    /// What the answer to this step contains.
    fn answer(self) -> &'static str {
        match self {
            Step::Command => "准考证号",
            Step::ExamNo => "的照片或 PDF",
            Step::Photo => "申请理由",
            Step::Reason => "联系方式",
            Step::Phone => "请核对申请内容",
            Step::Submit => "已提交",
        }
    }
}

/// A contact in the middle of filing: the step sent, when, and where the chat stood then.
struct Filing {
    exam_no: String,
    step: usize,
    sent_at: Instant,
    from: usize,
}

struct Filer {
    user: FakeUser,
    pupils: VecDeque<String>,
    filing: Option<Filing>,
}

/// What the simulated people saw: how long each answer took, how much they did.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// From sending a step (or tapping) to the answer arriving at Telegram.
    pub latencies: Vec<Duration>,
    pub filed: usize,
    pub approvals: usize,
    /// Inputs sent again after the bot had lost them (a kill between receiving and handling).
    pub resent: usize,
}

/// The people in motion.
pub struct Driver {
    fake: FakeTelegram,
    filers: Vec<Filer>,
    approvers: Vec<FakeUser>,
    /// How many messages of each approver's chat have been looked at.
    read: Vec<usize>,
    /// Cards tapped: (chat, message id) → when.
    tapped: HashMap<(i64, i64), Instant>,
    pub seen: Seen,
}

impl Driver {
    pub fn new(fake: &FakeTelegram, city: &City) -> Driver {
        let filers = city
            .schools
            .iter()
            .map(|s| Filer {
                user: fake.user(s.contact, "联系人"),
                pupils: s.pupils.iter().cloned().collect(),
                filing: None,
            })
            .collect();
        let approvers: Vec<FakeUser> = city
            .schools
            .iter()
            .flat_map(|s| s.teachers.iter().chain([&s.principal]))
            .map(|id| fake.user(*id, "审核人"))
            .collect();
        Driver {
            fake: fake.clone(),
            filers,
            read: vec![0; approvers.len()],
            approvers,
            tapped: HashMap::new(),
            seen: Seen::default(),
        }
    }

    /// A contact not busy filing starts a request for its next candidate; false when every
    /// contact is busy or has filed for all its candidates.
    pub fn start_request(&mut self) -> bool {
        let fake = &self.fake;
        let Some(filer) = self
            .filers
            .iter_mut()
            .filter(|f| f.filing.is_none() && !f.pupils.is_empty())
            .min_by_key(|f| std::cmp::Reverse(f.pupils.len()))
        else {
            return false;
        };
        let exam_no = filer.pupils.pop_front().expect("not empty");
        let from = fake.count_to(filer.user.id);
        filer.user.send("/review");
        filer.filing = Some(Filing {
            exam_no,
            step: 0,
            sent_at: Instant::now(),
            from,
        });
        true
    }

    /// Requests being filed now.
    pub fn filing(&self) -> usize {
        self.filers.iter().filter(|f| f.filing.is_some()).count()
    }

    /// Candidates nobody has started filing for yet.
    pub fn remaining(&self) -> usize {
        self.filers.iter().map(|f| f.pupils.len()).sum()
    }

    /// Cards showing 同意 in the approvers' chats now.
    pub fn cards_open(&self) -> usize {
        self.approvers
            .iter()
            .flat_map(|a| self.fake.messages_to(a.id))
            .filter(|m| m.buttons().iter().any(|(l, _)| l == APPROVE))
            .count()
    }

    /// Everyone looks at their chat once: a filer whose answer came sends the next step, an
    /// approver taps 同意 on every card not yet tapped.
    pub fn tick(&mut self) {
        let fake = self.fake.clone();
        for filer in &mut self.filers {
            let Some(f) = &mut filer.filing else { continue };
            let messages = fake.messages_to_from(filer.user.id, f.from);
            let step = Step::ALL[f.step];
            let Some(answer) = messages
                .iter()
                .find(|m| m.visible_text().contains(step.answer()))
            else {
                continue;
            };
            self.seen
                .latencies
                .push(answer.at.saturating_duration_since(f.sent_at));
            if f.step + 1 == Step::ALL.len() {
                self.seen.filed += 1;
                filer.filing = None;
                continue;
            }
            f.step += 1;
            f.from += messages.len();
            f.sent_at = Instant::now();
            send_step(&filer.user, Step::ALL[f.step], &f.exam_no, &messages);
        }
        for (approver, read) in self.approvers.iter().zip(&mut self.read) {
            let new = fake.messages_to_from(approver.id, *read);
            *read += new.len();
            for m in new {
                let Some((_, data)) = m.buttons().into_iter().find(|(l, _)| l == APPROVE) else {
                    continue;
                };
                if self.tapped.contains_key(&(m.chat_id, m.message_id)) {
                    continue;
                }
                self.tapped
                    .insert((m.chat_id, m.message_id), Instant::now());
                approver.press_data(&m, &data);
                self.seen.approvals += 1;
            }
        }
    }

    /// After the bot lost updates (it was killed between taking and handling them): what has
    /// waited longer than `patience` for its answer is sent or tapped again. Call it only when
    /// the bot has caught up, or a slow answer would be taken for a lost one.
    pub fn resend_stalled(&mut self, patience: Duration) {
        let fake = self.fake.clone();
        for filer in &mut self.filers {
            let Some(f) = &mut filer.filing else { continue };
            if f.sent_at.elapsed() < patience {
                continue;
            }
            // The answer is looked for from the first sending on: if that one was not lost
            // after all, its answer counts, and the repeat is an input out of place, which the
            // bot answers with a hint.
            let messages = fake.messages_to(filer.user.id);
            f.sent_at = Instant::now();
            self.seen.resent += 1;
            send_step(&filer.user, Step::ALL[f.step], &f.exam_no, &messages);
        }
        // A card still showing 同意 a while after its tap: the tap was lost.
        for approver in &self.approvers {
            for m in fake.messages_to(approver.id) {
                let Some((_, data)) = m.buttons().into_iter().find(|(l, _)| l == APPROVE) else {
                    continue;
                };
                let key = (m.chat_id, m.message_id);
                if self
                    .tapped
                    .get(&key)
                    .is_some_and(|at| at.elapsed() >= patience)
                {
                    self.tapped.insert(key, Instant::now());
                    approver.press_data(&m, &data);
                    self.seen.resent += 1;
                }
            }
        }
    }
}

fn send_step(user: &FakeUser, step: Step, exam_no: &str, messages: &[crate::fakeapi::Sent]) {
    match step {
        Step::Command => user.send("/review"),
        Step::ExamNo => user.send(exam_no),
        Step::Photo => user.send_photo(&format!("form-{exam_no}")),
        Step::Reason => user.send("主实验漏评"),
        Step::Phone => user.send("13800001234"),
        Step::Submit => {
            let confirm = messages.iter().rev().find_map(|m| {
                m.buttons()
                    .into_iter()
                    .find(|(l, _)| l == "✅ 提交")
                    .map(|(_, d)| (m.clone(), d))
            });
            if let Some((message, data)) = confirm {
                user.press_data(&message, &data);
            }
        }
    }
}
