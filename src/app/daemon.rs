//! `Daemon`: builds every stage from `Config`, wires the channels between
//! them, runs each under its supervisor, and shuts down in order.
//!
//! ```text
//!  printer stage ──watch<PrinterStatus>──────────────┬──────────────┐
//!                                                     ▼              ▼
//!  capture ──hand-off (lossy)──► vision ──mpsc (lossless)──► decision ──mpsc (lossless)──► actions
//!                                 (OS thread)                 + G-code plan                  (engine + outbox)
//! ```
//!
//! Shutdown, in three steps so nothing in flight is lost: the root token
//! stops capture, vision, decision, web and the watchdog (decision finishes
//! the frame in hand, which may wait on the engine); then the actions token
//! lets the engine finish its message (a pause in progress completes) while
//! queued alerts stay in the outbox; then the printer link closes. The store
//! closes when the last handle drops.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::commands::DaemonCommands;
use super::printer::{self, PrinterSlot};
use super::stages::decision::{DecisionInputs, MemorySlot};
use super::stages::vision::{ClassifierFactory, VisionPool, onnx_factory};
use super::stages::{actions, capture, decision, vision, watchdog, web};
use super::status::StatusBoard;
use super::supervisor::{Policy, Stage, Supervisor};
use crate::capture::{CaptureStats, FrameQueue};
use crate::config::Config;
use crate::decision::{Calibration, DecisionParams};
use crate::domain::{PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};
use crate::printer::{PrinterKind, PrinterLink};
use crate::store::Store;
use crate::web::WebState;

/// Everything `app::run` does not read from the config.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Host mode: stream this G-code file once the printer is connected and idle.
    pub print: Option<PathBuf>,
    /// Replaces the ONNX classifier from `[vision]` (tests).
    pub classifier: Option<ClassifierFactory>,
    /// Restart budget and backoff of every stage.
    pub policy: Policy,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("print", &self.print)
            .field("classifier", &self.classifier.as_ref().map(|_| "custom"))
            .field("policy", &self.policy)
            .finish()
    }
}

/// How often decision runs its no-frame checks.
const DECISION_TICK: Duration = Duration::from_secs(2);
/// Frames waiting between capture and vision (oldest dropped beyond).
const HANDOFF: usize = 2;
/// Scored frames waiting for decision (lossless: vision waits beyond).
const SCORED: usize = 4;
/// Upper bounds of the shutdown steps; past them the daemon moves on and says so.
const STOP_FRONT: Duration = Duration::from_secs(10);
const STOP_ACTIONS: Duration = Duration::from_secs(15);
const STOP_PRINTER: Duration = Duration::from_secs(5);

/// A running daemon.
pub struct Daemon {
    board: Arc<StatusBoard>,
    store: Store,
    root: CancellationToken,
    supervisor: Supervisor,
    front: TaskTracker,
    actions_stop: CancellationToken,
    actions: TaskTracker,
    printer_stop: CancellationToken,
    printer: TaskTracker,
    pool: Arc<VisionPool>,
    slot: Option<Arc<PrinterSlot>>,
    /// Keeps the stand-in printer status alive with `printer.kind = "none"`.
    _no_printer: Option<watch::Sender<PrinterStatus>>,
}

