//! `layerwatch eval <DATASET>…`: image metrics, sequence replays, sweeps and
//! model/config comparisons on recorded data; writes `report.json` (schema in
//! `docs/eval-report.md`) and a self-contained `report.html` to `--out`.
//!
//! Exit codes: 0 evaluated with every input used, 1 evaluated but some inputs
//! were skipped (listed in the report and on stderr), 2 usage or setup error
//! (no dataset, unreadable model, empty dataset…).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::Global;
use crate::config::Config;
use crate::decision::{Calibration, DecisionParams};
use crate::eval::dataset::Selection;
use crate::eval::images::Threshold;
use crate::eval::report::Report;
use crate::eval::sweep::{ChoiceRule, SweepSpec};
use crate::eval::taxonomy::LabelMap;
use crate::eval::{RunOptions, Scorer, Variant};
use crate::vision::{ClassifierOptions, Model};

#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// Datasets: a labels.csv (or its folder), class folders, a sequence folder, or a folder of sequences.
    #[arg(required = true)]
    pub datasets: Vec<PathBuf>,
    /// Model description (classifier.toml or .onnx with its .toml); default: [vision] model, else built-in.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Only rows of the labels file whose `split` column is this (train, val, test).
    #[arg(long)]
    pub split: Option<String>,
    /// Break image metrics down by these labels-file columns (repeat or comma-separate), e.g. source.
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// Map a dataset label onto a model class: LABEL=CLASS (repeatable), e.g. fail=other_failure.
    #[arg(long = "map", value_name = "LABEL=CLASS")]
    pub map: Vec<String>,
    /// Where report.json and report.html go.
    #[arg(long, default_value = "eval-out")]
    pub out: PathBuf,
    /// Image operating point (failure probability); default: the pause level at the configured sensitivity.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Overrides [decision] sensitivity.
    #[arg(long)]
    pub sensitivity: Option<f32>,
    /// Overrides [decision] calibration (a calibration/<name>.toml file).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Overrides [decision.adapt]: read scores relative to the print's first frames (`print`), the camera's
    /// memory of normal frames shared by the sequences of one camera (`camera`), both (`on`) or neither (`off`).
    #[arg(long, value_enum)]
    pub adapt: Option<AdaptMode>,
    /// Sweep the decision settings over the sequences (sensitivity 0.05..0.95 by default).
    #[arg(long)]
    pub sweep: bool,
    /// Sensitivities to sweep (comma-separated); implies --sweep.
    #[arg(long, value_delimiter = ',')]
    pub sweep_sensitivity: Vec<f32>,
    /// Calibrated pause levels to sweep as well; implies --sweep.
    #[arg(long, value_delimiter = ',')]
    pub sweep_pause: Vec<f32>,
    /// EWMA half-lives (s) to sweep as well; implies --sweep.
    #[arg(long, value_delimiter = ',')]
    pub sweep_half_life: Vec<f32>,
    /// The chosen point may have at most this many false pauses per 100 print-hours.
    #[arg(long, default_value_t = 1.0)]
    pub max_false_pauses: f64,
    /// Write the chosen sweep point to <calibration-dir>/<NAME>.toml.
    #[arg(long, value_name = "NAME")]
    pub write_calibration: Option<String>,
    /// Folder --write-calibration writes to.
    #[arg(long, default_value = "calibration")]
    pub calibration_dir: PathBuf,
    /// Two models or configs on the same frames: each a model (.toml with `onnx`, .onnx, or `builtin`)
    /// or a config file.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub compare: Vec<String>,
    /// Scoring worker threads (one ONNX session each); default: every core.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print the JSON report to stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// No progress bar or progress log lines.
    #[arg(long)]
    pub quiet: bool,
    /// Images with more pixels (read from the file header, before decoding) are skipped as undecodable
    /// (default: camera.max_pixels, 50000000).
    #[arg(long, value_name = "N")]
    pub max_pixels: Option<u64>,
}

const HELP: &str = "\
IMAGES: precision/recall/F1 at the operating point (the calibration's pause level moved by
[decision] sensitivity, or --threshold), ROC and PR (AUROC, AUPRC = average precision), recall at
3 % and 5 % FPR, ECE over 15 bins, the confusion matrix of the model's top class against the
dataset label mapped onto model classes (blobs/under_extrusion/cracks -> surface,
failure -> other_failure; --map adds more), and breakdowns --by any column.
SEQUENCES: each is replayed through the decision layer on its recorded clock; detection rate,
time to pause after the onset (s and layers), false warnings/pauses per print-hour.
EXAMPLES:
  layerwatch eval ../shared/datasets/print-failures --split test --by source --out target/eval/test
  layerwatch eval target/synth --sweep --write-calibration swept
  layerwatch eval datasets/samples --compare builtin other/classifier.toml";

