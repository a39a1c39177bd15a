//! [`LayerPlan`]: one G-code file's per-layer expectations and the **one**
//! rule that finds the expectation for what the printer reports now.
//!
//! The daemon (`app::stages::decision`, fed by `app::expect::GcodeCatalog`)
//! and `eval` (`eval::replay`) both hold a `LayerPlan` and call
//! [`LayerPlan::for_job`], so a recorded sequence replayed offline meets
//! exactly the expectations the live daemon met (`tests/decision_parity.rs`
//! proves it on a recorded sequence). Pure: built once per file from the
//! analysis, then looked up.

use crate::domain::PrintJob;
use crate::gcode::Analysis;

use super::LayerExpectation;

/// Tolerance when placing a nozzle height on a layer (mm).
const Z_TOLERANCE_MM: f32 = 1e-3;

/// Every layer's expectation, indexed by 0-based layer, with the byte range
/// of each layer in the file (when the plan was made from a file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayerPlan {
    layers: Vec<LayerExpectation>,
    /// `[start, end)` byte offsets of each layer, parallel to `layers`; empty
    /// for a plan made without a file.
    spans: Vec<(u64, u64)>,
}

impl LayerPlan {
    /// The plan of an analysed file.
    pub fn from_analysis(a: &Analysis) -> LayerPlan {
        LayerPlan {
            layers: super::layer_expectations(a),
            spans: a.layers.iter().map(|l| (l.start_offset, l.end_offset)).collect(),
        }
    }

    /// A plan from expectations alone (no byte ranges: file positions find no layer).
    pub fn from_layers(layers: Vec<LayerExpectation>) -> LayerPlan {
        LayerPlan { layers, spans: Vec::new() }
    }

    pub fn layers(&self) -> &[LayerExpectation] {
        &self.layers
    }

    pub fn layer_count(&self) -> u32 {
        u32::try_from(self.layers.len()).unwrap_or(u32::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The expectation for a 0-based layer; past the end, the last layer's.
    pub fn at(&self, layer: u32) -> Option<&LayerExpectation> {
        self.layers.get(layer as usize).or_else(|| self.layers.last().filter(|l| layer > l.layer))
    }

    /// The expectation for what the printer reports, in this order:
    ///
    /// 1. **Layer.** The layer the printer (or its link) reports; past the
    ///    file's last layer, the last one.
    /// 2. **File position**, when no layer is reported: the last layer that
    ///    started at or before it (while end code runs, the layer just
    ///    finished). Before the first layer — start code, which often lifts
    ///    the nozzle several millimetres — there is no layer, whatever the Z.
    /// 3. **Z**, only for a printer that reports neither: the first layer at
    ///    or above the nozzle's height (the top one when above them all).
    pub fn for_job(&self, job: &PrintJob) -> Option<&LayerExpectation> {
        if let Some(l) = job.layer {
            return self.at(l);
        }
        if let Some(pos) = job.file_position {
            let i = self.spans.partition_point(|(start, _)| *start <= pos);
            return self.layers.get(i.checked_sub(1)?);
        }
        let z = job.z.filter(|z| z.is_finite())?;
        self.layers.iter().find(|l| l.z + Z_TOLERANCE_MM >= z).or(self.layers.last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_LAYERS: &str = "\
M83
G1 Z5 F600
;LAYER_CHANGE
;Z:0.2
G1 Z0.2 F600
;TYPE:External perimeter
G1 X10 Y0 E1 F1200
G1 X10 Y10 E1
;TYPE:Internal infill
G1 X0 Y10 E2
;LAYER_CHANGE
;Z:0.4
G1 Z0.4
;TYPE:Support material
G1 X0 Y0 E1
;TYPE:External perimeter
G1 X10 Y0 E1
G1 Z20
M84
";

    fn job(layer: Option<u32>, pos: Option<u64>, z: Option<f32>) -> PrintJob {
        PrintJob { layer, file_position: pos, z, ..Default::default() }
    }

    #[test]
    fn plan_accumulates_extrusion_and_area_and_mixes_features() {
        let a = crate::gcode::analyze(TWO_LAYERS.as_bytes());
        let plan = LayerPlan::from_analysis(&a);
        assert_eq!(plan.layer_count(), 2, "{:?}", a.layers);
        let (l0, l1) = (&plan.layers()[0], &plan.layers()[1]);
        assert_eq!((l0.layer, l1.layer), (0, 1));
        assert_eq!(l1.layer_count, Some(2));
        assert!((l0.cumulative_extruded_mm - l0.extruded_mm_in_layer).abs() < 1e-4);
        assert!(l1.cumulative_extruded_mm > l0.cumulative_extruded_mm);
        assert!(l1.footprint_area_mm2 >= l0.footprint_area_mm2 && l0.footprint_area_mm2 > 0.0);
        assert!((l0.feature_mix.perimeter - 0.5).abs() < 0.01, "{:?}", l0.feature_mix);
        assert!((l1.feature_mix.support - 0.5).abs() < 0.01, "{:?}", l1.feature_mix);
    }

    #[test]
    fn one_rule_for_layer_position_and_z() {
        let a = crate::gcode::analyze(TWO_LAYERS.as_bytes());
        let plan = LayerPlan::from_analysis(&a);
        let layer_of = |j: PrintJob| plan.for_job(&j).map(|e| e.layer);
        let (l0, l1) = (&a.layers[0], &a.layers[1]);
        // The reported layer wins over position and Z; past the end, the last layer.
        assert_eq!(layer_of(job(Some(1), Some(0), Some(9.0))), Some(1));
        assert_eq!(layer_of(job(Some(7), None, None)), Some(1));
        // Start code (nozzle lifted to Z 5): no layer, whatever the Z.
        assert_eq!(layer_of(job(None, Some(3), Some(5.0))), None);
        assert_eq!(layer_of(job(None, Some(l0.start_offset), None)), Some(0));
        assert_eq!(layer_of(job(None, Some(l1.start_offset - 1), None)), Some(0));
        assert_eq!(layer_of(job(None, Some(l1.start_offset), None)), Some(1));
        // End code: the layer just finished.
        assert_eq!(layer_of(job(None, Some(TWO_LAYERS.len() as u64 - 2), Some(20.0))), Some(1));
        // Z only: the first layer at or above it; above them all, the top one.
        assert_eq!(layer_of(job(None, None, Some(0.15))), Some(0));
        assert_eq!(layer_of(job(None, None, Some(0.3))), Some(1));
        assert_eq!(layer_of(job(None, None, Some(50.0))), Some(1));
        assert_eq!(layer_of(job(None, None, Some(f32::NAN))), None);
        assert_eq!(layer_of(job(None, None, None)), None);
    }

    #[test]
    fn a_plan_without_a_file_places_no_file_position() {
        let layer = |i: u32, z: f32| LayerExpectation { layer: i, z, ..Default::default() };
        let plan = LayerPlan::from_layers((0..20).map(|i| layer(i, 0.2 + 0.3 * i as f32)).collect());
        assert_eq!(plan.for_job(&job(None, Some(9000), Some(1.1))), None);
        assert_eq!(plan.for_job(&job(None, None, Some(1.1))).map(|e| e.layer), Some(3));
        assert!(LayerPlan::default().for_job(&job(Some(0), None, None)).is_none());
    }
}
