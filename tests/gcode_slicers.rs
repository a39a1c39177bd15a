//! Real slicer output checked against what the file itself says, read by a
//! naive independent scan: layer markers and their `;Z:`/`;HEIGHT:`, Cura's
//! `;LAYER:n` and the Z it moves to, `;TYPE:` lines, object labels, and the
//! same prints with every comment stripped (layers from geometry alone).

mod gcode_common;

use gcode_common::{lines_matching, read};
use layerwatch::gcode::{self, Feature, LayerSource, ProgressSource, SlicerKind, TimeSource};

/// Offsets of every `G1` that moves in X or Y with a positive E (relative E in
/// PrusaSlicer files, absolute in Cura's: positive either way while printing).
fn extrusions(data: &[u8]) -> Vec<u64> {
    let is_extrusion = |t: &str| {
        t.starts_with("G1 ")
            && (t.contains(" X") || t.contains(" Y"))
            && t.split(' ').any(|w| w.strip_prefix('E').and_then(|v| v.parse::<f32>().ok()).is_some_and(|v| v > 0.0))
    };
    lines_matching(data, is_extrusion).into_iter().map(|m| m.0).collect()
}

/// The first of `extrusions` after `from`.
fn first_after(extrusions: &[u64], from: u64) -> u64 {
    extrusions[extrusions.partition_point(|&o| o <= from)]
}

fn value_after(text: &str, prefix: &str) -> f32 {
    text.strip_prefix(prefix).and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{text:?}"))
}

#[test]
fn prusa_layers_start_at_each_layer_change_with_its_z_and_height() {
    for name in ["prusa_cube20.gcode", "prusa_two_objects_support.gcode", "prusa_vase.gcode"] {
        let data = read(name);
        let a = gcode::analyze(&data);
        let markers = lines_matching(&data, |t| t == ";LAYER_CHANGE");
        let ext = extrusions(&data);
        let zs = lines_matching(&data, |t| t.starts_with(";Z:"));
        let heights = lines_matching(&data, |t| t.starts_with(";HEIGHT:"));
        assert_eq!(a.layer_source, LayerSource::Comments, "{name}");
        assert_eq!(a.layers.len(), markers.len(), "{name}: one layer per ;LAYER_CHANGE");
        for (i, l) in a.layers.iter().enumerate() {
            let (offset, line, _) = &markers[i];
            assert_eq!((l.start_offset, l.start_line), (*offset, *line), "{name}: L{i} starts at its marker");
            // The ;Z: right after the marker, and the last ;HEIGHT: before the layer's first
            // extrusion (PrusaSlicer first gives the distance to the previous layer, which is a
            // support layer when supports are interleaved, then the extrusion's real height).
            let first = first_after(&ext, *offset);
            let z = zs.iter().find(|(o, _, _)| o > offset).map(|(_, _, t)| value_after(t, ";Z:")).unwrap();
            let h = heights.iter().filter(|(o, _, _)| o > offset && *o < first).last();
            let h = value_after(&h.unwrap().2, ";HEIGHT:");
            assert!((l.z - z).abs() < 1e-3, "{name}: L{i} z {} vs ;Z:{z}", l.z);
            assert!((l.height - h).abs() < 1e-3, "{name}: L{i} height {} vs ;HEIGHT:{h}", l.height);
            if i + 1 < a.layers.len() {
                assert_eq!(l.end_offset, markers[i + 1].0, "{name}: L{i} ends where the next begins");
            }
        }
        // The last layer ends with its last extrusion: the end code belongs to no layer.
        let last = a.layers.last().unwrap();
        assert!(a.layer_at_offset(last.end_offset).is_none());
        assert!(last.end_offset < data.len() as u64);
        assert_eq!(a.slicer.as_ref().map(|s| s.kind.clone()), Some(SlicerKind::PrusaSlicer));
        assert_eq!(a.slicer.as_ref().and_then(|s| s.version.clone()).as_deref(), Some("2.5.0"));
    }
}

