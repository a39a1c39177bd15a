//! The geometry checks over recorded sequences: for a sequence with a camera
//! file (`camera_pose` in its manifest) and its G-code, every frame is read
//! fed, with the printer status in force, to the same `decision::GeometryFeed`
//! and `GeometryChecker` the daemon runs, which read a frame (through
//! `vision::grey_for_checks`, as the daemon does) only when they use it: the
//! empty-bed reference and the first frame of each layer.
//!
//! Per sequence: the findings (with data time and layer), the first one at or
//! after the labelled onset (detection, time to detection in layers), and the
//! findings before it (false findings, over the print time they had to
//! happen in). Across sequences: detection per injected kind and false
//! findings per 100 print-hours.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::dataset::Sequence;
use super::error::EvalError;
use super::replay::MAX_COUNTED_GAP_MS;
use crate::decision::{GeometryChecker, GeometryConfig, GeometryFeed, GeometryFinding, GeometryStats, checker_inputs};
use crate::domain::{FrameImage, PrinterStatus};
use crate::geometry::{CameraFile, ExpectedPrint, Grey};

/// One finding in a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedFinding {
    /// Seconds after the sequence's time zero.
    pub t: f64,
    /// Before the labelled onset (or on a sequence without a failure).
    pub false_finding: bool,
    #[serde(flatten)]
    pub finding: GeometryFinding,
}

/// What the geometry checks found on one sequence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeometryOutcome {
    pub sequence: String,
    /// The labelled kind (`part_removed`, `layer_shift`…), when the sequence has a failure.
    pub injected: Option<String>,
    pub frames: u64,
    /// Layer-change frames judged.
    pub judged: u64,
    pub findings: Vec<TimedFinding>,
    pub detected: bool,
    /// Kind of the first finding at or after the onset.
    pub detected_as: Option<String>,
    /// Printer layers from the onset to the first finding at or after it.
    pub ttd_layers: Option<i64>,
    pub false_findings: u32,
    /// Printing time before the onset (the whole print on normal sequences), hours.
    pub print_hours_before_onset: f64,
    /// Mean time per frame of the sequence to decode, downscale and check what the checks read (ms, this machine).
    pub ms_per_frame: f64,
    /// Frames whose pixels the checks read (the reference and one per layer).
    pub frames_read: u64,
    /// The numbers of every judged (layer-change) frame.
    pub judged_frames: Vec<GeometryStats>,
}

/// Per injected kind: sequences, detections, mean layers to detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindSummary {
    pub sequences: u32,
    pub detected: u32,
    pub detection_rate: f64,
    pub mean_ttd_layers: Option<f64>,
    /// How often the first finding's kind was the expected one.
    pub right_kind: u32,
}

/// All sequences with a camera file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeometrySummary {
    pub sequences: u32,
    pub by_kind: BTreeMap<String, KindSummary>,
    pub false_findings: u32,
    pub print_hours: f64,
    pub false_findings_per_100h: Option<f64>,
    pub outcomes: Vec<GeometryOutcome>,
}

/// The finding kind that answers an injected failure kind.
pub fn expected_kind(injected: &str) -> Option<&'static str> {
    match injected {
        "part_removed" => Some("missing_material"),
        "growth_stopped" => Some("growth_stopped"),
        "layer_shift" => Some("silhouette_offset"),
        _ => None,
    }
}

