//! `[decision]` section: sensitivity, which calibration file, single-value
//! overrides of it, and the owner's policy (warm-up and quiet layers, what each
//! failure kind may do, health-check limits).
//!
//! The operating point (levels, smoothing, window) lives in the calibration
//! file that `eval` writes; this section only points at it and overrides
//! single values. `DecisionParams::from_config` combines the two.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::adapt::AdaptParams;
use super::calibration::{ClassAction, WINDOW_CAPACITY};
use super::geometry::GeometryConfig;
use crate::config_issues::Issues;

/// `[decision]`: how eager the daemon is to call a failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionConfig {
    /// One user-facing knob, 0 (never) ..= 1 (most eager); 0.5 is the calibrated default.
    pub sensitivity: f32,
    /// Operating-point file (`calibration/<name>.toml`, relative to the config file);
    /// unset means the built-in default, identical to `calibration/default.toml`.
    pub calibration: Option<PathBuf>,
    /// Overrides `levels.warning` of the calibration.
    pub warning_level: Option<f32>,
    /// Overrides `levels.pause` of the calibration.
    pub pause_level: Option<f32>,
    /// Overrides `fast.level` of the calibration.
    pub fast_level: Option<f32>,
    /// Overrides `smoothing.half_life_s` of the calibration.
    pub half_life_s: Option<f32>,
    /// Overrides `window.k` of the calibration.
    pub window_k: Option<u32>,
    /// Overrides `window.n` of the calibration.
    pub window_n: Option<u32>,
    /// The first layers (0-based, so `2` means layers 0 and 1) are not judged.
    pub warmup_layers: u32,
    /// After warm-up, this many layers are judged with levels × `context.strict_level_scale`.
    pub strict_layers: u32,
    /// When the printer reports no layer: seconds of printing not judged…
    pub warmup_fallback_s: u32,
    /// …then seconds judged strictly.
    pub strict_fallback_s: u32,
    /// Layers not judged after a resume or a "not a failure".
    pub quiet_layers: u32,
    /// When the printer reports no layer: seconds not judged after a resume or a "not a failure".
    pub quiet_fallback_s: u32,
    /// On "not a failure", learn this print's baseline from the scores just seen.
    pub learn_offset: bool,
    /// The largest baseline that may be learned (0..0.9).
    pub max_offset: f32,
    /// What each failure kind may do, over the calibration's choice.
    pub classes: ClassOverrides,
    pub health: HealthConfig,
    /// Reading scores relative to the camera and the print (`[decision.adapt]`).
    pub adapt: AdaptParams,
    /// The geometry checks' thresholds (`[decision.geometry]`; used where the camera is calibrated).
    pub geometry: GeometryConfig,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            sensitivity: 0.5,
            calibration: None,
            warning_level: None,
            pause_level: None,
            fast_level: None,
            half_life_s: None,
            window_k: None,
            window_n: None,
            warmup_layers: 2,
            strict_layers: 3,
            warmup_fallback_s: 600,
            strict_fallback_s: 900,
            quiet_layers: 3,
            quiet_fallback_s: 600,
            learn_offset: true,
            max_offset: 0.8,
            classes: ClassOverrides::default(),
            health: HealthConfig::default(),
            adapt: AdaptParams::default(),
            geometry: GeometryConfig::default(),
        }
    }
}

/// `[decision.classes]`: one optional table per failure kind.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassOverrides {
    pub spaghetti: ClassOverride,
    pub stringing: ClassOverride,
    pub surface: ClassOverride,
    pub other: ClassOverride,
}

/// `[decision.classes.<kind>]`: e.g. `action = "pause"` for stringing.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassOverride {
    pub action: Option<ClassAction>,
    pub warning_scale: Option<f32>,
    pub pause_scale: Option<f32>,
}

/// `[decision.health]`: limits of the model-free cross-checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Frames whose region of interest is darker than this (0..255) are not judged.
    pub dark_brightness: f32,
    /// `camera_dark` is reported after this many seconds of dark frames while printing.
    pub dark_after_s: u32,
    /// `camera_frozen`: the picture stayed identical while the printer advanced this many layers…
    pub frozen_after_layers: u32,
    /// …or raised Z by this many mm (when it reports no layer)…
    pub frozen_after_z_mm: f32,
    /// …or, when it reports neither, for this many seconds of printing.
    pub frozen_fallback_s: u32,
    /// `camera_silent`: no frame for this many seconds while printing.
    pub silent_after_s: u32,
    /// `printer_stalled`: file position / progress unchanged this long while printing…
    pub stall_after_s: u32,
    /// …or, when the printer reports only a layer or Z, that unchanged this long.
    pub stall_layer_only_s: u32,
    /// `activity_after_end`: the picture kept changing this long after the print ended.
    pub activity_after_end_s: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            dark_brightness: 12.0,
            dark_after_s: 20,
            frozen_after_layers: 1,
            frozen_after_z_mm: 1.0,
            frozen_fallback_s: 180,
            silent_after_s: 60,
            stall_after_s: 600,
            stall_layer_only_s: 2700,
            activity_after_end_s: 180,
        }
    }
}