#[test]
fn z_hops_are_measured_and_tolerated_when_following_a_print() {
    // prusa-printer.ini lifts 0.4 mm on retraction.
    let a = gcode::analyze(&read("prusa_cube20.gcode"));
    let hop = a.z_hop_mm.unwrap();
    assert!((hop - 0.4).abs() < 1e-3, "{hop}");
    let l10 = &a.layers[10];
    // Lifted above layer 10 by the hop: still layer 10 for a caller following the print...
    assert_eq!(a.layer_at_z_after(l10.z + 0.4, Some(10)).map(|l| l.index), Some(10));
    // ...but plain Z lookup maps it higher, and a bigger rise is a new layer.
    assert_eq!(a.layer_at_z(l10.z + 0.4).map(|l| l.index), Some(11));
    assert_eq!(a.layer_at_z_after(l10.z + 0.6, Some(10)).map(|l| l.index), Some(12));
    assert_eq!(a.layer_at_z_after(l10.z, None).map(|l| l.index), Some(10));
    // No hops in the Cura file (retraction_hop_enabled is off in its definition).
    assert_eq!(gcode::analyze(&read("cura_cube20.gcode")).z_hop_mm, None);
}

#[test]
fn prusa_filament_time_and_progress_match_the_slicer() {
    for name in ["prusa_cube20.gcode", "prusa_two_objects_support.gcode", "prusa_vase.gcode"] {
        let data = read(name);
        let a = gcode::analyze(&data);
        let reported = lines_matching(&data, |t| t.starts_with("; filament used [mm] ="));
        let reported: f64 = reported[0].2.split('=').nth(1).unwrap().trim().parse().unwrap();
        assert_eq!(a.reported_filament_mm, Some(reported));
        // What the layers deposit is what the slicer counts (it leaves out the purge line
        // and the retract/unretract pairs cancel out).
        let deposited: f64 = a.layers.iter().map(|l| f64::from(l.extruded_mm)).sum();
        assert!((deposited - reported).abs() / reported < 0.02, "{name}: {deposited} vs {reported}");
        assert!(a.warnings.is_empty(), "{name}: {:?}", a.warnings);
        // Time: slicer estimate from the header, per-layer times rising to it.
        let est = a.estimated_time_s.unwrap();
        assert_eq!(a.time_source, TimeSource::ScaledKinematic);
        let times: Vec<f64> = a.layers.iter().map(|l| l.time_at_start_s.unwrap()).collect();
        assert!(times.windows(2).all(|w| w[1] >= w[0]), "{name}: times go back");
        assert!(*times.last().unwrap() < est && *times.last().unwrap() > est * 0.8, "{name}: {times:?} vs {est}");
        assert_eq!(a.progress_source, ProgressSource::M73);
        // Progress from M73: each layer's value is the last M73 P before its first extrusion.
        let m73 = lines_matching(&data, |t| t.starts_with("M73 P"));
        let ext = extrusions(&data);
        for l in &a.layers {
            let first = first_after(&ext, l.start_offset);
            let last = m73.iter().filter(|(o, _, _)| *o < first).last().unwrap();
            let p = value_after(last.2.split(' ').nth(1).unwrap(), "P") / 100.0;
            let r = value_after(last.2.split(' ').nth(2).unwrap(), "R");
            assert_eq!(l.progress_at_start, Some(p), "{name}: L{}", l.index);
            assert_eq!(l.remaining_s_at_start, Some(f64::from(r) * 60.0), "{name}: L{}", l.index);
        }
    }
}

#[test]
fn prusa_features_follow_type_comments() {
    let data = read("prusa_cube20.gcode");
    let a = gcode::analyze(&data);
    let types = lines_matching(&data, |t| t.starts_with(";TYPE:"));
    assert!(types.len() > 100);
    for (offset, _, text) in &types {
        let want = Feature::from_slicer_name(&text[6..]);
        assert_eq!(a.feature_at_offset(*offset).as_ref(), Some(&want), "at {offset}");
        assert_eq!(a.feature_at_offset(*offset + text.len() as u64 + 1).as_ref(), Some(&want));
    }
    assert_eq!(a.feature_at_offset(0), None);
    // First layer: skirt, walls and solid infill; top layers: top surface; the middle: sparse infill.
    let names = |i: usize| a.layers[i].features.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert!(names(0).contains(&Feature::Skirt) && names(0).contains(&Feature::OuterWall));
    assert!(names(30).contains(&Feature::Infill) && !names(30).contains(&Feature::Skirt));
    assert!(names(a.layers.len() - 1).contains(&Feature::TopSurface));
}

