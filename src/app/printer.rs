//! The printer as the daemon holds it: one [`PrinterSlot`] that the decision
//! loop, the action engine and the API keep for the daemon's whole life,
//! while the printer stage connects the configured link behind it (and
//! reconnects it after a crash of the link task).
//!
//! The slot is itself a `PrinterLink`: its status mirrors the current link's
//! (`Disconnected` while there is none) and its commands go to the current
//! link (`NotConnected` while there is none); its `analysis` mirrors the
//! link's analysis of the printing file. So a restart of the printer
//! stage never leaves another stage holding a dead link.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rand::RngExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::supervisor::StageExit;
use crate::actions::{ActionEngine, UserCommand};
use crate::domain::{PrinterState, PrinterStatus, Timestamp};
use crate::net::{Backoff, LogLimiter};
use crate::printer::marlin::MarlinLink;
use crate::printer::{Confirmation, FileAnalysis, PrinterConfig, PrinterError, PrinterKind, PrinterLink, SerialMode};

/// The daemon's handle on the printer, whichever link is behind it.
pub struct PrinterSlot {
    name: String,
    status_tx: watch::Sender<PrinterStatus>,
    analysis_tx: watch::Sender<Option<FileAnalysis>>,
    current: Mutex<Option<Arc<dyn PrinterLink>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PrinterSlot {
    pub fn new(cfg: &PrinterConfig) -> Arc<PrinterSlot> {
        Arc::new(PrinterSlot {
            name: describe(cfg),
            status_tx: watch::channel(PrinterStatus::disconnected(Timestamp::now())).0,
            analysis_tx: watch::channel(None).0,
            current: Mutex::new(None),
        })
    }

    fn link(&self) -> Result<Arc<dyn PrinterLink>, PrinterError> {
        lock(&self.current).clone().ok_or(PrinterError::NotConnected)
    }

    fn attach(&self, link: Arc<dyn PrinterLink>) {
        *lock(&self.current) = Some(link);
    }

    fn detach(&self) {
        *lock(&self.current) = None;
        self.status_tx.send_replace(PrinterStatus::disconnected(Timestamp::now()));
        self.analysis_tx.send_replace(None);
    }
}

/// `marlin /dev/ttyUSB0 (host)`, `octoprint http://…`.
pub fn describe(cfg: &PrinterConfig) -> String {
    // Shown in /api/status (no login on loopback) and logs: URL credentials masked.
    let text = match cfg.kind {
        PrinterKind::None => "none".into(),
        PrinterKind::Marlin => format!(
            "marlin {} @ {} ({})",
            cfg.serial.path.display(),
            cfg.serial.baud,
            match cfg.serial.mode {
                SerialMode::Host => "host",
                SerialMode::Monitor => "monitor",
            }
        ),
        PrinterKind::Octoprint => format!("octoprint {}", cfg.octoprint.url),
        PrinterKind::Moonraker => format!("moonraker {}", cfg.moonraker.url),
    };
    crate::secret::redact_text(&text)
}

#[async_trait]
impl PrinterLink for PrinterSlot {
    fn name(&self) -> &str {
        &self.name
    }

    fn status(&self) -> watch::Receiver<PrinterStatus> {
        self.status_tx.subscribe()
    }

    fn analysis(&self) -> watch::Receiver<Option<FileAnalysis>> {
        self.analysis_tx.subscribe()
    }

    async fn pause(&self) -> Result<Confirmation, PrinterError> {
        self.link()?.pause().await
    }

    async fn resume(&self) -> Result<Confirmation, PrinterError> {
        self.link()?.resume().await
    }

    async fn cancel(&self) -> Result<Confirmation, PrinterError> {
        self.link()?.cancel().await
    }