/// Replays the checks on `seq`; `None` when it has no camera file or no G-code.
pub fn replay_geometry(seq: &Sequence, cfg: &GeometryConfig) -> Result<Option<GeometryOutcome>, EvalError> {
    let (Some(pose), Some(analysis)) = (&seq.manifest.camera_pose, &seq.gcode) else { return Ok(None) };
    let path = seq.dir.join(pose);
    let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
    let file = CameraFile::parse(&text, &path.display().to_string())
        .map_err(|e| EvalError::format(&path, None, e.to_string()))?;
    let camera = file.camera();
    let expected = ExpectedPrint::new(analysis, &camera, cfg.mask_width)
        .ok_or_else(|| EvalError::dataset(&seq.dir, "the g-code deposits nothing: no expected print"))?;
    let mut feed = GeometryFeed::new(GeometryChecker::new(cfg, expected));
    let mask = feed.checker().frame_size();
    let statuses: &[PrinterStatus] = seq.printer.as_deref().unwrap_or(&[]);
    let onset = seq.onset_at();
    let t0 = seq.t0();
    let injected = seq.manifest.label.failure.then(|| seq.manifest.label.kind.clone()).flatten();
    let mut out = GeometryOutcome {
        sequence: seq.manifest.name.clone(),
        injected: injected.clone(),
        frames: 0,
        judged: 0,
        findings: vec![],
        detected: false,
        detected_as: None,
        ttd_layers: None,
        false_findings: 0,
        print_hours_before_onset: 0.0,
        ms_per_frame: 0.0,
        frames_read: 0,
        judged_frames: vec![],
    };
    let started = Instant::now();
    let mut si = 0;
    let mut onset_layer: Option<u32> = None;
    let mut prev: Option<(i64, bool)> = None;
    for row in &seq.frames {
        let at = row.timestamp_ms;
        while si < statuses.len() && statuses[si].at.millis() <= at {
            si += 1;
        }
        let status = si.checked_sub(1).map(|i| &statuses[i]);
        let (printing, layer) = checker_inputs(status);
        if let Some(o) = onset
            && at >= o
            && onset_layer.is_none()
        {
            onset_layer = layer.or(Some(0));
        }
        let before = onset.is_none_or(|o| at < o);
        if let Some((pt, was)) = prev
            && was
            && printing
            && before
            && at - pt <= MAX_COUNTED_GAP_MS
        {
            out.print_hours_before_onset += (at - pt) as f64 / 3_600_000.0;
        }
        prev = Some((at, printing));
        out.frames += 1;
        let fed = feed.push(row.path.as_path(), status, |p| read_grey(p, (camera.width, camera.height), mask))?;
        out.frames_read += u64::from(fed.read);
        out.judged += u64::from(fed.stats.is_some());
        out.judged_frames.extend(fed.stats);
        for f in fed.findings {
            let false_finding = before || !seq.manifest.label.failure;
            if false_finding {
                out.false_findings += 1;
            } else if !out.detected {
                out.detected = true;
                out.detected_as = Some(f.kind.name().to_string());
                out.ttd_layers = onset_layer.map(|o| i64::from(f.layer) - i64::from(o));
            }
            out.findings.push(TimedFinding { t: (at - t0) as f64 / 1000.0, false_finding, finding: f });
        }
    }
    out.ms_per_frame = started.elapsed().as_secs_f64() * 1000.0 / out.frames.max(1) as f64;
    Ok(Some(out))
}

/// Reads a frame file as the checks do (`vision::grey_for_checks`); it must have the calibrated size.
fn read_grey(path: &std::path::Path, frame: (u32, u32), mask: (u32, u32)) -> Result<Grey, EvalError> {
    let bytes = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
    let bad = |e: String| EvalError::format(path, None, e);
    let image = if bytes.starts_with(&[0xFF, 0xD8]) {
        FrameImage::Jpeg(bytes.into())
    } else {
        // PNG and other stills: decoded here, then read like an RGB camera frame.
        let buf = opencv::core::Mat::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let m = opencv::imgcodecs::imdecode(&buf, opencv::imgcodecs::IMREAD_COLOR).map_err(|e| bad(e.to_string()))?;
        let mut rgb = opencv::core::Mat::default();
        opencv::imgproc::cvt_color_def(&m, &mut rgb, opencv::imgproc::COLOR_BGR2RGB)
            .map_err(|e| bad(format!("cannot decode the frame: {e}")))?;
        use opencv::core::{MatTraitConst, MatTraitConstManual};
        let rgb = if rgb.is_continuous() { rgb } else { rgb.try_clone().map_err(|e| bad(e.to_string()))? };
        let data = rgb.data_bytes().map_err(|e| bad(e.to_string()))?.to_vec();
        let img = crate::domain::RgbImage::new(rgb.cols() as u32, rgb.rows() as u32, data)
            .ok_or_else(|| bad("cannot decode the frame".into()))?;
        FrameImage::Rgb(std::sync::Arc::new(img))
    };
    crate::vision::grey_for_checks(&image, frame, mask).map_err(|e| bad(e.to_string()))
}

/// Sums the outcomes up.
pub fn summarize(outcomes: Vec<GeometryOutcome>) -> GeometrySummary {
    let mut by_kind: BTreeMap<String, KindSummary> = BTreeMap::new();
    let mut ttd: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for o in &outcomes {
        let Some(k) = &o.injected else { continue };
        let e = by_kind.entry(k.clone()).or_insert(KindSummary {
            sequences: 0,
            detected: 0,
            detection_rate: 0.0,
            mean_ttd_layers: None,
            right_kind: 0,
        });
        e.sequences += 1;
        if o.detected {
            e.detected += 1;
            if let Some(t) = o.ttd_layers {
                ttd.entry(k.clone()).or_default().push(t);
            }
            if o.detected_as.as_deref() == expected_kind(k) {
                e.right_kind += 1;
            }
        }
    }
    for (k, e) in &mut by_kind {
        e.detection_rate = f64::from(e.detected) / f64::from(e.sequences.max(1));
        e.mean_ttd_layers = ttd.get(k).map(|v| v.iter().sum::<i64>() as f64 / v.len() as f64);
    }
    let false_findings = outcomes.iter().map(|o| o.false_findings).sum();
    let print_hours: f64 = outcomes.iter().map(|o| o.print_hours_before_onset).sum();
    GeometrySummary {
        sequences: outcomes.len() as u32,
        by_kind,
        false_findings,
        print_hours,
        false_findings_per_100h: (print_hours > 0.0).then(|| f64::from(false_findings) / print_hours * 100.0),
        outcomes,
    }
}
