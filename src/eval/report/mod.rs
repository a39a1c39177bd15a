//! The evaluation report: a JSON document with a stable schema
//! (`layerwatch.eval.report`, `schema_version` 1, documented in
//! `docs/eval-report.md`; fields are only added within a version) and a
//! self-contained HTML page drawn from the same data with inline SVG
//! (`svg`, `html`). No JavaScript, no external CSS or fonts.

pub mod html;
pub mod svg;

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{EvalError, Skip, count_by_kind};
use super::images::ImageReport;
use super::score::ModelInfo;
use super::sequences::{SequenceReport, SequenceSummary};
use super::sweep::{Choice, ChoiceRule, SweepPoint};

/// Identifies the document type.
pub const SCHEMA: &str = "layerwatch.eval.report";
/// Bumped only when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub schema_version: u32,
    /// RFC 3339; metadata only (no metric depends on the clock).
    pub generated_at: String,
    pub tool: String,
    /// The command line that produced it.
    pub command: String,
    pub datasets: Vec<DatasetInfo>,
    /// One run per model/config; two with `--compare`.
    pub runs: Vec<Run>,
    pub comparison: Option<super::compare::Comparison>,
    /// Every input left out, from every dataset (also listed per run section).
    pub skipped: Vec<Skip>,
    pub skipped_by_kind: std::collections::BTreeMap<&'static str, usize>,
    pub timing: Timing,
}

/// A dataset given on the command line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetInfo {
    pub path: String,
    /// `labels_csv`, `class_folders` or `sequences`.
    pub kind: String,
    /// Images or sequences used.
    pub items: u64,
    pub split: Option<String>,
}

/// The decision settings a run used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionInfo {
    /// Calibration name and where it came from (`built-in default` or a path).
    pub calibration: String,
    pub calibration_source: String,
    pub sensitivity: f32,
    /// Calibrated levels (at sensitivity 0.5).
    pub warning_level: f32,
    pub pause_level: f32,
    pub fast_level: f32,
    pub half_life_s: f32,
    pub window: (u32, u32),
    /// Levels after sensitivity, before per-kind and context scales.
    pub effective_warning_level: f32,
    pub effective_pause_level: f32,
    /// How scores were read relative to the camera and the print (`[decision.adapt]`).
    pub adapt: crate::decision::AdaptParams,
}

/// The sweep section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    pub points: Vec<SweepPoint>,
    pub rule: ChoiceRule,
    pub chosen: Option<Choice>,
    /// The calibration file written, when asked.
    pub written: Option<String>,
}

/// The sequences section of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequencesReport {
    pub summary: SequenceSummary,
    pub sequences: Vec<SequenceReport>,
    /// The geometry checks on sequences with a camera file (absent when none has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<super::geometry::GeometrySummary>,
}

/// Everything measured for one model + decision setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// `A`/`B` in comparisons, else the model name.
    pub label: String,
    pub model: ModelInfo,
    pub decision: DecisionInfo,
    pub images: Option<ImageReport>,
    pub sequences: Option<SequencesReport>,
    pub sweep: Option<SweepReport>,
}

/// How long scoring took (wall clock, not part of any metric).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Timing {
    pub frames_scored: u64,
    pub scoring_s: f64,
    pub frames_per_s: Option<f64>,
    pub workers: usize,
    pub replay_s: f64,
}

impl Report {
    pub fn new(
        command: String,
        datasets: Vec<DatasetInfo>,
        runs: Vec<Run>,
        skipped: Vec<Skip>,
        timing: Timing,
    ) -> Report {
        let comparison = (runs.len() == 2).then(|| super::compare::compare(&runs[0], &runs[1]));
        Report {
            schema: SCHEMA,
            schema_version: SCHEMA_VERSION,
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            tool: format!("layerwatch {}", env!("CARGO_PKG_VERSION")),
            command,
            datasets,
            skipped_by_kind: count_by_kind(&skipped),
            runs,
            comparison,
            skipped,
            timing,
        }
    }

    /// Writes `report.json` and `report.html` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), EvalError> {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        let json_path = dir.join("report.json");
        let json = serde_json::to_vec_pretty(self).map_err(|e| EvalError::invalid("report", e.to_string()))?;
        super::dataset::manifest::write_atomic(&json_path, &json)?;
        let html_path = dir.join("report.html");
        super::dataset::manifest::write_atomic(&html_path, html::render(self).as_bytes())?;
        Ok((json_path, html_path))
    }
}
