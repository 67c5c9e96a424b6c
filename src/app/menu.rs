//! The command menu each person sees: exactly the commands their roles may use, set with
//! `setMyCommands` for their own chat after every binding and revocation, and the same list in
//! `/help`. An unbound chat sees the default menu: /start and /help.

use super::App;
use super::command::Command;
use crate::domain::Role;
use crate::domain::workflow::{Purpose, Route};
use crate::store::people::{self, Binding};

impl Command {
    /// Whether a role may use the command, by the permission model's rules (`policy`) and the
    /// routes: who files, who holds a level or sits in a group, who sees which board.
    fn for_role(self, role: Role, routes: &[Route]) -> bool {
        // A level of a route; a review's group and its 复审 (an exemption has neither).
        let on_a_route = routes.iter().any(|r| {
            r.steps
                .iter()
                .any(|s| s.role == role || s.city_direct_role == Some(role))
                || (r.purpose == Purpose::Review
                    && (r.group.roles.contains(&role)
                        || (r.recheck.enabled && r.recheck.role == role)))
        });
        match self {
            // Only the unbound need /start: a bound person joins another role by its link.
            Command::Start => false,
            Command::Review | Command::Exempt | Command::MyRequests => {
                super::policy::FILERS.contains(&role)
            }
            Command::Pending => on_a_route,
            // Everyone but the entry clerks sees requests (policy's `See`).
            Command::Request => !matches!(role, Role::EntryClerk | Role::ProvinceViewer),
            Command::Batch => routes
                .iter()
                .any(|r| r.purpose == Purpose::Review && r.report && r.group.roles.contains(&role)),
            // The season board (`Status`) and the entry board (`SeeBatch`).
            Command::Status => matches!(
                role,
                Role::CityAdmin
                    | Role::DistrictOfficer
                    | Role::EntryClerk
                    | Role::Inspector
                    | Role::ProvinceViewer
            ),
            Command::Export => matches!(role, Role::CityAdmin | Role::DistrictOfficer),
            Command::Publish | Command::Close | Command::Lift => role == Role::CityAdmin,
            // Who invites (`policy::may_invite`) sees and revokes in the units they invite in.
            Command::Invite | Command::People => matches!(
                role,
                Role::CityAdmin | Role::DistrictOfficer | Role::SchoolContact
            ),
            Command::Contacts | Command::Whoami | Command::Cancel | Command::Help => true,
        }
    }
}

/// The menu of someone holding `roles` (none: the unbound menu).
pub fn menu(roles: &[Role], routes: &[Route]) -> Vec<Command> {
    if roles.is_empty() {
        return vec![Command::Start, Command::Help];
    }
    Command::ALL
        .into_iter()
        .filter(|c| roles.iter().any(|r| c.for_role(*r, routes)))
        .collect()
}

impl App {
    /// The routes whose levels and groups give a role of this city its commands.
    fn menu_routes(&self, city: &str) -> [Route; 2] {
        [
            self.config.review_route(city),
            self.config.exemption_of(city).route(),
        ]
    }

    /// The menu of a person of `city` with these bindings: (command, description) pairs for
    /// `setMyCommands`, descriptions from `messages/command_menu.hbs`.
    pub fn menu_of(&self, bound: &[Binding], city: &str) -> anyhow::Result<Vec<(String, String)>> {
        let roles: Vec<Role> = bound.iter().map(|b| b.role).collect();
        let described = self.render.command_menu()?;
        Ok(menu(&roles, &self.menu_routes(city))
            .into_iter()
            .map(|c| {
                let description = described
                    .iter()
                    .find(|(name, _)| name == c.name())
                    .map_or_else(|| c.name().to_string(), |(_, d)| d.clone());
                (c.name().to_string(), description)
            })
            .collect())
    }

    /// The menu of the person bound in a chat; None when nobody is (the chat then shows the
    /// default menu).
    /// The season board as this chat's menu button (its label and address): where the city has
    /// given the board's address, for the people /status offers it to (city admins and district
    /// officers), in their own chat.
    pub async fn board_menu_of_chat(&self, chat: i64) -> anyhow::Result<Option<(String, String)>> {
        let Some(url) = &self.config.telegram.board_url else {
            return Ok(None);
        };
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::in_chat(&mut conn, chat).await?;
        let officer = bound.iter().any(|b| {
            b.telegram_user_id == chat && matches!(b.role, Role::CityAdmin | Role::DistrictOfficer)
        });
        if !officer {
            return Ok(None);
        }
        let label = self.render.text(crate::render::tpl::MENU_SEASON_BOARD)?;
        Ok(Some((label, url.clone())))
    }

    pub async fn menu_of_chat(&self, chat: i64) -> anyhow::Result<Option<Vec<(String, String)>>> {
        let mut conn = self.db.pool.acquire().await?;
        let bound = people::in_chat(&mut conn, chat).await?;
        let Some(first) = bound.first() else {
            return Ok(None);
        };
        let city = self.city_of_user(&mut conn, first.telegram_user_id).await?;
        self.menu_of(&bound, &city).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_description_in_the_menu_template() {
        let render = crate::render::Renderer::new().unwrap();
        let described = render.command_menu().unwrap();
        for c in Command::ALL {
            assert!(
                described.iter().any(|(name, _)| name == c.name()),
                "{} has no line in command_menu.hbs",
                c.name()
            );
        }
        assert_eq!(described.len(), Command::ALL.len());
    }
}
