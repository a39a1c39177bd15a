//! OctoPrint as a printer link: REST for commands and fallback polling, the
//! push socket for live state, layer analysis of the printing file.
//!
//! `OctoPrintLink::connect` checks the server and the API key once (a wrong
//! key or URL is an error at once, not a silent retry loop), publishes the
//! first status from REST, then runs `run::Runner` under the cancellation
//! token; `OctoPrintLink::start` runs the same loop without waiting (for a
//! daemon that may start before OctoPrint). State mapping lives in `state` (with its table), JSON in `model`,
//! REST in `api`, the socket in `push`, commands in `commands`.

mod api;
mod commands;
pub(crate) mod model;
mod push;
mod run;
mod state;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use crate::printer::hostlink::stats::LinkStats;
pub use api::{JobCommand, OctoPrintApi, OctoPrintError};

use crate::domain::{PrinterStatus, Timestamp};
use crate::printer::hostlink::commands::Commands;
use crate::printer::hostlink::stats::Counters;
use crate::printer::{Confirmation, FileAnalysis, PrinterConfig, PrinterError, PrinterLink};

use run::{ReportedZ, RunOptions, Runner};

/// A printer behind an OctoPrint server.
pub struct OctoPrintLink {
    name: String,
    api: OctoPrintApi,
    status: watch::Receiver<PrinterStatus>,
    zpos: watch::Receiver<Option<ReportedZ>>,
    analysis: watch::Receiver<Option<FileAnalysis>>,
    counters: Arc<Counters>,
    /// Pause, resume, cancel, heaters and park: the flow both hosts share.
    commands: Commands,
    /// `[printer] firmware_cancel_objects`: the firmware takes `M486 P<id>`.
    firmware_cancel_objects: bool,
    /// Objects cancelled with `M486 P`, and the file they belong to.
    cancelled: std::sync::Mutex<(String, Vec<String>)>,
}

impl OctoPrintLink {
    /// Connects to `[printer.octoprint]`: checks the URL and API key with
    /// `GET /api/version`, reads the current state, and starts following the
    /// printer until `cancel` fires. For the CLI and anything that should
    /// fail at once on a wrong URL or key.
    pub async fn connect(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<Arc<OctoPrintLink>, PrinterError> {
        let (link, mut runner) = Self::build(cfg, cancel)?;
        let (server, api_version) = link.api.version().await.map_err(connect_error)?;
        tracing::info!(url = %link.api.base(), server = %server, api = %api_version, "connected to octoprint");
        runner.poll_once().await.map_err(connect_error)?;
        tokio::spawn(runner.run());
        Ok(link)
    }

    /// Starts following `[printer.octoprint]` in the background without
    /// waiting for the server: the status is `Disconnected` until OctoPrint
    /// answers, then follows it (a daemon that boots before OctoPrint does).
    /// Only what can be checked offline fails here (URL, missing key); a
    /// refused key is logged at error level on every (rate-limited) attempt.
    /// Needs a Tokio runtime (returns an error, does not panic, without one).
    pub fn start(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<Arc<OctoPrintLink>, PrinterError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| PrinterError::Link("octoprint link: no tokio runtime to run in".into()))?;
        let (link, runner) = Self::build(cfg, cancel)?;
        rt.spawn(runner.run());
        Ok(link)
    }

    fn build(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<(Arc<OctoPrintLink>, Runner), PrinterError> {
        let o = &cfg.octoprint;
        let request_timeout = Duration::from_millis(o.request_timeout_ms);
        let api = OctoPrintApi::new(&o.url, o.api_key.as_deref(), request_timeout).map_err(connect_error)?;
        let (status_tx, status_rx) = watch::channel(PrinterStatus::disconnected(Timestamp::now()));
        let (zpos_tx, zpos_rx) = watch::channel(None);
        let (analysis_tx, analysis_rx) = watch::channel(None);
        let counters = Arc::new(Counters::default());
        let opts = RunOptions {
            poll: Duration::from_millis(o.poll_ms),
            reconnect_max: Duration::from_millis(o.reconnect_max_ms),
            request_timeout,
            max_file_bytes: o.max_file_mb.saturating_mul(1 << 20),
            silence: Duration::from_secs(30),
        };
        let runner = Runner::new(api.clone(), status_tx, zpos_tx, analysis_tx, counters.clone(), opts, cancel);
        let name = format!("octoprint {}", crate::secret::redact_text(api.base().as_str().trim_end_matches('/')));
        let timeout = Duration::from_millis(cfg.command_timeout_ms);
        let commands = Commands::new(name.clone(), status_rx.clone(), timeout, cfg.park.clone());
        let link = Arc::new(OctoPrintLink {
            name,
            api,
            status: status_rx,
            zpos: zpos_rx,
            analysis: analysis_rx,
            counters,
            commands,
            firmware_cancel_objects: cfg.firmware_cancel_objects,
            cancelled: std::sync::Mutex::new((String::new(), Vec::new())),
        });
        Ok((link, runner))
    }

    /// Counters for diagnostics and `/metrics`.
    pub fn stats(&self) -> LinkStats {
        self.counters.snapshot()
    }

    /// The REST client (for the CLI and for tests that need raw calls).
    pub fn api(&self) -> &OctoPrintApi {
        &self.api
    }
}

/// Start-up failures: wrong key and unreachable server say so plainly.
fn connect_error(e: OctoPrintError) -> PrinterError {
    match e {
        OctoPrintError::Auth { .. } | OctoPrintError::NoApiKey => {
            PrinterError::Rejected { command: "connect", message: e.to_string() }
        }
        other => PrinterError::Link(other.to_string()),
    }
}

#[async_trait]
impl PrinterLink for OctoPrintLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn status(&self) -> watch::Receiver<PrinterStatus> {
        self.status.clone()
    }

