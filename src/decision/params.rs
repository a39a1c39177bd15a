//! `DecisionParams`: calibration + config resolved into one flat, cheap-to-clone
//! value, and the level arithmetic (sensitivity, per-kind and context scales).
//!
//! This is what `eval` sweeps: build one from a config and a calibration, then
//! change fields or call `with_sensitivity` and hand it to `Decider::new`.
//! Everything here is plain numbers; nothing is validated twice at run time —
//! `Decider::new` clamps what it must so that any value is safe.

use std::sync::Arc;

use super::adapt::AdaptParams;
use super::calibration::{Calibration, ClassAction, WINDOW_CAPACITY};
use super::config::{ClassOverride, DecisionConfig, HealthConfig};
use crate::domain::FailureKind;

/// Failure kinds in the order of every per-kind array (`kind_index`).
pub const KINDS: [FailureKind; 4] =
    [FailureKind::Spaghetti, FailureKind::Stringing, FailureKind::Surface, FailureKind::Other];

/// Position of `kind` in [`KINDS`] and in every per-kind array.
pub fn kind_index(kind: FailureKind) -> usize {
    match kind {
        FailureKind::Spaghetti => 0,
        FailureKind::Stringing => 1,
        FailureKind::Surface => 2,
        FailureKind::Other => 3,
    }
}

/// Highest level any scaling can produce: above it nothing could ever trip.
pub const MAX_LEVEL: f32 = 0.995;

/// Per-kind behaviour, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassParams {
    pub action: ClassAction,
    pub warning_scale: f32,
    pub pause_scale: f32,
    pub airborne_scale: f32,
}

/// Everything the decider needs, flat. Field meanings are those of the
/// calibration file (`calibration/README.md`) and `[decision]` (`DecisionConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionParams {
    /// 0 = never raise anything, 0.5 = calibrated, 1 = most eager.
    pub sensitivity: f32,
    pub warning_level: f32,
    pub pause_level: f32,
    pub hysteresis: f32,
    pub sensitivity_span: f32,
    pub half_life_s: f32,
    pub max_step_s: f32,
    pub reset_after_s: f32,
    pub window_k: u32,
    pub window_n: u32,
    pub fast_level: f32,
    pub fast_frames: u32,
    pub fast_min_s: f32,
    pub strict_level_scale: f32,
    pub tiny_part_level_scale: f32,
    pub tiny_part_extruded_mm: f32,
    pub tiny_part_footprint_mm2: f32,
    pub airborne_share: f32,
    /// Indexed by [`kind_index`].
    pub classes: [ClassParams; 4],
    pub warmup_layers: u32,
    pub strict_layers: u32,
    pub warmup_fallback_s: u32,
    pub strict_fallback_s: u32,
    pub quiet_layers: u32,
    pub quiet_fallback_s: u32,
    pub learn_offset: bool,
    pub max_offset: f32,
    pub health: HealthConfig,
    /// How scores are read relative to the camera and the print.
    pub adapt: AdaptParams,
    /// The geometry checks' thresholds (used where the camera is calibrated).
    pub geometry: super::geometry::GeometryConfig,
    /// The model's label for "no failure" (`normal_label` in `classifier.toml`);
    /// its probability is not counted towards any failure kind.
    pub normal_label: Arc<str>,
}

impl Default for DecisionParams {
    /// `from_config` of the default config and the built-in calibration.
    fn default() -> Self {
        DecisionParams::from_config(&DecisionConfig::default(), &Calibration::default())
    }
}

