//! Plain-data inputs of the decision layer besides frames and printer status:
//! what the G-code says should be happening (`LayerExpectation`) and what the
//! owner told us (`Feedback`).
//!
//! Owns no logic beyond small accessors. Deliberately independent of the
//! `gcode` module's types: the daemon fills a `LayerExpectation` from the
//! G-code analyser, `eval` from a recorded session, tests by hand.

use serde::{Deserialize, Serialize};

/// What the G-code says about the layer being printed now.
///
/// All quantities are for the *current* layer (the one the nozzle is on),
/// except the cumulative ones, which cover everything printed so far
/// including this layer.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LayerExpectation {
    /// 0-based layer index.
    pub layer: u32,
    /// Total layers in the file, when known.
    pub layer_count: Option<u32>,
    /// Nominal Z of this layer in mm.
    pub z: f32,
    /// Height of this layer in mm.
    pub layer_height: f32,
    /// Filament length extruded in this layer, mm.
    pub extruded_mm_in_layer: f32,
    /// Filament length extruded from the start of the print up to the end of this layer, mm.
    pub cumulative_extruded_mm: f32,
    /// Area on the bed covered by material so far (union of the layers' footprints), mm².
    pub footprint_area_mm2: f32,
    /// Share of this layer's extrusion per feature.
    pub feature_mix: FeatureMix,
}

/// Share of a layer's extrusion per feature; the shares sum to about 1
/// (all zero means unknown).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FeatureMix {
    /// Outer and inner walls.
    pub perimeter: f32,
    /// Sparse and solid infill, top and bottom skins.
    pub infill: f32,
    /// Support material and support interfaces.
    pub support: f32,
    /// Bridges (extrusion over air).
    pub bridge: f32,
    /// Everything else: skirt, brim, wipe tower, ironing.
    pub other: f32,
}

impl FeatureMix {
    /// Whether any share is set (all zero means the analyser did not say).
    pub fn is_known(&self) -> bool {
        [self.perimeter, self.infill, self.support, self.bridge, self.other].iter().any(|v| *v > 0.0)
    }

    /// Share of the layer printed over air or on support, where strings and
    /// loose-looking strands are expected.
    pub fn airborne(&self) -> f32 {
        (self.support.max(0.0) + self.bridge.max(0.0)).min(1.0)
    }
}

/// What the owner (or the printer, for `Resumed`) told the decision layer.
///
/// Applied with [`Decider::feedback`](super::Decider::feedback) at the time it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// The print was resumed after a pause (by the owner, from the dashboard or
    /// the printer). Smoothing restarts and the next `quiet_layers` layers are not judged.
    Resumed,
    /// The owner says the current warning or failure is not one. Like `Resumed`,
    /// and (with `learn_offset`) the scores just seen become this print's baseline.
    NotAFailure,
    /// No verdicts above `Ok` until a new print starts. Health findings continue.
    MuteForPrint,
    /// A new print starts: forget everything learned about the previous one.
    NewPrint,
    /// The owner reset this camera's memory of normal frames (dashboard or CLI).
    ForgetCamera,
}

impl Feedback {
    /// Short lower-case name for logs and the API.
    pub fn name(self) -> &'static str {
        match self {
            Feedback::Resumed => "resumed",
            Feedback::NotAFailure => "not_a_failure",
            Feedback::MuteForPrint => "mute_for_print",
            Feedback::NewPrint => "new_print",
            Feedback::ForgetCamera => "forget_camera",
        }
    }
}
