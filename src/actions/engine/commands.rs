//! Printer commands as the engine sends them: each one timed, audited (who,
//! why, how it ended) and reduced to a `CommandResult`; the daemon's stop
//! commands are retried once when unconfirmed while the printer still prints.

use std::path::PathBuf;
use std::time::Instant;

use super::Engine;
use crate::actions::ActionError;
use crate::actions::alerts::ActionStep;
use crate::printer::{Confirmation, PrinterError};
use crate::store::{Actor, AuditCommand, AuditEntry, CommandResult, IncidentId};

/// Who asks, and why.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub actor: Actor,
    pub who: Option<String>,
    pub reason: String,
    pub incident: Option<IncidentId>,
    /// The file to print, for `print`.
    pub file: Option<PathBuf>,
    /// The object to cancel, for `cancel_object`.
    pub object: Option<String>,
}

fn classify(r: &Result<Confirmation, PrinterError>) -> (CommandResult, Option<String>) {
    match r {
        Ok(Confirmation::Confirmed) => (CommandResult::Confirmed, None),
        Ok(Confirmation::AlreadyThere) => (CommandResult::AlreadyThere, None),
        Err(e @ PrinterError::Unconfirmed { .. }) => (CommandResult::Unconfirmed, Some(e.to_string())),
        Err(e) => (CommandResult::Failed, Some(e.to_string())),
    }
}

pub(super) fn done(r: CommandResult) -> bool {
    matches!(r, CommandResult::Confirmed | CommandResult::AlreadyThere)
}

impl Engine {
    /// Sends one command (attempt number `attempt`) and audits it.
    pub(super) async fn command(
        &self,
        cmd: AuditCommand,
        req: &Request,
        attempt: u32,
    ) -> Result<(CommandResult, Option<String>), ActionError> {
        let Some(printer) = &self.printer else { return Err(ActionError::NoPrinter) };
        let started = Instant::now();
        let at = self.clock.now();
        tracing::info!(command = %cmd, actor = %req.actor, incident = ?req.incident, attempt, reason = %req.reason,
            "sending printer command");
        let r = match cmd {
            AuditCommand::Pause => printer.pause().await,
            AuditCommand::Resume => printer.resume().await,
            AuditCommand::Cancel => printer.cancel().await,
            AuditCommand::Park => printer.park().await,
            AuditCommand::CoolDown => printer.cool_down(self.cfg.cool_bed).await,
            AuditCommand::Print => match &req.file {
                Some(file) => printer.start_print(file).await,
                None => Err(PrinterError::InvalidState { command: "print", state: "no file given" }),
            },
            AuditCommand::CancelObject => match &req.object {
                Some(name) => printer.cancel_object(name).await,
                None => Err(PrinterError::InvalidState { command: "cancel_object", state: "no object given" }),
            },
            // The light is `actions::light`'s task, never the engine's.
            AuditCommand::LightOn | AuditCommand::LightOff => {
                Err(PrinterError::InvalidState { command: "light", state: "switched by the light task" })
            }
        };
        let (result, error) = classify(&r);
        let duration_ms = started.elapsed().as_millis() as u64;
        match &error {
            None => tracing::info!(command = %cmd, %result, duration_ms, "printer command done"),
            Some(e) => {
                tracing::error!(command = %cmd, %result, duration_ms, error = %e, "printer command not confirmed")
            }
        }
        let entry = AuditEntry {
            at,
            actor: req.actor,
            who: req.who.clone(),
            command: cmd,
            reason: req.reason.clone(),
            incident_id: req.incident,
            attempt,
            result,
            error: error.clone(),
            duration_ms,
        };
        // The command happened whether or not the audit row can be written.
        if let Err(e) = self.store.audit(entry).await {
            tracing::error!(command = %cmd, error = %e, "cannot write the audit log");
        }
        Ok((result, error))
    }

    /// The daemon's pause or cancel: sent, and sent once more if it was not
    /// confirmed and the printer still says it is printing.
    pub(super) async fn stop_command(&self, cmd: AuditCommand, req: &Request) -> ActionStep {
        let mut attempts = 0;
        let mut last = (CommandResult::Failed, None);
        for attempt in 1..=2 {
            if attempt == 2 && !(self.cfg.retry_unconfirmed && self.status.borrow().state.is_printing()) {
                break;
            }
            attempts = attempt;
            last = match self.command(cmd, req, attempt).await {
                Ok(r) => r,
                Err(e) => (CommandResult::Failed, Some(e.to_string())),
            };
            if done(last.0) {
                break;
            }
        }
        ActionStep { command: cmd, result: last.0, attempts, error: last.1 }
    }

    /// A follow-up command (park, cool down): one attempt.
    pub(super) async fn step(&self, cmd: AuditCommand, req: &Request) -> ActionStep {
        let (result, error) = match self.command(cmd, req, 1).await {
            Ok(r) => r,
            Err(e) => (CommandResult::Failed, Some(e.to_string())),
        };
        ActionStep { command: cmd, result, attempts: 1, error }
    }
}