    fn analysis(&self) -> watch::Receiver<Option<FileAnalysis>> {
        self.analysis.clone()
    }

    async fn pause(&self) -> Result<Confirmation, PrinterError> {
        self.do_pause().await
    }

    async fn resume(&self) -> Result<Confirmation, PrinterError> {
        self.do_resume().await
    }

    async fn cancel(&self) -> Result<Confirmation, PrinterError> {
        self.do_cancel().await
    }

    async fn set_temperatures(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<Confirmation, PrinterError> {
        self.do_set_temperatures(hotend, bed).await
    }

    async fn park(&self) -> Result<Confirmation, PrinterError> {
        self.do_park().await
    }

    async fn run_gcode(&self, command: &'static str, lines: &[String]) -> Result<Confirmation, PrinterError> {
        self.commands.run_gcode(self, command, lines).await
    }

    /// OctoPrint streams the file itself, so only the firmware can skip an
    /// object: `M486 P<id>` through the command API, when `[printer]
    /// firmware_cancel_objects` says the firmware takes it and the file labels
    /// objects with M486. Confirmed once OctoPrint took the line (the firmware
    /// reports nothing back); refused plainly otherwise.
    async fn cancel_object(&self, name: &str) -> Result<Confirmation, PrinterError> {
        use crate::printer::objects::{self, CANCEL_OBJECT};
        if !self.firmware_cancel_objects {
            return Err(objects::unsupported(
                "OctoPrint streams the file and layerwatch cannot leave lines out of it; if the firmware \
                 cancels objects with M486 (Marlin CANCEL_OBJECTS, Prusa), set \
                 [printer] firmware_cancel_objects = true",
            ));
        }
        let state = self.status.borrow().state.clone();
        if !state.print_running() {
            return Err(PrinterError::InvalidState { command: CANCEL_OBJECT, state: state.name() });
        }
        let job = state.job().cloned().unwrap_or_default();
        let Some(fa) = self.analysis.borrow().clone().filter(|fa| fa.matches(&job)) else {
            return Err(PrinterError::Rejected {
                command: CANCEL_OBJECT,
                message: format!("{} is not analysed yet: its objects are not known", job.file),
            });
        };
        let index = objects::find(&fa.analysis, &fa.file, name)?;
        let object = &fa.analysis.objects[index as usize];
        let Some(id) = object.m486_id else {
            return Err(objects::unsupported(
                "the file does not label its objects with M486 (slicer option \"label objects\", firmware-specific)",
            ));
        };
        let cancelled = {
            let mut c = self.cancelled.lock().unwrap_or_else(|e| e.into_inner());
            if c.0 != fa.file {
                *c = (fa.file.clone(), Vec::new());
            }
            c.1.clone()
        };
        if cancelled.contains(&object.name) {
            return Ok(Confirmation::AlreadyThere);
        }
        if objects::would_be_last(&fa.analysis, index, job.layer, &cancelled) {
            return Err(objects::last_object(&object.name));
        }
        self.commands.run_gcode(self, CANCEL_OBJECT, &[format!("M486 P{id}")]).await?;
        self.cancelled.lock().unwrap_or_else(|e| e.into_inner()).1.push(object.name.clone());
        Ok(Confirmation::Confirmed)
    }

    async fn cancelled_objects(&self) -> Vec<String> {
        let job = self.status.borrow().state.job().map(|j| j.file.clone());
        let c = self.cancelled.lock().unwrap_or_else(|e| e.into_inner());
        if job.as_deref() == Some(c.0.as_str()) { c.1.clone() } else { Vec::new() }
    }
}
