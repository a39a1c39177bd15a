//! The dashboard's command path into the daemon: [`DaemonCommands`] implements
//! the web layer's [`CommandSink`] by handing owner commands to the running
//! action engine (`ActionEngine::user_command`, the same path the daemon's own
//! actions take). What a command implies for the decider, the engine sends on
//! its feedback channel once the command is carried out.

use tokio::sync::watch;

use crate::actions::{ActionEngine, ActionError, UserCommand, UserOutcome};
use crate::web::{CommandError, CommandSink};

/// Commands from the web to the live engine.
pub struct DaemonCommands {
    engines: watch::Receiver<Option<ActionEngine>>,
}

impl DaemonCommands {
    pub fn new(engines: watch::Receiver<Option<ActionEngine>>) -> Self {
        DaemonCommands { engines }
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

    async fn objects(&self) -> Result<crate::printer::objects::ObjectList, CommandError> {
        let engine = self.engines.borrow().clone();
        match engine {
            Some(engine) => Ok(engine.objects().await),
            None => Err(CommandError::Unavailable("the action engine is not running (restarting?)".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_an_engine_commands_are_refused() {
        let (_tx, rx) = watch::channel(None);
        let c = DaemonCommands::new(rx);
        let err = c.user_command(UserCommand::Pause, None).await.unwrap_err();
        assert!(matches!(err, CommandError::Unavailable(_)), "{err}");
    }
}
