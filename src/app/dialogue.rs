//! The kinds of chat dialogue a person can be in, named once: the `dialogues.kind` column holds
//! one of these, and each kind's module reads its own steps.

/// Filing a review request (/review).
pub const FILE: &str = "file";
/// Amending a returned review request.
pub const AMEND: &str = "amend";
/// The reason for a rejection, return or dispute.
pub const WHY: &str = "why";
/// A review group's result for one request.
pub const RECORD: &str = "record";
/// A 免考 application (附件2).
pub const EXEMPT: &str = "exempt";
/// Inviting one person.
pub const INVITE: &str = "invite";
/// A file sent in chat, to be imported.
pub const IMPORT: &str = "import";
/// An entry sheet of a half-day's batch (附件7).
pub const ENTRY: &str = "entry";
