//! Why an action-engine call failed.

use super::alerts::NotifyError;
use crate::store::{IncidentId, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("alert channel: {0}")]
    Channel(#[from] NotifyError),
    #[error("the action engine has stopped")]
    Stopped,
    #[error("no printer link is configured (printer.kind = \"none\")")]
    NoPrinter,
    #[error("no incident with id {0}")]
    UnknownIncident(IncidentId),
    /// The command's arguments are refused (says which and why).
    #[error("{0}")]
    Invalid(String),
    /// The command does not fit the current state (a closed incident…).
    #[error("{0}")]
    Conflict(String),
}
