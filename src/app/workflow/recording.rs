//! A group member records the result of one request as a chat dialogue: 维持原成绩 goes to
//! the note; 更正成绩 asks the new total, the four item scores when the candidate has them, the
//! category (漏评 / 合分错误) and the note; then the whole to confirm.

use super::{App, Ctx, stage_key};
use crate::app::callback::Press;
use crate::app::dialogue::{Flow, Kind, Next, PressCode, Prompt, Session, Shown, StepCode};
use crate::domain::Score;
use crate::domain::stage::{Choice, Stage};
use crate::render::tpl;
use crate::store::Conn;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which result is being recorded (附件5 复核结果).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// 维持原成绩.
    Kept,
    /// 更正成绩.
    Corrected,
}

impl Outcome {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Corrected => "corrected",
        }
    }
}

/// A group member's result for one request, being recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Recording {
    pub request: i64,
    /// The stage the card was for: a result recorded after another member's is refused.
    pub stage: Stage,
    pub kind: Outcome,
    pub has_items: bool,
    pub original: String,
    pub name: String,
    /// The new total, in tenths, and as shown.
    #[serde(default)]
    pub score: Option<u32>,
    #[serde(default)]
    pub score_text: Option<String>,
    /// The four item scores in tenths, and as typed.
    #[serde(default)]
    pub items: Option<Vec<u32>>,
    #[serde(default)]
    pub items_text: Option<String>,
    /// 漏评 or 合分错误.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Recording {
    /// 维持原成绩 with this note, as a whole page of record cards is kept at once.
    pub(crate) fn kept(request: i64, stage: Stage, note: &str) -> Self {
        Recording {
            request,
            stage,
            kind: Outcome::Kept,
            has_items: false,
            original: String::new(),
            name: String::new(),
            score: None,
            score_text: None,
            items: None,
            items_text: None,
            category: None,
            note: Some(note.into()),
        }
    }

    fn first_step(&self) -> RecordStep {
        match self.kind {
            Outcome::Corrected => RecordStep::Score,
            Outcome::Kept => RecordStep::Note,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordStep {
    Score,
    Items,
    Category,
    Note,
    Confirm,
}

impl StepCode for RecordStep {
    const ALL: &'static [RecordStep] = &[
        RecordStep::Score,
        RecordStep::Items,
        RecordStep::Category,
        RecordStep::Note,
        RecordStep::Confirm,
    ];

    fn code(self) -> &'static str {
        match self {
            RecordStep::Score => "score",
            RecordStep::Items => "items",
            RecordStep::Category => "category",
            RecordStep::Note => "note",
            RecordStep::Confirm => "confirm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordPress {
    MissedItem,
    WrongSum,
    Submit,
    Edit,
}

impl PressCode for RecordPress {
    fn code(&self) -> String {
        match self {
            RecordPress::MissedItem => "cat1",
            RecordPress::WrongSum => "cat2",
            RecordPress::Submit => "submit",
            RecordPress::Edit => "edit",
        }
        .into()
    }

    fn parse(code: &str) -> Option<RecordPress> {
        Some(match code {
            "cat1" => RecordPress::MissedItem,
            "cat2" => RecordPress::WrongSum,
            "submit" => RecordPress::Submit,
            "edit" => RecordPress::Edit,
            _ => return None,
        })
    }
}

impl Flow for Recording {
    type Step = RecordStep;
    type Press = RecordPress;
    type After = ();

    fn previous(s: &Session<Self>) -> Option<RecordStep> {
        match s.step {
            RecordStep::Items => Some(RecordStep::Score),
            RecordStep::Category if s.state.has_items => Some(RecordStep::Items),
            RecordStep::Category => Some(RecordStep::Score),
            RecordStep::Note if s.state.kind == Outcome::Corrected => Some(RecordStep::Category),
            RecordStep::Confirm => Some(RecordStep::Note),
            _ => None,
        }
    }

    fn request(&self) -> Option<i64> {
        Some(self.request)
    }

    async fn prompt(
        app: &App,
        _: &mut Conn,
        s: &mut Session<Self>,
    ) -> anyhow::Result<Shown<RecordPress>> {
        let template = match s.step {
            RecordStep::Score => tpl::DLG_RECORD_SCORE,
            RecordStep::Items => tpl::DLG_RECORD_ITEMS,
            RecordStep::Category => tpl::DLG_RECORD_CATEGORY,
            RecordStep::Note => tpl::DLG_RECORD_NOTE,
            RecordStep::Confirm => tpl::DLG_RECORD_CONFIRM,
        };
        let prompt = Prompt::new(template, serde_json::to_value(&s.state)?);
        let buttons: &[(&str, RecordPress)] = match s.step {
            RecordStep::Category => &[
                (tpl::BUTTON_MISSED_ITEM, RecordPress::MissedItem),
                (tpl::BUTTON_WRONG_SUM, RecordPress::WrongSum),
            ],
            RecordStep::Confirm => &[
                (tpl::BUTTON_RECORD, RecordPress::Submit),
                (tpl::BUTTON_EDIT, RecordPress::Edit),
            ],
            _ => &[],
        };
        Ok(Shown::Prompt(
            prompt.row(&app.render, buttons.iter().copied())?,
        ))
    }

    async fn text(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        text: &str,
    ) -> anyhow::Result<Next<Self>> {
        Ok(
            match app.record_input(conn, s.step, &mut s.state, text).await? {
                Ok(next) => Next::Go(next),
                Err((hint, data)) => Next::Say(hint, data),
            },
        )
    }

    async fn press(
        app: &App,
        conn: &mut Conn,
        s: &mut Session<Self>,
        press: RecordPress,
    ) -> anyhow::Result<Next<Self>> {
        Ok(match (s.step, press) {
            (RecordStep::Category, RecordPress::MissedItem | RecordPress::WrongSum) => {
                let category = match press {
                    RecordPress::MissedItem => "漏评",
                    _ => "合分错误",
                };
                s.state.category = Some(category.into());
                Next::Go(RecordStep::Note)
            }
            (RecordStep::Confirm, RecordPress::Edit) => Next::Go(s.state.first_step()),
            (RecordStep::Confirm, RecordPress::Submit) => {
                app.submit_record(conn, s.user, s.chat, &s.state).await?;
                Next::End
            }
            _ => Next::Refused,
        })
    }
}

impl App {
    pub(crate) async fn start_record(
        &self,
        conn: &mut Conn,
        user_id: i64,
        chat_id: i64,
        ctx: &Ctx,
        action: Choice,
    ) -> anyhow::Result<Press> {
        let recording = Recording {
            request: ctx.req.id,
            stage: stage_key(&ctx.req),
            kind: match action {
                Choice::Keep => Outcome::Kept,
                _ => Outcome::Corrected,
            },
            has_items: ctx.cand.item_main.is_some(),
            original: Score::from_tenths(ctx.req.original_score as u32).to_string(),
            name: ctx.cand.name.clone(),
            score: None,
            score_text: None,
            items: None,
            items_text: None,
            category: None,
            note: None,
        };
        let first = recording.first_step();
        let mut s = Session::new(user_id, chat_id, Kind::Record, first, recording);
        self.enter(conn, &mut s).await?;
        Ok(Press::Accepted)
    }

    /// One typed answer of the recording dialogue: the next step, or a hint and the same step.
    async fn record_input(
        &self,
        conn: &mut Conn,
        step: RecordStep,
        rec: &mut Recording,
        text: &str,
    ) -> anyhow::Result<Result<RecordStep, (&'static str, Value)>> {
        // The full score is the request's season's (its city's).
        let season = match crate::store::reviews::get(conn, rec.request).await? {
            Some(r) => crate::store::seasons::by_id(conn, r.season_id).await?,
            None => None,
        };
        let full = season.map_or(Score::from_points(30), |s| s.full_score);
        Ok(match step {
            RecordStep::Score => match Score::parse(text, full) {
                Ok(s) if s.to_string() == rec.original => Err((tpl::RECORD_SAME_SCORE, json!({}))),
                Ok(s) => {
                    rec.score = Some(s.tenths());
                    rec.score_text = Some(s.to_string());
                    Ok(if rec.has_items {
                        RecordStep::Items
                    } else {
                        RecordStep::Category
                    })
                }
                Err(e) => Err((tpl::RECORD_BAD_SCORE, json!({"reason": e}))),
            },
            RecordStep::Items => {
                let m = self.config.rules.item_maxima;
                let limits = [m.main, m.secondary_one, m.secondary_two, m.tidying];
                let parts: Vec<&str> = text
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '，')
                    .filter(|p| !p.is_empty())
                    .collect();
                let parsed: Vec<Option<Score>> = parts
                    .iter()
                    .zip(limits)
                    .map(|(p, max)| Score::parse(p, Score::from_points(max)).ok())
                    .collect();
                if parts.len() != 4 || parsed.iter().any(Option::is_none) {
                    Err((tpl::RECORD_BAD_ITEMS, json!({})))
                } else {
                    let items: Vec<u32> = parsed
                        .iter()
                        .map(|s| s.expect("checked").tenths())
                        .collect();
                    let sum: u32 = items.iter().sum();
                    if Some(sum) != rec.score {
                        Err((
                            tpl::RECORD_ITEMS_SUM,
                            json!({"sum": Score::from_tenths(sum).to_string(), "score": rec.score_text}),
                        ))
                    } else {
                        rec.items = Some(items);
                        rec.items_text = Some(parts.join(" "));
                        Ok(RecordStep::Category)
                    }
                }
            }
            RecordStep::Note => {
                let note = text.trim();
                if note.is_empty() || note.chars().count() > 500 {
                    Err((tpl::RECORD_BAD_NOTE, json!({})))
                } else {
                    rec.note = Some(note.into());
                    Ok(RecordStep::Confirm)
                }
            }
            RecordStep::Category | RecordStep::Confirm => {
                Err((tpl::DIALOGUE_USE_BUTTONS, json!({})))
            }
        })
    }
}
