//! The pause/resume/cancel/heater command flow both print hosts share: one
//! command at a time, idempotent (nothing is sent when the printer is already
//! there), a parked nozzle lowered before resuming, and success only once the
//! published status shows the effect. The host supplies the wire
//! ([`HostWire`]): how it asks for a job change, runs G-code and sets heaters.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{MutexGuard, watch};

use super::confirm::{check_targets, nothing_to_cancel, pausable, require_link, targets_match, wait_for_state};
use super::park::{ParkMove, hotend_hot};
use crate::domain::{PrintJob, PrinterState, PrinterStatus};
use crate::printer::config::ParkConfig;
use crate::printer::{Confirmation, PrinterError};

/// A change of the print job the host is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobAction {
    Pause,
    Resume,
    Cancel,
}

/// Why a host did not take a job command.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The host's state differs from ours (OctoPrint's 409: a print that just
    /// ended, a pause someone else made): re-checked before it counts.
    Stale(String),
    Failed(PrinterError),
}

/// What a print host does on the wire; the flow decides when.
#[async_trait]
pub(crate) trait HostWire: Send + Sync {
    async fn job(&self, action: JobAction) -> Result<(), Refusal>;
    /// Runs G-code lines (park, unpark) for `command`.
    async fn gcode(&self, command: &'static str, lines: &[String]) -> Result<(), PrinterError>;
    /// Sets the heater targets that are `Some`.
    async fn set_targets(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<(), PrinterError>;
}

/// The state the command flow keeps for one host link.
#[derive(Debug)]
pub(crate) struct Commands {
    name: String,
    status: watch::Receiver<PrinterStatus>,
    timeout: Duration,
    park: ParkConfig,
    /// The park move made during the current pause, undone before resuming.
    parked: Mutex<Option<ParkMove>>,
    /// One command at a time: idempotency checks must not race each other.
    lock: tokio::sync::Mutex<()>,
}

/// A park the flow agreed to: the move, the Z the job was at, and the
/// command lock, held until the host has confirmed the move.
pub(crate) struct ParkStart<'a> {
    pub mv: ParkMove,
    pub job: PrintJob,
    _one: MutexGuard<'a, ()>,
}

impl Commands {
    pub(crate) fn new(
        name: String,
        status: watch::Receiver<PrinterStatus>,
        timeout: Duration,
        park: ParkConfig,
    ) -> Self {
        Commands { name, status, timeout, park, parked: Mutex::new(None), lock: tokio::sync::Mutex::new(()) }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    fn current(&self) -> PrinterStatus {
        self.status.borrow().clone()
    }

    fn set_parked(&self, mv: Option<ParkMove>) {
        if let Ok(mut p) = self.parked.lock() {
            *p = mv;
        }
    }

    /// Waits until the published status satisfies `done` (or the command times out).
    pub(crate) async fn confirm(
        &self,
        command: &'static str,
        done: impl Fn(&PrinterStatus) -> bool,
    ) -> Result<Confirmation, PrinterError> {
        let mut rx = self.status.clone();
        wait_for_state(&mut rx, command, self.timeout, done).await?;
        Ok(Confirmation::Confirmed)
    }

    /// Sends a job command; a stale refusal stands only if the printer does not
    /// get where the command wanted it within a moment (then it names the state
    /// the host is really in).
    async fn send_job(
        &self,
        wire: &dyn HostWire,
        command: &'static str,
        action: JobAction,
        there: impl Fn(&PrinterState) -> bool,
    ) -> Result<Option<Confirmation>, PrinterError> {
        match wire.job(action).await {
            Ok(()) => Ok(None),
            Err(Refusal::Failed(e)) => Err(e),
            Err(Refusal::Stale(error)) => {
                tracing::info!(
                    printer = %self.name,
                    command,
                    %error,
                    "the host refused; re-checking the printer state"
                );
                let mut rx = self.status.clone();
                let settle = Duration::from_secs(2).min(self.timeout);
                match wait_for_state(&mut rx, command, settle, |s| there(&s.state)).await {
                    Ok(()) => Ok(Some(Confirmation::AlreadyThere)),
                    Err(_) => Err(PrinterError::InvalidState { command, state: self.status.borrow().state.name() }),
                }
            }
        }
    }

    pub(crate) async fn pause(&self, wire: &dyn HostWire) -> Result<Confirmation, PrinterError> {
        let _one = self.lock.lock().await;
        let now = self.current();
        require_link(&now.state, "pause")?;
        let paused = |s: &PrinterState| matches!(s, PrinterState::Paused { .. });
        match &now.state {
            PrinterState::Paused { .. } => return Ok(Confirmation::AlreadyThere),
            PrinterState::Pausing { .. } => {
                self.confirm("pause", |s| paused(&s.state)).await?;
                return Ok(Confirmation::AlreadyThere);
            }
            s if pausable(s) => {}
            s => return Err(PrinterError::InvalidState { command: "pause", state: s.name() }),
        }
        tracing::info!(printer = %self.name, "pausing the print");
        if let Some(done) = self.send_job(wire, "pause", JobAction::Pause, paused).await? {
            return Ok(done);
        }
        self.confirm("pause", |s| paused(&s.state)).await
    }

    pub(crate) async fn resume(&self, wire: &dyn HostWire) -> Result<Confirmation, PrinterError> {
        let _one = self.lock.lock().await;
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
            wire.gcode("resume", &p.unpark_gcode(hotend_hot(&now))).await?;
        }
        tracing::info!(printer = %self.name, "resuming the print");
        let printing = |s: &PrinterState| matches!(s, PrinterState::Printing { .. });
        if let Some(done) = self.send_job(wire, "resume", JobAction::Resume, printing).await? {
            return Ok(done);
        }
        self.set_parked(None);
        self.confirm("resume", |s| {
            matches!(
                s.state,
                PrinterState::Printing { .. } | PrinterState::Heating { .. } | PrinterState::Finished { .. }
            )
        })
        .await
    }

