//! `[vision]` section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;

/// Region of interest as fractions of the frame (0..=1), origin top-left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roi {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// Which of the two built-in models runs (`vision.precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The trained float32 network (`models/classifier.onnx`).
    #[default]
    Fp32,
    /// Its static int8 quantisation (`models/classifier-int8.onnx`), for small CPUs; see the model card
    /// for its fidelity and speed against fp32.
    Int8,
}

/// `[vision]`: which model, which runtime, which part of the picture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionConfig {
    /// Model description (`classifier.toml`); unset means the model built into the binary.
    pub model: Option<PathBuf>,
    /// Which built-in model runs when `model` is unset.
    pub precision: Precision,
    /// ONNX Runtime shared library; unset means `ORT_DYLIB_PATH`, then next to the binary, then the
    /// checkout's `.tools/ort/`, then `/usr/local/lib/layerwatch`, `/usr/lib/layerwatch` (the Debian package)
    /// and the system library folders (see `vision::runtime`).
    pub ort_library: Option<PathBuf>,
    /// Threads ONNX Runtime may use for one inference.
    pub threads: usize,
    /// Only this part of the frame is classified.
    pub roi: Option<Roi>,
    /// With a calibrated camera (`camera.geometry`) and no fixed `roi`: also classify a crop of the
    /// expected print plus a margin while printing; the frame's score is the higher of the two passes.
    pub crop_to_print: bool,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            model: None,
            precision: Precision::default(),
            ort_library: None,
            threads: 1,
            roi: None,
            crop_to_print: true,
        }
    }
}

impl VisionConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.threads"), self.threads, 1, 64);
        if self.model.is_some() && self.precision != Precision::default() {
            out.push(
                format!("{p}.precision"),
                self.precision,
                "chooses between the built-in models; with vision.model set, name that model's own file instead",
            );
        }
        if let Some(r) = self.roi {
            let ok = [r.x, r.y, r.w, r.h].iter().all(|v| (0.0..=1.0).contains(v))
                && r.w > 0.01
                && r.h > 0.01
                && r.x + r.w <= 1.0 + 1e-6
                && r.y + r.h <= 1.0 + 1e-6;
            if !ok {
                out.push(
                    format!("{p}.roi"),
                    r,
                    "must be fractions of the frame with x+w <= 1, y+h <= 1 and w, h > 0.01",
                );
            }
        }
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.model, &mut self.ort_library].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}