impl DecisionConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.sensitivity"), self.sensitivity, 0.0, 1.0);
        self.geometry.validate(&format!("{p}.geometry"), out);
        if let Some(path) = &self.calibration
            && path.as_os_str().is_empty()
        {
            out.push(format!("{p}.calibration"), path, "must name a file (or be left out for the default)");
        }
        for (key, v) in
            [("warning_level", self.warning_level), ("pause_level", self.pause_level), ("fast_level", self.fast_level)]
        {
            if let Some(v) = v
                && !(v > 0.0 && v <= 1.0)
            {
                out.push(format!("{p}.{key}"), v, "must be above 0 and at most 1");
            }
        }
        if let (Some(w), Some(pl)) = (self.warning_level, self.pause_level)
            && w >= pl
        {
            out.push(format!("{p}.warning_level"), w, format!("must be below decision.pause_level ({pl})"));
        }
        if let Some(h) = self.half_life_s {
            out.range(format!("{p}.half_life_s"), h, 0.1, 3600.0);
        }
        if let Some(n) = self.window_n {
            out.range(format!("{p}.window_n"), n, 1, WINDOW_CAPACITY as u32);
        }
        if let Some(k) = self.window_k {
            let n = self.window_n.unwrap_or(WINDOW_CAPACITY as u32);
            out.range(format!("{p}.window_k"), k, 1, n);
        }
        out.range(format!("{p}.warmup_layers"), self.warmup_layers, 0, 1000);
        out.range(format!("{p}.strict_layers"), self.strict_layers, 0, 1000);
        out.range(format!("{p}.quiet_layers"), self.quiet_layers, 0, 1000);
        out.range(format!("{p}.warmup_fallback_s"), self.warmup_fallback_s, 0, 86_400);
        out.range(format!("{p}.strict_fallback_s"), self.strict_fallback_s, 0, 86_400);
        out.range(format!("{p}.quiet_fallback_s"), self.quiet_fallback_s, 0, 86_400);
        out.range(format!("{p}.max_offset"), self.max_offset, 0.0, 0.9);
        for (name, c) in [
            ("spaghetti", &self.classes.spaghetti),
            ("stringing", &self.classes.stringing),
            ("surface", &self.classes.surface),
            ("other", &self.classes.other),
        ] {
            if let Some(v) = c.warning_scale {
                out.range(format!("{p}.classes.{name}.warning_scale"), v, 0.1, 3.0);
            }
            if let Some(v) = c.pause_scale {
                out.range(format!("{p}.classes.{name}.pause_scale"), v, 0.1, 3.0);
            }
        }
        let a = &self.adapt;
        let ap = format!("{p}.adapt");
        out.range(format!("{ap}.print_frames"), a.print_frames, 1, 64);
        out.range(format!("{ap}.camera_min_scores"), a.camera_min_scores, 1, super::adapt::MEMORY_CAPACITY as u32);
        out.range(format!("{ap}.quantile"), a.quantile, 0.0, 1.0);
        out.range(format!("{ap}.reference"), a.reference, 0.01, 0.9);
        out.range(format!("{ap}.max_shift"), a.max_shift, 0.0, 8.0);
        out.range(format!("{ap}.camera_tolerance"), a.camera_tolerance, 0.0, 8.0);
        let h = &self.health;
        let hp = format!("{p}.health");
        out.range(format!("{hp}.dark_brightness"), h.dark_brightness, 0.0, 255.0);
        out.range(format!("{hp}.dark_after_s"), h.dark_after_s, 0, 86_400);
        out.range(format!("{hp}.frozen_after_layers"), h.frozen_after_layers, 1, 1000);
        out.range(format!("{hp}.frozen_after_z_mm"), h.frozen_after_z_mm, 0.05, 1000.0);
        out.range(format!("{hp}.frozen_fallback_s"), h.frozen_fallback_s, 10, 86_400);
        out.range(format!("{hp}.silent_after_s"), h.silent_after_s, 5, 86_400);
        out.range(format!("{hp}.stall_after_s"), h.stall_after_s, 30, 86_400);
        out.range(format!("{hp}.stall_layer_only_s"), h.stall_layer_only_s, 30, 86_400);
        out.range(format!("{hp}.activity_after_end_s"), h.activity_after_end_s, 10, 86_400);
    }

    /// Makes a relative `calibration` path relative to the config file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &mut self.calibration
            && p.is_relative()
            && !p.as_os_str().is_empty()
        {
            *p = base.join(&*p);
        }
    }
}
