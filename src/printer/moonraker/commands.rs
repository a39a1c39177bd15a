//! Moonraker commands: `printer.print.pause|resume|cancel` and
//! `printer.gcode.script` (temperatures, park), idempotent and confirmed by
//! the objects Klipper reports afterwards. Klipper answers a script only after
//! running it, and refuses what it cannot do (cold extrusion, not paused) with
//! an error that becomes `PrinterError::Rejected` with Klipper's words.

use crate::domain::{PrinterState, PrinterStatus};
use crate::printer::hostlink::confirm::{
    check_targets, nothing_to_cancel, pausable, require_link, targets_match, wait_for_state,
};
use crate::printer::hostlink::park::{ParkMove, hotend_hot};
use crate::printer::{Confirmation, PrinterError};

use super::MoonrakerLink;
use super::rpc::RpcError;

impl MoonrakerLink {
    fn current(&self) -> PrinterStatus {
        self.status.borrow().clone()
    }

    fn map_err(&self, command: &'static str, e: RpcError) -> PrinterError {
        match e {
            RpcError::NotConnected | RpcError::Dropped { .. } => PrinterError::NotConnected,
            // 503: Moonraker is up but Klippy is not.
            RpcError::Remote { code: 503, .. } => PrinterError::NotConnected,
            RpcError::Remote { message, .. } => {
                PrinterError::Rejected { command, message: format!("klipper: {message}") }
            }
            RpcError::Timeout { .. } => PrinterError::Link(e.to_string()),
        }
    }

    async fn call(
        &self,
        command: &'static str,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<(), PrinterError> {
        self.rpc.call(method, params).await.map(drop).map_err(|e| self.map_err(command, e))
    }

    async fn script(&self, command: &'static str, lines: &[String]) -> Result<(), PrinterError> {
        self.call(command, "printer.gcode.script", serde_json::json!({"script": lines.join("\n")})).await
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
        self.call("pause", "printer.print.pause", serde_json::json!({})).await?;
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
            self.script("resume", &p.unpark_gcode(hotend_hot(&now))).await?;
        }
        tracing::info!(printer = %self.name, "resuming the print");
        self.call("resume", "printer.print.resume", serde_json::json!({})).await?;
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
        self.call("cancel", "printer.print.cancel", serde_json::json!({})).await?;
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
        let mut lines = Vec::new();
        if let Some(t) = hotend {
            lines.push(format!("SET_HEATER_TEMPERATURE HEATER=extruder TARGET={t:.1}"));
        }
        if let Some(t) = bed {
            lines.push(format!("SET_HEATER_TEMPERATURE HEATER=heater_bed TARGET={t:.1}"));
        }
        tracing::info!(printer = %self.name, ?hotend, ?bed, "setting heater targets");
        self.script("set_temperatures", &lines).await?;
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
        let expect_z = job.z.map(|z| z + mv.lift_mm - 0.05);
        tracing::info!(printer = %self.name, lift_mm = mv.lift_mm, retract_mm = retract, "parking the nozzle");
        self.script("park", &mv.park_gcode()).await?;
        if let Ok(mut p) = self.parked.lock() {
            *p = Some(mv);
        }
        match expect_z {
            // Klipper reports the toolhead's position: wait until it shows the lift.
            Some(z) => self.confirm("park", move |s| s.state.job().and_then(|j| j.z).is_some_and(|now| now >= z)).await,
            // No position known: Klipper answering the script after running it is the confirmation.
            None => Ok(Confirmation::Confirmed),
        }
    }
}