    async fn set_temperatures(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<Confirmation, PrinterError> {
        self.link()?.set_temperatures(hotend, bed).await
    }

    async fn park(&self) -> Result<Confirmation, PrinterError> {
        self.link()?.park().await
    }

    async fn cool_down(&self, bed: bool) -> Result<Confirmation, PrinterError> {
        self.link()?.cool_down(bed).await
    }

    async fn start_print(&self, path: &Path) -> Result<Confirmation, PrinterError> {
        self.link()?.start_print(path).await
    }

    async fn run_gcode(&self, command: &'static str, lines: &[String]) -> Result<Confirmation, PrinterError> {
        self.link()?.run_gcode(command, lines).await
    }
}

/// Opens the configured link. Marlin links connect in the background; hosts
/// check the server first.
async fn connect(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<Arc<dyn PrinterLink>, PrinterError> {
    if cfg.kind == PrinterKind::Marlin {
        return Ok(MarlinLink::open(cfg, cancel));
    }
    crate::printer::connect(cfg, cancel)
}

/// The printer stage: connects (retrying with backoff while the printer or
/// its host is unreachable), then mirrors the link's status into the slot
/// until the token fires. A link whose task ends is an error: the supervisor
/// restarts the stage, which connects afresh.
pub async fn run_stage(
    slot: Arc<PrinterSlot>,
    cfg: PrinterConfig,
    cancel: CancellationToken,
) -> anyhow::Result<StageExit> {
    // Cancelling this token (also on a crash of this stage) stops the link, so
    // two links never share one serial port.
    let link_cancel = cancel.child_token();
    let _stop_link = link_cancel.clone().drop_guard();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut quiet = LogLimiter::new(Duration::from_secs(60));
    let link = loop {
        match connect(&cfg, link_cancel.clone()).await {
            Ok(l) => break l,
            Err(e) => {
                let delay = backoff.next_delay(rand::rng().random::<f64>());
                if let Some(suppressed) = quiet.check(std::time::Instant::now()) {
                    tracing::warn!(
                        printer = %slot.name,
                        error = %e,
                        retry_in_ms = delay.as_millis() as u64,
                        suppressed,
                        "cannot connect to the printer; retrying"
                    );
                }
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(StageExit::Stopped),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    };
    tracing::info!(printer = %slot.name, link = link.name(), "printer link started");
    let mut rx = link.status();
    let mut analysis = link.analysis();
    // A link that never analyses (the default) has no sender: stop watching it.
    let mut analysis_open = analysis.has_changed().is_ok();
    slot.attach(link);
    let mut last_state = "";
    loop {
        let s = rx.borrow_and_update().clone();
        if s.state.name() != last_state {
            log_state(&slot.name, last_state, &s.state);
            last_state = s.state.name();
        }
        // The analysis first: a reader that sees the new job also sees its file's analysis.
        FileAnalysis::publish(&slot.analysis_tx, analysis.borrow_and_update().clone());
        slot.status_tx.send_replace(s);
        tokio::select! {
            _ = cancel.cancelled() => {
                slot.detach();
                return Ok(StageExit::Stopped);
            }
            changed = rx.changed() => if changed.is_err() {
                slot.detach();
                anyhow::bail!("the printer link task ended");
            },
            changed = analysis.changed(), if analysis_open => analysis_open = changed.is_ok(),
        }
    }
}

fn log_state(printer: &str, from: &str, to: &PrinterState) {
    let job = to.job();
    match to {
        PrinterState::Disconnected if !from.is_empty() => {
            tracing::warn!(printer, from, "printer disconnected")
        }
        PrinterState::Error { message } => tracing::warn!(printer, from, error = %message, "printer reports an error"),
        _ => tracing::info!(
            printer,
            from,
            to = to.name(),
            file = job.map(|j| j.file.as_str()).unwrap_or(""),
            layer = job.and_then(|j| j.layer),
            "printer state"
        ),
    }
}

/// Host mode (`run --print`): once the printer is idle, asks the action
/// engine to stream `path` (once), so the start is audited like every other
/// printer command. Errors are logged.
pub async fn print_when_ready(
    slot: Arc<PrinterSlot>,
    mut engines: watch::Receiver<Option<ActionEngine>>,
    path: std::path::PathBuf,
    cancel: CancellationToken,
) {
    let mut rx = slot.status();
    let ready = async {
        let idle = rx.wait_for(|s| matches!(s.state, PrinterState::Idle)).await.is_ok();
        let engine = engines.wait_for(Option::is_some).await.ok().and_then(|e| e.clone());
        engine.filter(|_| idle)
    };
    let engine = tokio::select! {
        _ = cancel.cancelled() => return,
        e = ready => e,
    };
    let Some(engine) = engine else { return };
    let cmd = UserCommand::StartPrint { file: path.clone() };
    tokio::select! {
        _ = cancel.cancelled() => {}
        r = engine.user_command(cmd, Some("run --print".into())) => match r {
            Ok(out) if out.error.is_none() => {
                tracing::info!(printer = %slot.name, file = %path.display(), "print started")
            }
            Ok(out) => tracing::error!(printer = %slot.name, file = %path.display(), error = %out.message,
                "cannot start the print"),
            Err(e) => {
                tracing::error!(printer = %slot.name, file = %path.display(), error = %e, "cannot start the print")
            }
        }
    }
}
