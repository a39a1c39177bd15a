//! One evaluation end to end: detect and load the datasets, score every image
//! and frame once per distinct model (on all cores), then per run (model +
//! decision settings): image metrics, sequence replays through the decider,
//! the optional sweep (and calibration file), and the report.
//!
//! Sequence frames are read by `capture::FolderSource` (pace off), the
//! daemon's folder camera; their timestamps are the recorded ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::dataset::{self, DatasetKind, ImageSet, Selection, Sequence};
use super::error::{EvalError, Skip, SkipKind};
use super::images::{self, ImageOptions, Threshold};
use super::progress::Progress;
use super::replay::{ReplayInput, replay_all};
use super::report::{DatasetInfo, DecisionInfo, Report, Run, SequencesReport, SweepReport, Timing};
use super::score::Scorer;
use super::sequences::{SequenceMeta, SequenceReport, summarize};
use super::sweep::{ChoiceRule, SweepSpec, calibration_for, choose, sweep};
use super::taxonomy::LabelMap;
use crate::capture::{CaptureError, FolderOptions, FolderSource, FrameSource};
use crate::decision::{Calibration, DecisionParams, LayerPlan};
use crate::domain::{FrameScore, Scores, Timestamp};

/// Frames read before they are handed to the scoring pool together.
const CHUNK: usize = 64;

/// The geometry checks over the sequences that have a camera file; a sequence
/// whose frames or camera file cannot be used is skipped (listed), not fatal.
fn geometry_report(
    sequences: &[Sequence],
    cfg: &crate::decision::GeometryConfig,
    skipped: &mut Vec<Skip>,
) -> Option<super::geometry::GeometrySummary> {
    let mut outcomes = vec![];
    for seq in sequences {
        match super::geometry::replay_geometry(seq, cfg) {
            Ok(Some(o)) => outcomes.push(o),
            Ok(None) => {}
            Err(e) => {
                let skip = Skip::new(SkipKind::BadSequence, &seq.dir, None, format!("geometry checks: {e}"));
                skip.log();
                skipped.push(skip);
            }
        }
    }
    (!outcomes.is_empty()).then(|| super::geometry::summarize(outcomes))
}

/// One model + decision setting to evaluate.
#[derive(Clone)]
pub struct Variant {
    pub label: String,
    pub scorer: Arc<Scorer>,
    pub params: DecisionParams,
    pub calibration: Calibration,
    /// `built-in default` or the file it came from.
    pub calibration_source: String,
    /// Image operating point; `None` = the pause level at the configured sensitivity.
    pub threshold: Option<Threshold>,
}

impl Variant {
    /// The image threshold: explicit, else the calibrated pause level moved by sensitivity.
    pub fn image_threshold(&self) -> Threshold {
        self.threshold.clone().unwrap_or_else(|| Threshold {
            value: self.params.sensitized(self.params.pause_level),
            source: format!(
                "pause level of calibration {:?} ({:.3}) at sensitivity {:.2}",
                self.calibration.name, self.params.pause_level, self.params.sensitivity
            ),
        })
    }

    fn warning_threshold(&self) -> Threshold {
        Threshold {
            value: self.params.sensitized(self.params.warning_level),
            source: format!(
                "warning level ({:.3}) at sensitivity {:.2}",
                self.params.warning_level, self.params.sensitivity
            ),
        }
    }

    fn decision_info(&self) -> DecisionInfo {
        let p = &self.params;
        DecisionInfo {
            calibration: self.calibration.name.clone(),
            calibration_source: self.calibration_source.clone(),
            sensitivity: p.sensitivity,
            warning_level: p.warning_level,
            pause_level: p.pause_level,
            fast_level: p.fast_level,
            half_life_s: p.half_life_s,
            window: (p.window_k, p.window_n),
            effective_warning_level: p.sensitized(p.warning_level),
            effective_pause_level: p.sensitized(p.pause_level),
            adapt: p.adapt,
        }
    }
}

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub datasets: Vec<PathBuf>,
    pub selection: Selection,
    pub label_map: LabelMap,
    /// Breakdown columns for images.
    pub by: Vec<String>,
    pub sweep: Option<SweepSpec>,
    pub rule: ChoiceRule,
    /// Write the chosen point as `<dir>/<name>.toml`.
    pub write_calibration: Option<(PathBuf, String)>,
    pub command: String,
    /// Show a progress bar / progress log lines.
    pub progress: bool,
}

