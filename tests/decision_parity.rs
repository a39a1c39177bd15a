//! The daemon and `eval` judge a recorded sequence identically.
//!
//! One recorded sequence (`datasets/demo`: frames, `printer.jsonl`, the
//! sliced G-code) goes through both paths with the same scores:
//! - the daemon's real decision stage (`app::stages::decision::run`), fed on
//!   its channels, with the printer link's analysis of the file handed over
//!   as a print host does, its verdicts read back from the status board's
//!   journal;
//! - `eval::replay::replay`, on the simulated clock.
//!
//! Every frame's gate, level, layer, smoothed score and pause level must be
//! the same. The printer's reports are replayed three ways — with layers (as
//! recorded), with file positions only, and with Z only — so all three rules
//! of `decision::LayerPlan::for_job` are exercised on both paths.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use layerwatch::app::StatusBoard;
use layerwatch::app::stages::decision::{DecisionInputs, run};
use layerwatch::app::stages::vision::Scored;
use layerwatch::decision::{DecisionParams, LayerPlan};
use layerwatch::domain::{ClassScore, Frame, FrameImage, FrameScore, PrinterState, PrinterStatus, Scores, Timestamp};
use layerwatch::eval::dataset::Sequence;
use layerwatch::eval::replay::{ReplayInput, TimelinePoint, replay};
use layerwatch::gcode::Analysis;
use layerwatch::printer::FileAnalysis;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

fn demo() -> Sequence {
    Sequence::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo")).expect("the demo sequence loads")
}

/// A deterministic score trace with quiet stretches, isolated spikes and a
/// rise after the labelled onset, spread over the failure classes.
fn scores(seq: &Sequence) -> Vec<FrameScore> {
    let onset = seq.onset_at().unwrap_or(i64::MAX);
    seq.frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let at = f.timestamp_ms;
            let wobble = ((i * 37 % 11) as f32) / 40.0;
            let failure = if at >= onset { (0.55 + wobble + (i % 3) as f32 * 0.05).min(0.99) } else { 0.05 + wobble };
            let classes = [("normal", 1.0 - failure), ("spaghetti", failure * 0.7), ("stringing", failure * 0.3)]
                .into_iter()
                .map(|(l, p)| ClassScore { label: l.into(), p })
                .collect();
            FrameScore {
                seq: i as u64,
                captured_at: Timestamp(at),
                scores: Scores { failure, classes },
                brightness: 120.0,
                fingerprint: i as u64 + 1,
                latency_ms: 10.0,
            }
        })
        .collect()
}

/// How the printer's reports are replayed.
#[derive(Debug, Clone, Copy)]
enum Reports {
    Layers,
    Positions,
    ZOnly,
}

fn statuses(seq: &Sequence, analysis: &Analysis, how: Reports) -> Vec<PrinterStatus> {
    let mut out = seq.printer.clone().expect("the demo has printer.jsonl");
    for s in &mut out {
        if let PrinterState::Printing { job } | PrinterState::Paused { job } = &mut s.state {
            let layer = job.layer.and_then(|l| analysis.layers.get(l as usize));
            match how {
                Reports::Layers => {}
                Reports::Positions => {
                    job.file_position = layer.map(|l| l.start_offset + (l.end_offset - l.start_offset) / 2);
                    job.layer = None;
                    job.z = None;
                }
                Reports::ZOnly => {
                    job.z = layer.map(|l| l.z);
                    job.layer = None;
                    job.file_position = None;
                }
            }
        }
    }
    out
}

/// The status the daemon would hold when `at` is captured: the latest at or before it.
fn status_at(statuses: &[PrinterStatus], at: i64) -> PrinterStatus {
    statuses
        .iter()
        .take_while(|s| s.at.millis() <= at)
        .last()
        .cloned()
        .unwrap_or(PrinterStatus::disconnected(Timestamp(at)))
}

