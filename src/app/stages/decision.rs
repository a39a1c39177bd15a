//! The decision stage: the `Decider` fed by scored frames, the printer's
//! `watch` and the G-code plan of the current file (from the printer link's
//! own analysis of it, `PrinterLink::analysis`), plus a periodic `tick`
//! for the checks that need no frame (camera silent, printer stalled).
//!
//! With a calibrated camera (`camera.geometry`), the geometry checks run
//! beside it (`app::geometry`): each scored frame goes to them after the
//! decider stepped it, and what they raise goes back to the decider
//! (`Decider::geometry`) before the step is recorded and delivered.
//!
//! Every step's verdict goes to the action engine on its bounded **lossless**
//! channel: the send waits while the engine is busy (a pause in progress),
//! and a verdict in hand when the engine restarts is handed to the new one.
//! Health findings travel the same way. Shutdown takes effect between frames,
//! so a frame being handled is always delivered.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::vision::Scored;
use crate::actions::{ActionEngine, ActionError};
use crate::app::expect::{GcodeCatalog, LayerPlan};
use crate::app::geometry::LiveGeometry;
use crate::app::journal::StepRecord;
use crate::app::status::{GcodeSource, StatusBoard};
use crate::app::supervisor::StageExit;
use crate::decision::{CameraMemory, Decider, DecisionParams, Feedback, Gate, Step};
use crate::domain::{HealthFinding, Level, PrinterStatus, Timestamp};
use crate::printer::FileAnalysis;
use crate::store::Store;
use crate::web::DecisionDto;

/// What the stage reads; shared by its restarts.
pub struct DecisionInputs {
    pub params: DecisionParams,
    /// Held by one run of the stage at a time (a restart takes it over).
    pub scored: tokio::sync::Mutex<mpsc::Receiver<Scored>>,
    /// Owner feedback from the action engine (`actions::DeciderFeedback`), in order;
    /// held like `scored`.
    pub feedback: tokio::sync::Mutex<mpsc::Receiver<Feedback>>,
    pub printer: watch::Receiver<PrinterStatus>,
    /// The printer link's analysis of the printing file.
    pub analysis: watch::Receiver<Option<FileAnalysis>>,
    pub engines: watch::Receiver<Option<ActionEngine>>,
    pub board: Arc<StatusBoard>,
    pub tick: Duration,
    /// Fires when the action engine stops for good: nothing can be delivered after it.
    pub actions_stopped: CancellationToken,
    /// Where this camera's memory of normal frames is kept (none: not kept across restarts).
    pub memory: Option<MemorySlot>,
    /// The camera's calibration (`camera.geometry`) and its path: the geometry checks run with it.
    pub geometry: Option<(crate::geometry::CameraFile, String)>,
}

/// The store row of one camera's memory (`decision::CameraMemory`).
pub struct MemorySlot {
    pub store: Store,
    pub camera: String,
}

impl MemorySlot {
    async fn load(&self) -> CameraMemory {
        match self.store.camera_memory(&self.camera).await {
            Ok((m, _)) => {
                tracing::info!(camera = %self.camera, scores = m.len(), prints = m.prints, "camera memory loaded");
                m
            }
            Err(e) => {
                tracing::warn!(camera = %self.camera, error = %e, "cannot read the camera memory: starting empty");
                CameraMemory::default()
            }
        }
    }

    async fn save(&self, m: &CameraMemory) {
        if let Err(e) = self.store.save_camera_memory(&self.camera, m, Timestamp::now()).await {
            tracing::warn!(camera = %self.camera, error = %e, "cannot store the camera memory");
        }
    }

    /// Whether the memory was reset on the database (`layerwatch camera-memory reset`) after `since`.
    async fn reset_since(&self, since: Timestamp) -> bool {
        match self.store.camera_memory_reset_at(&self.camera).await {
            Ok(Some(at)) => at > since,
            Ok(None) => false,
            Err(e) => {
                tracing::debug!(camera = %self.camera, error = %e, "cannot read the camera memory reset time");
                false
            }
        }
    }
}