/// Loaded inputs of a run.
struct Inputs {
    images: Option<ImageSet>,
    sequences: Vec<Sequence>,
    datasets: Vec<DatasetInfo>,
    skipped: Vec<Skip>,
}

fn load_inputs(opts: &RunOptions) -> Result<Inputs, EvalError> {
    let mut images: Option<ImageSet> = None;
    let mut sequences = vec![];
    let mut datasets = vec![];
    let mut skipped = vec![];
    let many = opts.datasets.len() > 1;
    for path in &opts.datasets {
        let kind = dataset::detect(path)?;
        match &kind {
            DatasetKind::Sequences(dirs) => {
                let (seqs, skips) = dataset::load_sequences(dirs);
                datasets.push(DatasetInfo {
                    path: path.display().to_string(),
                    kind: "sequences".into(),
                    items: seqs.len() as u64,
                    split: None,
                });
                skipped.extend(skips);
                sequences.extend(seqs);
            }
            _ => {
                let set = dataset::load_images(&kind, &opts.label_map, &opts.selection)?;
                datasets.push(DatasetInfo {
                    path: path.display().to_string(),
                    kind: if matches!(kind, DatasetKind::LabelsCsv(_)) { "labels_csv" } else { "class_folders" }.into(),
                    items: set.images.len() as u64,
                    split: opts.selection.split.clone(),
                });
                images = Some(match images.take() {
                    None if !many => set,
                    None => {
                        let mut all = ImageSet::new(PathBuf::from("."), None);
                        all.extend(set, &path.display().to_string());
                        all
                    }
                    Some(mut all) => {
                        all.extend(set, &path.display().to_string());
                        all
                    }
                });
            }
        }
    }
    if let Some(set) = &images {
        skipped.extend(set.skipped.iter().cloned());
    }
    for s in &sequences {
        skipped.extend(s.skipped.iter().cloned());
    }
    let n_images = images.as_ref().map_or(0, |s| s.images.len());
    if n_images == 0 && sequences.is_empty() {
        let first = opts.datasets.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
        let why = match &opts.selection.split {
            Some(s) => {
                format!("empty dataset: no usable image or sequence (split {s:?}; {} input(s) skipped)", skipped.len())
            }
            None => format!("empty dataset: no usable image or sequence ({} input(s) skipped)", skipped.len()),
        };
        return Err(EvalError::dataset(first, why));
    }
    Ok(Inputs { images: images.filter(|s| !s.images.is_empty()), sequences, datasets, skipped })
}

/// Scores of one model on all inputs.
struct Scored {
    images: Vec<Option<Scores>>,
    image_skips: Vec<Skip>,
    /// Per sequence: its scored frames, in time order.
    sequences: Vec<Vec<FrameScore>>,
    sequence_skips: Vec<Vec<Skip>>,
    frames: u64,
}

