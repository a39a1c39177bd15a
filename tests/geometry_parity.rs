//! The daemon and `eval` run the same geometry checks on the same frames.
//!
//! A sequence rendered from the demo's G-code (`dataset render`'s code) with
//! the part removed half-way, and an unchanged one, go through both paths:
//! - `eval::geometry::replay_geometry` (frames read from their files);
//! - the daemon's real decision stage (`app::stages::decision::run`) with the
//!   camera file, fed each frame as the camera would hand it over (JPEG bytes)
//!   with the printer status in force and the printer link's analysis of the
//!   file, its findings read back from the status board.
//!
//! The findings must be identical (kind, layer, bed mm, region, contrasts), as
//! must the number of layer changes judged; the stage must turn the finding
//! into a failure verdict whose step names it in the journal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use layerwatch::app::StatusBoard;
use layerwatch::app::stages::decision::{DecisionInputs, run};
use layerwatch::app::stages::vision::Scored;
use layerwatch::decision::{ClassAction, DecisionParams};
use layerwatch::domain::{Frame, FrameImage, FrameScore, Level, PrinterStatus, Scores, Timestamp};
use layerwatch::eval::dataset::Sequence;
use layerwatch::eval::render::{RenderFailure, RenderOptions, render};
use layerwatch::geometry::{BedArea, Camera, CameraFile};
use layerwatch::printer::FileAnalysis;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A textured 320×240 picture (PPM): a bright wall above a darker bed.
fn write_background(dir: &Path) -> PathBuf {
    let (w, h) = (320usize, 240usize);
    let mut data = format!("P6\n{w} {h}\n255\n").into_bytes();
    for y in 0..h {
        for x in 0..w {
            let base = if y < 150 { 190 } else { 90 };
            let stripe = if (x / 12 + y / 40) % 2 == 0 { 12 } else { 0 };
            let v = (base + stripe) as u8;
            data.extend([v, v.saturating_add(5), v.saturating_sub(10)]);
        }
    }
    let p = dir.join("bg.ppm");
    std::fs::write(&p, data).unwrap();
    p
}

fn rendered(dir: &Path, failure: Option<RenderFailure>) -> Sequence {
    let cam = Camera::look_at(320, 240, [125.0, -5.0, 38.0], [125.0, 105.0, 5.0], 50.0);
    let bed = BedArea { size_mm: [60.0, 60.0], origin_mm: [95.0, 75.0] };
    let cam_path = dir.join("cam.toml");
    std::fs::write(&cam_path, CameraFile::new(&cam, bed, None).to_toml_string().unwrap()).unwrap();
    let out = dir.join("seq");
    let mut o =
        RenderOptions::new(repo().join("datasets/demo/print.gcode"), cam_path, write_background(dir), out.clone());
    o.frames = 60;
    o.failure = failure;
    o.park_at_layer_change = true;
    o.seed = 2;
    render(&o).expect("render");
    Sequence::load(&out).expect("the render loads")
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

async fn check(failure: Option<RenderFailure>) {
    let dir = tempfile::tempdir().unwrap();
    let seq = rendered(dir.path(), failure);
    let mut params = DecisionParams::default();
    params.geometry.action = ClassAction::Pause;
    let offline = layerwatch::eval::geometry::replay_geometry(&seq, &params.geometry).unwrap().expect("a camera file");

    let statuses = seq.printer.clone().expect("printer.jsonl");
    let analysis = seq.gcode.clone().expect("the g-code");
    let job = statuses.iter().find_map(|s| s.state.job().cloned()).expect("a job");
    let link = FileAnalysis { file: job.file.clone(), size: job.file_size, analysis };
    let cam_path = seq.dir.join(seq.manifest.camera_pose.as_ref().unwrap());
    let file = CameraFile::parse(&std::fs::read_to_string(&cam_path).unwrap(), "camera.toml").unwrap();
    let (stx, srx) = mpsc::channel(4);
    let (ptx, prx) = watch::channel(PrinterStatus::disconnected(Timestamp(0)));
    let (_atx, arx) = watch::channel(Some(link));
    let (_etx, erx) = watch::channel(None);
    let board = Arc::new(StatusBoard::new("parity", "camera", true));
    let actions_stopped = CancellationToken::new();
    actions_stopped.cancel();
    let inputs = Arc::new(DecisionInputs {
        params: params.clone(),
        scored: tokio::sync::Mutex::new(srx),
        feedback: tokio::sync::Mutex::new(mpsc::channel(1).1),
        printer: prx,
        analysis: arx,
        engines: erx,
        board: board.clone(),
        tick: Duration::from_secs(3600),
        actions_stopped,
        memory: None,
        geometry: Some((file, cam_path.display().to_string())),
    });
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(inputs, cancel.clone()));
    for (i, row) in seq.frames.iter().enumerate() {
        ptx.send_replace(status_at(&statuses, row.timestamp_ms));
        let jpeg = std::fs::read(&row.path).unwrap();
        let frame = Frame {
            seq: i as u64,
            captured_at: Timestamp(row.timestamp_ms),
            source: "camera".into(),
            image: FrameImage::Jpeg(jpeg.into()),
        };
        let score = FrameScore {
            seq: i as u64,
            captured_at: Timestamp(row.timestamp_ms),
            scores: Scores { failure: 0.02, classes: vec![] },
            brightness: 120.0,
            fingerprint: i as u64 + 1,
            latency_ms: 10.0,
        };
        stx.send(Scored { frame, score }).await.expect("stage running");
        tokio::time::timeout(Duration::from_secs(20), async {
            while board.journal().entries().len() < i + 1 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("the stage judged the frame");
    }
    cancel.cancel();
    let _ = task.await;
    let live = board.geometry().expect("the stage reports the geometry checks");
    let offline_findings: Vec<_> = offline.findings.iter().map(|f| f.finding.clone()).collect();
    assert_eq!(live.findings, offline_findings, "{failure:?}: the same findings on both paths");
    assert_eq!(live.judged_layers, offline.judged, "{failure:?}: the same layer changes judged");
    assert_eq!(live.frames_read, offline.frames_read, "{failure:?}: the same frames read");
    assert_eq!(live.errors, 0);
    let steps = board.journal().entries();
    match failure {
        Some(_) => {
            assert!(offline.detected && offline.detected_as.as_deref() == Some("missing_material"), "{offline:#?}");
            let at =
                steps.iter().position(|s| s.geometry == Some("missing_material")).expect("the step that raised it");
            assert_eq!(steps[at].level, Level::Failure, "{:?}", steps[at]);
            assert!(steps[at..].iter().take_while(|s| s.printer == "printing").all(|s| s.level == Level::Failure));
            assert!(steps[..at].iter().all(|s| s.level == Level::Ok));
        }
        None => {
            assert!(live.findings.is_empty(), "{live:#?}");
            assert!(steps.iter().all(|s| s.level == Level::Ok && s.geometry.is_none()));
        }
    }
    println!(
        "{failure:?}: {} frames, {} read, {} layer changes judged, findings {:?}",
        offline.frames,
        live.frames_read,
        live.judged_layers,
        live.findings.iter().map(|f| (f.kind, f.layer)).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_part_is_found_identically_by_the_daemon_and_eval() {
    check(Some(RenderFailure::PartRemoved)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_print_gives_nothing_on_either_path() {
    check(None).await;
}
