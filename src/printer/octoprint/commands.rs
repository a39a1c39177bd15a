//! OctoPrint commands: idempotent (nothing is sent when the printer is already
//! there), confirmed by the state OctoPrint reports afterwards, and with
//! OctoPrint's refusals (409, 403) turned into `PrinterError`s that say why.
//!
//! Park is `hostlink::park`'s relative retract + lift, then `M114`: the
//! firmware's position report in OctoPrint's terminal log confirms the move
//! (OctoPrint's own `currentZ` ignores relative moves). Resume undoes a park
//! first, so the print does not continue in mid-air.

use std::time::Instant;

use crate::domain::{PrinterState, PrinterStatus};
use crate::printer::hostlink::confirm::{
    check_targets, nothing_to_cancel, pausable, require_link, targets_match, wait_for_state,
};
use crate::printer::hostlink::park::{ParkMove, hotend_hot};
use crate::printer::{Confirmation, PrinterError};

use super::OctoPrintLink;
use super::api::{JobCommand, OctoPrintError};

impl OctoPrintLink {
    fn current(&self) -> PrinterStatus {
        self.status.borrow().clone()
    }

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

    /// OctoPrint answered 409: our view was stale (a print that just ended, a
    /// pause someone else made). If the printer gets where the command wanted
    /// it within a moment, that is success with nothing done; else the refusal
    /// stands, naming the state OctoPrint is really in.
    async fn after_conflict(
        &self,
        command: &'static str,
        e: OctoPrintError,
        there: impl Fn(&PrinterState) -> bool,
    ) -> Result<Confirmation, PrinterError> {
        if !matches!(e, OctoPrintError::Conflict { .. }) {
            return Err(self.map_err(command, e));
        }
        tracing::info!(printer = %self.name, command, error = %e, "octoprint refused; re-checking the printer state");
        let mut rx = self.status.clone();
        let settle = std::time::Duration::from_secs(2).min(self.command_timeout);
        match wait_for_state(&mut rx, command, settle, |s| there(&s.state)).await {
            Ok(()) => Ok(Confirmation::AlreadyThere),
            Err(_) => Err(PrinterError::InvalidState { command, state: self.status.borrow().state.name() }),
        }
    }

    async fn confirm(
        &self,
        command: &'static str,
        done: impl Fn(&PrinterStatus) -> bool,
    ) -> Result<Confirmation, PrinterError> {
        let mut rx = self.status.clone();
        wait_for_state(&mut rx, command, self.command_timeout, done).await?;
        Ok(Confirmation::Confirmed)
    }

    pub(super) async fn do_pause(&self) -> Result<Confirmation, PrinterError> {
        let _one = self.command_lock.lock().await;
        let now = self.current();
        require_link(&now.state, "pause")?;
        match &now.state {
            PrinterState::Paused { .. } => return Ok(Confirmation::AlreadyThere),
            PrinterState::Pausing { .. } => {
                self.confirm("pause", |s| matches!(s.state, PrinterState::Paused { .. })).await?;
                return Ok(Confirmation::AlreadyThere);
            }
            s if pausable(s) => {}
            s => return Err(PrinterError::InvalidState { command: "pause", state: s.name() }),
        }
        tracing::info!(printer = %self.name, "pausing the print");
        if let Err(e) = self.api.job_command(JobCommand::Pause).await {
            return self.after_conflict("pause", e, |s| matches!(s, PrinterState::Paused { .. })).await;
        }
        self.confirm("pause", |s| matches!(s.state, PrinterState::Paused { .. })).await
    }