async fn score_all(
    scorer: &Arc<Scorer>,
    inputs: &Inputs,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<Scored, EvalError> {
    let mut out = Scored { images: vec![], image_skips: vec![], sequences: vec![], sequence_skips: vec![], frames: 0 };
    if let Some(set) = &inputs.images {
        let paths: Vec<PathBuf> = set.images.iter().map(|i| i.path.clone()).collect();
        let (s, p, c) = (scorer.clone(), progress.clone(), cancel.clone());
        let results = tokio::task::spawn_blocking(move || s.score_files(&paths, &p, &c))
            .await
            .map_err(|e| EvalError::invalid("scoring", format!("worker failed: {e}")))??;
        let labels_file = set.labels_file.clone().unwrap_or_else(|| set.root.clone());
        for (img, r) in set.images.iter().zip(results) {
            match r {
                Ok(fs) => {
                    out.frames += 1;
                    out.images.push(Some(fs.scores));
                }
                Err(f) => {
                    let file = if img.line.is_some() { labels_file.clone() } else { img.path.clone() };
                    let s = Skip::new(f.kind, &file, img.line, format!("{}: {}", img.name, f.reason));
                    s.log();
                    out.image_skips.push(s);
                    out.images.push(None);
                }
            }
        }
    }
    for seq in &inputs.sequences {
        let (frames, skips) = score_sequence(seq, scorer, progress, cancel).await?;
        out.frames += frames.len() as u64;
        out.sequences.push(frames);
        out.sequence_skips.push(skips);
    }
    Ok(out)
}

/// Reads one sequence through `FolderSource` and scores it in chunks.
pub async fn score_sequence(
    seq: &Sequence,
    scorer: &Arc<Scorer>,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<(Vec<FrameScore>, Vec<Skip>), EvalError> {
    let opts = FolderOptions { max_pixels: scorer.max_pixels(), ..FolderOptions::new(false, seq.manifest.fps, false) };
    let mut src =
        FolderSource::open(&seq.manifest.name, &seq.frames_dir, opts).map_err(|e| EvalError::Capture(e.to_string()))?;
    let mut by_key: HashMap<(PathBuf, Option<i64>), usize> = HashMap::new();
    let has_csv = src.entries().first().is_some_and(|e| e.timestamp_ms.is_some());
    for (i, r) in seq.frames.iter().enumerate() {
        by_key.insert((r.path.clone(), has_csv.then_some(r.timestamp_ms)), i);
    }
    let entry_row: Vec<Option<usize>> =
        src.entries().iter().map(|e| by_key.get(&(e.path.clone(), e.timestamp_ms)).copied()).collect();
    let mut seen = vec![false; seq.frames.len()];
    let mut scores = vec![];
    let mut skips = vec![];
    let mut batch = vec![];
    let mut rows = vec![];
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return Err(EvalError::Cancelled),
            r = src.next_frame() => r,
        };
        match next {
            Ok(mut f) => {
                let Some(row) = entry_row.get(f.seq as usize).copied().flatten() else {
                    continue;
                };
                f.captured_at = Timestamp(seq.frames[row].timestamp_ms);
                seen[row] = true;
                batch.push(f);
                rows.push(row);
            }
            Err(CaptureError::Ended) => break,
            Err(e) => return Err(EvalError::Capture(e.to_string())),
        }
        if batch.len() >= CHUNK {
            flush(seq, scorer, progress, cancel, &mut batch, &mut rows, &mut scores, &mut skips).await?;
        }
    }
    flush(seq, scorer, progress, cancel, &mut batch, &mut rows, &mut scores, &mut skips).await?;
    for (row, _) in seen.iter().enumerate().filter(|(_, s)| !**s) {
        let r = &seq.frames[row];
        let reason = match super::score::load_image_frame(&r.path, 0, Timestamp(0), scorer.max_pixels()) {
            Err(f) => f.reason,
            Ok(_) => "the folder source did not deliver it".into(),
        };
        progress.inc(1);
        let file = seq.frames_dir.join(crate::capture::folder::FRAMES_CSV);
        skips.push(Skip::new(SkipKind::Undecodable, &file, r.line, format!("frame {}: {reason}", r.file)));
    }
    scores.sort_by_key(|s: &FrameScore| s.captured_at);
    Ok((scores, skips))
}

#[allow(clippy::too_many_arguments)]
async fn flush(
    seq: &Sequence,
    scorer: &Arc<Scorer>,
    progress: &Progress,
    cancel: &CancellationToken,
    batch: &mut Vec<crate::domain::Frame>,
    rows: &mut Vec<usize>,
    scores: &mut Vec<FrameScore>,
    skips: &mut Vec<Skip>,
) -> Result<(), EvalError> {
    if batch.is_empty() {
        return Ok(());
    }
    let frames = std::mem::take(batch);
    let rws = std::mem::take(rows);
    let (s, p, c) = (scorer.clone(), progress.clone(), cancel.clone());
    let results = tokio::task::spawn_blocking(move || s.score_frames(&frames, &p, &c))
        .await
        .map_err(|e| EvalError::invalid("scoring", format!("worker failed: {e}")))??;
    for (row, r) in rws.into_iter().zip(results) {
        match r {
            Ok(fs) => scores.push(fs),
            Err(f) => {
                let fr = &seq.frames[row];
                let file = seq.frames_dir.join(crate::capture::folder::FRAMES_CSV);
                let s = Skip::new(f.kind, &file, fr.line, format!("frame {}: {}", fr.file, f.reason));
                s.log();
                skips.push(s);
            }
        }
    }
    Ok(())
}

