//! Marlin-style firmware over a serial port: the `PrinterLink` for printers on USB.
//!
//! Two modes (`[printer.serial] mode`): **host**, where layerwatch streams the
//! G-code file itself with line numbers, checksums and resends; and **monitor**,
//! where the printer prints from SD (or another host drives it) and layerwatch
//! follows and can pause. One task owns the port (`driver.rs`) and feeds the
//! mode; the protocol is pure (`protocol/`), firmware differences live in
//! `quirks.rs`, the send window in `window.rs`.
//!
//! Must not depend on capture, vision, decision or actions.

pub mod conn;
pub mod counters;
mod driver;
mod flow;
mod host;
mod host_flow;
pub mod job;
pub mod modal;
mod monitor;
pub mod park;
pub mod protocol;
pub mod quirks;
pub mod transport;
pub mod window;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use conn::{HandshakeTiming, LinkError};
pub use counters::CounterSnapshot;
pub use transport::{SerialTransport, Transport};

use super::config::{ParkConfig, SerialMode};
use super::{Confirmation, FileAnalysis, PrinterConfig, PrinterError, PrinterLink};
use crate::domain::{PrinterState, PrinterStatus, Timestamp};

/// Behaviour knobs, derived from `[printer]` and `[printer.serial]`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: SerialMode,
    /// How long a command may take to be confirmed.
    pub command_timeout: Duration,
    /// No acknowledgement (or no byte at all) for this long: probe.
    pub read_timeout: Duration,
    /// Poll interval when the firmware cannot auto-report.
    pub poll: Duration,
    /// Auto-report interval requested from firmware that can (`M155 S<n>`, `M27 S<n>`).
    pub autoreport_secs: u32,
    pub park: ParkConfig,
    /// Probes without any answer before the connection is declared dead.
    pub max_probes: u32,
    /// Longest wait between reconnection attempts.
    pub reconnect_max: Duration,
    /// Monitor mode: the local copy of the file the printer prints, for layer lookups.
    pub local_gcode: Option<PathBuf>,
    /// `[printer] firmware_cancel_objects`: monitor mode cancels an object with `M486 P<id>`.
    pub firmware_cancel_objects: bool,
}

impl Settings {
    pub fn from_config(cfg: &PrinterConfig) -> Self {
        Settings {
            mode: cfg.serial.mode,
            command_timeout: Duration::from_millis(cfg.command_timeout_ms),
            read_timeout: Duration::from_millis(cfg.serial.read_timeout_ms),
            poll: Duration::from_millis(cfg.serial.poll_ms),
            autoreport_secs: ((cfg.serial.poll_ms + 999) / 1000).clamp(1, 60) as u32,
            park: cfg.park.clone(),
            max_probes: 2,
            reconnect_max: Duration::from_secs(10),
            local_gcode: cfg.serial.gcode_dir.clone(),
            firmware_cancel_objects: cfg.firmware_cancel_objects,
        }
    }
}

/// The answer to one command.
pub(crate) struct Reply(oneshot::Sender<Result<Confirmation, PrinterError>>);

