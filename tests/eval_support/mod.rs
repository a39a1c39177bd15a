//! Helpers shared by the `tests/eval_*.rs` suites: paths, the real model on a
//! scoring pool, run options, a sliced-style G-code file, synthetic sequences
//! from `datasets/samples/`, and headless Chromium.
#![allow(dead_code)]

#[path = "../printer_support/gcode.rs"]
pub mod gcode;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use layerwatch::decision::{Calibration, DecisionParams};
use layerwatch::eval::dataset::Selection;
use layerwatch::eval::sweep::ChoiceRule;
use layerwatch::eval::synth::{Noise, SynthOptions};
use layerwatch::eval::taxonomy::LabelMap;
use layerwatch::eval::{RunOptions, Scorer, Variant};
use layerwatch::vision::{ClassifierOptions, Model};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn samples() -> PathBuf {
    let p = repo().join("datasets/samples");
    assert!(p.join("labels.csv").is_file(), "datasets/samples/labels.csv is missing from the checkout");
    p
}

/// The ONNX Runtime library of the set-up; fails with the fix when missing.
pub fn require_ort() {
    let p = repo().join(".tools/ort/libonnxruntime.so");
    assert!(p.is_file(), "ONNX Runtime is missing at {}: run `scripts/setup.sh test` first", p.display());
}

/// The built-in model on two workers, shared by the tests of one binary.
pub fn scorer() -> Arc<Scorer> {
    static S: OnceLock<Arc<Scorer>> = OnceLock::new();
    S.get_or_init(|| {
        require_ort();
        let model = Model::built_in().expect("built-in model");
        Arc::new(Scorer::onnx(model, &ClassifierOptions::default(), 2).expect("classifier on ONNX Runtime"))
    })
    .clone()
}

pub fn variant(scorer: Arc<Scorer>) -> Variant {
    Variant {
        label: "run".into(),
        scorer,
        params: DecisionParams::default(),
        calibration: Calibration::default(),
        calibration_source: "built-in default".into(),
        threshold: None,
    }
}

pub fn options(datasets: &[&Path]) -> RunOptions {
    RunOptions {
        datasets: datasets.iter().map(|p| p.to_path_buf()).collect(),
        selection: Selection::default(),
        label_map: LabelMap::default(),
        by: vec![],
        sweep: None,
        rule: ChoiceRule::default(),
        write_calibration: None,
        command: "test".into(),
        progress: false,
    }
}

/// A PrusaSlicer-flavoured print file with `layers` layers in `dir`.
pub fn gcode_file(dir: &Path, layers: u32) -> PathBuf {
    let text = gcode::generate(&gcode::Spec { layers, moves_per_layer: 12, ..gcode::Spec::default() });
    let p = dir.join("print.gcode");
    std::fs::write(&p, text).expect("write g-code");
    p
}

/// Synthetic sequences from `datasets/samples` (small frames, fast).
pub fn synth(out: &Path, gcode: &Path, count: usize, frames: usize, seed: u64, noise: bool) -> SynthOptions {
    let mut o = SynthOptions::new(&samples(), gcode, out);
    o.count = count;
    o.frames = frames;
    o.seed = seed;
    o.width = 320;
    o.height = 240;
    o.heat_frames = 1;
    if !noise {
        o.noise = Noise::none();
    }
    o
}

/// Headless Chromium from Debian; fails with the fix when missing.
pub fn chromium() -> PathBuf {
    let p = PathBuf::from("/usr/bin/chromium");
    assert!(p.is_file(), "Chromium is missing at /usr/bin/chromium: run `scripts/setup.sh test` first");
    p
}

/// Runs headless Chromium on `url` with the flags that keep it off the network.
pub fn chromium_cmd(profile: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ]);
    c.arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The `layerwatch` binary built for the integration tests.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_layerwatch"));
    c.current_dir(repo());
    c
}
