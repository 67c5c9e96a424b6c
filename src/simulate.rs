//! A simulated season against the fake Telegram: a city set up through the same use cases as
//! the command line, its scores published, and then school contacts filing review requests
//! in one message each (the signed form's photo, captioned) and 提交 while 班主任 and 校长
//! tap 同意 on their cards, as people would:
//! each waits for the bot's answer before the next step. On the whole route (`Reach`) each
//! 复核小组 then records 维持原成绩 through its dialogue, its other members sign, one of them
//! sends the unit's batch up (上报) once its card has settled, and the city's 复审 agrees. It
//! drives a bot running elsewhere (the real binary, killed and restarted by a harness, or
//! soaking for an hour) and knows nothing of its database.

pub mod province;

use crate::app::{Actor, App};
use crate::domain::Role;
use crate::sample;
use crate::store::candidates;
use fake_telegram::{FakeTelegram, FakeUser, Sent};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

/// How far the simulated people carry each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// 班主任 and 校长 approve; no review group is bound, so the requests then wait (the
    /// soak's steady load).
    Approvals,
    /// Every level of the documents' route, to the result reaching the school.
    WholeRoute,
}

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

/// A 复核小组 as the simulated people play it: one member records every result, the other
/// two sign, and the first of those also sends the unit's batch up.
#[derive(Debug, Clone)]
pub struct Group {
    pub recorder: i64,
    pub signers: [i64; 2],
}

/// The whole cast.
#[derive(Debug, Clone)]
pub struct City {
    pub reach: Reach,
    pub schools: Vec<School>,
    /// Each district's group, then the city-direct school's (the whole route only).
    pub groups: Vec<Group>,
    /// The city's 复审 (the whole route only).
    pub rechecker: Option<i64>,
}

/// A city of `schools` schools and `pupils` candidates each, published, with a contact, a
/// principal and a 班主任 for every class of every school bound (user ids from `first_user`),
/// and on the whole route a 复核小组 for every district and for the city-direct school, and
/// the city's 复审.
pub async fn prepare(
    app: &App,
    dir: &Path,
    schools: usize,
    pupils: usize,
    first_user: i64,
    reach: Reach,
) -> anyhow::Result<City> {
    prepare_city(app, dir, 0, None, schools, pupils, first_user, reach).await
}

/// City `k` of a sample province (`sample::city_units`), prepared as `prepare` prepares the
/// sample city, through the command line's use cases run with `--city`. The province's own
/// unit, when there is one, is imported before.
#[allow(clippy::too_many_arguments)]
pub async fn prepare_city(
    app: &App,
    dir: &Path,
    k: usize,
    province: Option<&str>,
    schools: usize,
    pupils: usize,
    first_user: i64,
    reach: Reach,
) -> anyhow::Result<City> {
    let city = sample::city_code(k);
    let mut in_city = app.clone();
    in_city.cli_city = Some(city.clone());
    let app = &in_city;
    // A real city's shape on the whole route: about twenty schools a district, ten to fifteen
    // districts (a group's many cards reach it as batch cards, a page at a time, so its one
    // message a second does not set the season's pace).
    let districts = match reach {
        Reach::Approvals => 2,
        Reach::WholeRoute => (schools / 20).clamp(2, 15),
    };
    let units = dir.join(format!("units-{k}.csv"));
    std::fs::write(
        &units,
        sample::units_csv(&sample::city_units(k, districts, schools, province)),
    )?;
    app.import_units(&units).await?;
    let today = chrono::Utc::now().date_naive();
    app.set_season(2023, today, chrono_tz::Asia::Shanghai, 30)
        .await?;
    let scores = dir.join(format!("scores-{k}.csv"));
    std::fs::write(
        &scores,
        sample::city_scores_csv(k, schools * pupils, schools, 5),
    )?;
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
        let code = sample::in_city(k, &sample::school_code(s));
        let mut conn = app.db.pool.acquire().await?;
        let season = app.cli_season().await?.expect("a season was set");
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
    let mut groups = Vec::new();
    let mut rechecker = None;
    if reach == Reach::WholeRoute {
        let city = city.as_str();
        for d in 0..districts {
            let unit = sample::in_city(k, &sample::district_code(d));
            groups.push(Group {
                recorder: bind(Role::ChiefProctorRep, &unit, None).await?,
                signers: [
                    bind(Role::Inspector, &unit, None).await?,
                    bind(Role::EquipmentOfficer, &unit, None).await?,
                ],
            });
        }
        // The city-direct school's group sits at the city, under its head.
        groups.push(Group {
            recorder: bind(Role::DirectSchoolHead, city, None).await?,
            signers: [
                bind(Role::ChiefProctorRep, city, None).await?,
                bind(Role::Inspector, city, None).await?,
            ],
        });
        rechecker = Some(bind(Role::CityReviewer, city, None).await?);
    }
    app.publish(Actor::Cli, None).await?;
    Ok(City {
        reach,
        schools: out,
        groups,
        rechecker,
    })
}

