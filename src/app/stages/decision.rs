//! The decision stage: the `Decider` fed by scored frames, the printer's
//! `watch` and the G-code plan of the current file (from the printer link's
//! own analysis of it, `PrinterLink::analysis`), plus a periodic `tick`
//! for the checks that need no frame (camera silent, printer stalled).
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
use crate::app::journal::StepRecord;
use crate::app::status::{GcodeSource, StatusBoard};
use crate::app::supervisor::StageExit;
use crate::decision::{Decider, DecisionParams, LayerExpectation, Step};
use crate::domain::{HealthFinding, Level, PrintJob, PrinterStatus, Timestamp};
use crate::printer::FileAnalysis;
use crate::web::DecisionDto;

/// What the stage reads; shared by its restarts.
pub struct DecisionInputs {
    pub params: DecisionParams,
    /// Held by one run of the stage at a time (a restart takes it over).
    pub scored: tokio::sync::Mutex<mpsc::Receiver<Scored>>,
    pub printer: watch::Receiver<PrinterStatus>,
    /// The printer link's analysis of the printing file.
    pub analysis: watch::Receiver<Option<FileAnalysis>>,
    pub engines: watch::Receiver<Option<ActionEngine>>,
    pub board: Arc<StatusBoard>,
    pub tick: Duration,
    /// Fires when the action engine stops for good: nothing can be delivered after it.
    pub actions_stopped: CancellationToken,
}

pub async fn run(inputs: Arc<DecisionInputs>, cancel: CancellationToken) -> anyhow::Result<StageExit> {
    let mut scored = inputs.scored.lock().await;
    let mut decider = Decider::new(&inputs.params);
    let mut printer = inputs.printer.clone();
    let mut engines = inputs.engines.clone();
    let (atx, mut analysed) = mpsc::unbounded_channel();
    let mut catalog = GcodeCatalog::new(atx);
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
                let step = judge(&mut decider, &s, &status, plan.as_deref(), &inputs.board);
                for f in &step.findings {
                    inputs.board.record_finding(f);
                    deliver_finding(&mut engines, &inputs.actions_stopped, f).await;
                }
                let frame = (step.level != Level::Ok).then(|| s.frame.clone());
                deliver_verdict(&mut engines, &inputs.actions_stopped, &step, frame).await;
            }
            _ = inputs.board.feedback_ready().notified() => {
                while let Some(f) = inputs.board.take_feedback() {
                    tracing::info!(feedback = f.name(), "owner feedback for the decider");
                    for finding in decider.feedback(f, Timestamp::now()) {
                        log_finding(&finding);
                        inputs.board.record_finding(&finding);
                        deliver_finding(&mut engines, &inputs.actions_stopped, &finding).await;
                    }
                }
            }
            _ = tick.tick() => {
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

/// One frame through the decider, recorded on the board and in the journal.
fn judge(
    decider: &mut Decider,
    s: &Scored,
    status: &PrinterStatus,
    plan: Option<&LayerPlan>,
    board: &StatusBoard,
) -> Step {
    let job = status.state.job();
    let expect = match (plan, job) {
        (Some(p), Some(j)) => expectation(p, j),
        _ => None,
    };
    board.set_gcode(match (expect.is_some(), job.and_then(|j| j.layer)) {
        (true, _) => GcodeSource::Analysed,
        (false, Some(_)) => GcodeSource::Printer,
        (false, None) => GcodeSource::None,
    });
    let step = decider.step(&s.score, status, expect.as_ref());
    board.journal().push(StepRecord::new(&step, status.state.name(), s.score.latency_ms));
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
            smoothed = step.smoothed,
            raw = step.raw,
            note = %step.note(),
            "verdict changed"
        );
    }
    for f in &step.findings {
        log_finding(f);
    }
    step
}

/// The plan's line for the job's layer (or, without one, for its Z).
///
/// A job that reports its file position but no layer is in the start or end
/// code: no layer is printing, whatever the Z (start code often lifts the
/// nozzle several millimetres, which would read as a high layer). Only a
/// printer that reports neither is placed by its Z.
fn expectation(plan: &LayerPlan, job: &PrintJob) -> Option<LayerExpectation> {
    if let Some(l) = job.layer {
        return plan.at(l).copied();
    }
    if job.file_position.is_some() {
        return None;
    }
    let z = job.z?;
    plan.layers.iter().find(|l| l.z + 1e-3 >= z).or(plan.layers.last()).copied()
}

fn log_finding(f: &HealthFinding) {
    match f {
        HealthFinding::Cleared { what, .. } => tracing::info!(finding = %what, "health finding cleared"),
        other => tracing::warn!(finding = crate::app::status::finding_name(other), detail = ?other, "health finding"),
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
) {
    let verdict = step.verdict();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LayerPlan {
        let layer = |i: u32, z: f32| LayerExpectation { layer: i, z, ..Default::default() };
        LayerPlan { layers: (0..20).map(|i| layer(i, 0.2 + 0.3 * i as f32)).collect() }
    }

    #[test]
    fn start_code_is_no_layer_whatever_the_z() {
        // Host mode during start code: the file position is known, no layer yet, nozzle lifted to Z 5.
        let start = PrintJob { file_position: Some(120), z: Some(5.0), ..Default::default() };
        assert_eq!(expectation(&plan(), &start), None);
        // The layer the printer reports wins.
        let printing = PrintJob { layer: Some(3), file_position: Some(9000), z: Some(5.0), ..Default::default() };
        assert_eq!(expectation(&plan(), &printing).map(|e| e.layer), Some(3));
        // A printer that reports only Z is placed by it.
        let z_only = PrintJob { z: Some(1.1), ..Default::default() };
        assert_eq!(expectation(&plan(), &z_only).map(|e| e.layer), Some(3));
    }
}
