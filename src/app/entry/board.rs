//! The entry board (/status during the exam days): per county and half-day, the entries
//! received, mismatches open, sealed, reported, 缺考. The city admins see every county and can
//! have it as a workbook; a county's clerks, inspector and officer see their county.

use super::{App, Area};
use crate::app::callback::Callback;
use crate::app::callback::Press;
use crate::app::policy::{self, Action};
use crate::buttons::{Buttons, button};
use crate::domain::Role;
use crate::domain::deadline::display;
use crate::domain::entry::{Side, Stage};
use crate::render::tpl;
use crate::store::entry::{self as batches, Batch};
use crate::store::outbox::{self, Outgoing};
use crate::store::{people, seasons};
use rust_xlsxwriter::{Format, Workbook};
use serde::Serialize;
use serde_json::json;

/// Lines the chat board shows; the workbook has them all.
const BOARD_LINES: usize = 40;

/// One county × half-day batch as the boards show it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryLine {
    pub batch: i64,
    pub county: String,
    pub half_day: String,
    pub candidates: i64,
    pub first: bool,
    pub second: bool,
    /// Each entry's four (报分, 录入, 监督报分, 监督录入).
    pub crews: [String; 2],
    pub mismatches: Option<i64>,
    pub stage: Stage,
    pub cutoff: String,
    #[serde(skip)]
    pub cutoff_at: chrono::DateTime<chrono::Utc>,
    pub lift_reason: Option<String>,
}

impl App {
    /// The batches of the person's season they may see (the season board's 登分 tab).
    pub async fn entry_progress(&self, user: i64) -> anyhow::Result<Vec<EntryLine>> {
        Ok(self
            .board_lines(user)
            .await?
            .map(|(lines, _)| lines)
            .unwrap_or_default())
    }

    /// The batches this person may see, as board lines; None when they may see none (or the
    /// season has no batches). The bool: they are a city admin (the workbook is theirs).
    async fn board_lines(&self, user: i64) -> anyhow::Result<Option<(Vec<EntryLine>, bool)>> {
        let mut conn = self.db.pool.acquire().await?;
        let city = self.city_of_user(&mut conn, user).await?;
        let Some(season) = seasons::current(&mut conn, &city).await? else {
            return Ok(None);
        };
        let all = batches::all(&mut conn, season.id).await?;
        if all.is_empty() {
            return Ok(None);
        }
        let bound = people::of_user(&mut conn, user).await?;
        let area = Area::load(&mut conn, &season.city_code).await?;
        let route = self.route(&season.city_code);
        let mut lines = Vec::new();
        for b in all {
            let subject = area.subject(&b.county_code, &[]);
            if policy::check(&route, user, &bound, Action::SeeBatch, &subject).is_err() {
                continue;
            }
            let sides = batches::sides(&mut conn, b.id).await?;
            let mut l = line(&area, &b, &sides, season.tz);
            for c in self.crew_names(&mut conn, b.id).await? {
                let i = usize::from(c["second"].as_bool().unwrap_or(false));
                l.crews[i] = format!(
                    "报分 {}、录入 {}、监督报分 {}、监督录入 {}",
                    c["read"].as_str().unwrap_or_default(),
                    c["entered"].as_str().unwrap_or_default(),
                    c["watched_reading"].as_str().unwrap_or_default(),
                    c["watched_entering"].as_str().unwrap_or_default()
                );
            }
            lines.push(l);
        }
        let city = bound
            .iter()
            .any(|b| b.role == Role::CityAdmin && b.unit_code == area.city);
        Ok((!lines.is_empty()).then_some((lines, city)))
    }

