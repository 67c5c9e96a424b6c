//! Pure domain types and their rules. Nothing here does I/O.

pub mod attachment;
pub mod code;
pub mod deadline;
pub mod entry;
pub mod exemption;
pub mod ids;
pub mod purpose;
pub mod review;
pub mod role;
pub mod schedule;
pub mod score;
pub mod stage;
pub mod unit;
pub mod workflow;

pub use role::Role;
pub use score::Score;
pub use unit::UnitKind;
