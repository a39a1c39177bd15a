//! Analyzer tests on small hand-written programs, rendered as text and
//! compared with `expect_test` (the slicer fixtures are exercised by
//! `tests/gcode_*.rs`).

use std::fmt::Write as _;

use expect_test::{Expect, expect};

use super::*;

/// A compact, stable rendering of what matters in an analysis.
fn render(a: &Analysis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lines={} bytes={} source={:?} layers={} filament={:.3} max_z={} time={:.1}s",
        a.total_lines,
        a.total_bytes,
        a.layer_source,
        a.layers.len(),
        a.filament_mm,
        a.max_z,
        a.kinematic_time_s
    );
    for l in &a.layers {
        let _ = write!(
            out,
            "L{} z={} h={:.3} bytes={}..{} lines={}..{} e={:.3}",
            l.index, l.z, l.height, l.start_offset, l.end_offset, l.start_line, l.end_line, l.extruded_mm
        );
        if let Some(b) = l.bbox {
            let _ = write!(out, " xy=[{},{}]..[{},{}]", b.min[0], b.min[1], b.max[0], b.max[1]);
        }
        for (f, e) in &l.features {
            let _ = write!(out, " {f}:{e:.2}");
        }
        if !l.objects.is_empty() {
            let _ = write!(out, " objects={:?}", l.objects);
        }
        let _ = writeln!(out);
    }
    for o in &a.objects {
        let _ = writeln!(
            out,
            "object {} {:?} e={:.2} layers={:?}..{:?}",
            o.index, o.name, o.extruded_mm, o.first_layer, o.last_layer
        );
    }
    for w in &a.warnings {
        let _ = writeln!(out, "warning {w}");
    }
    out
}

fn check(program: &str, expect: Expect) {
    let a = analyze(program.as_bytes());
    // Streaming in small pieces must give the very same analysis.
    let mut s = Analyzer::new();
    for chunk in program.as_bytes().chunks(5) {
        s.feed(chunk);
    }
    assert_eq!(s.finish(), a, "streamed and whole-buffer analyses differ");
    a.check_invariants().unwrap();
    expect.assert_eq(&render(&a));
}

