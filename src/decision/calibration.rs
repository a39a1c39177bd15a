//! The operating point: `calibration/<name>.toml`, its serde types, parsing
//! with errors that name the key, line and value, and semantic validation.
//!
//! `eval` writes these files from a parameter sweep; the daemon reads one
//! (`[decision] calibration = "…"`). `Calibration::default()` is the built-in
//! operating point and equals `calibration/default.toml` (a unit test checks
//! it). Parsing takes text: reading the file is the caller's job, because
//! `decision` does no I/O. The format is documented in `calibration/README.md`.

use serde::{Deserialize, Serialize};

use crate::config_issues::{ConfigIssue, Issues};
use crate::domain::FailureKind;

/// The only file format version this build reads and writes.
pub const CALIBRATION_FORMAT: u32 = 1;

/// Frames the window rule and the fast path can look back over.
pub const WINDOW_CAPACITY: usize = 32;

/// A complete operating point. Missing keys take the built-in defaults, so a
/// file may hold only what differs; unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Calibration {
    /// File format version, currently 1.
    pub format: u32,
    /// What this operating point is (free text, shown in logs and reports).
    pub name: String,
    /// Model the levels were calibrated for (`name` in `classifier.toml`); informational.
    pub model: Option<String>,
    /// Frame interval the window sizes were tuned at, in ms; informational.
    pub frame_interval_ms: u64,
    pub levels: LevelsCal,
    pub smoothing: SmoothingCal,
    pub window: WindowCal,
    pub fast: FastCal,
    pub context: ContextCal,
    pub classes: ClassesCal,
}

/// `[levels]`: what the smoothed failure score is compared against, at sensitivity 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelsCal {
    /// Smoothed score at which a warning starts.
    pub warning: f32,
    /// Smoothed score at which a failure (pause) is called.
    pub pause: f32,
    /// A warning clears only when the smoothed score falls this far below its level.
    pub hysteresis: f32,
    /// How far the levels move, in logits, between sensitivity 0.5 and 1 (and 0.5 and 0).
    pub sensitivity_span: f32,
}

/// `[smoothing]`: the time-aware exponentially weighted moving average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmoothingCal {
    /// A frame's weight halves every `half_life_s` seconds.
    pub half_life_s: f32,
    /// One frame never weighs more than a frame `max_step_s` after the previous one.
    pub max_step_s: f32,
    /// A gap longer than this between usable frames restarts smoothing and the window.
    pub reset_after_s: f32,
}

/// `[window]`: at least `k` of the last `n` usable frames must be at or above a level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowCal {
    pub k: u32,
    pub n: u32,
}

/// `[fast]`: overwhelming evidence pauses without waiting for the average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FastCal {
    /// Raw score every frame of the run must reach (moved by sensitivity like the other levels).
    pub level: f32,
    /// Consecutive usable frames at or above `level`.
    pub frames: u32,
    /// …spanning at least this many seconds.
    pub min_s: f32,
}

/// `[context]`: how printer progress and G-code expectations move the levels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextCal {
    /// Levels are multiplied by this during the strict layers right after warm-up.
    pub strict_level_scale: f32,
    /// Levels are multiplied by this while little material is on the bed.
    pub tiny_part_level_scale: f32,
    /// "Little material": less filament than this extruded so far, mm…
    pub tiny_part_extruded_mm: f32,
    /// …or a smaller footprint than this, mm².
    pub tiny_part_footprint_mm2: f32,
    /// A layer counts as support/bridge-heavy when that share of its extrusion is at least this.
    pub airborne_share: f32,
}

/// What a failure kind may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassAction {
    /// Warn, and call a failure (the configured action, usually pause).
    Pause,
    /// Warn only, however sure.
    Warn,
    /// Never raise anything for this kind.
    Ignore,
}

/// `[classes.<kind>]`: per-kind multipliers on the levels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassCal {
    pub action: ClassAction,
    /// Multiplies the warning level when this kind dominates.
    pub warning_scale: f32,
    /// Multiplies the pause level when this kind dominates.
    pub pause_scale: f32,
    /// Multiplies both levels during support/bridge-heavy layers.
    pub airborne_scale: f32,
}

