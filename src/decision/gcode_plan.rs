//! G-code analysis → one [`LayerExpectation`] per layer: what should be on
//! the bed at each layer (cumulative extrusion and footprint area, the
//! layer's feature mix). Pure, computed once per file into a
//! [`LayerPlan`](super::LayerPlan), which the daemon and `eval` share.

use crate::gcode::{Analysis, Feature, Footprint};

use super::{FeatureMix, LayerExpectation};

/// Every layer's expectation, indexed by 0-based layer.
pub fn layer_expectations(a: &Analysis) -> Vec<LayerExpectation> {
    let count = u32::try_from(a.layers.len()).ok();
    let mut cumulative_mm = 0.0f32;
    let mut footprint = Footprint::default();
    a.layers
        .iter()
        .map(|l| {
            cumulative_mm += l.extruded_mm.max(0.0);
            footprint.merge(&l.footprint);
            let area = a.grid.as_ref().map_or(0.0, |g| footprint.occupied_area_mm2(g));
            LayerExpectation {
                layer: l.index,
                layer_count: count,
                z: l.z,
                layer_height: l.height,
                extruded_mm_in_layer: l.extruded_mm,
                cumulative_extruded_mm: cumulative_mm,
                footprint_area_mm2: area,
                feature_mix: feature_mix(&l.features),
            }
        })
        .collect()
}

/// Shares of a layer's extrusion per decision feature group.
pub fn feature_mix(features: &[(Feature, f32)]) -> FeatureMix {
    let mut m = FeatureMix::default();
    let total: f32 = features.iter().map(|(_, mm)| mm.max(0.0)).sum();
    if total <= 0.0 {
        return m;
    }
    for (f, mm) in features {
        let share = mm.max(0.0) / total;
        let slot = match f {
            Feature::OuterWall | Feature::InnerWall | Feature::OverhangWall => &mut m.perimeter,
            Feature::Infill
            | Feature::SolidInfill
            | Feature::TopSurface
            | Feature::BottomSurface
            | Feature::GapFill => &mut m.infill,
            Feature::Support | Feature::SupportInterface => &mut m.support,
            Feature::Bridge => &mut m.bridge,
            Feature::Ironing
            | Feature::Skirt
            | Feature::Brim
            | Feature::PrimeTower
            | Feature::Custom
            | Feature::Other(_) => &mut m.other,
        };
        *slot += share;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_features_leave_the_mix_unknown() {
        assert!(!feature_mix(&[]).is_known());
        let m = feature_mix(&[(Feature::Bridge, 1.0), (Feature::Brim, 3.0)]);
        assert!((m.bridge - 0.25).abs() < 1e-6 && (m.other - 0.75).abs() < 1e-6);
    }
}
