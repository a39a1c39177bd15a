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
use super::stages::timelapse::TimelapseInputs;
use super::stages::vision::{ClassifierFactory, Scored, VisionPool, onnx_factory};
use super::stages::{actions, capture, decision, timelapse, vision, watchdog, web};
use super::status::StatusBoard;
use super::supervisor::{Policy, Stage, Supervisor};
use crate::actions::{ActionEngine, DeciderFeedback};
use crate::capture::{CaptureStats, FrameQueue};
use crate::config::Config;
use crate::decision::{Calibration, DecisionParams};
use crate::domain::{HealthFinding, PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};
use crate::printer::{PrinterKind, PrinterLink};
use crate::store::Store;
use crate::timelapse::Library;
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
/// The vision worker finishes the frame in hand within this, or is left behind (stuck).
const STOP_VISION: Duration = Duration::from_secs(5);

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
    /// False when the pool is shared by several printers (`app::farm` stops it once, last).
    owns_pool: bool,
    /// With several printers, this printer's API, served by the farm's one web server.
    web_state: Option<WebState>,
    slot: Option<Arc<PrinterSlot>>,
    /// Keeps the stand-in printer status alive with `printer.kind = "none"`.
    _no_printer: Option<watch::Sender<PrinterStatus>>,
}

impl Daemon {
    /// Opens the store, loads the operating point and starts every stage.
    /// Fails only on what no restart could fix (database, calibration file).
    pub async fn start(cfg: Config, opts: RunOptions, cancel: CancellationToken) -> anyhow::Result<Daemon> {
        Self::start_part(cfg, opts, cancel, None).await
    }

