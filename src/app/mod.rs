//! The daemon: builds every stage from `Config`, runs each as a task under one
//! cancellation token, restarts crashed stages within a budget, and shuts down
//! cleanly. The only module that may depend on every other one.
//!
//! - `daemon`: [`Daemon`] — wiring, channel policies, ordered shutdown.
//! - `farm`: several printers (`[[printers]]`): a `Daemon` each, one shared inference pool, one web server.
//! - `supervisor`: one task per stage, restarts with backoff within a budget.
//! - `stages/`: the stage tasks (capture, vision, decision, actions, web, watchdog), and the
//!   time-lapse recorder (`timelapse`, an unsupervised task that only logs its errors).
//! - `printer`: [`PrinterSlot`], the printer link the other stages hold for the daemon's life.
//! - `expect`: G-code analysis → per-layer expectations for decision.
//! - `geometry`: the geometry checks beside the decision stage (`camera.geometry`): frames read
//!   off the runtime at layer changes, findings to the decider, the overlay of the current layer.
//! - `commands`: the dashboard's commands into the engine and the decider.
//! - `mqtt`: the MQTT side's view of the board and store, its buttons into the engine, the MQTT light.
//! - `status`, `journal`: the live status board (the web API reads it) and the recent steps.
//! - `demo`: `layerwatch demo`, the same daemon on the simulated peers.
//!
//! ```no_run
//! # async fn demo(cfg: layerwatch::config::Config) -> anyhow::Result<()> {
//! let cancel = tokio_util::sync::CancellationToken::new();
//! layerwatch::app::run(cfg, cancel).await // until the token fires; Err if a stage gave up
//! # }
//! ```

pub mod commands;
mod daemon;
pub mod demo;
pub mod expect;
pub mod farm;
pub mod geometry;
pub mod journal;
pub mod mqtt;
pub mod preflight;
pub mod printer;
pub mod stages;
pub mod status;
pub mod supervisor;

use tokio_util::sync::CancellationToken;

pub use daemon::{Daemon, RunOptions};
pub use journal::{Journal, StepRecord};
pub use printer::PrinterSlot;
pub use stages::vision::ClassifierFactory;
pub use status::StatusBoard;
pub use supervisor::{Fatal, Policy, Stage};

use crate::config::Config;

/// Runs the daemon described by `cfg` until `cancel` fires. `Err` when it
/// cannot start (store, calibration) or a stage crashed past its restart budget.
pub async fn run(cfg: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    run_with(cfg, RunOptions::default(), cancel).await
}

/// [`run`] with options the config file does not hold.
/// With `[[printers]]`, every printer runs (`farm`).
pub async fn run_with(cfg: Config, opts: RunOptions, cancel: CancellationToken) -> anyhow::Result<()> {
    if !cfg.printers.is_empty() {
        return farm::run(cfg, opts, cancel).await;
    }
    Daemon::start(cfg, opts, cancel).await?.wait().await
}
