//! The options that shape the synthetic sequences (sizes, timing, onset,
//! failure share, camera effects, seed) with their defaults, and the summary
//! of what was generated.

use std::path::{Path, PathBuf};

use super::pools::Filter;
use crate::eval::dataset::Selection;
use crate::eval::taxonomy::LabelMap;

/// Camera effects and how often they happen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Amplitude of the slow brightness drift (0.08 = ±8 %).
    pub drift: f64,
    /// Standard deviation of per-frame brightness flicker.
    pub flicker: f64,
    /// Chance per sequence of a frozen run (3–8 identical frames).
    pub frozen_p: f64,
    /// Chance per sequence of a dark run (2–5 frames at 4 % brightness).
    pub dark_p: f64,
    /// Chance per sequence of a hand in view (1–3 frames).
    pub hand_p: f64,
    /// Chance per frame of a shake, and its size in pixels (standard deviation).
    pub shake_p: f64,
    pub shake_px: f64,
}

impl Noise {
    pub fn realistic() -> Noise {
        Noise { drift: 0.08, flicker: 0.02, frozen_p: 0.3, dark_p: 0.2, hand_p: 0.3, shake_p: 0.15, shake_px: 3.0 }
    }

    pub fn none() -> Noise {
        Noise { drift: 0.0, flicker: 0.0, frozen_p: 0.0, dark_p: 0.0, hand_p: 0.0, shake_p: 0.0, shake_px: 0.0 }
    }
}

/// Everything that shapes the generated sequences.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Labelled images (format a).
    pub images: PathBuf,
    pub selection: Selection,
    pub filters: Vec<Filter>,
    /// A file listing the image names (as in the labels file) to use, one per line.
    pub pick: Option<PathBuf>,
    pub label_map: LabelMap,
    pub gcode: PathBuf,
    /// Parent folder of the sequences, or with `single` the sequence folder itself.
    pub out: PathBuf,
    pub single: bool,
    /// Sequence name (single) or name prefix.
    pub name: String,
    pub count: usize,
    /// Share of sequences with a failure.
    pub failure_share: f64,
    pub frames: usize,
    pub interval_ms: u64,
    /// Onset as a share of the frames, drawn uniformly from this range.
    pub onset: (f64, f64),
    /// Failure labels to draw from (dataset labels); empty = all failure labels present.
    pub kinds: Vec<String>,
    pub width: u32,
    pub height: u32,
    pub quality: (i32, i32),
    /// Largest JPEG per frame in bytes (quality is lowered to fit); 0 = no limit.
    pub max_frame_bytes: usize,
    /// Frames while the printer is still heating.
    pub heat_frames: usize,
    /// Frames after the onset over which failure frames become the rule.
    pub ramp_frames: usize,
    pub noise: Noise,
    pub seed: u64,
    /// Capture time of the first frame (Unix ms); fixed so output is reproducible.
    pub start_ms: i64,
    /// Print seconds per sequence second; `None` fits the print to the sequence.
    pub time_scale: Option<f64>,
    /// Licence / attribution text for the manifest (else built from the labels file's columns).
    pub attribution: Option<String>,
    /// The command line, for the manifest.
    pub command: String,
}

impl SynthOptions {
    pub fn new(images: &Path, gcode: &Path, out: &Path) -> SynthOptions {
        SynthOptions {
            images: images.to_path_buf(),
            selection: Selection::default(),
            filters: vec![],
            pick: None,
            label_map: LabelMap::default(),
            gcode: gcode.to_path_buf(),
            out: out.to_path_buf(),
            single: false,
            name: "synth".into(),
            count: 10,
            failure_share: 0.5,
            frames: 120,
            interval_ms: 2000,
            onset: (0.35, 0.65),
            kinds: vec![],
            width: 640,
            height: 480,
            quality: (60, 85),
            max_frame_bytes: 0,
            heat_frames: 2,
            ramp_frames: 0,
            noise: Noise::realistic(),
            seed: 1,
            start_ms: 1_767_225_600_000,
            time_scale: None,
            attribution: None,
            command: String::new(),
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct SynthSummary {
    pub sequences: Vec<PathBuf>,
    pub frames: usize,
    pub failures: usize,
    /// Distinct source images used.
    pub source_images: usize,
}