async fn daemon_path(
    seq: &Sequence,
    frames: &[FrameScore],
    statuses: &[PrinterStatus],
    params: &DecisionParams,
) -> Vec<layerwatch::app::StepRecord> {
    let analysis = seq.gcode.clone().expect("the demo has its g-code");
    let first = statuses.iter().find_map(|s| s.state.job().cloned()).expect("a job");
    let link = FileAnalysis { file: first.file.clone(), size: first.file_size, analysis };
    let (stx, srx) = mpsc::channel(4);
    let (ptx, prx) = watch::channel(PrinterStatus::disconnected(Timestamp(0)));
    let (_atx, arx) = watch::channel(Some(link));
    let (_etx, erx) = watch::channel(None);
    let board = Arc::new(StatusBoard::new("parity", "camera", true));
    let actions_stopped = CancellationToken::new();
    // No action engine: verdicts are read from the journal, not delivered.
    actions_stopped.cancel();
    let inputs = Arc::new(DecisionInputs {
        params: params.clone(),
        scored: tokio::sync::Mutex::new(srx),
        feedback: tokio::sync::Mutex::new(mpsc::channel(1).1),
        printer: prx,
        analysis: arx,
        engines: erx,
        board: board.clone(),
        // Ticks use the wall clock; eval's use data time. Keep them out of the comparison.
        tick: Duration::from_secs(3600),
        actions_stopped,
        memory: None,
        geometry: None,
    });
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(inputs, cancel.clone()));
    for (i, f) in frames.iter().enumerate() {
        ptx.send_replace(status_at(statuses, f.captured_at.millis()));
        let row = &seq.frames[i];
        let jpeg = std::fs::read(&row.path).expect("frame file");
        let frame = Frame {
            seq: f.seq,
            captured_at: f.captured_at,
            source: "camera".into(),
            image: FrameImage::Jpeg(jpeg.into()),
        };
        stx.send(Scored { frame, score: f.clone() }).await.expect("stage running");
        let want = i + 1;
        tokio::time::timeout(Duration::from_secs(10), async {
            while board.journal().entries().len() < want {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("the stage judged the frame");
        if i == 0 {
            // The plan is built off the runtime once the first frame asks for it.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    cancel.cancel();
    let _ = task.await;
    board.journal().entries()
}

fn eval_path(
    seq: &Sequence,
    frames: &[FrameScore],
    statuses: &[PrinterStatus],
    params: &DecisionParams,
) -> Vec<TimelinePoint> {
    let input = ReplayInput {
        name: seq.manifest.name.clone(),
        camera: seq.manifest.camera.clone(),
        t0: seq.t0(),
        frames: frames.to_vec(),
        printer: Some(statuses.to_vec()),
        gcode: seq.gcode.as_ref().map(|a| Arc::new(LayerPlan::from_analysis(a))),
        onset_at: seq.onset_at(),
        failure: seq.manifest.label.failure,
        kind: seq.manifest.label.kind.clone(),
    };
    replay(&input, params, true).timeline
}

async fn check(how: Reports) {
    let seq = demo();
    let analysis = seq.gcode.clone().expect("g-code");
    let frames = scores(&seq);
    let statuses = statuses(&seq, &analysis, how);
    let params = DecisionParams::default();
    let daemon = daemon_path(&seq, &frames, &statuses, &params).await;
    let offline = eval_path(&seq, &frames, &statuses, &params);
    assert_eq!(daemon.len(), offline.len(), "{how:?}: one verdict per frame on both paths");
    let t0 = seq.t0();
    let mut judged = 0;
    let mut levels = std::collections::BTreeSet::new();
    for (d, e) in daemon.iter().zip(&offline) {
        let t = (d.at.millis() - t0) as f64 / 1000.0;
        let ctx = format!("{how:?} at t={t}: daemon {d:?} / eval {e:?}");
        assert!((t - e.t).abs() < 1e-6, "{ctx}");
        assert_eq!(d.gate, e.gate.name(), "{ctx}");
        assert_eq!(d.level, e.level, "{ctx}");
        assert_eq!(d.layer, e.layer, "{ctx}");
        assert_eq!(d.smoothed.to_bits(), e.smoothed.to_bits(), "{ctx}");
        assert_eq!(d.pause_level.map(f32::to_bits), e.pause_level.map(f32::to_bits), "{ctx}");
        judged += usize::from(d.gate == "judged");
        levels.insert(format!("{:?}", d.level));
    }
    // The comparison means something only if the sequence exercised the rules.
    assert!(judged >= 10, "{how:?}: only {judged} frames judged");
    assert!(levels.contains("Failure"), "{how:?}: the failure was never called: {levels:?}");
    assert!(daemon.iter().any(|d| d.layer.is_some_and(|l| l > 2)), "{how:?}: layers were placed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_verdicts_with_reported_layers() {
    check(Reports::Layers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_verdicts_with_file_positions_only() {
    check(Reports::Positions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_verdicts_with_z_only() {
    check(Reports::ZOnly).await;
}
