//! Moonraker (in front of Klipper) as a printer link: JSON-RPC 2.0 over the
//! `/websocket`, printer objects subscribed and merged, Klippy's own state
//! followed through ready / shutdown / disconnect, layers from
//! `print_stats.info` or from the analysed file.
//!
//! `MoonrakerLink::connect` opens the websocket and identifies once (a wrong
//! URL or key fails at once), then `run::Runner` follows the printer and
//! reconnects under the cancellation token; `MoonrakerLink::start` runs the
//! same loop without waiting (for a daemon that may start before Moonraker). Files: `rpc` (wire), `objects`
//! (merged state), `state` (the mapping table), `run` (loop), `commands`.

mod commands;
mod follow;
pub(crate) mod objects;
mod rpc;
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
pub use rpc::RpcError;

use crate::domain::{PrinterStatus, Timestamp};
use crate::printer::hostlink::http::{self, Secret};
use crate::printer::hostlink::commands::Commands;
use crate::printer::hostlink::stats::Counters;
use crate::printer::{Confirmation, FileAnalysis, PrinterConfig, PrinterError, PrinterLink};

use rpc::Rpc;
use run::{RunOptions, Runner};

/// A printer behind a Moonraker server.
pub struct MoonrakerLink {
    name: String,
    rpc: Arc<Rpc>,
    status: watch::Receiver<PrinterStatus>,
    analysis: watch::Receiver<Option<FileAnalysis>>,
    counters: Arc<Counters>,
    /// Pause, resume, cancel, heaters and park: the flow both hosts share.
    commands: Commands,
}

impl MoonrakerLink {
    /// Connects to `[printer.moonraker]`: opens the websocket, identifies as
    /// `layerwatch`, reads Klippy's state and subscribes, then follows the
    /// printer until `cancel` fires. For the CLI and anything that should fail
    /// at once on a wrong URL or key.
    pub async fn connect(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<Arc<MoonrakerLink>, PrinterError> {
        let (link, mut runner) = Self::build(cfg, cancel)?;
        let has_key = runner.api_key.is_some();
        let first = runner.first_session().await.map_err(|e| connect_error(&runner.base, e, has_key))?;
        tracing::info!(url = %runner.base, "connected to moonraker");
        tokio::spawn(runner.run(Some(first)));
        Ok(link)
    }

    /// Starts following `[printer.moonraker]` in the background without
    /// waiting: `Disconnected` until Moonraker answers (a daemon that boots
    /// before Moonraker does). Only the URL is checked here. Needs a Tokio
    /// runtime (returns an error, does not panic, without one).
    pub fn start(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<Arc<MoonrakerLink>, PrinterError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| PrinterError::Link("moonraker link: no tokio runtime to run in".into()))?;
        let (link, runner) = Self::build(cfg, cancel)?;
        rt.spawn(runner.run(None));
        Ok(link)
    }

    fn build(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<(Arc<MoonrakerLink>, Runner), PrinterError> {
        let m = &cfg.moonraker;
        let request_timeout = Duration::from_millis(m.request_timeout_ms);
        let base = http::base_url(&m.url).map_err(|e| PrinterError::Link(format!("moonraker: {e}")))?;
        let ws_url = http::ws_url(&base, "websocket").map_err(|e| PrinterError::Link(format!("moonraker: {e}")))?;
        let api_key = Secret::from_config_or_env(m.api_key.as_deref(), "MOONRAKER_API_KEY");
        let client = http::client(request_timeout).map_err(PrinterError::Link)?;

        let rpc = Arc::new(Rpc::new(request_timeout));
        let (status_tx, status_rx) = watch::channel(PrinterStatus::disconnected(Timestamp::now()));
        let (analysis_tx, analysis_rx) = watch::channel(None);
        let counters = Arc::new(Counters::default());
        let opts = RunOptions {
            reconnect_max: Duration::from_millis(m.reconnect_max_ms),
            request_timeout,
            max_file_bytes: m.max_file_mb.saturating_mul(1 << 20),
            klippy_poll: Duration::from_secs(2),
        };
        let runner = Runner::new(
            rpc.clone(),
            client,
            base.clone(),
            ws_url.to_string(),
            api_key,
            status_tx,
            analysis_tx,
            counters.clone(),
            opts,
            cancel,
        );
        let name = format!("moonraker {}", base.as_str().trim_end_matches('/'));
        let timeout = Duration::from_millis(cfg.command_timeout_ms);
        let commands = Commands::new(name.clone(), status_rx.clone(), timeout, cfg.park.clone());
        let link = Arc::new(MoonrakerLink {
            name,
            rpc,
            status: status_rx,
            analysis: analysis_rx,
            counters,
            commands,
        });
        Ok((link, runner))
    }

    /// Counters for diagnostics and `/metrics`.
    pub fn stats(&self) -> LinkStats {
        self.counters.snapshot()
    }

    /// Sends a G-code script through `printer.gcode.script` (for the CLI and tests);
    /// returns once Klipper ran it.
    pub async fn gcode(&self, script: &str) -> Result<(), RpcError> {
        self.rpc.call("printer.gcode.script", serde_json::json!({"script": script})).await.map(drop)
    }
}

fn connect_error(base: &reqwest::Url, e: String, has_key: bool) -> PrinterError {
    // Moonraker refuses a missing or wrong key on the upgrade (HTTP 401) or on
    // the first call (JSON-RPC error "Unauthorized" / "Invalid API Key").
    let lower = e.to_ascii_lowercase();
    let refused = ["401", "403", "unauthorized", "forbidden", "invalid api key"].iter().any(|w| lower.contains(w));
    match (refused, has_key) {
        (true, true) => PrinterError::Rejected {
            command: "connect",
            message: format!("moonraker at {base} refused the api key: {e}"),
        },
        (true, false) => PrinterError::Rejected {
            command: "connect",
            message: format!(
                "moonraker at {base} requires an api key (set printer.moonraker.api_key or MOONRAKER_API_KEY): {e}"
            ),
        },
        (false, _) => PrinterError::Link(format!("cannot reach moonraker at {base}: {e}")),
    }
}

#[async_trait]
impl PrinterLink for MoonrakerLink {
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

    async fn cancel_object(&self, name: &str) -> Result<Confirmation, PrinterError> {
        self.do_cancel_object(name).await
    }

    /// Klipper's `exclude_object.excluded_objects` (upper case), queried now; empty when unknown.
    async fn cancelled_objects(&self) -> Vec<String> {
        match self.exclude_status().await {
            Ok(Some(eo)) => eo.excluded,
            _ => Vec::new(),
        }
    }
}
