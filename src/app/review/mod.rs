//! The score review (复核, 附件4 二, 附件5): filing a request for one candidate, through the
//! guided dialogue or in one message, and amending a returned one. The request then moves on
//! the workflow engine (`app::workflow`), like every purpose's.

pub(crate) mod dialogue;
mod filing;
pub(crate) use filing::Filing;
mod quick;

pub use quick::QuickFrom;
