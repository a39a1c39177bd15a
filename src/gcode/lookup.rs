//! Position → layer lookups on a finished [`Analysis`]: by byte offset, line,
//! Z and feature, each a binary search (Z falls back to a scan when layers
//! go down again, as in sequential "complete objects" prints).

use super::feature::Feature;
use super::footprint::Footprint;
use super::model::{Analysis, Layer};

/// Z values within this of a layer's Z count as that layer (mm).
const Z_TOLERANCE: f32 = 1e-3;

impl Analysis {
    /// The layer whose byte range `[start_offset, end_offset)` holds `offset`;
    /// `None` before the first layer (start-up code) and after the last (end code).
    pub fn layer_at_offset(&self, offset: u64) -> Option<&Layer> {
        let i = self.layers.partition_point(|l| l.start_offset <= offset);
        let l = self.layers.get(i.checked_sub(1)?)?;
        (offset < l.end_offset).then_some(l)
    }

    /// The last layer that started at or before `offset` (the layer just
    /// finished while end code runs); `None` before the first layer.
    pub fn layer_at_or_before_offset(&self, offset: u64) -> Option<&Layer> {
        let i = self.layers.partition_point(|l| l.start_offset <= offset);
        self.layers.get(i.checked_sub(1)?)
    }

    /// The layer whose line range `[start_line, end_line)` holds `line` (1-based).
    pub fn layer_at_line(&self, line: u64) -> Option<&Layer> {
        let i = self.layers.partition_point(|l| l.start_line <= line);
        let l = self.layers.get(i.checked_sub(1)?)?;
        (line < l.end_line).then_some(l)
    }

    /// The highest printed layer at or below `z` (+1 µm): the layer being
    /// printed when the nozzle is at `z`. A nozzle lifted for a Z-hop maps to
    /// the layer below the hop height, so prefer offsets when they are known.
    /// When Z goes down between layers (sequential printing), the first such
    /// layer in file order is returned.
    pub fn layer_at_z(&self, z: f32) -> Option<&Layer> {
        if !z.is_finite() {
            return None;
        }
        if self.z_monotonic {
            let i = self.layers.partition_point(|l| l.z <= z + Z_TOLERANCE);
            return self.layers.get(i.checked_sub(1)?);
        }
        let mut best: Option<&Layer> = None;
        for l in &self.layers {
            if l.z <= z + Z_TOLERANCE && best.is_none_or(|b| l.z > b.z) {
                best = Some(l);
            }
        }
        best
    }

    /// Like [`layer_at_z`](Self::layer_at_z), for a caller that follows a
    /// print: a Z above the previous layer by no more than the file's Z-hop
    /// (`z_hop_mm`) is that layer with the nozzle lifted, not a new layer.
    pub fn layer_at_z_after(&self, z: f32, previous: Option<u32>) -> Option<&Layer> {
        if let (Some(p), Some(hop)) = (previous.and_then(|p| self.layers.get(p as usize)), self.z_hop_mm)
            && z > p.z
            && z <= p.z + hop + Z_TOLERANCE
        {
            return Some(p);
        }
        self.layer_at_z(z)
    }

    /// The slicer's feature (`;TYPE:`) in force at `offset`, if any was declared before it.
    pub fn feature_at_offset(&self, offset: u64) -> Option<Feature> {
        let i = self.feature_spans.partition_point(|s| s.0 <= offset);
        let (_, id) = self.feature_spans.get(i.checked_sub(1)?)?;
        self.feature_names.get(usize::from(*id)).cloned()
    }

    /// Everything deposited on layers `0..=index`: what should be on the bed
    /// once layer `index` is done (an index past the last layer gives all layers).
    pub fn cumulative_footprint(&self, index: u32) -> Footprint {
        let mut acc = Footprint::default();
        for l in self.layers.iter().take(index as usize + 1) {
            acc.merge(&l.footprint);
        }
        acc
    }
}