    pub(super) async fn do_resume(&self) -> Result<Confirmation, PrinterError> {
        let _one = self.command_lock.lock().await;
        let mut now = self.current();
        require_link(&now.state, "resume")?;
        match &now.state {
            PrinterState::Printing { .. } | PrinterState::Heating { job: Some(_) } => {
                return Ok(Confirmation::AlreadyThere);
            }
            PrinterState::Pausing { .. } => {
                self.confirm("resume", |s| matches!(s.state, PrinterState::Paused { .. })).await?;
                now = self.current();
            }
            PrinterState::Paused { .. } => {}
            s => return Err(PrinterError::InvalidState { command: "resume", state: s.name() }),
        }
        let parked = self.parked.lock().map(|p| *p).unwrap_or(None);
        if let Some(p) = parked {
            tracing::info!(printer = %self.name, lift_mm = p.lift_mm, "lowering the nozzle back before resuming");
            self.api.commands(&p.unpark_gcode(hotend_hot(&now))).await.map_err(|e| self.map_err("resume", e))?;
        }
        tracing::info!(printer = %self.name, "resuming the print");
        if let Err(e) = self.api.job_command(JobCommand::Resume).await {
            return self.after_conflict("resume", e, |s| matches!(s, PrinterState::Printing { .. })).await;
        }
        if let Ok(mut p) = self.parked.lock() {
            *p = None;
        }
        self.confirm("resume", |s| {
            matches!(
                s.state,
                PrinterState::Printing { .. } | PrinterState::Heating { .. } | PrinterState::Finished { .. }
            )
        })
        .await
    }

    pub(super) async fn do_cancel(&self) -> Result<Confirmation, PrinterError> {
        let _one = self.command_lock.lock().await;
        let now = self.current();
        require_link(&now.state, "cancel")?;
        if nothing_to_cancel(&now.state) {
            return Ok(Confirmation::AlreadyThere);
        }
        tracing::info!(printer = %self.name, "cancelling the print");
        if let Err(e) = self.api.job_command(JobCommand::Cancel).await {
            return self.after_conflict("cancel", e, nothing_to_cancel).await;
        }
        if let Ok(mut p) = self.parked.lock() {
            *p = None;
        }
        self.confirm("cancel", |s| matches!(s.state, PrinterState::Cancelled { .. } | PrinterState::Idle)).await
    }

    pub(super) async fn do_set_temperatures(
        &self,
        hotend: Option<f32>,
        bed: Option<f32>,
    ) -> Result<Confirmation, PrinterError> {
        check_targets(hotend, bed)?;
        let _one = self.command_lock.lock().await;
        let now = self.current();
        require_link(&now.state, "set_temperatures")?;
        if targets_match(&now.temps, hotend, bed) {
            return Ok(Confirmation::AlreadyThere);
        }
        tracing::info!(printer = %self.name, ?hotend, ?bed, "setting heater targets");
        if let Some(t) = hotend {
            self.api.set_tool_target(t).await.map_err(|e| self.map_err("set_temperatures", e))?;
        }
        if let Some(t) = bed {
            self.api.set_bed_target(t).await.map_err(|e| self.map_err("set_temperatures", e))?;
        }
        self.confirm("set_temperatures", |s| targets_match(&s.temps, hotend, bed)).await
    }

    pub(super) async fn do_park(&self) -> Result<Confirmation, PrinterError> {
        let _one = self.command_lock.lock().await;
        let now = self.current();
        require_link(&now.state, "park")?;
        let PrinterState::Paused { job } = &now.state else {
            return Err(PrinterError::InvalidState { command: "park", state: now.state.name() });
        };
        if self.parked.lock().map(|p| p.is_some()).unwrap_or(false) {
            return Ok(Confirmation::AlreadyThere);
        }
        let retract = if hotend_hot(&now) { self.park.retract_mm } else { 0.0 };
        let mv = ParkMove { retract_mm: retract, lift_mm: self.park.lift_mm };
        let expect_z = job.z.map(|z| z + mv.lift_mm);
        let mut lines = mv.park_gcode();
        lines.push("M114".to_string());
        tracing::info!(printer = %self.name, lift_mm = mv.lift_mm, retract_mm = retract, "parking the nozzle");
        let sent = Instant::now();
        self.api.commands(&lines).await.map_err(|e| self.map_err("park", e))?;
        if let Ok(mut p) = self.parked.lock() {
            *p = Some(mv);
        }
        let mut zpos = self.zpos.clone();
        let reached = |r: &Option<super::run::ReportedZ>| {
            r.is_some_and(|r| r.at >= sent && expect_z.is_none_or(|z| r.z >= z - 0.05))
        };
        match tokio::time::timeout(self.command_timeout, zpos.wait_for(reached)).await {
            Ok(Ok(_)) => Ok(Confirmation::Confirmed),
            _ => Err(PrinterError::Unconfirmed {
                command: "park",
                timeout_ms: self.command_timeout.as_millis() as u64,
                state: self.status.borrow().state.name(),
            }),
        }
    }
}