#[test]
fn prusa_objects_and_supports() {
    let a = gcode::analyze(&read("prusa_two_objects_support.gcode"));
    let names: Vec<&str> = a.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["cube10.stl id:0 copy 0", "tee.stl id:1 copy 0"]);
    let (cube, tee) = (&a.objects[0], &a.objects[1]);
    let (cb, tb) = (cube.bbox.unwrap(), tee.bbox.unwrap());
    // A 10 mm cube (extrusion width makes the box a little smaller than the model).
    assert!((cb.size()[0] - 10.0).abs() < 0.6 && (cb.size()[2] - 9.6).abs() < 0.01, "{cb:?}");
    // The T's box includes the support printed under its label (its first layer is a wide
    // support base); its top layer is the 24 mm bar.
    let top = a.layers.last().unwrap();
    assert_eq!((top.z, top.objects.as_slice()), (12.9, &[1][..]));
    assert!((top.bbox.unwrap().size()[0] - 24.0).abs() < 0.6, "{:?}", top.bbox);
    assert!(tb.min[0] <= top.bbox.unwrap().min[0] && tb.max[2] == 12.9, "{tb:?}");
    let disjoint = cb.max[0] < tb.min[0] || tb.max[0] < cb.min[0] || cb.max[1] < tb.min[1] || tb.max[1] < cb.min[1];
    assert!(disjoint, "objects overlap: {cb:?} {tb:?}");
    assert_eq!((cube.first_layer, tee.first_layer), (Some(0), Some(0)));
    assert_eq!(a.layers[cube.last_layer.unwrap() as usize].z, 9.9);
    // Object footprints do not share cells; together they cover what the layers cover minus the skirt.
    let grid = a.grid.unwrap();
    assert!(cube.footprint.cells(&grid).all(|(c, r, _)| !tee.footprint.contains(&grid, c, r)));
    // Supports: interleaved support-only layers under the T's bar, none above it.
    let support_only: Vec<_> = a
        .layers
        .iter()
        .filter(|l| l.features.iter().all(|f| f.0 == Feature::Support || f.0 == Feature::SupportInterface))
        .collect();
    assert!(support_only.len() > 10);
    assert!(support_only.iter().all(|l| l.z < 10.0 && l.objects == [1]));
    assert!(a.layers.iter().any(|l| l.features.iter().any(|f| f.0 == Feature::SupportInterface)));
    // The T's bar overhangs: its first layer is wider than the stem.
    let bar = a.layers.iter().find(|l| l.z > 10.0 && l.objects.contains(&1)).unwrap();
    let stem = a.layers.iter().find(|l| l.z > 5.0 && l.objects == [0, 1]).unwrap();
    assert!(bar.bbox.unwrap().size()[0] > 2.0 * stem.bbox.unwrap().size()[0] / 2.0);
}

#[test]
fn sequential_print_goes_back_down_and_z_lookup_copes() {
    let a = gcode::analyze(&read("prusa_sequential.gcode"));
    assert_eq!(a.layers.len(), 66);
    let zs: Vec<f32> = a.layers.iter().map(|l| l.z).collect();
    assert_eq!(zs[0], 0.3);
    assert_eq!(zs[32], 9.9);
    assert_eq!(zs[33], 0.3, "the second cube starts from the bed");
    // layer_at_z: the first layer in file order at the highest Z not above the query.
    assert_eq!(a.layer_at_z(0.3).map(|l| l.index), Some(0));
    assert_eq!(a.layer_at_z(5.0).map(|l| l.index), Some(15));
    assert_eq!(a.layer_at_z(50.0).map(|l| l.index), Some(32));
    // Offsets still map exactly.
    assert_eq!(a.layer_at_offset(a.layers[40].start_offset).map(|l| l.index), Some(40));
    // Heights stay positive at the jump.
    assert!((a.layers[33].height - 0.3).abs() < 1e-6);
}

