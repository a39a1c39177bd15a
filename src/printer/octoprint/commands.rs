//! OctoPrint's wire for the shared command flow (`hostlink::commands`): job
//! commands over REST, with OctoPrint's refusals (409, 403) turned into
//! `PrinterError`s that say why (a 409 is re-checked against the state first).
//!
//! Park is `hostlink::park`'s relative retract + lift, then `M114`: the
//! firmware's position report in OctoPrint's terminal log confirms the move
//! (OctoPrint's own `currentZ` ignores relative moves). Resume undoes a park
//! first, so the print does not continue in mid-air.

use std::time::Instant;

use async_trait::async_trait;

use crate::printer::hostlink::commands::{HostWire, JobAction, Refusal};
use crate::printer::{Confirmation, PrinterError};

use super::OctoPrintLink;
use super::api::{JobCommand, OctoPrintError};

impl OctoPrintLink {
    fn map_err(&self, command: &'static str, e: OctoPrintError) -> PrinterError {
        match e {
            OctoPrintError::Conflict { .. } => {
                PrinterError::InvalidState { command, state: self.status.borrow().state.name() }
            }
            OctoPrintError::Auth { .. } => PrinterError::Rejected { command, message: e.to_string() },
            OctoPrintError::Transport { .. } => PrinterError::Link(e.to_string()),
            other => PrinterError::Rejected { command, message: other.to_string() },
        }
    }

    pub(super) async fn do_pause(&self) -> Result<Confirmation, PrinterError> {
        self.commands.pause(self).await
    }

    pub(super) async fn do_resume(&self) -> Result<Confirmation, PrinterError> {
        self.commands.resume(self).await
    }

    pub(super) async fn do_cancel(&self) -> Result<Confirmation, PrinterError> {
        self.commands.cancel(self).await
    }

    pub(super) async fn do_set_temperatures(
        &self,
        hotend: Option<f32>,
        bed: Option<f32>,
    ) -> Result<Confirmation, PrinterError> {
        self.commands.set_temperatures(self, hotend, bed).await
    }

    pub(super) async fn do_park(&self) -> Result<Confirmation, PrinterError> {
        let Some(start) = self.commands.begin_park().await? else {
            return Ok(Confirmation::AlreadyThere);
        };
        let expect_z = start.job.z.map(|z| z + start.mv.lift_mm);
        let mut lines = start.mv.park_gcode();
        lines.push("M114".to_string());
        let sent = Instant::now();
        self.api.commands(&lines).await.map_err(|e| self.map_err("park", e))?;
        self.commands.parked(&start);
        let mut zpos = self.zpos.clone();
        let reached = |r: &Option<super::run::ReportedZ>| {
            r.is_some_and(|r| r.at >= sent && expect_z.is_none_or(|z| r.z >= z - 0.05))
        };
        let timeout = self.commands.timeout();
        match tokio::time::timeout(timeout, zpos.wait_for(reached)).await {
            Ok(Ok(_)) => Ok(Confirmation::Confirmed),
            _ => Err(PrinterError::Unconfirmed {
                command: "park",
                timeout_ms: timeout.as_millis() as u64,
                state: self.commands.state_name(),
            }),
        }
    }
}

#[async_trait]
impl HostWire for OctoPrintLink {
    async fn job(&self, action: JobAction) -> Result<(), Refusal> {
        let (command, cmd) = match action {
            JobAction::Pause => ("pause", JobCommand::Pause),
            JobAction::Resume => ("resume", JobCommand::Resume),
            JobAction::Cancel => ("cancel", JobCommand::Cancel),
        };
        self.api.job_command(cmd).await.map_err(|e| match e {
            OctoPrintError::Conflict { .. } => Refusal::Stale(e.to_string()),
            e => Refusal::Failed(self.map_err(command, e)),
        })
    }

    async fn gcode(&self, command: &'static str, lines: &[String]) -> Result<(), PrinterError> {
        self.api.commands(lines).await.map_err(|e| self.map_err(command, e))
    }

    async fn set_targets(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<(), PrinterError> {
        if let Some(t) = hotend {
            self.api.set_tool_target(t).await.map_err(|e| self.map_err("set_temperatures", e))?;
        }
        if let Some(t) = bed {
            self.api.set_bed_target(t).await.map_err(|e| self.map_err("set_temperatures", e))?;
        }
        Ok(())
    }
}