/// `[classes]`: one table per failure kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassesCal {
    pub spaghetti: ClassCal,
    pub stringing: ClassCal,
    pub surface: ClassCal,
    pub other: ClassCal,
}

impl ClassesCal {
    pub fn get(&self, kind: FailureKind) -> &ClassCal {
        match kind {
            FailureKind::Spaghetti => &self.spaghetti,
            FailureKind::Stringing => &self.stringing,
            FailureKind::Surface => &self.surface,
            FailureKind::Other => &self.other,
        }
    }

    pub fn get_mut(&mut self, kind: FailureKind) -> &mut ClassCal {
        match kind {
            FailureKind::Spaghetti => &mut self.spaghetti,
            FailureKind::Stringing => &mut self.stringing,
            FailureKind::Surface => &mut self.surface,
            FailureKind::Other => &mut self.other,
        }
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            format: CALIBRATION_FORMAT,
            name: "default".into(),
            model: None,
            frame_interval_ms: 2000,
            levels: LevelsCal::default(),
            smoothing: SmoothingCal::default(),
            window: WindowCal::default(),
            fast: FastCal::default(),
            context: ContextCal::default(),
            classes: ClassesCal::default(),
        }
    }
}

impl Default for LevelsCal {
    fn default() -> Self {
        LevelsCal { warning: 0.5, pause: 0.7, hysteresis: 0.08, sensitivity_span: 1.0 }
    }
}

impl Default for SmoothingCal {
    fn default() -> Self {
        SmoothingCal { half_life_s: 6.0, max_step_s: 10.0, reset_after_s: 120.0 }
    }
}

impl Default for WindowCal {
    fn default() -> Self {
        WindowCal { k: 4, n: 7 }
    }
}

impl Default for FastCal {
    fn default() -> Self {
        FastCal { level: 0.95, frames: 4, min_s: 5.0 }
    }
}

impl Default for ContextCal {
    fn default() -> Self {
        ContextCal {
            strict_level_scale: 1.15,
            tiny_part_level_scale: 1.15,
            tiny_part_extruded_mm: 300.0,
            tiny_part_footprint_mm2: 100.0,
            airborne_share: 0.3,
        }
    }
}

impl Default for ClassesCal {
    fn default() -> Self {
        let class = |action, warning_scale, pause_scale, airborne_scale| ClassCal {
            action,
            warning_scale,
            pause_scale,
            airborne_scale,
        };
        ClassesCal {
            spaghetti: class(ClassAction::Pause, 1.0, 0.85, 1.1),
            stringing: class(ClassAction::Warn, 1.0, 1.0, 1.3),
            surface: class(ClassAction::Warn, 1.1, 1.0, 1.0),
            other: class(ClassAction::Pause, 1.0, 1.0, 1.0),
        }
    }
}

/// Why a calibration could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// TOML syntax or type error at `key` (dotted path) on `line`.
    #[error("{source_name}: {}{message}", at(key, line))]
    Parse { source_name: String, key: Option<String>, line: Option<usize>, message: String },
    /// Values that parse but make no sense, each naming its key and value.
    #[error("{source_name}: invalid calibration:\n{}", list(issues))]
    Invalid { source_name: String, issues: Vec<ConfigIssue> },
}

/// `key: line N: ` (either part left out when unknown).
fn at(key: &Option<String>, line: &Option<usize>) -> String {
    let key = key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default();
    let line = line.map(|l| format!("line {l}: ")).unwrap_or_default();
    format!("{key}{line}")
}

/// One `  - key = value: message` line per issue.
fn list(issues: &[ConfigIssue]) -> String {
    issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n")
}