/// One side of the evaluation: a model and a config.
struct Side {
    label: String,
    model: Option<PathBuf>,
    config: Config,
}

fn read_calibration(path: Option<&Path>) -> anyhow::Result<(Calibration, String)> {
    match path {
        None => Ok((Calibration::default(), "built-in default".into())),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("cannot read calibration {}", p.display()))?;
            let cal = Calibration::parse(&text, &p.display().to_string())?;
            Ok((cal, p.display().to_string()))
        }
    }
}

/// `--adapt`: which camera-relative baselines `eval` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdaptMode {
    On,
    Off,
    Print,
    Camera,
}

/// A `--compare` operand: `builtin`, a model description / .onnx, or a config file.
fn side(spec: &str, base: &Config, label: &str) -> anyhow::Result<Side> {
    if spec == "builtin" || spec == "built-in" {
        return Ok(Side { label: format!("{label}: built-in model"), model: None, config: base.clone() });
    }
    let p = PathBuf::from(spec);
    let is_model = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        || std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .is_some_and(|t| t.contains_key("onnx"));
    if is_model {
        return Ok(Side { label: format!("{label}: {spec}"), model: Some(p), config: base.clone() });
    }
    let cfg =
        Config::load(&p).with_context(|| format!("--compare {spec}: neither a model description nor a config file"))?;
    Ok(Side { label: format!("{label}: {spec}"), model: cfg.vision.model.clone(), config: cfg })
}