/// Stores the decider's camera memory when it changed.
async fn persist_memory(decider: &mut Decider, slot: Option<&MemorySlot>, synced: &mut Timestamp) {
    if let Some(m) = decider.take_memory_update() {
        tracing::info!(scores = m.len(), prints = m.prints, corrections = m.corrections, "camera memory updated");
        if let Some(slot) = slot {
            slot.save(&m).await;
            *synced = Timestamp::now();
        }
    }
}

pub async fn run(inputs: Arc<DecisionInputs>, cancel: CancellationToken) -> anyhow::Result<StageExit> {
    let mut scored = inputs.scored.lock().await;
    let mut feedback = inputs.feedback.lock().await;
    let memory = match &inputs.memory {
        Some(slot) => slot.load().await,
        None => CameraMemory::default(),
    };
    let mut synced = Timestamp::now();
    let mut decider = Decider::new(&inputs.params).with_memory(memory);
    let mut printer = inputs.printer.clone();
    let mut engines = inputs.engines.clone();
    let (atx, mut analysed) = mpsc::unbounded_channel();
    let mut catalog = GcodeCatalog::new(atx);
    let mut geometry =
        inputs.geometry.as_ref().map(|(file, path)| LiveGeometry::new(file, path, &inputs.params.geometry));
    if let Some(g) = &geometry {
        inputs.board.set_geometry(g.dto().clone());
    }
    let mut tick = tokio::time::interval(inputs.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(StageExit::Stopped),
            Some(done) = analysed.recv() => catalog.complete(done),
            s = scored.recv() => {
                let Some(s) = s else { return Ok(StageExit::Finished) };
                // The analysis before the status: the printer stage publishes them in that order.
                let linked = inputs.analysis.borrow().clone();
                let status = printer.borrow_and_update().clone();
                let plan = status.state.job().and_then(|j| catalog.plan_for(j, linked.as_ref()));
                let mut step = decider.step(&s.score, &status, expect_for(&status, plan.as_deref(), &inputs.board).as_ref());
                let mut overlay = None;
                if let Some(g) = &mut geometry {
                    let usable = !matches!(
                        step.gate,
                        Gate::OutOfOrder | Gate::CameraDark | Gate::RepeatedFrame | Gate::CameraFrozen
                    );
                    let found = g.observe(&s.frame, &status, linked.as_ref(), usable).await;
                    decider.geometry(&found, &mut step);
                    overlay = g.overlay();
                    inputs.board.set_geometry(g.dto().clone());
                    inputs.board.set_overlay(overlay.clone());
                }
                record(&step, &s, &status, &inputs.board);
                for f in &step.findings {
                    inputs.board.record_finding(f);
                    deliver_finding(&mut engines, &inputs.actions_stopped, f).await;
                }
                let frame = (step.level != Level::Ok).then(|| s.frame.clone());
                deliver_verdict(&mut engines, &inputs.actions_stopped, &step, frame, overlay).await;
                persist_memory(&mut decider, inputs.memory.as_ref(), &mut synced).await;
            }
            Some(f) = feedback.recv() => {
                tracing::info!(feedback = f.name(), "owner feedback for the decider");
                for finding in decider.feedback(f, Timestamp::now()) {
                    log_finding(&finding);
                    inputs.board.record_finding(&finding);
                    deliver_finding(&mut engines, &inputs.actions_stopped, &finding).await;
                }
                persist_memory(&mut decider, inputs.memory.as_ref(), &mut synced).await;
            }
            _ = tick.tick() => {
                if let Some(slot) = &inputs.memory
                    && slot.reset_since(synced).await
                {
                    tracing::info!(camera = %slot.camera, "camera memory reset on the database: forgetting it");
                    decider.feedback(Feedback::ForgetCamera, Timestamp::now());
                }
                persist_memory(&mut decider, inputs.memory.as_ref(), &mut synced).await;
                let status = printer.borrow().clone();
                for f in decider.tick(Timestamp::now(), &status) {
                    log_finding(&f);
                    inputs.board.record_finding(&f);
                    deliver_finding(&mut engines, &inputs.actions_stopped, &f).await;
                }
            }
        }
    }
}