impl Calibration {
    /// Parses and validates a calibration file's text. `source_name` (usually
    /// the path) prefixes every error.
    pub fn parse(text: &str, source_name: &str) -> Result<Calibration, CalibrationError> {
        let parse_error = |e: toml::de::Error, key: Option<String>| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            CalibrationError::Parse {
                source_name: source_name.to_string(),
                key: key.filter(|k| !k.is_empty() && k != "."),
                line,
                message: e.message().trim_end_matches('\n').to_string(),
            }
        };
        let de = toml::Deserializer::parse(text).map_err(|e| parse_error(e, None))?;
        let cal: Calibration = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            parse_error(e.into_inner(), Some(key))
        })?;
        let mut issues = Issues::default();
        cal.validate("", &mut issues);
        if issues.is_empty() {
            Ok(cal)
        } else {
            Err(CalibrationError::Invalid { source_name: source_name.to_string(), issues: issues.into_vec() })
        }
    }

    /// The file text `eval` writes (TOML, every key present).
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Semantic checks; `prefix` is prepended to key paths (empty for a file
    /// of its own, e.g. `levels.pause`).
    pub fn validate(&self, prefix: &str, out: &mut Issues) {
        let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
        if self.format != CALIBRATION_FORMAT {
            out.push(key("format"), self.format, format!("this build reads format {CALIBRATION_FORMAT}"));
        }
        let l = &self.levels;
        open_unit(out, key("levels.warning"), l.warning);
        open_unit(out, key("levels.pause"), l.pause);
        if l.warning.is_finite() && l.pause.is_finite() && l.warning >= l.pause {
            out.push(key("levels.warning"), l.warning, format!("must be below levels.pause ({})", l.pause));
        }
        out.range(key("levels.hysteresis"), l.hysteresis, 0.0, 0.5);
        out.range(key("levels.sensitivity_span"), l.sensitivity_span, 0.0, 5.0);
        let s = &self.smoothing;
        out.range(key("smoothing.half_life_s"), s.half_life_s, 0.1, 3600.0);
        out.range(key("smoothing.max_step_s"), s.max_step_s, 0.1, 3600.0);
        out.range(key("smoothing.reset_after_s"), s.reset_after_s, 1.0, 86_400.0);
        if s.reset_after_s < s.max_step_s {
            let msg = format!("must be at least smoothing.max_step_s ({})", s.max_step_s);
            out.push(key("smoothing.reset_after_s"), s.reset_after_s, msg);
        }
        let w = &self.window;
        out.range(key("window.n"), w.n, 1, WINDOW_CAPACITY as u32);
        if !(1..=w.n).contains(&w.k) {
            out.push(key("window.k"), w.k, format!("must be between 1 and window.n ({})", w.n));
        }
        let f = &self.fast;
        if !(f.level > 0.0 && f.level <= 1.0) {
            out.push(key("fast.level"), f.level, "must be above 0 and at most 1");
        }
        out.range(key("fast.frames"), f.frames, 1, WINDOW_CAPACITY as u32);
        out.range(key("fast.min_s"), f.min_s, 0.0, 3600.0);
        let c = &self.context;
        out.range(key("context.strict_level_scale"), c.strict_level_scale, 0.5, 3.0);
        out.range(key("context.tiny_part_level_scale"), c.tiny_part_level_scale, 0.5, 3.0);
        out.range(key("context.tiny_part_extruded_mm"), c.tiny_part_extruded_mm, 0.0, 1.0e6);
        out.range(key("context.tiny_part_footprint_mm2"), c.tiny_part_footprint_mm2, 0.0, 1.0e6);
        out.range(key("context.airborne_share"), c.airborne_share, 0.0, 1.0);
        for kind in crate::decision::KINDS {
            let cc = self.classes.get(kind);
            let k = |f: &str| key(&format!("classes.{}.{f}", kind.name()));
            out.range(k("warning_scale"), cc.warning_scale, 0.1, 3.0);
            out.range(k("pause_scale"), cc.pause_scale, 0.1, 3.0);
            out.range(k("airborne_scale"), cc.airborne_scale, 0.5, 3.0);
        }
    }
}

/// `0 < v < 1`, NaN rejected.
fn open_unit(out: &mut Issues, key: String, v: f32) {
    if !(v > 0.0 && v < 1.0) {
        out.push(key, v, "must be between 0 and 1 (exclusive)");
    }
}