#[test]
fn geometry_layers_with_z_hop_and_relative_extrusion() {
    check(
        "G28\nG1 Z5 F3000\nG1 Z0.2\nM83\nG1 X10 Y0 E1\nG1 X10 Y10 E1\n\
         G1 Z0.6 ; hop\nG1 X0 Y0\nG1 Z0.2\nG1 X5 Y5 E0.5\n\
         G1 E-1\nG1 Z0.4\nG1 X0 Y0\nG1 E1\nG1 X10 Y0 E1\nG1 Z10\nM104 S0\n",
        expect![[r#"
            lines=17 bytes=158 source=Geometry layers=2 filament=3.500 max_z=0.4 time=1.6s
            L0 z=0.2 h=0.200 bytes=16..107 lines=3..12 e=2.500 xy=[0,0]..[10,10]
            L1 z=0.4 h=0.200 bytes=107..143 lines=12..16 e=1.000 xy=[0,0]..[10,0]
        "#]],
    );
}

#[test]
fn prusa_style_markers_drop_the_purge_line() {
    check(
        "M83\nG1 Z0.2\nG1 X60 E9 ; purge\n;LAYER_CHANGE\n;Z:0.2\n;HEIGHT:0.2\n;TYPE:Skirt/Brim\nG1 X0 Y0\nG1 X10 E1\n\
         ;TYPE:External perimeter\nG1 Y10 E2\n;LAYER_CHANGE\n;Z:0.4\n;HEIGHT:0.2\nG1 Z0.4\n;TYPE:Perimeter\nG1 X0 E1\n\
         ;HEIGHT:0.3\nG1 Y0 E0.5\nG1 Z5\n",
        expect![[r#"
            lines=20 bytes=229 source=Comments layers=2 filament=13.500 max_z=0.4 time=5.5s
            L0 z=0.2 h=0.200 bytes=30..134 lines=4..12 e=3.000 xy=[0,0]..[10,10] skirt:1.00 outer_wall:2.00
            L1 z=0.4 h=0.200 bytes=134..223 lines=12..20 e=1.500 xy=[0,0]..[10,10] inner_wall:1.50
        "#]],
    );
}

#[test]
fn cura_markers_objects_and_layer_count() {
    check(
        ";FLAVOR:Marlin\n;LAYER_COUNT:3\n;LAYER:0\n;MESH:a.stl\nG0 Z0.3\nG1 X5 E1\n;MESH:NONMESH\nG0 X20\n\
         ;MESH:b.stl\nG1 X25 E2\n\
         ;LAYER:1\n;MESH:a.stl\nG0 Z0.5\nG1 X5 E3\n;TIME_ELAPSED:12.5\n",
        expect![[r#"
            lines=15 bytes=168 source=Comments layers=2 filament=3.000 max_z=0.5 time=1.5s
            L0 z=0.3 h=0.300 bytes=30..111 lines=3..11 e=2.000 xy=[0,0]..[25,0] objects=[0, 1]
            L1 z=0.5 h=0.200 bytes=111..149 lines=11..15 e=1.000 xy=[5,0]..[25,0] objects=[0]
            object 0 "a.stl" e=2.00 layers=Some(0)..Some(1)
            object 1 "b.stl" e=1.00 layers=Some(0)..Some(0)
            warning line 0: slicer reports 3 layers, 2 found
        "#]],
    );
}

#[test]
fn vase_mode_without_markers_is_bucketed_by_layer_height() {
    let mut p = String::from("M83\nG1 Z0.2\nG1 X10 E1\nG1 Y10 E1\nG1 Z0.4\nG1 X0 E1\n");
    // A spiral: Z rises 0.05 mm per move while extruding, for 1 mm.
    let mut z = 0.4;
    for i in 0..20 {
        z += 0.05;
        let (x, y) = if i % 2 == 0 { (10, 0) } else { (0, 10) };
        p.push_str(&format!("G1 X{x} Y{y} Z{z:.2} E0.5\n"));
    }
    let a = analyze(p.as_bytes());
    let zs: Vec<f32> = a.layers.iter().map(|l| l.z).collect();
    expect![[r#"
        [
            0.2,
            0.4,
            0.6,
            0.8,
            1.0,
            1.2,
            1.4,
        ]
    "#]]
    .assert_debug_eq(&zs);
}

#[test]
fn arcs_count_extrusion_and_widen_the_box() {
    check(
        "G21\nG90\nM82\nG92 E0\nG1 Z0.2\nG1 X10 Y0\nG3 X-10 Y0 I-10 J0 E5\nG3 X10 Y0 R10 E10\nG20\nG1 X0.5 E0.44\n",
        expect![[r#"
            lines=10 bytes=95 source=Geometry layers=1 filament=11.176 max_z=0.2 time=2.5s
            L0 z=0.2 h=0.200 bytes=19..95 lines=5..11 e=11.176 xy=[-10,-10]..[12.7,10]
        "#]],
    );
}

#[test]
fn garbage_is_counted_and_survived() {
    check(
        "M83\nG1 Z0.2\nG1 X10 E1\n\x00\x01\x02G1 Z99 E50\n#!junk here\nG1 X1e999 E2\nG1 X5e4 E2\n\
         G1 X10 Y10 E3\nG1 X200000 E4\n",
        expect![[r#"
            lines=9 bytes=100 source=Geometry layers=1 filament=8.000 max_z=0.2 time=3333.1s
            L0 z=0.2 h=0.200 bytes=4..86 lines=2..9 e=6.000 xy=[0,0]..[50000,10]
            warning line 4: binary data (control bytes); line ignored
            warning line 5: junk bytes (not G-code)
            warning line 6: number is not finite
            warning line 9: coordinate beyond ±100 m; move ignored
        "#]],
    );
}

#[test]
fn lookups_at_layer_boundaries() {
    let a = analyze(
        b"G1 Z5\n;LAYER_CHANGE\n;TYPE:Perimeter\nG1 Z0.2\nG1 X10 E1\n;LAYER_CHANGE\nG1 Z0.4\n\
          ;TYPE:Internal infill\nG1 X0 E2\nG1 Z10\n",
    );
    assert_eq!(a.layers.len(), 2);
    let (l0, l1) = (&a.layers[0], &a.layers[1]);
    assert_eq!(a.layer_at_offset(l0.start_offset - 1).map(|l| l.index), None);
    assert_eq!(a.layer_at_offset(l0.start_offset).map(|l| l.index), Some(0));
    assert_eq!(a.layer_at_offset(l1.start_offset - 1).map(|l| l.index), Some(0));
    assert_eq!(a.layer_at_offset(l1.start_offset).map(|l| l.index), Some(1));
    assert_eq!(a.layer_at_offset(l1.end_offset - 1).map(|l| l.index), Some(1));
    assert_eq!(a.layer_at_offset(l1.end_offset).map(|l| l.index), None, "end code belongs to no layer");
    assert_eq!(a.layer_at_or_before_offset(u64::MAX).map(|l| l.index), Some(1));
    assert_eq!(a.layer_at_line(l0.start_line).map(|l| l.index), Some(0));
    assert_eq!(a.layer_at_line(l1.start_line - 1).map(|l| l.index), Some(0));
    assert_eq!(a.layer_at_line(l1.start_line).map(|l| l.index), Some(1));
    assert_eq!(a.layer_at_line(0), None);
    assert_eq!(a.layer_at_z(0.1).map(|l| l.index), None);
    assert_eq!(a.layer_at_z(0.2).map(|l| l.index), Some(0));
    assert_eq!(a.layer_at_z(0.398).map(|l| l.index), Some(0));
    assert_eq!(a.layer_at_z(0.4).map(|l| l.index), Some(1));
    assert_eq!(a.layer_at_z(0.3995).map(|l| l.index), Some(1), "1 µm tolerance");
    assert_eq!(a.layer_at_z(7.0).map(|l| l.index), Some(1));
    assert_eq!(a.layer_at_z(f32::NAN), None);
    assert_eq!(a.feature_at_offset(0), None);
    assert_eq!(a.feature_at_offset(l0.start_offset + 15), Some(Feature::InnerWall));
    assert_eq!(a.feature_at_offset(l1.end_offset - 1), Some(Feature::Infill));
    let all = a.cumulative_footprint(1);
    assert_eq!(all, a.cumulative_footprint(99));
    assert!(all.len() >= a.layers[0].footprint.len());
}

#[test]
fn empty_and_comment_only_inputs() {
    for input in [&b""[..], b"\n", b";LAYER_CHANGE\n;LAYER_CHANGE\n", b"GCDE\x01\x00\x00\x00", b"G1 X1 Y1\n"] {
        let a = analyze(input);
        assert!(a.layers.is_empty(), "{input:?}");
        assert!(a.grid.is_none());
        assert_eq!(a.layer_at_offset(0), None);
        assert_eq!(a.layer_at_z(1.0), None);
    }
    let a = analyze(b"GCDE\x01\x00\x00\x00\n");
    assert_eq!(a.warnings[0].kind, WarningKind::BinaryGcodeFormat);
}

#[test]
fn planned_pauses_and_a_byte_order_mark() {
    let a = analyze(
        b"\xEF\xBB\xBF;LAYER_CHANGE\nM83\nG1 Z0.2\nG1 X10 E1\n;LAYER_CHANGE\nG1 Z0.4\nM600\nG1 X0 E1\nPAUSE\nM601\nG1 Z5\n",
    );
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert_eq!(a.layers.len(), 2);
    let pauses: Vec<(PauseKind, u64, Option<u32>)> =
        a.planned_pauses.iter().map(|p| (p.kind, p.line, p.layer)).collect();
    assert_eq!(
        pauses,
        [(PauseKind::FilamentChange, 7, Some(1)), (PauseKind::Pause, 9, Some(1)), (PauseKind::Pause, 10, Some(1))]
    );
}
