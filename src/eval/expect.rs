//! G-code analysis → the decision layer's `LayerExpectation` for each layer,
//! computed once per sequence (cumulative extrusion and footprint need every
//! earlier layer), then looked up by the printer's layer or file position.

use crate::decision::{FeatureMix, LayerExpectation};
use crate::domain::PrintJob;
use crate::gcode::{Analysis, Feature, Footprint};

/// Per-layer expectations of one G-code file.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    layers: Vec<LayerExpectation>,
}

/// A layer's extrusion by feature, as shares.
pub fn feature_mix(features: &[(Feature, f32)]) -> FeatureMix {
    let mut m = FeatureMix::default();
    for (f, mm) in features {
        let mm = mm.max(0.0);
        match f {
            Feature::OuterWall | Feature::InnerWall | Feature::OverhangWall => m.perimeter += mm,
            Feature::Infill
            | Feature::SolidInfill
            | Feature::TopSurface
            | Feature::BottomSurface
            | Feature::GapFill => m.infill += mm,
            Feature::Support | Feature::SupportInterface => m.support += mm,
            Feature::Bridge => m.bridge += mm,
            _ => m.other += mm,
        }
    }
    let total = m.perimeter + m.infill + m.support + m.bridge + m.other;
    if total > 0.0 {
        m.perimeter /= total;
        m.infill /= total;
        m.support /= total;
        m.bridge /= total;
        m.other /= total;
    }
    m
}

impl Expectations {
    pub fn from_analysis(a: &Analysis) -> Expectations {
        let count = u32::try_from(a.layers.len()).ok();
        let mut cumulative = 0.0f32;
        let mut footprint = Footprint::default();
        let layers = a
            .layers
            .iter()
            .map(|l| {
                cumulative += l.extruded_mm.max(0.0);
                footprint.merge(&l.footprint);
                LayerExpectation {
                    layer: l.index,
                    layer_count: count,
                    z: l.z,
                    layer_height: l.height,
                    extruded_mm_in_layer: l.extruded_mm,
                    cumulative_extruded_mm: cumulative,
                    footprint_area_mm2: a.grid.as_ref().map(|g| footprint.occupied_area_mm2(g)).unwrap_or(0.0),
                    feature_mix: feature_mix(&l.features),
                }
            })
            .collect();
        Expectations { layers }
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The expectation for a job: by its layer when the printer reports one,
    /// else by its file position.
    pub fn for_job(&self, job: &PrintJob, analysis: &Analysis) -> Option<&LayerExpectation> {
        if let Some(l) = job.layer {
            return self.layers.get(l as usize);
        }
        let off = job.file_position?;
        let layer = analysis.layer_at_or_before_offset(off)?;
        self.layers.get(layer.index as usize)
    }
}
