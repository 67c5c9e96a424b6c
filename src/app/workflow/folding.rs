//! Batch cards. Telegram sends one message a second to a chat, so
//! a 复审 chat sent 2,000 cards one by one would learn of the last one half an hour later. A
//! person with `delivery.fold_cards_at` cards waiting to go out gets one message instead, "N
//! 份待您处理", that shows a page of them in full (oldest first) with each card's own buttons
//! and 本页全部同意, and is edited as cards join and leave it (an edit still waiting is
//! rewritten, so a burst costs a chat one call a second at most).
//!
//! Exactness: a card's buttons act on its item only once a page showed the item (a folded card
//! unseen refuses its buttons), and 本页全部同意 acts on exactly the items of the version of
//! the page it was pressed on, each through the same press as its own 同意 button.
//!
//! A group's recorder gets 本页全部维持原成绩 on the same terms: each record card the pressed
//! page showed is recorded 维持原成绩 through the same use case as the recording dialogue's
//! 确认记录, with a fixed note. Recording one card by its dialogue (维持 with a note of one's
//! own, or 更正) stays on each card. A recorder with 180 results to record otherwise answers
//! three prompts each, and at one message a second their chat alone outlasts the burst by ten
//! minutes (measured by the review bench).

use super::App;
use super::recording::Recording;
use crate::app::callback::Callback;
use crate::app::callback::Press;
use crate::buttons::{Buttons, button};
use crate::domain::stage::{Choice, Stage};
use crate::render::tpl;
use crate::render::{limits, visible_len};
use crate::store::Conn;
use crate::store::card_lists::{self, Folded};
use crate::store::outbox::{self, Outgoing};
use crate::store::reviews;
use serde_json::json;

/// The stage of a card that records the group's result: what 本页全部维持原成绩 takes.
fn is_record_stage(stage: &str) -> bool {
    matches!(Stage::parse(stage), Some(Stage::Record { .. }))
}

/// Cards a page shows at most (fewer when they do not fit one message whole).
const PER_PAGE: i64 = 3;

/// A page of a batch card as drawn: its text, its keyboard and the cards (request, stage) it
/// shows.
struct Page {
    body: String,
    markup: crate::buttons::Buttons,
    shown: Vec<(i64, String)>,
}

/// The press 本页全部同意 makes on an item, by the stage its card was sent for: 同意 at an
/// approval level, 确认 of a group's recorded result, 同意 at the city's 复审. Recording a
/// result takes a dialogue per item, so those cards are only ever acted on one by one.
fn approve_all_action(stage: Stage) -> Option<Choice> {
    match stage {
        Stage::Confirm { .. } => Some(Choice::Sign),
        Stage::Recheck { .. } => Some(Choice::Agree),
        Stage::Level { .. } => Some(Choice::Approve),
        _ => None,
    }
}

impl App {
    /// After cards were queued to these people: each chat with enough of them waiting, or a
    /// batch card already showing some, has them folded and its batch card drawn again. Chats
    /// are taken in one order, so two transactions never wait on each other's lists.
    pub(crate) async fn fold_cards(
        &self,
        conn: &mut Conn,
        recipients: &[(i64, i64)],
    ) -> anyhow::Result<()> {
        let fold_at = self.config.delivery.fold_cards_at;
        if fold_at == 0 {
            return Ok(());
        }
        let mut chats = recipients.to_vec();
        chats.sort_unstable();
        chats.dedup_by_key(|(chat, _)| *chat);
        for (chat_id, user_id) in chats {
            if card_lists::fold_waiting(conn, chat_id, fold_at).await? {
                self.draw_card_list(conn, chat_id, user_id).await?;
            }
        }
        Ok(())
    }

    /// Cards that were closed while folded left their lists: draw those lists again.
    pub(crate) async fn redraw_card_lists(
        &self,
        conn: &mut Conn,
        chats: &[(i64, i64)],
    ) -> anyhow::Result<()> {
        let mut chats = chats.to_vec();
        chats.sort_unstable();
        chats.dedup_by_key(|(chat, _)| *chat);
        for (chat_id, user_id) in chats {
            self.draw_card_list(conn, chat_id, user_id).await?;
        }
        Ok(())
    }

    /// This person's card of (request, stage), when still folded, leaves their batch card: they
    /// have acted on it, though the stage may still wait for others.
    pub(crate) async fn drop_own_folded_card(
        &self,
        conn: &mut Conn,
        request_id: i64,
        stage: &str,
        user_id: i64,
    ) -> anyhow::Result<()> {
        for (holder, outbox_id) in crate::store::reviews::cards(conn, request_id, stage).await? {
            if holder == user_id
                && let Some(chat_id) = card_lists::drop_folded(conn, outbox_id).await?
            {
                self.draw_card_list(conn, chat_id, user_id).await?;
            }
        }
        Ok(())
    }