#[test]
fn cura_layers_from_layer_comments_and_the_z_they_move_to() {
    let data = read("cura_cube20.gcode");
    let a = gcode::analyze(&data);
    let markers = lines_matching(&data, |t| t.starts_with(";LAYER:"));
    let ext = extrusions(&data);
    let count = lines_matching(&data, |t| t.starts_with(";LAYER_COUNT:"));
    assert_eq!(a.reported_layer_count, Some(value_after(&count[0].2, ";LAYER_COUNT:") as u32));
    assert_eq!(a.layers.len(), markers.len());
    // Cura moves to the next layer's Z at the end of the previous layer, before `;LAYER:n`.
    let z_moves = lines_matching(&data, |t| (t.starts_with("G0 ") || t.starts_with("G1 ")) && t.contains(" Z"));
    for (i, l) in a.layers.iter().enumerate() {
        let (offset, line, text) = &markers[i];
        assert_eq!((l.start_offset, l.start_line), (*offset, *line));
        assert_eq!(l.slicer_layer, Some(value_after(text, ";LAYER:") as i64));
        let first = first_after(&ext, *offset);
        let z_text = &z_moves.iter().filter(|(o, _, _)| *o < first).last().unwrap().2;
        let z: f32 = z_text.split(' ').find_map(|w| w.strip_prefix('Z')).unwrap().parse().unwrap();
        assert!((l.z - z).abs() < 1e-4, "L{i}: {} vs {z}", l.z);
    }
    assert_eq!(a.slicer.as_ref().map(|s| s.kind.clone()), Some(SlicerKind::Cura));
    // CuraEngine alone writes `;TIME:6666` and `;Filament used: 0m`: placeholders, not figures.
    let elapsed = lines_matching(&data, |t| t.starts_with(";TIME_ELAPSED:"));
    let last = value_after(&elapsed.last().unwrap().2, ";TIME_ELAPSED:");
    assert!((a.estimated_time_s.unwrap() - f64::from(last)).abs() < 1e-3);
    assert_eq!(a.time_source, TimeSource::SlicerElapsed);
    assert_eq!(a.reported_filament_mm, None);
    // Per-layer time is the elapsed time at the end of the previous layer.
    for (i, l) in a.layers.iter().enumerate().skip(1) {
        let prev = elapsed.iter().filter(|(o, _, _)| *o < l.start_offset).last().unwrap();
        assert!((l.time_at_start_s.unwrap() - f64::from(value_after(&prev.2, ";TIME_ELAPSED:"))).abs() < 1e-3, "L{i}");
    }
    assert_eq!(a.objects.len(), 1);
    assert_eq!(a.objects[0].name, "cube20.stl");
    let walls = lines_matching(&data, |t| t == ";TYPE:WALL-INNER");
    assert_eq!(a.feature_at_offset(walls[3].0), Some(Feature::InnerWall));
    // The unexpanded `{machine_depth}` in Cura's end code is reported, with its line.
    let junk = lines_matching(&data, |t| t.contains("{machine_depth}"));
    assert_eq!(a.warnings.len(), 1);
    assert_eq!((a.warnings[0].line, a.warnings[0].kind.name()), (junk[0].1, "junk"));
}

/// The same print with and without comments must give the same layers: geometry
/// alone finds them (Z-hops on travel do not start layers; the vase spiral is
/// bucketed by layer height). Without comments the purge line, printed at the
/// first layer's height (cube) or just above it (vase), cannot be told apart from the print.
#[test]
fn stripping_comments_keeps_the_layers() {
    for (with, without, purge_layer) in [
        ("prusa_cube20.gcode", "nocomments_prusa_cube20.gcode", false),
        ("prusa_vase.gcode", "nocomments_prusa_vase.gcode", true),
    ] {
        let a = gcode::analyze(&read(with));
        let b = gcode::analyze(&read(without));
        assert_eq!(b.layer_source, LayerSource::Geometry);
        let skip = usize::from(purge_layer);
        assert_eq!(b.layers.len(), a.layers.len() + skip, "{without}");
        for (la, lb) in a.layers.iter().zip(&b.layers[skip..]) {
            assert!((la.z - lb.z).abs() < 1e-3, "{without}: L{} z {} vs {}", la.index, la.z, lb.z);
            let purge = if la.index == 0 && !purge_layer { 21.5 } else { 0.0 };
            let de = (la.extruded_mm + purge - lb.extruded_mm).abs();
            assert!(de < 0.05, "{without}: L{} extrusion {} vs {}", la.index, la.extruded_mm, lb.extruded_mm);
        }
    }
}