    /// [`Daemon::start`] as one printer of several (`shared`: the farm's inference pool): the
    /// vision pool is not this daemon's to stop, and its API is built but not served
    /// ([`Daemon::web_state`]: the farm's web server serves it under `/p/<name>/`).
    pub(super) async fn start_part(
        cfg: Config,
        opts: RunOptions,
        cancel: CancellationToken,
        shared: Option<Arc<VisionPool>>,
    ) -> anyhow::Result<Daemon> {
        crate::net::install_tls_provider();
        let owns_pool = shared.is_none();
        let cfg = Arc::new(cfg);
        let (store, params) = open(&cfg).await?;
        let geometry = camera_geometry(&cfg).await?;
        let has_printer = cfg.printer.kind != PrinterKind::None;
        let board = Arc::new(StatusBoard::new(&cfg.general.name, &cfg.camera.name, has_printer));
        let root = cancel;
        let front = TaskTracker::new();
        let (actions_stop, actions) = (CancellationToken::new(), TaskTracker::new());
        let (printer_stop, printer_tracker) = (CancellationToken::new(), TaskTracker::new());
        let sup = Supervisor::new(root.clone(), front.clone(), board.clone(), opts.policy);
        let w = Wiring { cfg: &cfg, sup: &sup, board: &board, root: &root, front: &front };

        let printer_side = w.printer(&printer_stop, &printer_tracker);
        // The link's analysis of the printing file, for the decision stage (none without a printer).
        let linked_analysis = printer_side.link.as_ref().map_or_else(|| watch::channel(None).1, |l| l.analysis());
        let (feedback_tx, feedback_rx) = DeciderFeedback::channel();
        let [decision_engines, web_engines, print_engines, mqtt_engines] =
            w.actions(&store, printer_side.link.clone(), feedback_tx, &actions_stop, &actions);
        let bus = match cfg.mqtt.enabled {
            true => Some(crate::mqtt::open(&cfg.mqtt, &cfg.general.name).context("[mqtt]")?),
            false => None,
        };
        if let Some(path) = opts.print.clone() {
            let Some(slot) = printer_side.slot.clone() else {
                anyhow::bail!("--print needs a printer (printer.kind = \"marlin\" with serial.mode = \"host\")");
            };
            printer_tracker.spawn(printer::print_when_ready(slot, print_engines, path, root.clone()));
        }
        if let (Some(link), true) = (printer_side.link.clone(), cfg.printer.light.enabled()) {
            let (dark, switched) = (board.clone(), board.clone());
            let hooks = crate::actions::light::LightHooks {
                dark: Box::new(move || dark.findings().iter().any(|f| matches!(f, HealthFinding::CameraDark { .. }))),
                switched: Box::new(move |on, ok| switched.set_light(on, ok)),
                sender: bus.as_ref().map(|c| {
                    let l = &cfg.printer.light;
                    Arc::new(super::mqtt::MqttLight {
                        link: c.link(),
                        topic: l.mqtt_topic.clone(),
                        on: l.mqtt_payload_on.clone(),
                        off: l.mqtt_payload_off.clone(),
                    }) as Arc<dyn crate::actions::light::LightSender>
                }),
            };
            let light = cfg.printer.light.clone();
            actions.spawn(crate::actions::light::run(light, link, store.clone(), hooks, actions_stop.clone()));
        }
        let (scored_tx, scored_rx) = mpsc::channel(SCORED);
        w.timelapse(&store, printer_side.status.clone());
        w.decision(DecisionInputs {
            params,
            scored: tokio::sync::Mutex::new(scored_rx),
            feedback: tokio::sync::Mutex::new(feedback_rx),
            printer: printer_side.status,
            analysis: linked_analysis,
            engines: decision_engines,
            board: board.clone(),
            tick: DECISION_TICK,
            actions_stopped: actions_stop.clone(),
            memory: Some(MemorySlot { store: store.clone(), camera: cfg.camera.name.clone() }),
            geometry,
        });
        let pool = w.vision_and_capture(&opts, scored_tx, shared);
        let web_state = w.web(&store, web_engines, owns_pool);
        if let Some(conn) = bus {
            w.mqtt(conn, &store, mqtt_engines);
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
            owns_pool,
            web_state,
            slot: printer_side.slot,
            _no_printer: printer_side.no_printer,
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

    /// This printer's API when the farm serves it (one printer of several), else `None`.
    pub(super) fn web_state(&self) -> Option<WebState> {
        self.web_state.clone()
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
        if self.owns_pool {
            self.pool.shutdown(STOP_VISION).await;
        }
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

/// The store and the operating point, logged as the daemon starts.
async fn open(cfg: &Config) -> anyhow::Result<(Store, DecisionParams)> {
    let store = Store::open(&cfg.store, &cfg.general.data_dir)
        .await
        .with_context(|| format!("cannot open the store in {}", cfg.general.data_dir.display()))?;
    let params = decision_params(cfg).await?;
    tracing::info!(
        printer = %cfg.general.name,
        camera = %cfg.camera.name,
        db = %store.db_path().display(),
        sensitivity = params.sensitivity,
        pause_level = params.pause_level,
        "layerwatch starting"
    );
    Ok((store, params))
}

/// The printer as the other stages see it.
struct PrinterWiring {
    slot: Option<Arc<PrinterSlot>>,
    link: Option<Arc<dyn PrinterLink>>,
    status: watch::Receiver<PrinterStatus>,
    /// Keeps the stand-in status alive with `printer.kind = "none"`.
    no_printer: Option<watch::Sender<PrinterStatus>>,
}

/// What every stage is started with: one step per stage, in start order.
struct Wiring<'a> {
    cfg: &'a Arc<Config>,
    sup: &'a Supervisor,
    board: &'a Arc<StatusBoard>,
    root: &'a CancellationToken,
    front: &'a TaskTracker,
}

impl Wiring<'_> {
    /// The printer stage behind its slot, or a stand-in that always says
    /// "printing" so the camera is still judged.
    fn printer(&self, stop: &CancellationToken, tracker: &TaskTracker) -> PrinterWiring {
        let (cfg, board) = (self.cfg, self.board);
        if cfg.printer.kind == PrinterKind::None {
            tracing::warn!("printer.kind = \"none\": watching and alerting only, the printer is never paused");
            board.stage_unused(Stage::Printer);
            let (tx, rx) = watch::channel(always_printing());
            board.set_printer("none", rx.clone());
            return PrinterWiring { slot: None, link: None, status: rx, no_printer: Some(tx) };
        }
        let slot = PrinterSlot::new(&cfg.printer);
        board.set_printer(slot.name(), slot.status());
        let (s, pcfg, stop2) = (slot.clone(), cfg.printer.clone(), stop.clone());
        self.sup
            .group(stop.clone(), tracker.clone())
            .spawn(Stage::Printer, move || printer::run_stage(s.clone(), pcfg.clone(), stop2.clone()));
        self.front.spawn(super::status::count_reconnects(board.clone(), slot.status(), self.root.clone()));
        let status = slot.status();
        PrinterWiring { slot: Some(slot.clone()), link: Some(slot as Arc<dyn PrinterLink>), status, no_printer: None }
    }

    /// The action engine and its outbox, under their own token, feeding the
    /// decider through `feedback`; returns four subscriptions (decision's,
    /// web's, `--print`'s, MQTT's) to the running engine's handle.
    fn actions(
        &self,
        store: &Store,
        link: Option<Arc<dyn PrinterLink>>,
        feedback: DeciderFeedback,
        stop: &CancellationToken,
        tracker: &TaskTracker,
    ) -> [watch::Receiver<Option<ActionEngine>>; 4] {
        let engines = Arc::new(watch::channel(None).0);
        let subscribers = [engines.subscribe(), engines.subscribe(), engines.subscribe(), engines.subscribe()];
        let (store, board, stop2) = (store.clone(), self.board.clone(), stop.clone());
        let outside = actions::Outside { printer: link, engines, feedback };
        let cfg = self.cfg.clone();
        self.sup.group(stop.clone(), tracker.clone()).spawn(Stage::Actions, move || {
            actions::run(cfg.clone(), store.clone(), outside.clone(), board.clone(), stop2.clone())
        });
        subscribers
    }

    fn decision(&self, inputs: DecisionInputs) {
        let (inputs, stop) = (Arc::new(inputs), self.root.clone());
        self.sup.spawn(Stage::Decision, move || decision::run(inputs.clone(), stop.clone()));
    }

    /// Vision (its thread pool and watchdog) and capture, joined by the lossy
    /// hand-off queue.
    fn vision_and_capture(
        &self,
        opts: &RunOptions,
        scored: mpsc::Sender<Scored>,
        shared: Option<Arc<VisionPool>>,
    ) -> Arc<VisionPool> {
        let (cfg, root) = (self.cfg, self.root);
        let is_shared = shared.is_some();
        let pool = shared.unwrap_or_else(|| {
            let factory = opts.classifier.clone().unwrap_or_else(|| onnx_factory(cfg.vision.clone()));
            VisionPool::new(factory, root.child_token())
        });
        let handoff_stats = Arc::new(CaptureStats::new());
        let handoff = Arc::new(FrameQueue::new(HANDOFF, handoff_stats.clone()));
        {
            let (pool, handoff, board, stop) = (pool.clone(), handoff.clone(), self.board.clone(), root.clone());
            // The print's crop is classified too with a calibrated camera (a fixed roi crops already).
            let crop = cfg.vision.crop_to_print && cfg.vision.roi.is_none() && cfg.camera.geometry.is_some();
            self.sup.spawn(Stage::Vision, move || {
                vision::run(pool.clone(), handoff.clone(), scored.clone(), board.clone(), crop, stop.clone())
            });
        }
        {
            let (camera, board, stop) = (cfg.camera.clone(), self.board.clone(), root.clone());
            self.sup.spawn(Stage::Capture, move || {
                capture::run(camera.clone(), handoff.clone(), handoff_stats.clone(), board.clone(), stop.clone())
            });
        }
        {
            let (pool, board, stop) = (pool.clone(), self.board.clone(), root.clone());
            self.sup
                .spawn(Stage::Watchdog, move || watchdog::run(pool.clone(), board.clone(), is_shared, stop.clone()));
        }
        pool
    }

    /// The time-lapse recorder (`[timelapse] enabled`): one task beside the
    /// supervised stages that logs its errors and never ends the daemon.
    fn timelapse(&self, store: &Store, printer: watch::Receiver<PrinterStatus>) {
        let cfg = &self.cfg.timelapse;
        if !cfg.enabled {
            return;
        }
        let inputs = Arc::new(TimelapseInputs {
            cfg: cfg.clone(),
            library: Library::new(&self.cfg.general.data_dir),
            store: store.clone(),
            printer,
            board: self.board.clone(),
        });
        self.front.spawn(timelapse::run(inputs, self.root.clone()));
    }

    /// MQTT (`[mqtt] enabled`): one task beside the supervised stages; it waits out a broker
    /// outage itself, says `offline` when the root token fires, and never ends the daemon.
    fn mqtt(&self, conn: crate::mqtt::Connection, store: &Store, engines: watch::Receiver<Option<ActionEngine>>) {
        let view = super::mqtt::BusView {
            board: self.board.clone(),
            store: store.clone(),
            commands: DaemonCommands::new(engines),
        };
        let how = crate::mqtt::Publishing::from_config(&self.cfg.mqtt, &self.cfg.general.name);
        let (mut up, board, stop) = (conn.link().connected(), self.board.clone(), self.root.clone());
        self.front.spawn(async move {
            while tokio::select! { _ = stop.cancelled() => false, r = up.changed() => r.is_ok() } {
                let now = *up.borrow_and_update();
                board.set_mqtt(now);
            }
        });
        self.front.spawn(crate::mqtt::run(conn, Arc::new(view), how, self.root.clone()));
    }

    /// The API, with the redacted configuration (`web` never sees `Config`): served by this
    /// daemon's web stage (`serve`), or returned for the farm's web server to serve.
    fn web(&self, store: &Store, engines: watch::Receiver<Option<ActionEngine>>, serve: bool) -> Option<WebState> {
        let (cfg, board) = (self.cfg, self.board);
        if !cfg.web.enabled || !serve {
            board.stage_unused(Stage::Web);
        }
        if !cfg.web.enabled {
            return None;
        }
        let commands = Arc::new(DaemonCommands::new(engines));
        let state = WebState::new(board.clone(), Some(store.clone())).with_commands(commands).with_config(
            cfg.redacted_json(),
            cfg.vision.roi.map(|r| [r.x, r.y, r.w, r.h]),
            &cfg.web,
        );
        let state = match cfg.timelapse.enabled {
            true => state.with_timelapses(Library::new(&cfg.general.data_dir)),
            false => state,
        };
        if !serve {
            return Some(state);
        }
        let (bind, board, stop) = (cfg.web.bind.clone(), board.clone(), self.root.clone());
        self.sup.spawn(Stage::Web, move || web::run(bind.clone(), state.clone(), board.clone(), stop.clone()));
        None
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

/// The camera's calibration (`camera.geometry`) with its path, when set.
async fn camera_geometry(cfg: &Config) -> anyhow::Result<Option<(crate::geometry::CameraFile, String)>> {
    let Some(path) = &cfg.camera.geometry else { return Ok(None) };
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("camera.geometry: cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let file = crate::geometry::CameraFile::parse(&text, &name)?;
    tracing::info!(
        file = %name,
        frame = format!("{}x{}", file.frame.width, file.frame.height),
        enabled = cfg.decision.geometry.enabled,
        action = ?cfg.decision.geometry.action,
        "camera calibrated: geometry checks on"
    );
    Ok(Some((file, name)))
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