    /// Draws the chat's batch card at its page: a new message when none shows the list (so the
    /// person is notified), else an edit of the one that does; "all done" once it is empty.
    async fn draw_card_list(
        &self,
        conn: &mut Conn,
        chat_id: i64,
        user_id: i64,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let list = card_lists::lock(conn, chat_id, user_id).await?;
        let count = card_lists::folded_count(conn, chat_id).await?;
        if count == 0 {
            if let Some(row) = list.outbox_id {
                let done = self.render.text(tpl::CARD_LIST_DONE)?;
                outbox::edit_with(conn, row, &done, None, now).await?;
            }
            card_lists::set_shown(conn, list.id, None, 0).await?;
            return Ok(());
        }
        // `page` is the offset of the page's first card; the page holds the cards from there
        // that fit one message whole (a card is never cut: its holder signs what it shows).
        // Past the end (cards before it left the list): the last page.
        let from = match list.page {
            p if p >= count => (count - PER_PAGE).max(0),
            p => p.max(0),
        };
        let candidates = card_lists::folded_page(conn, chat_id, from, PER_PAGE).await?;
        let Page {
            body,
            markup,
            shown,
        } = self.card_list_page(&list, &candidates, count, from)?;
        card_lists::record_page(conn, list.id, list.version, &shown).await?;
        // A list whose message Telegram refused for good is shown anew.
        let showing = match list.outbox_id {
            Some(row) => match outbox::sent_message(conn, row).await? {
                Some((status, _)) if status != "failed" => Some(row),
                _ => None,
            },
            None => None,
        };
        let row = match showing {
            Some(row) => {
                outbox::edit_with(conn, row, &body, Some(&markup), now).await?;
                Some(row)
            }
            None => {
                let msg = Outgoing {
                    chat_id,
                    body,
                    buttons: Some(markup),
                    ..Outgoing::default()
                };
                outbox::enqueue_returning(conn, &msg, now).await?
            }
        };
        let page = from;
        card_lists::set_shown(conn, list.id, row, page).await?;
        Ok(())
    }

    /// One page of a batch card from the `from`th card: its heading, as many of `candidates`
    /// as fit the message whole (at least one: a card alone always fits), each card's buttons
    /// marked with its number, 本页全部同意 when any of them takes it, and ◀️ ▶️.
    fn card_list_page(
        &self,
        list: &card_lists::List,
        candidates: &[Folded],
        count: i64,
        from: i64,
    ) -> anyhow::Result<Page> {
        let separator = format!("{}\n", self.render.text(tpl::CARD_LIST_SEPARATOR)?);
        let heading = |to: i64| {
            self.render.render(
                tpl::CARD_LIST,
                &json!({"count": count, "from": from + 1, "to": to, "whole": from == 0 && to == count}),
            )
        };
        // The heading's widest form, for the room left to the cards.
        let mut room = limits::TEXT.saturating_sub(visible_len(&heading(count)?));
        let mut items: Vec<&Folded> = Vec::new();
        for item in candidates {
            let needs = visible_len(&separator) + visible_len(&item.body);
            if needs > room && !items.is_empty() {
                break;
            }
            room = room.saturating_sub(needs);
            items.push(item);
        }
        let to = from + items.len() as i64;
        let mut body = heading(to)?;
        let mut rows: Vec<Vec<crate::buttons::Button>> = Vec::new();
        for item in &items {
            body.push_str(&separator);
            body.push_str(&item.body);
            rows.extend(numbered_buttons(item));
        }
        // The page's buttons for all its cards at once, each when some card takes it.
        let approvable = items
            .iter()
            .filter(|i| {
                Stage::parse(&i.stage)
                    .and_then(approve_all_action)
                    .is_some()
            })
            .count();
        let keepable = items.iter().filter(|i| is_record_stage(&i.stage)).count();
        let (id, version) = (list.id, list.version);
        for (n, template, data) in [
            (
                approvable,
                tpl::BUTTON_CARD_LIST_ALL,
                Callback::CardListApprove { list: id, version },
            ),
            (
                keepable,
                tpl::BUTTON_CARD_LIST_KEEP,
                Callback::CardListKeep { list: id, version },
            ),
        ] {
            if n > 0 {
                let label = self.render.render(template, &json!({"n": n}))?;
                rows.push(vec![button(label, data.encode())]);
            }
        }
        let mut turn = Vec::new();
        if from > 0 {
            let data = Callback::CardListPage {
                list: list.id,
                page: (from - PER_PAGE).max(0) as usize,
            }
            .encode();
            turn.push(button(self.render.text(tpl::BUTTON_PAGE_PREV)?, data));
        }
        if to < count {
            let data = Callback::CardListPage {
                list: list.id,
                page: to as usize,
            }
            .encode();
            turn.push(button(self.render.text(tpl::BUTTON_PAGE_NEXT)?, data));
        }
        if !turn.is_empty() {
            rows.push(turn);
        }
        let shown = items
            .iter()
            .map(|i| (i.request_id, i.stage.clone()))
            .collect();
        Ok(Page {
            body,
            markup: Buttons::rows(rows),
            shown,
        })
    }