impl Daemon {
    /// Opens the store, loads the operating point and starts every stage.
    /// Fails only on what no restart could fix (database, calibration file).
    pub async fn start(cfg: Config, opts: RunOptions, cancel: CancellationToken) -> anyhow::Result<Daemon> {
        crate::actions::http::install_crypto_provider();
        crate::capture::http::ensure_tls_provider();
        let cfg = Arc::new(cfg);
        let store = Store::open(&cfg.store, &cfg.general.data_dir)
            .await
            .with_context(|| format!("cannot open the store in {}", cfg.general.data_dir.display()))?;
        let params = decision_params(&cfg).await?;
        tracing::info!(
            printer = %cfg.general.name,
            camera = %cfg.camera.name,
            db = %store.db_path().display(),
            sensitivity = params.sensitivity,
            pause_level = params.pause_level,
            "layerwatch starting"
        );

        let has_printer = cfg.printer.kind != PrinterKind::None;
        let board = Arc::new(StatusBoard::new(&cfg.general.name, &cfg.camera.name, has_printer));
        let root = cancel;
        let front = TaskTracker::new();
        let (actions_stop, actions) = (CancellationToken::new(), TaskTracker::new());
        let (printer_stop, printer_tracker) = (CancellationToken::new(), TaskTracker::new());
        let sup = Supervisor::new(root.clone(), front.clone(), board.clone(), opts.policy);

        // The printer, or a stand-in that always says "printing" so the camera is still judged.
        let (slot, link, printer_status, no_printer) = if has_printer {
            let slot = PrinterSlot::new(&cfg.printer);
            board.set_printer(slot.name(), slot.status());
            let (s, pcfg, stop) = (slot.clone(), cfg.printer.clone(), printer_stop.clone());
            sup.group(printer_stop.clone(), printer_tracker.clone())
                .spawn(Stage::Printer, move || printer::run_stage(s.clone(), pcfg.clone(), stop.clone()));
            let status = slot.status();
            front.spawn(super::status::count_reconnects(board.clone(), slot.status(), root.clone()));
            (Some(slot.clone()), Some(slot as Arc<dyn PrinterLink>), status, None)
        } else {
            tracing::warn!("printer.kind = \"none\": watching and alerting only, the printer is never paused");
            board.stage_unused(Stage::Printer);
            let (tx, rx) = watch::channel(always_printing());
            board.set_printer("none", rx.clone());
            (None, None, rx, Some(tx))
        };
        if let Some(path) = opts.print.clone() {
            let Some(slot) = slot.clone() else {
                anyhow::bail!("--print needs a printer (printer.kind = \"marlin\" with serial.mode = \"host\")");
            };
            printer_tracker.spawn(printer::print_when_ready(slot, path, root.clone()));
        }

        // The link's analysis of the printing file, for the decision stage (none without a printer).
        let linked_analysis = link.as_ref().map_or_else(|| watch::channel(None).1, |l| l.analysis());

        // Actions: the engine and its outbox.
        let engines = Arc::new(watch::channel(None).0);
        let engines_rx = engines.subscribe();
        let web_engines = engines.subscribe();
        {
            let (cfg, store, board, stop) = (cfg.clone(), store.clone(), board.clone(), actions_stop.clone());
            sup.group(actions_stop.clone(), actions.clone()).spawn(Stage::Actions, move || {
                actions::run(cfg.clone(), store.clone(), link.clone(), engines.clone(), board.clone(), stop.clone())
            });
        }

        // Decision.
        let (scored_tx, scored_rx) = mpsc::channel(SCORED);
        let inputs = Arc::new(DecisionInputs {
            params,
            scored: tokio::sync::Mutex::new(scored_rx),
            printer: printer_status,
            analysis: linked_analysis,
            engines: engines_rx,
            board: board.clone(),
            tick: DECISION_TICK,
            actions_stopped: actions_stop.clone(),
            memory: Some(MemorySlot { store: store.clone(), camera: cfg.camera.name.clone() }),
        });
        {
            let stop = root.clone();
            sup.spawn(Stage::Decision, move || decision::run(inputs.clone(), stop.clone()));
        }

        // Vision and capture, joined by the lossy hand-off queue.
        let factory = opts.classifier.clone().unwrap_or_else(|| onnx_factory(cfg.vision.clone()));
        let pool = VisionPool::new(factory, root.child_token());
        let handoff_stats = Arc::new(CaptureStats::new());
        let handoff = Arc::new(FrameQueue::new(HANDOFF, handoff_stats.clone()));
        {
            let (pool, handoff, board, stop) = (pool.clone(), handoff.clone(), board.clone(), root.clone());
            sup.spawn(Stage::Vision, move || {
                vision::run(pool.clone(), handoff.clone(), scored_tx.clone(), board.clone(), stop.clone())
            });
        }
        {
            let (camera, board, stop) = (cfg.camera.clone(), board.clone(), root.clone());
            sup.spawn(Stage::Capture, move || {
                capture::run(camera.clone(), handoff.clone(), handoff_stats.clone(), board.clone(), stop.clone())
            });
        }
        {
            let (pool, board, stop) = (pool.clone(), board.clone(), root.clone());
            sup.spawn(Stage::Watchdog, move || watchdog::run(pool.clone(), board.clone(), stop.clone()));
        }

        // The API.
        if cfg.web.enabled {
            let commands = Arc::new(DaemonCommands::new(web_engines, board.clone()));
            let state = WebState::new(board.clone(), Some(store.clone()))
                .with_commands(commands)
                .with_config(cfg.redacted_json(), cfg.vision.roi.map(|r| [r.x, r.y, r.w, r.h]), &cfg.web)
                .with_data_dir(cfg.general.data_dir.clone());
            let (bind, board2, stop) = (cfg.web.bind.clone(), board.clone(), root.clone());
            sup.spawn(Stage::Web, move || web::run(bind.clone(), state.clone(), board2.clone(), stop.clone()));
        } else {
            board.stage_unused(Stage::Web);
        }

        Ok(Daemon {
            board,
            store,
            root,
            supervisor: sup,
            front,
            actions_stop,
            actions,
            printer_stop,
            printer: printer_tracker,
            pool,
            slot,
            _no_printer: no_printer,
        })
    }

