//! What a piece of extrusion is for: the closed [`Feature`] set and the
//! mapping from each slicer's own names (`;TYPE:`, `; FEATURE:`, Simplify3D's
//! `; feature …`) onto it. Owns naming only.

use std::fmt;

use serde::{Serialize, Serializer};

/// The role of extruded material, normalised across slicers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Outer wall / external perimeter: what a camera sees of the part.
    OuterWall,
    /// Inner walls / perimeters.
    InnerWall,
    /// Walls printed over air.
    OverhangWall,
    /// Sparse infill.
    Infill,
    /// Solid infill inside the part.
    SolidInfill,
    /// Top solid surfaces.
    TopSurface,
    /// Bottom solid surfaces.
    BottomSurface,
    /// Bridges over gaps.
    Bridge,
    GapFill,
    Ironing,
    Support,
    SupportInterface,
    Skirt,
    Brim,
    /// Wipe / prime tower.
    PrimeTower,
    /// Custom G-code (start/end scripts, purge lines).
    Custom,
    /// A name this list does not know, lower-cased and trimmed (at most 64 bytes).
    Other(String),
}

impl Feature {
    /// Maps a slicer's feature name (any case) onto the closed set.
    pub fn from_slicer_name(name: &str) -> Feature {
        let n = name.trim().to_ascii_lowercase();
        let n = n.as_str();
        match n {
            // PrusaSlicer / SuperSlicer / OrcaSlicer / Bambu / Cura / ideaMaker / Simplify3D
            "external perimeter" | "outer wall" | "wall-outer" | "outer perimeter" | "perimeter path" => {
                Feature::OuterWall
            }
            "perimeter" | "inner wall" | "wall-inner" | "inner perimeter" | "loop path" => Feature::InnerWall,
            "overhang perimeter" | "overhang wall" => Feature::OverhangWall,
            "internal infill" | "sparse infill" | "fill" | "infill" | "sparse infill path" => Feature::Infill,
            "solid infill" | "internal solid infill" | "solid layer" | "solid path" => Feature::SolidInfill,
            "top solid infill" | "top surface" => Feature::TopSurface,
            "bottom surface" | "bottom solid infill" => Feature::BottomSurface,
            "bridge infill" | "bridge" | "internal bridge" | "external bridge" | "bridge path" => Feature::Bridge,
            "gap fill" | "gap infill" | "gapfill" => Feature::GapFill,
            "ironing" => Feature::Ironing,
            "support material" | "support" | "dense support" | "support path" | "support (may stack) path" => {
                Feature::Support
            }
            "support material interface" | "support interface" | "support-interface" | "support transition" => {
                Feature::SupportInterface
            }
            "skirt" | "skirt/brim" | "skirt path" => Feature::Skirt,
            "brim" => Feature::Brim,
            "wipe tower" | "prime tower" | "prime-tower" | "prime pillar" | "wipe tower path" => Feature::PrimeTower,
            "custom" => Feature::Custom,
            // Cura's SKIN is top/bottom skin: solid infill for our purposes.
            "skin" => Feature::SolidInfill,
            _ => {
                let mut s = n.to_string();
                if s.len() > 64 {
                    let mut cut = 64;
                    while !s.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    s.truncate(cut);
                }
                Feature::Other(s)
            }
        }
    }

    /// Stable lower-case name (JSON, logs, `PrintJob::feature`).
    pub fn as_str(&self) -> &str {
        match self {
            Feature::OuterWall => "outer_wall",
            Feature::InnerWall => "inner_wall",
            Feature::OverhangWall => "overhang_wall",
            Feature::Infill => "infill",
            Feature::SolidInfill => "solid_infill",
            Feature::TopSurface => "top_surface",
            Feature::BottomSurface => "bottom_surface",
            Feature::Bridge => "bridge",
            Feature::GapFill => "gap_fill",
            Feature::Ironing => "ironing",
            Feature::Support => "support",
            Feature::SupportInterface => "support_interface",
            Feature::Skirt => "skirt",
            Feature::Brim => "brim",
            Feature::PrimeTower => "prime_tower",
            Feature::Custom => "custom",
            Feature::Other(s) => s,
        }
    }

    /// Part of the object itself (not support, skirt, brim, tower or custom code).
    pub fn is_part(&self) -> bool {
        !matches!(
            self,
            Feature::Support
                | Feature::SupportInterface
                | Feature::Skirt
                | Feature::Brim
                | Feature::PrimeTower
                | Feature::Custom
                | Feature::Other(_)
        )
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Feature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn slicer_names_map_onto_the_closed_set() {
        let names = [
            "External perimeter",
            "Perimeter",
            "Overhang perimeter",
            "Internal infill",
            "Solid infill",
            "Top solid infill",
            "Bridge infill",
            "Gap fill",
            "Skirt/Brim",
            "Support material",
            "Support material interface",
            "Wipe tower",
            "Custom",
            "WALL-OUTER",
            "WALL-INNER",
            "SKIN",
            "FILL",
            "SUPPORT",
            "SUPPORT-INTERFACE",
            "SKIRT",
            "PRIME-TOWER",
            " Outer wall",
            "Sparse infill",
            "Internal solid infill",
            "Bottom surface",
            "Brim",
            "Ironing",
            "outer perimeter",
            "prime pillar",
            "Something New",
        ];
        let out: String = names.iter().map(|n| format!("{n:<28} -> {}\n", Feature::from_slicer_name(n))).collect();
        expect![[r#"
            External perimeter           -> outer_wall
            Perimeter                    -> inner_wall
            Overhang perimeter           -> overhang_wall
            Internal infill              -> infill
            Solid infill                 -> solid_infill
            Top solid infill             -> top_surface
            Bridge infill                -> bridge
            Gap fill                     -> gap_fill
            Skirt/Brim                   -> skirt
            Support material             -> support
            Support material interface   -> support_interface
            Wipe tower                   -> prime_tower
            Custom                       -> custom
            WALL-OUTER                   -> outer_wall
            WALL-INNER                   -> inner_wall
            SKIN                         -> solid_infill
            FILL                         -> infill
            SUPPORT                      -> support
            SUPPORT-INTERFACE            -> support_interface
            SKIRT                        -> skirt
            PRIME-TOWER                  -> prime_tower
             Outer wall                  -> outer_wall
            Sparse infill                -> infill
            Internal solid infill        -> solid_infill
            Bottom surface               -> bottom_surface
            Brim                         -> brim
            Ironing                      -> ironing
            outer perimeter              -> outer_wall
            prime pillar                 -> prime_tower
            Something New                -> something new
        "#]]
        .assert_eq(&out);
    }
}