    /// ◀️ ▶️ on a batch card: that page, drawn in the same message.
    pub async fn card_list_page_button(
        &self,
        user_id: i64,
        list_id: i64,
        page: usize,
    ) -> anyhow::Result<Press> {
        let mut tx = self.db.begin().await?;
        let Some(list) = card_lists::get(&mut tx, list_id).await? else {
            return Ok(Press::Refused);
        };
        if list.user_id != user_id {
            return Ok(Press::Refused);
        }
        card_lists::set_page(&mut tx, list.id, page as i64).await?;
        self.draw_card_list(&mut tx, list.chat_id, list.user_id)
            .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(Press::Accepted)
    }

    /// The items version `version` of the page showed, when the list is this person's own.
    async fn pressed_page(
        &self,
        user_id: i64,
        list_id: i64,
        version: i64,
    ) -> anyhow::Result<Option<Vec<(i64, String)>>> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(match card_lists::get(&mut conn, list_id).await? {
            Some(list) if list.user_id == user_id => {
                Some(card_lists::page_items(&mut conn, list_id, version).await?)
            }
            _ => None,
        })
    }

    /// 本页全部同意: each item the pressed version of the page showed, pressed as its own
    /// button would be (every check of a single press holds for each). Stale when none of them
    /// was still there to approve.
    pub async fn card_list_approve_button(
        &self,
        user_id: i64,
        chat_id: i64,
        list_id: i64,
        version: i64,
    ) -> anyhow::Result<Press> {
        let Some(items) = self.pressed_page(user_id, list_id, version).await? else {
            return Ok(Press::Refused);
        };
        let mut approved = 0;
        for (id, stage) in items {
            let Some(stage) = Stage::parse(&stage) else {
                continue;
            };
            let Some(action) = approve_all_action(stage) else {
                continue;
            };
            if self
                .review_button(user_id, chat_id, id, stage, action)
                .await?
                == Press::Accepted
            {
                approved += 1;
            }
        }
        Ok(match approved {
            0 => Press::Stale,
            _ => Press::Accepted,
        })
    }
}

impl App {
    /// 本页全部维持原成绩: each record card the pressed version of the page showed, recorded
    /// 维持原成绩 with the fixed note, each in its own transaction through `submit_record` (the
    /// group's right to record, the request's state and stage are checked for each). Stale when
    /// none was still there to record.
    pub async fn card_list_keep_button(
        &self,
        user_id: i64,
        chat_id: i64,
        list_id: i64,
        version: i64,
    ) -> anyhow::Result<Press> {
        let Some(items) = self.pressed_page(user_id, list_id, version).await? else {
            return Ok(Press::Refused);
        };
        let note = self.render.text(tpl::RECORD_KEEP_ALL_NOTE)?;
        let mut recorded = 0;
        let records = items
            .into_iter()
            .filter_map(|(id, stage)| Some((id, Stage::parse(&stage)?)))
            .filter(|(_, stage)| matches!(stage, Stage::Record { .. }));
        for (id, stage) in records {
            let mut tx = self.db.begin().await?;
            let before = reviews::get(&mut tx, id).await?.map(|r| r.state);
            let kept = Recording::kept(id, stage, &note);
            self.submit_record(&mut tx, user_id, chat_id, &kept).await?;
            let after = reviews::get(&mut tx, id).await?.map(|r| r.state);
            tx.commit().await?;
            if before != after {
                recorded += 1;
            }
        }
        self.outbox_wake.notify_one();
        Ok(match recorded {
            0 => Press::Stale,
            _ => Press::Accepted,
        })
    }
}

/// A folded card's own buttons, each label led by the request's number so that a page of
/// several cards says which button is whose.
fn numbered_buttons(item: &Folded) -> Vec<Vec<crate::buttons::Button>> {
    let Some(buttons) = item
        .reply_markup
        .as_deref()
        .and_then(|m| Buttons::from_stored(m).ok())
    else {
        return Vec::new();
    };
    buttons
        .0
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|b| button(format!("#{} {}", item.request_id, b.label), b.press))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_all_takes_the_approving_press_of_each_stage_and_never_records() {
        let approve_all = |code: &str| approve_all_action(Stage::parse(code).unwrap());
        assert_eq!(approve_all("s0r1"), Some(Choice::Approve));
        assert_eq!(approve_all("s12r3"), Some(Choice::Approve));
        assert_eq!(approve_all("cf2"), Some(Choice::Sign));
        assert_eq!(approve_all("rc1"), Some(Choice::Agree));
        assert_eq!(approve_all("rec1"), None);
        assert_eq!(approve_all("up1"), None);
    }
}
