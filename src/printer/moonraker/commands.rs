//! Moonraker's wire for the shared command flow (`hostlink::commands`):
//! `printer.print.pause|resume|cancel` and `printer.gcode.script`
//! (temperatures, park). Klipper answers a script only after running it, and
//! refuses what it cannot do (cold extrusion, not paused) with an error that
//! becomes `PrinterError::Rejected` with Klipper's words.

use async_trait::async_trait;

use crate::printer::hostlink::commands::{HostWire, JobAction, Refusal};
use crate::printer::objects::{self, CANCEL_OBJECT};
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

/// At most this many names are read from Klipper's object lists (memory bound).
const MAX_KLIPPER_OBJECTS: usize = 1024;

/// Klipper's `exclude_object` status (names upper-cased, as Klipper keeps them).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ExcludeStatus {
    pub objects: Vec<String>,
    pub excluded: Vec<String>,
    pub current: Option<String>,
}

impl ExcludeStatus {
    /// From a `printer.objects.query` answer; `None` when Klipper has no `[exclude_object]`.
    pub(super) fn parse(answer: &serde_json::Value) -> Option<ExcludeStatus> {
        let eo = answer.get("status")?.get("exclude_object")?;
        let names = |v: Option<&serde_json::Value>, key: Option<&str>| -> Vec<String> {
            v.and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|o| match key {
                            Some(k) => o.get(k).and_then(|n| n.as_str()),
                            None => o.as_str(),
                        })
                        .map(str::to_owned)
                        .take(MAX_KLIPPER_OBJECTS)
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(ExcludeStatus {
            objects: names(eo.get("objects"), Some("name")),
            excluded: names(eo.get("excluded_objects"), None),
            current: eo.get("current_object").and_then(|c| c.as_str()).map(str::to_owned),
        })
    }
}

impl MoonrakerLink {
    /// Klipper's `exclude_object` status, queried now.
    pub(super) async fn exclude_status(&self) -> Result<Option<ExcludeStatus>, PrinterError> {
        let q = serde_json::json!({"objects": {"exclude_object": null}});
        let answer = self.rpc.call("printer.objects.query", q).await.map_err(|e| self.map_err(CANCEL_OBJECT, e))?;
        Ok(ExcludeStatus::parse(&answer))
    }

    /// `EXCLUDE_OBJECT NAME=…` through `printer.gcode.script`, checked against
    /// Klipper's known objects first (Klipper itself takes any name) and
    /// confirmed once `exclude_object.excluded_objects` lists it.
    pub(super) async fn do_cancel_object(&self, name: &str) -> Result<Confirmation, PrinterError> {
        let state = self.status.borrow().state.clone();
        if matches!(state, crate::domain::PrinterState::Disconnected) {
            return Err(PrinterError::NotConnected);
        }
        if !state.print_running() {
            return Err(PrinterError::InvalidState { command: CANCEL_OBJECT, state: state.name() });
        }
        let file = state.job().map(|j| j.file.clone()).unwrap_or_default();
        let Some(eo) = self.exclude_status().await? else {
            return Err(objects::unsupported("Klipper has no [exclude_object] section in printer.cfg"));
        };
        if eo.objects.is_empty() {
            return Err(objects::unsupported(
                "Klipper knows no objects of this print (no EXCLUDE_OBJECT_DEFINE in the file: enable the \
                 slicer's \"label objects\" or Moonraker's [file_manager] enable_object_processing)",
            ));
        }
        let wanted = name.trim().to_ascii_uppercase();
        let Some(known) = eo.objects.iter().find(|o| o.eq_ignore_ascii_case(&wanted)).cloned() else {
            return Err(objects::unknown(name.trim(), &file, eo.objects.iter().map(String::as_str)));
        };
        if eo.excluded.iter().any(|e| e.eq_ignore_ascii_case(&known)) {
            return Ok(Confirmation::AlreadyThere);
        }
        // The last object still printing: from the file's layers when the analysis has them, else Klipper's list.
        let fa = self.analysis.borrow().clone().filter(|fa| state.job().is_some_and(|j| fa.matches(j)));
        let last = match fa.as_ref().and_then(|fa| objects::find(&fa.analysis, &fa.file, &known).ok().map(|i| (fa, i)))
        {
            Some((fa, index)) => {
                objects::would_be_last(&fa.analysis, index, state.job().and_then(|j| j.layer), &eo.excluded)
            }
            None => !eo.objects.iter().any(|o| *o != known && !eo.excluded.contains(o)),
        };
        if last {
            return Err(objects::last_object(&known));
        }
        tracing::info!(printer = %self.name, object = %known, "excluding object");
        self.script(CANCEL_OBJECT, &[format!("EXCLUDE_OBJECT NAME={known}")]).await?;
        let deadline = tokio::time::Instant::now() + self.commands.timeout();
        loop {
            if let Some(now) = self.exclude_status().await?
                && now.excluded.iter().any(|e| e.eq_ignore_ascii_case(&known))
            {
                return Ok(Confirmation::Confirmed);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PrinterError::Unconfirmed {
                    command: CANCEL_OBJECT,
                    timeout_ms: self.commands.timeout().as_millis() as u64,
                    state: self.status.borrow().state.name(),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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
