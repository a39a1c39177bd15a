//! The hand-made edge-case fixtures (see tests/fixtures/gcode/README.md):
//! each one's point, asserted directly.

mod gcode_common;

use gcode_common::{lines_matching, read};
use layerwatch::gcode::{self, Feature, LayerSource, SlicerKind, WarningKind};

#[test]
fn junk_and_binary_are_counted_with_their_lines_and_change_nothing() {
    let data = read("edge/junk_binary.gcode");
    let a = gcode::analyze(&data);
    let kinds: Vec<(u64, &str)> = a.warnings.iter().map(|w| (w.line, w.kind.name())).collect();
    let line_of = |needle: &str| lines_matching(&data, |t| t.contains(needle))[0].1;
    assert_eq!(
        kinds,
        [
            (line_of("garbage"), "binary"),
            (line_of("#!junk"), "junk"),
            (line_of("xxxxxxxx"), "overlong"),
            (line_of("N10 G1"), "checksum_mismatch"),
            (line_of("X1e999"), "bad_number"),
            (line_of("X110 X110"), "duplicate_word"),
        ]
    );
    // The binary line says `G1 Z50 E100`: ignored, so nothing rises to 50 mm and nothing is extruded by it.
    assert_eq!(a.max_z, 0.6);
    assert!(a.filament_mm < 10.0);
    assert_eq!(a.layers.len(), 3);
    // The overlong line sits inside layer 1 and does not shift any offset.
    let long = lines_matching(&data, |t| t.starts_with(";xxxx"))[0].0;
    assert_eq!(a.layer_at_offset(long).map(|l| l.index), Some(1));
    assert_eq!(a.layer_at_offset(long + 15_000).map(|l| l.index), Some(1));
    assert_eq!(a.layers[2].start_offset, lines_matching(&data, |t| t == ";LAYER_CHANGE")[2].0);
    assert_eq!(a.layers[1].features, [(Feature::OuterWall, a.layers[1].extruded_mm)]);
}

#[test]
fn crlf_lone_cr_and_no_final_newline() {
    let data = read("edge/crlf_no_final_newline.gcode");
    assert!(data.windows(2).any(|w| w == b"\r\n") && !data.ends_with(b"\n"));
    let a = gcode::analyze(&data);
    assert_eq!(a.layers.len(), 3);
    assert_eq!(a.reported_layer_count, Some(3));
    let markers = lines_matching(&data, |t| t.starts_with(";LAYER:"));
    for (l, m) in a.layers.iter().zip(&markers) {
        assert_eq!((l.start_offset, l.start_line), (m.0, m.1));
    }
    let zs: Vec<f32> = a.layers.iter().map(|l| l.z).collect();
    assert_eq!(zs, [0.3, 0.6, 0.9]);
    assert_eq!(a.warnings.len(), 1);
    assert_eq!(a.warnings[0].kind, WarningKind::NoFinalNewline);
    assert_eq!(a.warnings[0].line, a.total_lines);
    // Absolute E through G92: 4 sides × 10 mm × 0.05 per layer.
    for l in &a.layers {
        assert!((l.extruded_mm - 2.0).abs() < 1e-4, "{}", l.extruded_mm);
    }
    assert_eq!(a.estimated_time_s, Some(30.0), "the last ;TIME_ELAPSED:");
}

#[test]
fn relative_extrusion_arcs_and_z_hops_without_comments() {
    let a = gcode::analyze(&read("edge/relative_e_arcs.gcode"));
    assert_eq!(a.layer_source, LayerSource::Geometry);
    let zs: Vec<f32> = a.layers.iter().map(|l| l.z).collect();
    assert_eq!(zs, [0.2, 0.4, 0.6], "Z-hops to z+0.4 during travel start no layer");
    for l in &a.layers {
        // Square 2.0 + full circle 0.94 + half circle 0.47 + 0.05 + 0.05 + the unretracted 0.05 move.
        assert!((l.extruded_mm - 3.56).abs() < 1e-4, "{}", l.extruded_mm);
        let b = l.bbox.unwrap();
        // The circle (center 105,105, r 3) stays inside the square; the last move reaches (91, 90).
        assert_eq!((b.min[0], b.min[1], b.max[0], b.max[1]), (90.0, 90.0, 110.0, 110.0));
    }
    // Net filament: each layer's deposits, minus the last retraction (-1 after G92).
    assert!((a.filament_mm - (3.0 * 3.56 - 1.0)).abs() < 1e-3, "{}", a.filament_mm);
    // The half circle from (102,105) to (108,105) by R3, counter-clockwise, passes below the centre.
    let grid = a.grid.unwrap();
    let (c, r) = grid.cell_of(105.0, 102.05).unwrap();
    assert!(a.layers[0].footprint.contains(&grid, c, r), "arc bottom not in the footprint");
}

#[test]
fn klipper_labels_with_doubled_orca_markers() {
    let a = gcode::analyze(&read("edge/klipper_objects.gcode"));
    assert_eq!(a.slicer.as_ref().map(|s| s.kind.clone()), Some(SlicerKind::OrcaSlicer));
    assert_eq!(a.layers.len(), 3, "`; CHANGE_LAYER` and `;LAYER_CHANGE` for the same layer count once");
    assert_eq!(a.reported_layer_count, Some(3));
    assert_eq!(a.objects.len(), 2);
    let (left, right) = (&a.objects[0], &a.objects[1]);
    assert_eq!((left.name.as_str(), left.center), ("left_cube", Some([105.0, 105.0])));
    assert_eq!(right.polygon.as_deref(), Some(&[[120.0, 100.0], [130.0, 100.0], [130.0, 110.0], [120.0, 110.0]][..]));
    for l in &a.layers {
        assert_eq!(l.objects, [0, 1]);
        let names: Vec<&Feature> = l.features.iter().map(|f| &f.0).collect();
        assert_eq!(names, [&Feature::OuterWall, &Feature::Infill]);
    }
    let grid = a.grid.unwrap();
    let (lc, lr) = grid.cell_of(100.1, 100.1).unwrap();
    let (rc, rr) = grid.cell_of(129.9, 100.1).unwrap();
    assert!(left.footprint.contains(&grid, lc, lr) && !left.footprint.contains(&grid, rc, rr));
    assert!(right.footprint.contains(&grid, rc, rr) && !right.footprint.contains(&grid, lc, lr));
    assert!((left.extruded_mm - right.extruded_mm).abs() < 1e-4);
}

#[test]
fn m486_names_and_simplify3d_comments() {
    let a = gcode::analyze(&read("edge/m486_objects.gcode"));
    assert_eq!(a.slicer.as_ref().map(|s| s.to_string()).as_deref(), Some("Simplify3D 4.1.2"));
    let names: Vec<&str> = a.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["left part", "right_part"]);
    assert_eq!(a.layer_height, Some(0.25));
    assert_eq!(a.estimated_time_s, Some(180.0));
    assert_eq!(a.reported_filament_mm, Some(12.0));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    let zs: Vec<(f32, Option<i64>)> = a.layers.iter().map(|l| (l.z, l.slicer_layer)).collect();
    assert_eq!(zs, [(0.25, Some(1)), (0.5, Some(2)), (0.75, Some(3))]);
    for o in &a.objects {
        assert_eq!((o.first_layer, o.last_layer), (Some(0), Some(2)));
        assert!((o.extruded_mm - 6.0).abs() < 1e-4);
    }
}