    /// The board as a chat message (with the workbook button for a city admin), queued to
    /// `chat`; false when this person sees no batch.
    pub(crate) async fn send_entry_board(&self, user: i64, chat: i64) -> anyhow::Result<bool> {
        let Some((lines, city)) = self.board_lines(user).await? else {
            return Ok(false);
        };
        let total = lines.len();
        let count = |s: Stage| lines.iter().filter(|l| l.stage == s).count();
        let data = json!({
            "total": total,
            "reported": count(Stage::Reported),
            "absent": count(Stage::Absent),
            "lines": lines.iter().take(BOARD_LINES).collect::<Vec<_>>(),
            "more": total.saturating_sub(BOARD_LINES),
            "city": city,
        });
        let markup = if city {
            Some(Buttons::rows(vec![vec![button(
                self.render.text(tpl::BUTTON_BOARD_XLSX)?,
                Callback::EntryBoard.encode(),
            )]]))
        } else {
            None
        };
        self.reply(chat, self.render.render(tpl::ENTRY_BOARD, &data)?, markup)
            .await?;
        Ok(true)
    }

    /// 📊 under the board: the whole board as a workbook, for a city admin.
    pub async fn entry_board_button(&self, user: i64, chat: i64) -> anyhow::Result<Press> {
        let Some((lines, true)) = self.board_lines(user).await? else {
            return Ok(Press::Refused);
        };
        let bytes = board_workbook(&lines)?;
        let msg = Outgoing {
            chat_id: chat,
            body: self
                .render
                .render(tpl::ENTRY_BOARD_FILE, &json!({"total": lines.len()}))?,
            document: Some(("登分进度.xlsx".into(), bytes)),
            is_reply: true,
            ..Outgoing::default()
        };
        let mut tx = self.db.begin().await?;
        outbox::enqueue(&mut tx, &msg, self.clock.now()).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }
}

fn line(area: &Area, b: &Batch, sides: &[Side], tz: chrono_tz::Tz) -> EntryLine {
    EntryLine {
        batch: b.id,
        county: area.name(&b.county_code),
        half_day: b.half_day_label(),
        candidates: b.candidates,
        first: sides.contains(&Side::A),
        second: sides.contains(&Side::B),
        crews: Default::default(),
        mismatches: b.mismatches,
        stage: b.stage(),
        cutoff: display(b.cutoff(), tz),
        cutoff_at: b.cutoff(),
        lift_reason: b.lift_reason.clone(),
    }
}

/// A batch's stage in the words of the boards.
pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Entering => "录入中",
        Stage::Agreed => "两次录入一致，待封存",
        Stage::Sealed => "已封存，待上报",
        Stage::Reported => "已上报",
        Stage::Absent => "缺考",
    }
}

fn board_workbook(lines: &[EntryLine]) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("登分进度")?;
    let bold = Format::new().set_bold();
    let header = [
        "批次",
        "考区",
        "半天",
        "考生数",
        "第一次录入",
        "交叉校对录入",
        "不一致",
        "状态",
        "上报截止",
        "接受补报理由",
        "第一次录入人员",
        "交叉校对录入人员",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_with_format(0, c as u16, *h, &bold)?;
    }
    let yes = |b: bool| if b { "已收到" } else { "未收到" };
    for (i, l) in lines.iter().enumerate() {
        let r = (i + 1) as u32;
        sheet.write(r, 0, l.batch as f64)?;
        sheet.write(r, 1, &l.county)?;
        sheet.write(r, 2, &l.half_day)?;
        sheet.write(r, 3, l.candidates as f64)?;
        sheet.write(r, 4, yes(l.first))?;
        sheet.write(r, 5, yes(l.second))?;
        match l.mismatches {
            Some(m) => sheet.write(r, 6, m as f64)?,
            None => sheet.write(r, 6, "")?,
        };
        sheet.write(r, 7, stage_name(l.stage))?;
        sheet.write(r, 8, &l.cutoff)?;
        sheet.write(r, 9, l.lift_reason.as_deref().unwrap_or(""))?;
        sheet.write(r, 10, &l.crews[0])?;
        sheet.write(r, 11, &l.crews[1])?;
    }
    sheet.set_column_width(1, 18)?;
    sheet.set_column_width(2, 16)?;
    sheet.set_column_width(7, 20)?;
    sheet.set_column_width(8, 18)?;
    sheet.set_column_width(9, 30)?;
    sheet.set_column_width(10, 40)?;
    sheet.set_column_width(11, 40)?;
    Ok(book.save_to_buffer()?)
}