impl Reply {
    pub fn send_result(self, result: Result<Confirmation, PrinterError>) {
        // The caller may have timed out and gone: nothing to do then.
        let _ = self.0.send(result);
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Commands to the link task.
pub(crate) enum Request {
    /// Host mode: stream this file.
    Print {
        path: PathBuf,
        reply: Reply,
    },
    Pause {
        reply: Reply,
    },
    Resume {
        reply: Reply,
    },
    Cancel {
        reply: Reply,
    },
    Park {
        reply: Reply,
    },
    SetTemperatures {
        hotend: Option<f32>,
        bed: Option<f32>,
        reply: Reply,
    },
    /// User G-code (the light): queued between file lines, confirmed by the `ok` of the last one.
    Gcode {
        lines: Vec<String>,
        reply: Reply,
    },
    /// Host mode: leave one object's moves out from the next file line on.
    CancelObject {
        name: String,
        reply: Reply,
    },
}

impl Request {
    pub fn reply(self, result: Result<Confirmation, PrinterError>) {
        match self {
            Request::Print { reply, .. }
            | Request::Pause { reply }
            | Request::Resume { reply }
            | Request::Cancel { reply }
            | Request::Park { reply }
            | Request::SetTemperatures { reply, .. }
            | Request::Gcode { reply, .. }
            | Request::CancelObject { reply, .. } => reply.send_result(result),
        }
    }
}

/// A printer on a serial port (host or monitor mode). Cheap to share (`Arc`).
pub struct MarlinLink {
    name: String,
    mode: SerialMode,
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<PrinterStatus>,
    /// The analysis of the printing file (the link analyses it for its own layer lookups).
    analysis: watch::Receiver<Option<FileAnalysis>>,
    counters: Arc<counters::Counters>,
    command_timeout: Duration,
    /// Host mode: names of the objects cancelled in the current print (the host mode writes it).
    cancelled: host::CancelledObjects,
}

impl MarlinLink {
    /// Opens the serial port from `[printer.serial]` (in the background: the link
    /// reconnects by itself) in the configured mode.
    pub fn open(cfg: &PrinterConfig, cancel: CancellationToken) -> Arc<MarlinLink> {
        let transport = Arc::new(SerialTransport {
            path: cfg.serial.path.clone(),
            baud: cfg.serial.baud,
        });
        MarlinLink::spawn(
            Settings::from_config(cfg),
            transport,
            HandshakeTiming::default(),
            cancel,
        )
    }

    /// Starts the link task over any transport. Must be called inside a Tokio runtime.
    pub fn spawn(
        settings: Settings,
        transport: Arc<dyn Transport>,
        timing: HandshakeTiming,
        cancel: CancellationToken,
    ) -> Arc<MarlinLink> {
        let name = transport.describe();
        let (req_tx, req_rx) = mpsc::channel(32);
        let (status_tx, status_rx) = watch::channel(PrinterStatus::disconnected(Timestamp::now()));
        let (analysis_tx, analysis_rx) = watch::channel(None);
        let counters = Arc::new(counters::Counters::default());
        let cancelled = host::CancelledObjects::default();
        let mode_impl: Box<dyn driver::Mode> = match settings.mode {
            SerialMode::Host => Box::new(host::HostMode::new(settings.clone()).sharing_cancelled(cancelled.clone())),
            SerialMode::Monitor => {
                Box::new(monitor::MonitorMode::new(settings.clone()).sharing_cancelled(cancelled.clone()))
            }
        };
        let driver = driver::Driver {
            transport,
            settings: settings.clone(),
            mode: mode_impl,
            numbered: settings.mode == SerialMode::Host,
            requests: req_rx,
            status: status_tx,
            analysis: analysis_tx,
            counters: counters.clone(),
            cancel,
            timing,
        };
        tokio::spawn(driver.run());
        Arc::new(MarlinLink {
            name,
            mode: settings.mode,
            requests: req_tx,
            status: status_rx,
            analysis: analysis_rx,
            counters,
            command_timeout: settings.command_timeout,
            cancelled,
        })
    }

    pub fn mode(&self) -> SerialMode {
        self.mode
    }

    /// Host mode: streams a G-code file. Confirmed once the printer works on its first line.
    pub async fn print(&self, path: &Path) -> Result<Confirmation, PrinterError> {
        if self.mode != SerialMode::Host {
            return Err(PrinterError::InvalidState {
                command: "print",
                state: "monitor mode",
            });
        }
        let path = path.to_path_buf();
        self.command("print", |reply| Request::Print { path, reply }).await
    }

    /// What the link survived so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    /// Waits until the printer is connected (any state but `Disconnected`).
    pub async fn wait_connected(&self, timeout: Duration) -> Result<PrinterStatus, PrinterError> {
        let mut rx = self.status.clone();
        let wait = rx.wait_for(|s| !matches!(s.state, PrinterState::Disconnected));
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => Ok(s.clone()),
            Ok(Err(_)) => Err(PrinterError::Link("link task ended".into())),
            Err(_) => Err(PrinterError::NotConnected),
        }
    }

    async fn command(
        &self,
        command: &'static str,
        make: impl FnOnce(Reply) -> Request,
    ) -> Result<Confirmation, PrinterError> {
        if matches!(self.status.borrow().state, PrinterState::Disconnected) {
            return Err(PrinterError::NotConnected);
        }
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(make(Reply(tx)))
            .await
            .map_err(|_| PrinterError::Link("link task ended".into()))?;
        match tokio::time::timeout(self.command_timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PrinterError::Link("link task ended".into())),
            Err(_) => Err(PrinterError::Unconfirmed {
                command,
                timeout_ms: self.command_timeout.as_millis() as u64,
                state: self.status.borrow().state.name(),
            }),
        }
    }
}

#[async_trait]
impl PrinterLink for MarlinLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn status(&self) -> watch::Receiver<PrinterStatus> {
        self.status.clone()
    }

    /// The analysis the link made of the file it streams (host mode) or of the
    /// local copy of the SD file (monitor mode, `[printer.serial] gcode_dir`).
    fn analysis(&self) -> watch::Receiver<Option<FileAnalysis>> {
        self.analysis.clone()
    }

    async fn start_print(&self, path: &Path) -> Result<Confirmation, PrinterError> {
        self.print(path).await
    }

    async fn pause(&self) -> Result<Confirmation, PrinterError> {
        self.command("pause", |reply| Request::Pause { reply }).await
    }

    async fn resume(&self) -> Result<Confirmation, PrinterError> {
        self.command("resume", |reply| Request::Resume { reply }).await
    }

    async fn cancel(&self) -> Result<Confirmation, PrinterError> {
        self.command("cancel", |reply| Request::Cancel { reply }).await
    }

    async fn set_temperatures(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<Confirmation, PrinterError> {
        self.command("set_temperatures", |reply| Request::SetTemperatures {
            hotend,
            bed,
            reply,
        })
        .await
    }

    async fn park(&self) -> Result<Confirmation, PrinterError> {
        self.command("park", |reply| Request::Park { reply }).await
    }

    async fn run_gcode(&self, command: &'static str, lines: &[String]) -> Result<Confirmation, PrinterError> {
        let lines = super::gcode_lines(command, lines)?;
        self.command(command, |reply| Request::Gcode { lines, reply }).await
    }

    /// Host mode: the object's moves are left out of the stream from the next
    /// line on (`gcode::ObjectSkipper`), confirmed once the link holds it
    /// cancelled. Monitor mode: `M486 P<id>` when `[printer] firmware_cancel_objects`
    /// says the firmware takes it (confirmed by its `ok`, refused on "Unknown
    /// command"), else refused: the printer runs the file itself.
    async fn cancel_object(&self, name: &str) -> Result<Confirmation, PrinterError> {
        let name = name.to_string();
        self.command(super::objects::CANCEL_OBJECT, |reply| Request::CancelObject { name, reply }).await
    }

    async fn cancelled_objects(&self) -> Vec<String> {
        self.cancelled.get()
    }
}
