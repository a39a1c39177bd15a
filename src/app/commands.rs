//! The dashboard's command path into the daemon: [`DaemonCommands`] implements
//! the web layer's [`CommandSink`] by handing owner commands to the running
//! action engine (`ActionEngine::user_command`, the same path the daemon's own
//! actions take) and owner feedback to the decider through the status board.

use std::sync::Arc;

use tokio::sync::watch;

use super::status::StatusBoard;
use crate::actions::{ActionEngine, ActionError, UserCommand, UserOutcome};
use crate::decision::Feedback;
use crate::web::{CommandError, CommandSink};

/// Commands from the web to the live engine and decider.
pub struct DaemonCommands {
    engines: watch::Receiver<Option<ActionEngine>>,
    board: Arc<StatusBoard>,
}

impl DaemonCommands {
    pub fn new(engines: watch::Receiver<Option<ActionEngine>>, board: Arc<StatusBoard>) -> Self {
        DaemonCommands { engines, board }
    }
}

#[async_trait::async_trait]
impl CommandSink for DaemonCommands {
    async fn user_command(&self, command: UserCommand, who: Option<String>) -> Result<UserOutcome, CommandError> {
        let engine = self.engines.borrow().clone();
        let Some(engine) = engine else {
            return Err(CommandError::Unavailable("the action engine is not running (restarting?)".into()));
        };
        engine.user_command(command, who).await.map_err(|e| match e {
            ActionError::UnknownIncident(id) => CommandError::UnknownIncident(id),
            ActionError::Invalid(why) => CommandError::Invalid(why),
            ActionError::Conflict(why) => CommandError::Conflict(why),
            ActionError::Stopped => CommandError::Unavailable(e.to_string()),
            other => CommandError::Failed(other.to_string()),
        })
    }

    fn decider_feedback(&self, feedback: Feedback) {
        self.board.send_feedback(feedback);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_an_engine_commands_are_refused_and_feedback_queues_in_order() {
        let board = Arc::new(StatusBoard::for_tests());
        let (_tx, rx) = watch::channel(None);
        let c = DaemonCommands::new(rx, board.clone());
        let err = c.user_command(UserCommand::Pause, None).await.unwrap_err();
        assert!(matches!(err, CommandError::Unavailable(_)), "{err}");
        c.decider_feedback(Feedback::NotAFailure);
        c.decider_feedback(Feedback::MuteForPrint);
        // The stored permit wakes the decision stage even though nobody was waiting.
        tokio::time::timeout(std::time::Duration::from_secs(1), board.feedback_ready().notified()).await.unwrap();
        assert_eq!(board.take_feedback(), Some(Feedback::NotAFailure));
        assert_eq!(board.take_feedback(), Some(Feedback::MuteForPrint));
        assert_eq!(board.take_feedback(), None);
    }
}