impl DecisionParams {
    /// The calibration with the config's overrides and policy applied. The
    /// normal label defaults to `normal`; set `normal_label` from the model.
    pub fn from_config(cfg: &DecisionConfig, cal: &Calibration) -> DecisionParams {
        let class = |kind: FailureKind, o: &ClassOverride| {
            let c = cal.classes.get(kind);
            ClassParams {
                action: o.action.unwrap_or(c.action),
                warning_scale: o.warning_scale.unwrap_or(c.warning_scale),
                pause_scale: o.pause_scale.unwrap_or(c.pause_scale),
                airborne_scale: c.airborne_scale,
            }
        };
        let window_n = cfg.window_n.unwrap_or(cal.window.n);
        DecisionParams {
            sensitivity: cfg.sensitivity,
            warning_level: cfg.warning_level.unwrap_or(cal.levels.warning),
            pause_level: cfg.pause_level.unwrap_or(cal.levels.pause),
            hysteresis: cal.levels.hysteresis,
            sensitivity_span: cal.levels.sensitivity_span,
            half_life_s: cfg.half_life_s.unwrap_or(cal.smoothing.half_life_s),
            max_step_s: cal.smoothing.max_step_s,
            reset_after_s: cal.smoothing.reset_after_s,
            window_k: cfg.window_k.unwrap_or(cal.window.k).min(window_n),
            window_n,
            fast_level: cfg.fast_level.unwrap_or(cal.fast.level),
            fast_frames: cal.fast.frames,
            fast_min_s: cal.fast.min_s,
            strict_level_scale: cal.context.strict_level_scale,
            tiny_part_level_scale: cal.context.tiny_part_level_scale,
            tiny_part_extruded_mm: cal.context.tiny_part_extruded_mm,
            tiny_part_footprint_mm2: cal.context.tiny_part_footprint_mm2,
            airborne_share: cal.context.airborne_share,
            classes: [
                class(FailureKind::Spaghetti, &cfg.classes.spaghetti),
                class(FailureKind::Stringing, &cfg.classes.stringing),
                class(FailureKind::Surface, &cfg.classes.surface),
                class(FailureKind::Other, &cfg.classes.other),
            ],
            warmup_layers: cfg.warmup_layers,
            strict_layers: cfg.strict_layers,
            warmup_fallback_s: cfg.warmup_fallback_s,
            strict_fallback_s: cfg.strict_fallback_s,
            quiet_layers: cfg.quiet_layers,
            quiet_fallback_s: cfg.quiet_fallback_s,
            learn_offset: cfg.learn_offset,
            max_offset: cfg.max_offset,
            health: cfg.health,
            adapt: cfg.adapt,
            geometry: cfg.geometry.clone(),
            normal_label: Arc::from("normal"),
        }
    }

    /// The same parameters at another sensitivity (clamped to 0..=1).
    pub fn with_sensitivity(mut self, sensitivity: f32) -> Self {
        self.sensitivity = if sensitivity.is_nan() { 0.5 } else { sensitivity.clamp(0.0, 1.0) };
        self
    }

    /// The same parameters for a model whose "no failure" class has this label.
    pub fn with_normal_label(mut self, label: &str) -> Self {
        self.normal_label = Arc::from(label);
        self
    }

    /// `level` moved by the sensitivity: in logit space, by `sensitivity_span`
    /// logits per 0.5 of sensitivity, down for more eager. Sensitivity 0 gives
    /// `f32::INFINITY` (never reached).
    pub fn sensitized(&self, level: f32) -> f32 {
        sensitize(level, self.sensitivity, self.sensitivity_span)
    }

    /// Window rule and fast path sizes, clamped to what the decider can hold.
    pub(crate) fn window(&self) -> (u32, u32) {
        let n = self.window_n.clamp(1, WINDOW_CAPACITY as u32);
        (self.window_k.clamp(1, n), n)
    }
}

/// See [`DecisionParams::sensitized`].
pub fn sensitize(level: f32, sensitivity: f32, span: f32) -> f32 {
    if sensitivity.is_nan() || sensitivity <= 0.0 {
        return f32::INFINITY;
    }
    let level = level.clamp(1e-4, 1.0 - 1e-4);
    let logit = (level / (1.0 - level)).ln();
    let shifted = logit - span * (sensitivity.min(1.0) - 0.5) * 2.0;
    1.0 / (1.0 + (-shifted).exp())
}

/// `level × scale`, capped at [`MAX_LEVEL`]; infinity stays infinity.
pub fn scale_level(level: f32, scale: f32) -> f32 {
    if level.is_infinite() { level } else { (level * scale).min(MAX_LEVEL) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitivity_half_is_the_calibrated_level() {
        assert!((sensitize(0.7, 0.5, 1.0) - 0.7).abs() < 1e-6);
    }

    #[test]
    fn sensitivity_moves_levels_monotonically_and_zero_means_never() {
        let levels: Vec<f32> = [0.1, 0.25, 0.5, 0.75, 1.0].iter().map(|&s| sensitize(0.7, s, 1.0)).collect();
        assert!(levels.windows(2).all(|w| w[0] > w[1]), "{levels:?}");
        assert!(levels.iter().all(|l| *l > 0.0 && *l < 1.0));
        assert_eq!(sensitize(0.7, 0.0, 1.0), f32::INFINITY);
        assert_eq!(sensitize(0.7, f32::NAN, 1.0), f32::INFINITY);
    }

    #[test]
    fn overrides_win_over_the_calibration() {
        let cfg = DecisionConfig {
            pause_level: Some(0.6),
            window_k: Some(9),
            classes: super::super::config::ClassOverrides {
                stringing: ClassOverride { action: Some(ClassAction::Pause), ..Default::default() },
                ..Default::default()
            },
            ..Default::default()
        };
        let p = DecisionParams::from_config(&cfg, &Calibration::default());
        assert_eq!(p.pause_level, 0.6);
        assert_eq!(p.window_k, p.window_n, "k is clamped to n");
        assert_eq!(p.classes[kind_index(FailureKind::Stringing)].action, ClassAction::Pause);
        assert_eq!(p.warning_level, Calibration::default().levels.warning);
    }
}