pub async fn run(a: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let base = g.load_config()?;
    let sides = if a.compare.len() == 2 {
        vec![side(&a.compare[0], &base, "A")?, side(&a.compare[1], &base, "B")?]
    } else {
        vec![Side {
            label: "run".into(),
            model: a.model.clone().or_else(|| base.vision.model.clone()),
            config: base.clone(),
        }]
    };
    let jobs = a.jobs.unwrap_or_else(crate::eval::score::default_workers).max(1);
    let mut scorers: Vec<(Option<PathBuf>, Option<crate::vision::Roi>, Arc<Scorer>)> = vec![];
    let mut variants = vec![];
    for s in sides {
        let model_path = s.model.clone();
        let roi = s.config.vision.roi;
        let scorer = match scorers.iter().find(|(m, r, _)| *m == model_path && *r == roi) {
            Some((_, _, sc)) => sc.clone(),
            None => {
                let model = Model::load(model_path.as_deref()).context("cannot load the model")?;
                let opts = ClassifierOptions::from(&s.config.vision);
                let sc = Scorer::onnx(model, &opts, jobs).context("cannot start the classifier")?;
                let sc = Arc::new(sc.with_max_pixels(a.max_pixels.unwrap_or(base.camera.max_pixels)));
                scorers.push((model_path, roi, sc.clone()));
                sc
            }
        };
        let cal_path = a.calibration.clone().or_else(|| s.config.decision.calibration.clone());
        let (calibration, calibration_source) = read_calibration(cal_path.as_deref())?;
        let mut params = DecisionParams::from_config(&s.config.decision, &calibration);
        if let Some(sens) = a.sensitivity {
            anyhow::ensure!((0.0..=1.0).contains(&sens), "--sensitivity {sens}: must be between 0 and 1");
            params = params.with_sensitivity(sens);
        }
        if let Some(mode) = a.adapt {
            params.adapt.print_baseline = matches!(mode, AdaptMode::On | AdaptMode::Print);
            params.adapt.camera_memory = matches!(mode, AdaptMode::On | AdaptMode::Camera);
        }
        let threshold = a.threshold.map(|v| Threshold { value: v, source: "--threshold".into() });
        variants.push(Variant { label: s.label, scorer, params, calibration, calibration_source, threshold });
    }
    let sweep =
        (a.sweep || !a.sweep_sensitivity.is_empty() || !a.sweep_pause.is_empty() || !a.sweep_half_life.is_empty())
            .then(|| {
                let mut spec = SweepSpec::default();
                if !a.sweep_sensitivity.is_empty() {
                    spec.sensitivities = a.sweep_sensitivity.clone();
                }
                spec.pause_levels = a.sweep_pause.clone();
                spec.half_lives = a.sweep_half_life.clone();
                spec
            });
    anyhow::ensure!(a.write_calibration.is_none() || sweep.is_some(), "--write-calibration needs --sweep");
    let opts = RunOptions {
        datasets: a.datasets.clone(),
        selection: Selection { split: a.split.clone() },
        label_map: LabelMap::with_overrides(&a.map)?,
        by: a.by.iter().map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()).collect(),
        sweep,
        rule: ChoiceRule { max_false_pauses_per_100h: a.max_false_pauses, ..ChoiceRule::default() },
        write_calibration: a.write_calibration.clone().map(|n| (a.calibration_dir.clone(), n)),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        progress: !a.quiet && !a.json,
    };
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c2.cancel();
        }
    });
    let report = crate::eval::run(&opts, &variants, &cancel).await?;
    let (json, html) = report.write(&a.out)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
        println!("report: {}\n        {}", json.display(), html.display());
    }
    for s in report.skipped.iter().take(20) {
        eprintln!("skipped: {s}");
    }
    if report.skipped.len() > 20 {
        eprintln!("skipped: … {} more (see the report)", report.skipped.len() - 20);
    }
    Ok(if report.skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn o(v: Option<f64>, d: usize) -> String {
    v.map(|v| format!("{v:.d$}")).unwrap_or_else(|| "n/a".into())
}

/// The text summary printed after a run.
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    for run in &r.runs {
        s.push_str(&format!(
            "== {} (calibration {}, sensitivity {:.2})\n",
            run.label, run.decision.calibration, run.decision.sensitivity
        ));
        if let Some(im) = &run.images {
            let c = &im.at_threshold;
            s.push_str(&format!(
                "images: {} ({} failures, {} normal)  AUROC {}  AUPRC {}  ECE {}  top-label ECE {}\n",
                im.images,
                im.failures,
                im.normals,
                o(im.auroc, 3),
                o(im.auprc, 3),
                o(im.ece, 3),
                o(im.ece_top_label, 3)
            ));
            s.push_str(&format!(
                "  at {:.3} ({}): precision {}  recall {}  F1 {}  FPR {}\n",
                im.threshold.value,
                im.threshold.source,
                o(c.precision, 3),
                o(c.recall, 3),
                o(c.f1, 3),
                o(c.fpr, 3)
            ));
            for p in &im.recall_at_fpr {
                s.push_str(&format!(
                    "  recall at {:.0} % FPR: {:.3} (threshold {:.4}, FPR {:.3})\n",
                    p.target_fpr * 100.0,
                    p.recall,
                    p.threshold,
                    p.fpr
                ));
            }
            s.push_str(&format!("  5-class accuracy {}  macro-F1 {}\n", o(im.accuracy, 3), o(im.macro_f1, 3)));
        }
        if let Some(sq) = &run.sequences {
            let m = &sq.summary;
            s.push_str(&format!(
                "sequences: {} ({} failure, {} normal)  detected {}/{} ({}): paused {}/{} pause kinds, warned {}/{} \
                    warn-only kinds\n",
                m.sequences, m.failure_sequences, m.normal_sequences, m.detected, m.detectable, o(m.detection_rate, 3),
                m.paused, m.pause_expected, m.warned, m.warning_expected
            ));
            s.push_str(&format!(
                "  time to detection: median {} s, p90 {} s; layers: median {}, p90 {}; time to pause (pause kinds): \
                    median {} s, p90 {} s\n",
                o(m.ttd_s.median, 1), o(m.ttd_s.p90, 1), o(m.ttd_layers.median, 1), o(m.ttd_layers.p90, 1),
                o(m.pause_ttd_s.median, 1), o(m.pause_ttd_s.p90, 1)
            ));
            s.push_str(&format!(
                "  false pauses: {} in {:.2} print-hours = {} per 100 h (95 % upper {}); false warnings {} ({} per \
                    100 h)\n",
                m.false_pauses.events,
                m.false_pauses.print_hours,
                o(m.false_pauses.per_100h, 2),
                o(m.false_pauses.per_100h_upper95, 1),
                m.false_warnings.events,
                o(m.false_warnings.per_100h, 1)
            ));
        }
        if let Some(sw) = &run.sweep {
            match &sw.chosen {
                Some(c) => s.push_str(&format!("sweep: {} settings; chosen: {}\n", sw.points.len(), c.reason)),
                None => s.push_str(&format!(
                    "sweep: {} settings; no point within the false-pause budget\n",
                    sw.points.len()
                )),
            }
            if let Some(w) = &sw.written {
                s.push_str(&format!("  calibration written: {w}\n"));
            }
        }
    }
    if let Some(c) = &r.comparison {
        s.push_str(&format!("== comparison {} vs {}\n", c.a, c.b));
        for d in &c.deltas {
            s.push_str(&format!(
                "  {:<36} A {:>8}  B {:>8}  B-A {:>9}  better {}\n",
                d.metric,
                o(d.a, 4),
                o(d.b, 4),
                d.delta.map(|v| format!("{v:+.4}")).unwrap_or_else(|| "n/a".into()),
                d.better.unwrap_or("-")
            ));
        }
    }
    s.push_str(&format!(
        "scored {} frames in {:.1} s on {} workers ({} frames/s); {} input(s) skipped\n",
        r.timing.frames_scored,
        r.timing.scoring_s,
        r.timing.workers,
        o(r.timing.frames_per_s, 1),
        r.skipped.len()
    ));
    s
}