fn frame_interval_ms(inputs: &[ReplayInput]) -> u64 {
    let mut gaps: Vec<f64> = inputs
        .iter()
        .flat_map(|i| i.frames.windows(2).map(|w| (w[1].captured_at.millis() - w[0].captured_at.millis()) as f64))
        .collect();
    gaps.retain(|g| *g > 0.0);
    super::metrics::quantile(&gaps, 0.5).map(|g| g.round() as u64).unwrap_or(0)
}

/// Runs the evaluation for each variant and builds the report.
pub async fn run(opts: &RunOptions, variants: &[Variant], cancel: &CancellationToken) -> Result<Report, EvalError> {
    if variants.is_empty() {
        return Err(EvalError::invalid("evaluation", "nothing to evaluate"));
    }
    let inputs = load_inputs(opts)?;
    // Score once per distinct model.
    let mut scored: Vec<(Arc<Scorer>, Arc<Scored>)> = vec![];
    let per_model = inputs.images.as_ref().map_or(0, |s| s.images.len())
        + inputs.sequences.iter().map(|s| s.frames.len()).sum::<usize>();
    let distinct = {
        let mut v: Vec<&Arc<Scorer>> = vec![];
        for var in variants {
            if !v.iter().any(|s| Arc::ptr_eq(s, &var.scorer)) {
                v.push(&var.scorer);
            }
        }
        v.len()
    };
    let progress =
        if opts.progress { Progress::new((per_model * distinct) as u64, "scoring") } else { Progress::hidden(0) };
    let t0 = Instant::now();
    for var in variants {
        if scored.iter().any(|(s, _)| Arc::ptr_eq(s, &var.scorer)) {
            continue;
        }
        let map = opts.label_map.clone().with_normal_class(&var.scorer.info().normal_label);
        let labels: Vec<Arc<str>> = var.scorer.info().labels.iter().map(|l| Arc::from(l.as_str())).collect();
        if inputs.images.is_some() {
            map.check_against(&labels)?;
        }
        let s = score_all(&var.scorer, &inputs, &progress, cancel).await?;
        scored.push((var.scorer.clone(), Arc::new(s)));
    }
    progress.finish();
    let scoring_s = t0.elapsed().as_secs_f64();
    let frames_scored: u64 = scored.iter().map(|(_, s)| s.frames).sum();
    let t1 = Instant::now();
    let expectations: Vec<Option<Arc<LayerPlan>>> =
        inputs.sequences.iter().map(|s| s.gcode.as_ref().map(|a| Arc::new(LayerPlan::from_analysis(a)))).collect();
    let mut runs = vec![];
    let mut skipped = inputs.skipped.clone();
    for (vi, var) in variants.iter().enumerate() {
        let Some((_, sc)) = scored.iter().find(|(s, _)| Arc::ptr_eq(s, &var.scorer)) else {
            continue;
        };
        let is_first_of_model = variants[..vi].iter().all(|v| !Arc::ptr_eq(&v.scorer, &var.scorer));
        let info = var.scorer.info().clone();
        let images = inputs.images.as_ref().map(|set| {
            let map = opts.label_map.clone().with_normal_class(&info.normal_label);
            let mut skips = set.skipped.clone();
            skips.extend(sc.image_skips.iter().cloned());
            let iopts = ImageOptions {
                threshold: var.image_threshold(),
                warning: Some(var.warning_threshold()),
                by: opts.by.clone(),
            };
            images::evaluate(set, &sc.images, &info.labels, map.pairs(), skips, &iopts)
        });
        if is_first_of_model {
            skipped.extend(sc.image_skips.iter().cloned());
            skipped.extend(sc.sequence_skips.iter().flatten().cloned());
        }
        let replay_inputs: Vec<ReplayInput> = inputs
            .sequences
            .iter()
            .zip(&sc.sequences)
            .zip(&expectations)
            .map(|((seq, frames), gcode)| ReplayInput {
                name: seq.manifest.name.clone(),
                camera: seq.manifest.camera.clone(),
                t0: seq.t0(),
                frames: frames.clone(),
                printer: seq.printer.clone(),
                gcode: gcode.clone(),
                onset_at: seq.onset_at(),
                failure: seq.manifest.label.failure,
                kind: seq.manifest.label.kind.clone(),
            })
            .collect();
        let params = var.params.clone().with_normal_label(&info.normal_label);
        let sequences = (!replay_inputs.is_empty()).then(|| {
            let outcomes = replay_all(&replay_inputs, &params, true);
            let summary = summarize(&replay_inputs, &outcomes);
            let reports = replay_inputs
                .iter()
                .zip(outcomes)
                .zip(inputs.sequences.iter().zip(&sc.sequence_skips))
                .map(|((inp, o), (seq, extra))| {
                    let mut sk = seq.skipped.clone();
                    sk.extend(extra.iter().cloned());
                    let meta = SequenceMeta {
                        dir: seq.dir.display().to_string(),
                        synthetic: seq.manifest.synthetic,
                        kind: seq.manifest.label.kind.clone(),
                        layer_count: seq.gcode.as_ref().and_then(|a| u32::try_from(a.layers.len()).ok()),
                        skipped: sk,
                    };
                    SequenceReport::new(inp, o, meta)
                })
                .collect();
            SequencesReport { summary, sequences: reports, geometry: None }
        });
        let sequences = match sequences {
            Some(mut s) => {
                s.geometry = geometry_report(&inputs.sequences, &params.geometry, &mut skipped);
                Some(s)
            }
            None => None,
        };
        let sweep_report = match (&opts.sweep, replay_inputs.is_empty()) {
            (Some(spec), false) => {
                let points = sweep(&replay_inputs, &params, spec);
                let chosen = choose(&points, &opts.rule);
                let mut written = None;
                if let (Some((dir, name)), Some(c)) = (&opts.write_calibration, &chosen) {
                    let cal = calibration_for(
                        &var.calibration,
                        &points[c.index],
                        name,
                        &info.name,
                        frame_interval_ms(&replay_inputs),
                    );
                    let path = write_calibration(dir, name, &cal, &points[c.index], &c.reason, &opts.command)?;
                    written = Some(path.display().to_string());
                }
                Some(SweepReport { points, rule: opts.rule, chosen, written })
            }
            _ => None,
        };
        let label = if variants.len() > 1 { var.label.clone() } else { info.name.clone() };
        runs.push(Run { label, model: info, decision: var.decision_info(), images, sequences, sweep: sweep_report });
    }
    let timing = Timing {
        frames_scored,
        scoring_s,
        frames_per_s: (scoring_s > 0.0).then(|| frames_scored as f64 / scoring_s),
        workers: variants.first().map_or(1, |v| v.scorer.workers()),
        replay_s: t1.elapsed().as_secs_f64(),
    };
    Ok(Report::new(opts.command.clone(), inputs.datasets, runs, skipped, timing))
}

