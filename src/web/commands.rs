//! The web layer's way to change things: [`CommandSink`], implemented by the
//! daemon (`app::commands`, over the action engine) and by a recording fake in
//! tests. The web never pauses a printer itself, and never talks to the
//! decider: the engine tells it what a command implies.

use crate::actions::{UserCommand, UserOutcome};
use crate::store::IncidentId;

/// Where owner commands go.
#[async_trait::async_trait]
pub trait CommandSink: Send + Sync {
    /// Runs a command through the engine, in order with the daemon's own actions.
    async fn user_command(&self, command: UserCommand, who: Option<String>) -> Result<UserOutcome, CommandError>;
    /// The current print's objects and their state (`GET /api/objects`). The default: not available.
    async fn objects(&self) -> Result<crate::printer::objects::ObjectList, CommandError> {
        Err(CommandError::Unavailable("objects are not available on this server".into()))
    }
}

/// Why a command did not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("no incident with id {0}")]
    UnknownIncident(IncidentId),
    #[error("cannot run the command now: {0}")]
    Unavailable(String),
    #[error("the command failed: {0}")]
    Failed(String),
    /// The request's arguments are refused (400); the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The command does not fit the current state (409), e.g. the incident is closed.
    #[error("{0}")]
    Conflict(String),
}
