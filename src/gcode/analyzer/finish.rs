//! Assembling the final [`Analysis`] once the input has ended: closing the
//! last layer, merging away layers without extrusion, cropping footprints,
//! choosing time and progress sources, cross-checking the slicer's figures.

use super::{DEFAULT_FILAMENT_DIAMETER, State};
use crate::gcode::feature::Feature;
use crate::gcode::footprint::Footprint;
use crate::gcode::layers::RawLayer;
use crate::gcode::model::{
    Analysis, BBox, Layer, LayerSource, PrintObject, ProgressSource, SlicerKind, TimeSource, WarningKind,
};

impl State {
    pub(super) fn finish(mut self, total_bytes: u64, total_lines: u64) -> Analysis {
        if self.layers.open.is_some() {
            self.raster.close_layer();
        }
        let uses_comments = self.layers.uses_comments();
        let raw = std::mem::take(&mut self.layers).finish();
        let (grid, footprints, object_footprints) = std::mem::take(&mut self.raster).finish();
        let diameter = self.meta.filament_diameter.unwrap_or(DEFAULT_FILAMENT_DIAMETER);
        let filament_area = std::f64::consts::PI * f64::from(diameter) * f64::from(diameter) / 4.0;

        // CuraEngine run without its front end writes `;TIME:6666` as a placeholder;
        // its cumulative `;TIME_ELAPSED:` is the real estimate then.
        let placeholder = |t: &f64| {
            *t == 6666.0 && self.any_elapsed && self.meta.slicer.as_ref().is_some_and(|s| s.kind == SlicerKind::Cura)
        };
        let header = self.meta.estimated_time.filter(|t| !placeholder(t));
        let estimated = header.or(self.last_elapsed).or(self.meta.first_m73_remaining);
        let time_source = if self.any_elapsed {
            TimeSource::SlicerElapsed
        } else if estimated.is_some() && self.kinematic_s > 0.0 {
            TimeSource::ScaledKinematic
        } else {
            TimeSource::Kinematic
        };
        let time_scale = match (time_source, estimated) {
            (TimeSource::ScaledKinematic, Some(est)) => est / self.kinematic_s,
            _ => 1.0,
        };
        let progress_source = if self.any_m73 { ProgressSource::M73 } else { ProgressSource::Bytes };

        let mut layers: Vec<Layer> = Vec::with_capacity(raw.len());
        let mut ordinal_map: Vec<Option<u32>> = vec![None; raw.len()];
        let mut prev_z: Option<f64> = None;
        for (k, (rl, footprint)) in
            raw.into_iter().zip(footprints.into_iter().chain(std::iter::repeat_with(Default::default))).enumerate()
        {
            if !rl.deposited || rl.extruded <= 0.0 {
                if let Some(prev) = layers.last_mut() {
                    prev.end_offset = prev.end_offset.max(rl.end_offset);
                    prev.end_line = prev.end_line.max(rl.end_line);
                }
                continue;
            }
            let index = layers.len() as u32;
            ordinal_map[k] = Some(index);
            let z = rl.max_z;
            let height = match (rl.marker_height, prev_z) {
                (Some(h), _) if h > 0.0 && h.is_finite() => f64::from(h),
                (_, Some(p)) if z - p > 1e-4 => z - p,
                _ if z > 0.0 => z,
                // Material at Z ≤ 0 (a fragment without Z moves): the nominal height, or unknown.
                _ => self.meta.nominal_height.map_or(0.0, f64::from),
            };
            prev_z = Some(z);
            let byte_share = if total_bytes > 0 { rl.start_offset as f64 / total_bytes as f64 } else { 0.0 };
            let progress = match progress_source {
                ProgressSource::M73 => rl.m73_percent.map(|p| f64::from(p) / 100.0).unwrap_or(byte_share),
                ProgressSource::Bytes => byte_share,
            };
            let time = match time_source {
                TimeSource::SlicerElapsed => rl.elapsed_at_start.unwrap_or(0.0),
                _ => rl.kinematic_at_start * time_scale,
            };
            layers.push(layer_from_raw(
                rl,
                index,
                z,
                height,
                footprint,
                filament_area,
                &self.features.names,
                progress,
                time,
            ));
        }
        let objects = self
            .objects
            .list
            .iter()
            .enumerate()
            .map(|(i, o)| PrintObject {
                index: i as u32,
                name: o.name.clone(),
                center: o.center,
                polygon: o.polygon.clone(),
                bbox: o.bbox,
                extruded_mm: o.extruded as f32,
                first_layer: o.first_layer.and_then(|k| ordinal_map.get(k).copied().flatten()),
                last_layer: o.last_layer.and_then(|k| ordinal_map.get(k).copied().flatten()),
                footprint: object_footprints.get(i).cloned().unwrap_or_default(),
                m486_id: o.m486_id,
            })
            .collect();

        let mut bbox: Option<BBox> = None;
        for b in layers.iter().filter_map(|l| l.bbox) {
            match &mut bbox {
                Some(acc) => acc.union(&b),
                None => bbox = Some(b),
            }
        }
        // Slicers leave start/end code (purge lines) out of their figure: compare both ways.
        let in_layers = self.filament - self.filament_before_layers;
        if let Some(reported) = self.meta.reported_filament
            && (reported - self.filament).abs() > (reported * 0.05).max(1.0)
            && (reported - in_layers).abs() > (reported * 0.05).max(1.0)
        {
            let kind = WarningKind::FilamentMismatch { reported_mm: reported, computed_mm: self.filament };
            self.warnings.push(0, total_bytes, kind);
        }
        if let Some(reported) = self.meta.layer_count
            && reported as usize != layers.len()
        {
            let kind = WarningKind::LayerCountMismatch { reported, found: layers.len() as u32 };
            self.warnings.push(0, total_bytes, kind);
        }
        let z_monotonic = layers.windows(2).all(|w| w[1].z >= w[0].z);
        let layer_source = if layers.is_empty() {
            LayerSource::None
        } else if uses_comments {
            LayerSource::Comments
        } else {
            LayerSource::Geometry
        };
        let mut planned_pauses = std::mem::take(&mut self.pauses);
        let analysis = Analysis {
            max_z: layers.iter().map(|l| l.z).fold(0.0, f32::max),
            layers,
            objects,
            slicer: self.meta.slicer,
            total_bytes,
            total_lines,
            estimated_time_s: estimated,
            kinematic_time_s: self.kinematic_s,
            filament_mm: self.filament,
            reported_filament_mm: self.meta.reported_filament,
            bbox,
            grid,
            layer_height: self.meta.nominal_height,
            reported_layer_count: self.meta.layer_count,
            filament_diameter_mm: diameter,
            layer_source,
            progress_source,
            time_source,
            tool_changes: self.tool_changes,
            // The most frequent lift, if it happens at least 3 times (a single lift
            // after the purge line is start code, not a Z-hop setting).
            z_hop_mm: self
                .z_hops
                .iter()
                .filter(|(_, n)| **n >= 3)
                .max_by_key(|(h, n)| (**n, **h))
                .map(|(h, _)| *h as f32 / 100.0),
            planned_pauses: Vec::new(),
            warnings: self.warnings.list,
            warning_counts: self.warnings.counts,
            feature_spans: self.features.spans,
            feature_names: self.features.names,
            z_monotonic,
        };
        for p in &mut planned_pauses {
            p.layer = analysis.layer_at_or_before_offset(p.offset).map(|l| l.index);
        }
        let mut analysis = analysis;
        analysis.planned_pauses = planned_pauses;
        if analysis.warning_total() > 0 {
            tracing::debug!(warnings = analysis.warning_total(), lines = total_lines, "g-code analysed with warnings");
        }
        analysis
    }
}

#[allow(clippy::too_many_arguments)]
fn layer_from_raw(
    rl: RawLayer,
    index: u32,
    z: f64,
    height: f64,
    footprint: Footprint,
    filament_area: f64,
    names: &[Feature],
    progress: f64,
    time: f64,
) -> Layer {
    let area = if height > 1e-6 { rl.extruded * filament_area / height } else { 0.0 };
    Layer {
        index,
        z: z as f32,
        height: height as f32,
        start_offset: rl.start_offset,
        end_offset: rl.end_offset.max(rl.start_offset),
        start_line: rl.start_line,
        end_line: rl.end_line.max(rl.start_line),
        extruded_mm: rl.extruded as f32,
        bbox: rl.bbox,
        footprint,
        area_mm2: area as f32,
        features: rl
            .features
            .iter()
            .filter_map(|&(id, e)| names.get(usize::from(id)).map(|f| (f.clone(), e as f32)))
            .collect(),
        objects: rl.objects,
        progress_at_start: Some(progress.clamp(0.0, 1.0) as f32),
        time_at_start_s: Some(time),
        remaining_s_at_start: rl.m73_remaining_s,
        slicer_layer: rl.slicer_layer,
    }
}
