//! 附件1's directory: `/contacts` shows the organizing group (组长, 副组长, 成员) and the office
//! that runs the exam (办公室主任, 副主任) of one's own unit and of every unit above it, with
//! phone numbers, in the document's order. Titles come from the people roster's 职务 column.

use super::App;
use crate::domain::Role;
use crate::render::tpl;
use crate::store::{people, units};
use serde_json::{Value, json};

/// 附件1's order of titles; any other title (free text) follows them.
pub const TITLES: [&str; 5] = ["组长", "副组长", "成员", "办公室主任", "办公室副主任"];

/// Where a title stands in 附件1's order.
pub fn title_rank(title: &str) -> usize {
    TITLES
        .iter()
        .position(|t| *t == title)
        .unwrap_or(TITLES.len())
}

impl App {
    /// `/contacts`: the units from the city down to the person's own, each with its titled
    /// people in 附件1's order.
    pub async fn contacts_command(&self, user: i64, chat: i64) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::of_user(&mut conn, user).await?;
        if bound.is_empty() {
            drop(conn);
            return self
                .reply(chat, self.render.text(tpl::NOT_BOUND)?, None)
                .await;
        }
        // Every binding's unit and the units above it, the city first.
        let mut chain: Vec<units::Unit> = Vec::new();
        for b in &bound {
            let mut next = Some(b.unit_code.clone());
            let mut up = Vec::new();
            while let Some(code) = next {
                let Some(unit) = units::get(&mut conn, &code).await? else {
                    break;
                };
                next = unit.parent_code.clone();
                up.push(unit);
            }
            for unit in up.into_iter().rev() {
                if !chain.iter().any(|u| u.code == unit.code) {
                    chain.push(unit);
                }
            }
        }
        let codes: Vec<String> = chain.iter().map(|u| u.code.clone()).collect();
        let mut listed = people::directory(&mut conn, &codes, self.clock.now()).await?;
        drop(conn);
        listed.sort_by(|a, b| {
            (title_rank(&a.title), &a.title, &a.name).cmp(&(
                title_rank(&b.title),
                &b.title,
                &b.name,
            ))
        });
        let sections: Vec<Value> = chain
            .iter()
            .filter_map(|unit| {
                let people: Vec<Value> = listed
                    .iter()
                    .filter(|p| p.unit_code == unit.code)
                    .map(|p| {
                        let role = p.role.parse::<Role>().map_or("", Role::label);
                        json!({"name": p.name, "title": p.title, "role": role, "phone": p.phone})
                    })
                    .collect();
                (!people.is_empty()).then(|| json!({"unit": unit.name, "people": people}))
            })
            .collect();
        let body = self
            .render
            .render(tpl::CONTACTS, &json!({"units": sections}))?;
        self.reply(chat, body, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::title_rank;

    #[test]
    fn titles_follow_the_document_and_free_text_comes_last() {
        let mut titles = ["办公室主任", "成员", "校医", "组长", "副组长"];
        titles.sort_by_key(|t| title_rank(t));
        assert_eq!(titles, ["组长", "副组长", "成员", "办公室主任", "校医"]);
    }
}