/// What the G-code says about the current layer (noting on the board where layers come from).
fn expect_for(
    status: &PrinterStatus,
    plan: Option<&LayerPlan>,
    board: &StatusBoard,
) -> Option<crate::decision::LayerExpectation> {
    let job = status.state.job();
    let expect = match (plan, job) {
        (Some(p), Some(j)) => p.for_job(j).copied(),
        _ => None,
    };
    board.set_gcode(match (expect.is_some(), job.and_then(|j| j.layer)) {
        (true, _) => GcodeSource::Analysed,
        (false, Some(_)) => GcodeSource::Printer,
        (false, None) => GcodeSource::None,
    });
    expect
}

/// One stepped frame, recorded on the board and in the journal.
fn record(step: &Step, s: &Scored, status: &PrinterStatus, board: &StatusBoard) {
    board.journal().push(StepRecord::new(step, status.state.name(), s.score.latency_ms));
    // Capture to verdict, queueing for the (possibly shared) inference worker included.
    let age_ms = crate::domain::Timestamp::now().millis().saturating_sub(s.frame.captured_at.millis());
    tracing::debug!(camera = &*s.frame.source, frame_seq = s.frame.seq, age_ms, "frame judged");
    board.push_frame(&s.frame, step.smoothed, step.level);
    board.set_decision(DecisionDto {
        at: step.at,
        frame_seq: step.frame_seq,
        raw: step.raw,
        smoothed: step.smoothed,
        level: step.level,
        kind: step.kind.map(|k| k.name().to_string()),
        gate: step.gate.name().into(),
        warning_level: step.warning_level.is_finite().then_some(step.warning_level),
        pause_level: step.pause_level.is_finite().then_some(step.pause_level),
        note: step.note(),
    });
    if step.changed {
        tracing::info!(
            camera = &*s.frame.source,
            frame_seq = s.frame.seq,
            layer = step.layer,
            level = ?step.level,
            kind = step.kind.map(|k| k.name()),
            geometry = step.geometry.as_ref().map(|g| g.kind.name()),
            smoothed = step.smoothed,
            raw = step.raw,
            note = %step.note(),
            "verdict changed"
        );
    }
    for f in &step.findings {
        log_finding(f);
    }
}

fn log_finding(f: &HealthFinding) {
    match f {
        HealthFinding::Cleared { what, .. } => {
            tracing::info!(finding = %what, "health finding cleared")
        }
        other => {
            tracing::warn!(finding = crate::app::status::finding_name(other), detail = ?other, "health finding")
        }
    }
}

/// Hands `send` the current engine until one accepts; waits for a new engine
/// when the current one stopped. Gives up only when the actions stage stopped
/// for good (shutdown).
async fn to_engine<F, Fut>(engines: &mut watch::Receiver<Option<ActionEngine>>, stopped: &CancellationToken, send: F)
where
    F: Fn(ActionEngine) -> Fut,
    Fut: std::future::Future<Output = Result<(), ActionError>>,
{
    loop {
        let engine = tokio::select! {
            biased;
            _ = stopped.cancelled() => None,
            r = engines.wait_for(Option::is_some) => r.ok().and_then(|g| g.clone()),
        };
        let Some(engine) = engine else {
            tracing::warn!("action engine stopped: an input could not be delivered");
            return;
        };
        match send(engine).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "action engine unavailable: waiting for it to restart");
                tokio::select! {
                    _ = stopped.cancelled() => {}
                    _ = engines.changed() => {}
                    // The actions stage clears the slot when its engine dies; do not spin meanwhile.
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

async fn deliver_verdict(
    engines: &mut watch::Receiver<Option<ActionEngine>>,
    stopped: &CancellationToken,
    step: &Step,
    frame: Option<crate::domain::Frame>,
    overlay: Option<Arc<crate::domain::Overlay>>,
) {
    let mut verdict = step.verdict();
    if step.level != Level::Ok {
        verdict.evidence.overlay = overlay;
    }
    to_engine(engines, stopped, |e| {
        let (v, f) = (verdict.clone(), frame.clone());
        async move { e.verdict(v, f).await }
    })
    .await;
}

async fn deliver_finding(
    engines: &mut watch::Receiver<Option<ActionEngine>>,
    stopped: &CancellationToken,
    finding: &HealthFinding,
) {
    to_engine(engines, stopped, |e| {
        let f = finding.clone();
        async move { e.health(f).await }
    })
    .await;
}
