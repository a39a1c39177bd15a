//! The actions stage: runs the `ActionEngine` (policy, incidents, printer
//! commands, the durable alert outbox) and publishes its handle for decision.
//!
//! The engine adopts what the store says is still open, so a restart (of this
//! stage or of the process) never pauses one incident twice, and undelivered
//! alerts wait in the outbox for the next run. This stage has its own token,
//! cancelled by the daemon only after decision has stopped, so the verdict in
//! hand and a pause in progress complete before shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actions::{ActionEngine, DeciderFeedback, EngineDeps};
use crate::app::status::StatusBoard;
use crate::app::supervisor::StageExit;
use crate::config::Config;
use crate::printer::PrinterLink;
use crate::store::Store;

/// How often the stage checks that its engine is still alive.
const LIVENESS: Duration = Duration::from_secs(2);

/// What the engine is wired to outside `actions`: kept by the daemon across restarts of this stage.
#[derive(Clone)]
pub struct Outside {
    pub printer: Option<Arc<dyn PrinterLink>>,
    /// Where the running engine's handle is published (decision, web, `--print`).
    pub engines: Arc<watch::Sender<Option<ActionEngine>>>,
    /// The decider's feedback channel.
    pub feedback: DeciderFeedback,
}

pub async fn run(
    cfg: Arc<Config>,
    store: Store,
    outside: Outside,
    board: Arc<StatusBoard>,
    cancel: CancellationToken,
) -> anyhow::Result<StageExit> {
    let mut deps = EngineDeps::from_config(&cfg.general.name, &cfg.actions, &cfg.alerts, store, outside.printer)?;
    deps.data_dir = Some(cfg.general.data_dir.clone());
    deps.decider = Some(outside.feedback);
    deps.timelapse_links = cfg.timelapse.enabled;
    let inner = cancel.child_token();
    let _stop_inner = inner.clone().drop_guard();
    let tracker = TaskTracker::new();
    let engine = ActionEngine::start(deps, &inner, &tracker).await?;
    tracker.close();
    tracing::info!(channels = ?engine.outbox().channels(), "action engine started");
    board.set_mute(engine.mute());
    let engines = outside.engines;
    engines.send_replace(Some(engine.clone()));
    let result = supervise(&engine, &tracker, &board, &cancel).await;
    engines.send_replace(None);
    inner.cancel();
    tracker.wait().await;
    result
}

async fn supervise(
    engine: &ActionEngine,
    tracker: &TaskTracker,
    board: &StatusBoard,
    cancel: &CancellationToken,
) -> anyhow::Result<StageExit> {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(StageExit::Stopped),
            _ = tracker.wait() => anyhow::bail!("the action engine's tasks ended"),
            _ = tokio::time::sleep(LIVENESS) => {}
        }
        // `sync` queues behind whatever the engine is doing (a pause may take a
        // while) and fails only when the engine task is gone.
        tokio::select! {
            _ = cancel.cancelled() => return Ok(StageExit::Stopped),
            alive = engine.sync() => if let Err(e) = alive {
                anyhow::bail!("the action engine stopped: {e}");
            }
        }
        match engine.outbox().backlog().await {
            Ok(b) => board.set_outbox(&b),
            Err(e) => tracing::warn!(error = %e, "cannot read the outbox backlog"),
        }
    }
}