const APPROVE: &str = "✅ 同意";
const SIGN: &str = "✅ 确认";
const AGREE_RESULT: &str = "✅ 同意复核结果";
const KEEP: &str = "维持原成绩";
const RECORD: &str = "✅ 确认记录";
/// The start of the batch card's button, whose label ends with the count it sends.
const REPORT: &str = "📤 上报（";
/// A batch card's heading, and the start of its 本页全部同意.
const BATCH_CARD: &str = "份待您处理";
const APPROVE_PAGE: &str = "✅ 本页";
/// A recorder's batch card's 本页全部维持原成绩 (its label begins so).
const KEEP_PAGE: &str = "📝 本页";
/// How long a batch card shows the same count before its reporter sends it up: people wait
/// for a lull rather than sending one 上报 per result.
const SETTLE: Duration = Duration::from_secs(2);

/// What a person sends at one step of a dialogue.
#[derive(Debug, Clone)]
enum Input {
    Text(&'static str),
    /// A photo (its file id) with a caption.
    Captioned(String, String),
    /// The button with this label on the latest message that shows it.
    Press(&'static str),
    /// The button with this label on this card.
    PressOn(Box<Sent>, &'static str),
    /// 本页全部维持原成绩 on this page of a batch card.
    KeepPage(Box<Sent>),
}

/// One step of a dialogue: what is sent, and what the bot's answer to it contains.
#[derive(Debug, Clone)]
struct Turn {
    input: Input,
    answer: &'static str,
}

/// A school contact files for one candidate in one message (`app::review::quick`): the
/// signed form's photo captioned "准考证号 联系方式 理由", then 提交 under the summary.
fn filing(exam_no: &str) -> Vec<Turn> {
    let turn = |input, answer| Turn { input, answer };
    let caption = format!("{exam_no} 13800001234 主实验漏评");
    vec![
        turn(
            Input::Captioned(format!("form-{exam_no}"), caption),
            "请核对申请内容",
        ),
        turn(Input::Press("✅ 提交"), "已提交"),
    ]
}

/// The recorder's dialogue for one card: 维持原成绩, a note, 确认记录.
fn recording(card: Sent) -> Vec<Turn> {
    let turn = |input, answer| Turn { input, answer };
    vec![
        turn(Input::PressOn(Box::new(card), KEEP), "复核说明"),
        turn(Input::Text("逐项核对，成绩无误"), "请核对复核结果"),
        turn(Input::Press(RECORD), "已记录申请"),
    ]
}

/// The button with this label, or on a batch card the first card's (its labels are led by
/// the request's number: "#12 ✅ 同意").
fn button(m: &Sent, label: &str) -> Option<String> {
    m.buttons()
        .into_iter()
        .find(|(l, _)| {
            l == label
                || l.strip_prefix('#').is_some_and(|rest| {
                    rest.split_once(' ')
                        .is_some_and(|(n, l)| l == label && n.bytes().all(|b| b.is_ascii_digit()))
                })
        })
        .map(|(_, data)| data)
}

/// A batch card: one message showing a page of someone's cards (`app::review::folding`).
fn is_batch_card(m: &Sent) -> bool {
    m.text.contains(BATCH_CARD)
}

/// Its 本页全部同意, when the page shows any card it takes.
fn approve_page(m: &Sent) -> Option<String> {
    page_button(m, APPROVE_PAGE)
}

/// A batch card's button for the whole page whose label begins with `start`.
fn page_button(m: &Sent, start: &str) -> Option<String> {
    m.buttons()
        .into_iter()
        .find(|(l, _)| l.starts_with(start))
        .map(|(_, data)| data)
}

/// The message as it stands now (edits included).
fn now_shown(fake: &FakeTelegram, m: &Sent) -> Option<Sent> {
    fake.message(m.chat_id, m.message_id)
}

fn send(user: &FakeUser, input: &Input, messages: &[Sent]) {
    match input {
        Input::Text(text) => user.send(text),
        Input::Captioned(file, caption) => user.send_photo_with_caption(file, caption),
        Input::Press(label) => {
            let shown = messages
                .iter()
                .rev()
                .find_map(|m| button(m, label).map(|d| (m, d)));
            if let Some((message, data)) = shown {
                user.press_data(message, &data);
            }
        }
        Input::PressOn(card, label) => {
            if let Some(data) = button(card, label) {
                user.press_data(card, &data);
            }
        }
        Input::KeepPage(page) => {
            if let Some(data) = page_button(page, KEEP_PAGE) {
                user.press_data(page, &data);
            }
        }
    }
}

/// A dialogue under way: its steps, the one sent, when, and where the chat stood then.
struct Talk {
    turns: Vec<Turn>,
    step: usize,
    sent_at: Instant,
    from: usize,
}

enum Heard {
    Nothing,
    /// The answer to a step came after this long; the next step has been sent.
    Answer(Duration),
    /// The last step's answer came: the dialogue is over.
    Done(Duration),
}

impl Talk {
    fn start(user: &FakeUser, fake: &FakeTelegram, turns: Vec<Turn>) -> Talk {
        let from = fake.count_to(user.id);
        send(user, &turns[0].input, &[]);
        Talk {
            turns,
            step: 0,
            sent_at: Instant::now(),
            from,
        }
    }

    fn listen(&mut self, user: &FakeUser, fake: &FakeTelegram) -> Heard {
        let messages = fake.messages_to_from(user.id, self.from);
        let want = self.turns[self.step].answer;
        let Some(answer) = messages.iter().find(|m| m.visible_text().contains(want)) else {
            return Heard::Nothing;
        };
        let took = answer.at.saturating_duration_since(self.sent_at);
        if self.step + 1 == self.turns.len() {
            return Heard::Done(took);
        }
        self.step += 1;
        self.from += messages.len();
        self.sent_at = Instant::now();
        send(user, &self.turns[self.step].input, &messages);
        Heard::Answer(took)
    }

    /// Sends the step again when its answer has not come within `patience`.
    fn repeat_if_stalled(
        &mut self,
        user: &FakeUser,
        fake: &FakeTelegram,
        patience: Duration,
    ) -> bool {
        if self.sent_at.elapsed() < patience {
            return false;
        }
        // The answer is looked for from the first sending on: if that one was not lost
        // after all, its answer counts, and the repeat is an input out of place, which the
        // bot answers with a hint.
        let messages = fake.messages_to(user.id);
        self.sent_at = Instant::now();
        send(user, &self.turns[self.step].input, &messages);
        true
    }
}

/// What the simulated people saw: how long each answer took, how much they did.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// From sending a step (or tapping) to the answer arriving at Telegram.
    pub latencies: Vec<Duration>,
    pub filed: usize,
    /// Taps on cards: approvals, and on the whole route signatures and 复审.
    pub approvals: usize,
    /// Recordings by the groups' recorders: a card's dialogue, or a page kept with one press.
    pub recorded: usize,
    /// 上报 pressed on batch cards.
    pub reported: usize,
    /// Inputs sent again after the bot had lost them (a kill between receiving and handling).
    pub resent: usize,
}

impl Seen {
    /// Takes in what a dialogue heard; true when the dialogue is over.
    fn heard(&mut self, heard: Heard) -> bool {
        match heard {
            Heard::Nothing => false,
            Heard::Answer(took) => {
                self.latencies.push(took);
                false
            }
            Heard::Done(took) => {
                self.latencies.push(took);
                true
            }
        }
    }
}

struct Filer {
    user: FakeUser,
    pupils: VecDeque<String>,
    talk: Option<Talk>,
}

/// Someone who taps one button on every card that shows it, and 本页全部同意 on each page
/// of their batch card.
struct Tapper {
    user: FakeUser,
    label: &'static str,
    /// How many messages of the chat have been looked at.
    read: usize,
    /// Their batch cards still showing a page, and the 本页全部同意 data pressed on each
    /// (and when).
    lists: Vec<(Sent, HashMap<String, Instant>)>,
}

/// A group's recorder: takes the record cards one at a time through the dialogue, and the
/// cards of a batch card one after another.
struct Recorder {
    user: FakeUser,
    read: usize,
    cards: VecDeque<Sent>,
    talk: Option<Talk>,
    list: Option<Sent>,
}

/// The member who sends the unit's batch up: each batch card (message id) with the data its
/// 上报 button shows, since when, and when it was pressed.
struct Reporter {
    user: FakeUser,
    cards: HashMap<i64, (String, Instant, Option<Instant>)>,
}

/// The people in motion.
pub struct Driver {
    fake: FakeTelegram,
    filers: Vec<Filer>,
    tappers: Vec<Tapper>,
    recorders: Vec<Recorder>,
    reporters: Vec<Reporter>,
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
                talk: None,
            })
            .collect();
        let tapper = |id: i64, label| Tapper {
            user: fake.user(id, "审核人"),
            label,
            read: 0,
            lists: Vec::new(),
        };
        let mut tappers: Vec<Tapper> = city
            .schools
            .iter()
            .flat_map(|s| s.teachers.iter().chain([&s.principal]))
            .map(|id| tapper(*id, APPROVE))
            .collect();
        tappers.extend(
            city.groups
                .iter()
                .flat_map(|g| g.signers)
                .map(|id| tapper(id, SIGN)),
        );
        tappers.extend(city.rechecker.map(|id| tapper(id, AGREE_RESULT)));
        let recorders = city
            .groups
            .iter()
            .map(|g| Recorder {
                user: fake.user(g.recorder, "复核小组"),
                read: 0,
                cards: VecDeque::new(),
                talk: None,
                list: None,
            })
            .collect();
        let reporters = city
            .groups
            .iter()
            .map(|g| Reporter {
                user: fake.user(g.signers[0], "复核小组"),
                cards: HashMap::new(),
            })
            .collect();
        Driver {
            fake: fake.clone(),
            filers,
            tappers,
            recorders,
            reporters,
            tapped: HashMap::new(),
            seen: Seen::default(),
        }
    }

    /// A contact not busy filing starts a request for its next candidate; false when every
    /// contact is busy or has filed for all its candidates.
    pub fn start_request(&mut self) -> bool {
        let Some(filer) = self
            .filers
            .iter_mut()
            .filter(|f| f.talk.is_none() && !f.pupils.is_empty())
            .min_by_key(|f| std::cmp::Reverse(f.pupils.len()))
        else {
            return false;
        };
        let exam_no = filer.pupils.pop_front().expect("not empty");
        filer.talk = Some(Talk::start(&filer.user, &self.fake, filing(&exam_no)));
        true
    }

    /// Requests being filed now.
    pub fn filing(&self) -> usize {
        self.filers.iter().filter(|f| f.talk.is_some()).count()
    }

    /// Candidates nobody has started filing for yet.
    pub fn remaining(&self) -> usize {
        self.filers.iter().map(|f| f.pupils.len()).sum()
    }

    /// Everyone looks at their chat once: a filer or recorder whose answer came sends the next
    /// step, a recorder free again takes the next card, others tap their button on every
    /// card not yet tapped, a reporter sends up a batch card that has settled.
    pub fn tick(&mut self) {
        let fake = self.fake.clone();
        for filer in &mut self.filers {
            let Some(talk) = &mut filer.talk else {
                continue;
            };
            if self.seen.heard(talk.listen(&filer.user, &fake)) {
                self.seen.filed += 1;
                filer.talk = None;
            }
        }
        for recorder in &mut self.recorders {
            let new = fake.messages_to_from(recorder.user.id, recorder.read);
            recorder.read += new.len();
            for m in new {
                if is_batch_card(&m) {
                    recorder.list = Some(m);
                } else if button(&m, KEEP).is_some() {
                    recorder.cards.push_back(m);
                }
            }
            if let Some(talk) = &mut recorder.talk
                && self.seen.heard(talk.listen(&recorder.user, &fake))
            {
                self.seen.recorded += 1;
                recorder.talk = None;
            }
            while recorder.talk.is_none() {
                let Some(card) = recorder.cards.pop_front() else {
                    break;
                };
                // A card closed meanwhile (its result recorded) is passed over.
                if let Some(card) = now_shown(&fake, &card).filter(|c| button(c, KEEP).is_some()) {
                    recorder.talk = Some(Talk::start(&recorder.user, &fake, recording(card)));
                }
            }
            // Free with no card of its own waiting: the page the batch card shows now, all kept
            // with one press.
            if recorder.talk.is_none()
                && let Some(list) = &recorder.list
                && let Some(page) =
                    now_shown(&fake, list).filter(|c| page_button(c, KEEP_PAGE).is_some())
            {
                let keep = vec![Turn {
                    input: Input::KeepPage(Box::new(page)),
                    answer: "已记录申请",
                }];
                recorder.talk = Some(Talk::start(&recorder.user, &fake, keep));
            }
        }
        for tapper in &mut self.tappers {
            let new = fake.messages_to_from(tapper.user.id, tapper.read);
            tapper.read += new.len();
            for m in new {
                if is_batch_card(&m) {
                    tapper.lists.push((m, HashMap::new()));
                    continue;
                }
                let Some(data) = button(&m, tapper.label) else {
                    continue;
                };
                if self.tapped.contains_key(&(m.chat_id, m.message_id)) {
                    continue;
                }
                self.tapped
                    .insert((m.chat_id, m.message_id), Instant::now());
                tapper.user.press_data(&m, &data);
                self.seen.approvals += 1;
            }
            // Each page of a batch card as it is drawn: 本页全部同意 once per version.
            tapper.lists.retain_mut(|(list, pressed)| {
                let Some(page) = now_shown(&fake, list) else {
                    return false;
                };
                let Some(data) = approve_page(&page) else {
                    return !page.buttons().is_empty();
                };
                if !pressed.contains_key(&data) {
                    pressed.insert(data.clone(), Instant::now());
                    tapper.user.press_data(&page, &data);
                    self.seen.approvals += 1;
                }
                true
            });
        }
        for reporter in &mut self.reporters {
            for m in fake.messages_to(reporter.user.id) {
                let Some((_, data)) = m.buttons().into_iter().find(|(l, _)| l.starts_with(REPORT))
                else {
                    continue;
                };
                let card = reporter
                    .cards
                    .entry(m.message_id)
                    .or_insert_with(|| (data.clone(), Instant::now(), None));
                if card.0 != data {
                    *card = (data.clone(), Instant::now(), None);
                }
                if card.2.is_none() && card.1.elapsed() >= SETTLE {
                    card.2 = Some(Instant::now());
                    reporter.user.press_data(&m, &data);
                    self.seen.reported += 1;
                }
            }
        }
    }

    /// After the bot lost updates (it was killed between taking and handling them): what has
    /// waited longer than `patience` for its answer is sent or tapped again. Call it only when
    /// the bot has caught up, or a slow answer would be taken for a lost one.
    pub fn resend_stalled(&mut self, patience: Duration) {
        let fake = self.fake.clone();
        for filer in &mut self.filers {
            if let Some(talk) = &mut filer.talk
                && talk.repeat_if_stalled(&filer.user, &fake, patience)
            {
                self.seen.resent += 1;
            }
        }
        for recorder in &mut self.recorders {
            let Some(talk) = &mut recorder.talk else {
                continue;
            };
            // A card closed meanwhile needs no record: pressing it again would never be
            // answered with the dialogue's prompt.
            if let (0, Input::PressOn(card, _)) = (talk.step, &talk.turns[0].input)
                && now_shown(&fake, card).is_some_and(|c| button(&c, KEEP).is_none())
            {
                recorder.talk = None;
                continue;
            }
            if talk.repeat_if_stalled(&recorder.user, &fake, patience) {
                self.seen.resent += 1;
            }
        }
        // A page still showing the 本页全部同意 pressed a while ago: the press was lost.
        for tapper in &mut self.tappers {
            for (list, pressed) in &mut tapper.lists {
                let Some(page) = now_shown(&fake, list) else {
                    continue;
                };
                let Some(data) = approve_page(&page) else {
                    continue;
                };
                if let Some(at) = pressed.get_mut(&data)
                    && at.elapsed() >= patience
                {
                    *at = Instant::now();
                    tapper.user.press_data(&page, &data);
                    self.seen.resent += 1;
                }
            }
        }
        // A card still showing its button a while after its tap: the tap was lost.
        for tapper in &self.tappers {
            for m in fake.messages_to(tapper.user.id) {
                let Some(data) = button(&m, tapper.label) else {
                    continue;
                };
                let key = (m.chat_id, m.message_id);
                if self
                    .tapped
                    .get(&key)
                    .is_some_and(|at| at.elapsed() >= patience)
                {
                    self.tapped.insert(key, Instant::now());
                    tapper.user.press_data(&m, &data);
                    self.seen.resent += 1;
                }
            }
        }
        for reporter in &mut self.reporters {
            for m in fake.messages_to(reporter.user.id) {
                let Some((_, data)) = m.buttons().into_iter().find(|(l, _)| l.starts_with(REPORT))
                else {
                    continue;
                };
                let Some(card) = reporter.cards.get_mut(&m.message_id) else {
                    continue;
                };
                if card.0 == data && card.2.is_some_and(|at| at.elapsed() >= patience) {
                    card.2 = Some(Instant::now());
                    reporter.user.press_data(&m, &data);
                    self.seen.resent += 1;
                }
            }
        }
    }
}
