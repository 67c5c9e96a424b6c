//! The bot's commands, named and parsed in one place: dispatch, the menus and /help all read
//! this table.

/// A command of the bot, in the order menus list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Start,
    Review,
    Exempt,
    Pending,
    MyRequests,
    Request,
    Batch,
    Status,
    Export,
    Publish,
    Close,
    Lift,
    Invite,
    People,
    Contacts,
    Whoami,
    Cancel,
    Help,
}

/// A message that starts with a slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed<'a> {
    /// A command of the bot and what followed it.
    Known(Command, &'a str),
    /// A slash and a name the bot does not know.
    Unknown,
}

impl Command {
    pub const ALL: [Command; 18] = [
        Command::Start,
        Command::Review,
        Command::Exempt,
        Command::Pending,
        Command::MyRequests,
        Command::Request,
        Command::Batch,
        Command::Status,
        Command::Export,
        Command::Publish,
        Command::Close,
        Command::Lift,
        Command::Invite,
        Command::People,
        Command::Contacts,
        Command::Whoami,
        Command::Cancel,
        Command::Help,
    ];

    /// The command as typed after the slash.
    pub fn name(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Review => "review",
            Command::Exempt => "exempt",
            Command::Pending => "pending",
            Command::MyRequests => "myrequests",
            Command::Request => "request",
            Command::Batch => "batch",
            Command::Status => "status",
            Command::Export => "export",
            Command::Publish => "publish",
            Command::Close => "close",
            Command::Lift => "lift",
            Command::Invite => "invite",
            Command::People => "people",
            Command::Contacts => "contacts",
            Command::Whoami => "whoami",
            Command::Cancel => "cancel",
            Command::Help => "help",
        }
    }

    /// Commands whose argument may be joined to the name by an underscore ("/request_12"):
    /// a list links each item so, since Telegram makes a command a link, not its argument.
    const LINKED: [Command; 2] = [Command::Request, Command::People];

    /// Whether the command reads the season's library: once the season is sealed, it is
    /// answered that the library is in its archive.
    pub fn reads_the_season(self) -> bool {
        matches!(
            self,
            Command::Review
                | Command::Exempt
                | Command::Pending
                | Command::Status
                | Command::MyRequests
                | Command::Request
                | Command::Batch
                | Command::Export
                | Command::Close
                | Command::Lift
                | Command::Publish
        )
    }

    /// Parses "/cmd@BotName args" (the name in any case); None when the text is no command.
    pub fn parse(text: &str) -> Option<Typed<'_>> {
        let rest = text.strip_prefix('/')?;
        let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let as_typed = head.split('@').next().unwrap_or(head);
        let name = as_typed.to_ascii_lowercase();
        if let Some(c) = Command::ALL.into_iter().find(|c| c.name() == name) {
            return Some(Typed::Known(c, args.trim()));
        }
        for c in Command::LINKED {
            let linked = name
                .strip_prefix(c.name())
                .is_some_and(|rest| rest.starts_with('_'));
            if linked {
                // The argument as typed (lower-casing keeps ASCII lengths).
                return Some(Typed::Known(c, &as_typed[c.name().len() + 1..]));
            }
        }
        Some(Typed::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_arguments_bot_names_and_linked_forms() {
        assert_eq!(Command::parse("hello"), None);
        assert_eq!(
            Command::parse("/review 2023001 138 漏评"),
            Some(Typed::Known(Command::Review, "2023001 138 漏评"))
        );
        assert_eq!(
            Command::parse("/Status@exam_bot"),
            Some(Typed::Known(Command::Status, ""))
        );
        assert_eq!(
            Command::parse("/request_12"),
            Some(Typed::Known(Command::Request, "12"))
        );
        assert_eq!(
            Command::parse("/people_D01@exam_bot"),
            Some(Typed::Known(Command::People, "D01"))
        );
        assert_eq!(Command::parse("/frobnicate"), Some(Typed::Unknown));
        assert_eq!(Command::parse("/requests"), Some(Typed::Unknown));
        for c in Command::ALL {
            let typed = format!("/{}", c.name());
            assert_eq!(Command::parse(&typed), Some(Typed::Known(c, "")));
        }
    }
}