    /// The live status board (also the web API's `StatusSource`).
    pub fn status(&self) -> Arc<StatusBoard> {
        self.board.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The printer as the daemon holds it (`None` with `printer.kind = "none"`).
    pub fn printer(&self) -> Option<Arc<PrinterSlot>> {
        self.slot.clone()
    }

    /// The token that stops the daemon.
    pub fn cancel_token(&self) -> CancellationToken {
        self.root.clone()
    }

    /// Waits until the root token fires (a signal, the caller, or a stage past
    /// its restart budget), then shuts down in order. `Err` names the stage
    /// that gave up.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.root.cancelled().await;
        let t0 = std::time::Instant::now();
        tracing::info!("shutting down");
        step("capture, vision, decision, web", &self.front, STOP_FRONT).await;
        self.pool.shutdown().await;
        self.actions_stop.cancel();
        step("actions", &self.actions, STOP_ACTIONS).await;
        self.printer_stop.cancel();
        step("printer", &self.printer, STOP_PRINTER).await;
        drop(self.store);
        tracing::info!(took_ms = t0.elapsed().as_millis() as u64, "stopped");
        match self.supervisor.fatal() {
            Some(f) => Err(anyhow::anyhow!("{f}")),
            None => Ok(()),
        }
    }
}

async fn step(what: &str, tracker: &TaskTracker, limit: Duration) {
    tracker.close();
    if tokio::time::timeout(limit, tracker.wait()).await.is_err() {
        tracing::warn!(stages = what, limit_s = limit.as_secs(), "stages did not stop in time; going on");
    }
}

/// The stand-in status with `printer.kind = "none"`: always printing an unknown file,
/// so the decider judges frames with its time-based fallbacks.
fn always_printing() -> PrinterStatus {
    PrinterStatus {
        state: PrinterState::Printing { job: PrintJob::default() },
        temps: Temperatures::default(),
        at: Timestamp::now(),
    }
}

/// `[decision]` over the calibration it names (or the built-in one).
async fn decision_params(cfg: &Config) -> anyhow::Result<DecisionParams> {
    let cal = match &cfg.decision.calibration {
        None => Calibration::default(),
        Some(path) => {
            let text = tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("decision.calibration: cannot read {}", path.display()))?;
            Calibration::parse(&text, &path.display().to_string())?
        }
    };
    Ok(DecisionParams::from_config(&cfg.decision, &cal))
}
