//! The geometry checks over recorded sequences: for a sequence with a camera
//! file (`camera_pose` in its manifest) and its G-code, every frame is read
//! as a downscaled grey image and fed, with the printer status in force, to
//! the same `decision::GeometryChecker` the daemon would run.
//!
//! Per sequence: the findings (with data time and layer), the first one at or
//! after the labelled onset (detection, time to detection in layers), and the
//! findings before it (false findings, over the print time they had to
//! happen in). Across sequences: detection per injected kind and false
//! findings per 100 print-hours.

use std::collections::BTreeMap;
use std::time::Instant;

use opencv::core::{Mat, MatTraitConst, MatTraitConstManual};
use opencv::imgcodecs;
use serde::Serialize;

use super::dataset::Sequence;
use super::error::EvalError;
use super::replay::MAX_COUNTED_GAP_MS;
use crate::decision::{GeometryChecker, GeometryConfig, GeometryFinding, GeometryStats};
use crate::domain::PrinterStatus;
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
    /// Mean time to decode, downscale and check one frame (ms, this machine).
    pub ms_per_frame: f64,
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
    let mut checker = GeometryChecker::new(cfg, expected);
    let (mw, mh) = checker.frame_size();
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
        let printing = status.is_some_and(|s| s.state.is_printing());
        let layer = status.and_then(|s| s.state.job()).and_then(|j| j.layer);
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
        let grey = read_grey(&row.path, (camera.width, camera.height), (mw, mh))?;
        out.frames += 1;
        let (found, stats) = checker.observe(&grey, printing, layer);
        out.judged += u64::from(stats.is_some());
        out.judged_frames.extend(stats);
        for f in found {
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

/// Reads a frame as grey and box-filters it to the mask size; the frame must have the calibrated size.
fn read_grey(path: &std::path::Path, frame: (u32, u32), mask: (u32, u32)) -> Result<Grey, EvalError> {
    let m: Mat = imgcodecs::imread(path, imgcodecs::IMREAD_GRAYSCALE)
        .map_err(|e| EvalError::format(path, None, format!("cannot read the frame: {e}")))?;
    if m.empty() {
        return Err(EvalError::format(path, None, "cannot decode the frame"));
    }
    let (w, h) = (m.cols() as u32, m.rows() as u32);
    if (w, h) != frame {
        return Err(EvalError::format(
            path,
            None,
            format!("frame is {w}x{h} but the camera file is calibrated for {}x{}", frame.0, frame.1),
        ));
    }
    let m =
        if m.is_continuous() { m } else { m.try_clone().map_err(|e| EvalError::format(path, None, e.to_string()))? };
    let bytes = m.data_bytes().map_err(|e| EvalError::format(path, None, e.to_string()))?;
    Grey::downscale(w, h, 1, bytes, mask.0, mask.1)
        .ok_or_else(|| EvalError::format(path, None, "frame smaller than the check's mask"))
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
