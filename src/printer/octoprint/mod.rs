//! OctoPrint as a printer link: REST for commands and fallback polling, the
//! push socket for live state, layer analysis of the printing file.
//!
//! `OctoPrintLink::connect` checks the server and the API key once (a wrong
//! key or URL is an error at start-up, not a silent retry loop), publishes the
//! first status from REST, then runs `run::Runner` under the cancellation
//! token. State mapping lives in `state` (with its table), JSON in `model`,
//! REST in `api`, the socket in `push`, commands in `commands`.

mod api;
mod commands;
mod model;
mod push;
mod run;
mod state;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use crate::printer::hostlink::stats::LinkStats;
pub use api::{JobCommand, OctoPrintApi, OctoPrintError};

use crate::domain::{PrinterStatus, Timestamp};
use crate::printer::config::ParkConfig;
use crate::printer::hostlink::stats::Counters;
use crate::printer::{Confirmation, PrinterConfig, PrinterError, PrinterLink};

use run::{ReportedZ, RunOptions, Runner};

/// A printer behind an OctoPrint server.
pub struct OctoPrintLink {
    name: String,
    api: OctoPrintApi,
    status: watch::Receiver<PrinterStatus>,
    zpos: watch::Receiver<Option<ReportedZ>>,
    counters: Arc<Counters>,
    command_timeout: Duration,
    park: ParkConfig,
    /// The park move made during the current pause, undone before resuming.
    parked: Mutex<Option<crate::printer::hostlink::park::ParkMove>>,
    /// One command at a time: idempotency checks must not race each other.
    command_lock: tokio::sync::Mutex<()>,
}

impl OctoPrintLink {
    /// Connects to `[printer.octoprint]`: checks the URL and API key with
    /// `GET /api/version`, reads the current state, and starts following the
    /// printer until `cancel` fires.
    pub async fn connect(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<Arc<OctoPrintLink>, PrinterError> {
        let o = &cfg.octoprint;
        let request_timeout = Duration::from_millis(o.request_timeout_ms);
        let api = OctoPrintApi::new(&o.url, o.api_key.as_deref(), request_timeout).map_err(connect_error)?;
        let (server, api_version) = api.version().await.map_err(connect_error)?;
        tracing::info!(url = %api.base(), server = %server, api = %api_version, "connected to octoprint");

        let (status_tx, status_rx) = watch::channel(PrinterStatus::disconnected(Timestamp::now()));
        let (zpos_tx, zpos_rx) = watch::channel(None);
        let counters = Arc::new(Counters::default());
        let opts = RunOptions {
            poll: Duration::from_millis(o.poll_ms),
            reconnect_max: Duration::from_millis(o.reconnect_max_ms),
            request_timeout,
            max_file_bytes: o.max_file_mb.saturating_mul(1 << 20),
            silence: Duration::from_secs(30),
        };
        let mut runner = Runner::new(api.clone(), status_tx, zpos_tx, counters.clone(), opts, cancel);
        runner.poll_once().await.map_err(connect_error)?;
        tokio::spawn(runner.run());

        Ok(Arc::new(OctoPrintLink {
            name: format!("octoprint {}", api.base().as_str().trim_end_matches('/')),
            api,
            status: status_rx,
            zpos: zpos_rx,
            counters,
            command_timeout: Duration::from_millis(cfg.command_timeout_ms),
            park: cfg.park.clone(),
            parked: Mutex::new(None),
            command_lock: tokio::sync::Mutex::new(()),
        }))
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
}