    pub(crate) async fn cancel(&self, wire: &dyn HostWire) -> Result<Confirmation, PrinterError> {
        let _one = self.lock.lock().await;
        let now = self.current();
        require_link(&now.state, "cancel")?;
        if nothing_to_cancel(&now.state) {
            return Ok(Confirmation::AlreadyThere);
        }
        tracing::info!(printer = %self.name, "cancelling the print");
        if let Some(done) = self.send_job(wire, "cancel", JobAction::Cancel, nothing_to_cancel).await? {
            return Ok(done);
        }
        self.set_parked(None);
        self.confirm("cancel", |s| matches!(s.state, PrinterState::Cancelled { .. } | PrinterState::Idle)).await
    }

    pub(crate) async fn set_temperatures(
        &self,
        wire: &dyn HostWire,
        hotend: Option<f32>,
        bed: Option<f32>,
    ) -> Result<Confirmation, PrinterError> {
        check_targets(hotend, bed)?;
        let _one = self.lock.lock().await;
        let now = self.current();
        require_link(&now.state, "set_temperatures")?;
        if targets_match(&now.temps, hotend, bed) {
            return Ok(Confirmation::AlreadyThere);
        }
        tracing::info!(printer = %self.name, ?hotend, ?bed, "setting heater targets");
        wire.set_targets(hotend, bed).await?;
        self.confirm("set_temperatures", |s| targets_match(&s.temps, hotend, bed)).await
    }

    /// User G-code (the light) through the host: after the link checks, the
    /// host's answer is the confirmation (Klipper answers after running it,
    /// OctoPrint once it is queued).
    pub(crate) async fn run_gcode(
        &self,
        wire: &dyn HostWire,
        command: &'static str,
        lines: &[String],
    ) -> Result<Confirmation, PrinterError> {
        let lines = crate::printer::gcode_lines(command, lines)?;
        let _one = self.lock.lock().await;
        require_link(&self.current().state, command)?;
        tracing::info!(printer = %self.name, command, lines = lines.len(), "running G-code");
        wire.gcode(command, &lines).await?;
        Ok(Confirmation::Confirmed)
    }

    /// The shared half of a park: only while paused, once per pause, retracting
    /// only a hot nozzle. `Ok(None)`: already parked. The host then sends the
    /// move, calls [`Commands::parked`] and confirms it its own way.
    pub(crate) async fn begin_park(&self) -> Result<Option<ParkStart<'_>>, PrinterError> {
        let one = self.lock.lock().await;
        let now = self.current();
        require_link(&now.state, "park")?;
        let PrinterState::Paused { job } = &now.state else {
            return Err(PrinterError::InvalidState { command: "park", state: now.state.name() });
        };
        if self.parked.lock().map(|p| p.is_some()).unwrap_or(false) {
            return Ok(None);
        }
        let retract = if hotend_hot(&now) { self.park.retract_mm } else { 0.0 };
        let mv = ParkMove { retract_mm: retract, lift_mm: self.park.lift_mm };
        tracing::info!(printer = %self.name, lift_mm = mv.lift_mm, retract_mm = retract, "parking the nozzle");
        Ok(Some(ParkStart { mv, job: job.clone(), _one: one }))
    }

    /// Records that the park move was sent: resuming undoes it.
    pub(crate) fn parked(&self, start: &ParkStart<'_>) {
        self.set_parked(Some(start.mv));
    }

    /// The state name for an error raised now.
    pub(crate) fn state_name(&self) -> &'static str {
        self.status.borrow().state.name()
    }
}