/// Writes `dir/name.toml` with a header saying where the numbers come from.
pub fn write_calibration(
    dir: &Path,
    name: &str,
    cal: &Calibration,
    point: &super::sweep::SweepPoint,
    reason: &str,
    command: &str,
) -> Result<PathBuf, EvalError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(EvalError::invalid(format!("--write-calibration {name:?}"), "use letters, digits, - and _ only"));
    }
    let body = cal.to_toml_string().map_err(|e| EvalError::invalid("calibration", e.to_string()))?;
    let s = &point.summary;
    let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into());
    let header = format!(
        "# layerwatch operating point written by `layerwatch eval --sweep` (format: calibration/README.md).\n\
         # command: {command}\n\
         # chosen: {reason}\n\
         # at this point on the evaluated sequences: detection rate {} ({} of {} failures), median time to\n\
         # detection {} s (p90 {} s), {} layers; false pauses {} in {:.2} print-hours ({} per 100 h, 95 % upper bound \
             {}).\n\n",
        f(s.detection_rate),
        s.detected,
        s.failure_sequences,
        f(s.ttd_s.median),
        f(s.ttd_s.p90),
        f(s.ttd_layers.median),
        s.false_pauses.events,
        s.false_pauses.print_hours,
        f(s.false_pauses.per_100h),
        f(s.false_pauses.per_100h_upper95),
    );
    let text = format!("{header}{body}");
    Calibration::parse(&text, name).map_err(|e| EvalError::invalid("calibration", e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let path = dir.join(format!("{name}.toml"));
    super::dataset::manifest::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}
