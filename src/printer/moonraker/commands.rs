//! Moonraker's wire for the shared command flow (`hostlink::commands`):
//! `printer.print.pause|resume|cancel` and `printer.gcode.script`
//! (temperatures, park). Klipper answers a script only after running it, and
//! refuses what it cannot do (cold extrusion, not paused) with an error that
//! becomes `PrinterError::Rejected` with Klipper's words.

use async_trait::async_trait;

use crate::printer::hostlink::commands::{HostWire, JobAction, Refusal};
use crate::printer::{Confirmation, PrinterError};

use super::MoonrakerLink;
use super::rpc::RpcError;

impl MoonrakerLink {
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
        let expect_z = start.job.z.map(|z| z + start.mv.lift_mm - 0.05);
        self.script("park", &start.mv.park_gcode()).await?;
        self.commands.parked(&start);
        match expect_z {
            // Klipper reports the toolhead's position: wait until it shows the lift.
            Some(z) => {
                self.commands
                    .confirm("park", move |s| s.state.job().and_then(|j| j.z).is_some_and(|now| now >= z))
                    .await
            }
            // No position known: Klipper answering the script after running it is the confirmation.
            None => Ok(Confirmation::Confirmed),
        }
    }
}

#[async_trait]
impl HostWire for MoonrakerLink {
    async fn job(&self, action: JobAction) -> Result<(), Refusal> {
        let (command, method) = match action {
            JobAction::Pause => ("pause", "printer.print.pause"),
            JobAction::Resume => ("resume", "printer.print.resume"),
            JobAction::Cancel => ("cancel", "printer.print.cancel"),
        };
        self.call(command, method, serde_json::json!({})).await.map_err(Refusal::Failed)
    }

    async fn gcode(&self, command: &'static str, lines: &[String]) -> Result<(), PrinterError> {
        self.script(command, lines).await
    }

    async fn set_targets(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<(), PrinterError> {
        let mut lines = Vec::new();
        if let Some(t) = hotend {
            lines.push(format!("SET_HEATER_TEMPERATURE HEATER=extruder TARGET={t:.1}"));
        }
        if let Some(t) = bed {
            lines.push(format!("SET_HEATER_TEMPERATURE HEATER=heater_bed TARGET={t:.1}"));
        }
        self.script("set_temperatures", &lines).await
    }
}
