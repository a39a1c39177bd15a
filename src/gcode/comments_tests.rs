//! Data-driven tests of comment classification, one slicer dialect per test.

use expect_test::{Expect, expect};

use super::*;

fn check(lines: &[&str], expect: Expect) {
    let out: String = lines
        .iter()
        .map(|l| {
            let c = l.strip_prefix(';').unwrap_or(l);
            format!("{l}\n    {:?}\n", classify(c.as_bytes()))
        })
        .collect();
    expect.assert_eq(&out);
}

#[test]
fn prusaslicer_and_orca() {
    check(
        &[
            ";LAYER_CHANGE",
            ";Z:0.4",
            ";HEIGHT:0.2",
            ";TYPE:External perimeter",
            "; CHANGE_LAYER",
            "; Z_HEIGHT: 0.6",
            "; LAYER_HEIGHT: 0.2",
            "; FEATURE: Outer wall",
            "; printing object cube.stl id:0 copy 0",
            "; stop printing object cube.stl id:0 copy 0",
            "; start printing object, unique label id: 15",
            "; stop printing object, unique label id: 15",
            "; estimated printing time (normal mode) = 1d 2h 3m 4s",
            "; estimated printing time (silent mode) = 2h",
            "; filament used [mm] = 123.45, 6.55",
            "; layer_height = 0.15",
            "; filament_diameter = 2.85,1.75",
            "; model printing time: 22m 6s; total estimated time: 28m 29s",
            "; total layer number: 50",
            "; total filament length [mm] : 1234.5",
            ";WIDTH:0.45",
        ],
        expect![[r#"
            ;LAYER_CHANGE
                LayerChange { slicer_layer: None, z: None, height: None }
            ;Z:0.4
                LayerZ(0.4)
            ;HEIGHT:0.2
                LayerHeight(0.2)
            ;TYPE:External perimeter
                Feature("External perimeter")
            ; CHANGE_LAYER
                LayerChange { slicer_layer: None, z: None, height: None }
            ; Z_HEIGHT: 0.6
                LayerZ(0.6)
            ; LAYER_HEIGHT: 0.2
                LayerHeight(0.2)
            ; FEATURE: Outer wall
                Feature("Outer wall")
            ; printing object cube.stl id:0 copy 0
                ObjectStart(Name("cube.stl id:0 copy 0"))
            ; stop printing object cube.stl id:0 copy 0
                ObjectStop(Name("cube.stl id:0 copy 0"))
            ; start printing object, unique label id: 15
                ObjectStart(Id(15))
            ; stop printing object, unique label id: 15
                ObjectStop(Id(15))
            ; estimated printing time (normal mode) = 1d 2h 3m 4s
                EstimatedTime(93784.0)
            ; estimated printing time (silent mode) = 2h
                Nothing
            ; filament used [mm] = 123.45, 6.55
                FilamentMm(130.0)
            ; layer_height = 0.15
                NominalLayerHeight(0.15)
            ; filament_diameter = 2.85,1.75
                FilamentDiameter(2.85)
            ; model printing time: 22m 6s; total estimated time: 28m 29s
                EstimatedTime(1709.0)
            ; total layer number: 50
                LayerCount(50)
            ; total filament length [mm] : 1234.5
                FilamentMm(1234.5)
            ;WIDTH:0.45
                Nothing
        "#]],
    );
}

#[test]
fn cura_simplify3d_ideamaker_kisslicer() {
    check(
        &[
            ";LAYER:0",
            ";LAYER:-2",
            ";LAYER_COUNT:100",
            ";TYPE:WALL-OUTER",
            ";MESH:cube.stl",
            ";MESH:NONMESH",
            ";TIME:6666",
            ";TIME_ELAPSED:123.5",
            ";Filament used: 1.2345m, 0.5m",
            ";Layer height: 0.2",
            "; layer 3, Z = 0.900",
            "; layer end",
            "; feature outer perimeter",
            ";   Build time: 1 hours 2 minutes",
            ";   Filament length: 1234.5 mm (1.23 m)",
            ";   layerHeight,0.2",
            ";Print Time: 3600",
            ";Material#1 Used: 987.6",
            "; BEGIN_LAYER_OBJECT z=0.300 z_thickness=0.300",
            "; 'Perimeter Path', 0.5 [feed mm/s], 20.0 [head mm/s]",
            "; Estimated Build Time:   12.5 minutes",
            ";LAYER:abc",
            ";TIME:",
            "",
        ],
        expect![[r#"
            ;LAYER:0
                LayerChange { slicer_layer: Some(0), z: None, height: None }
            ;LAYER:-2
                LayerChange { slicer_layer: Some(-2), z: None, height: None }
            ;LAYER_COUNT:100
                LayerCount(100)
            ;TYPE:WALL-OUTER
                Feature("WALL-OUTER")
            ;MESH:cube.stl
                ObjectStart(Name("cube.stl"))
            ;MESH:NONMESH
                ObjectStop(Current)
            ;TIME:6666
                EstimatedTime(6666.0)
            ;TIME_ELAPSED:123.5
                Elapsed(123.5)
            ;Filament used: 1.2345m, 0.5m
                FilamentMm(1734.5)
            ;Layer height: 0.2
                NominalLayerHeight(0.2)
            ; layer 3, Z = 0.900
                LayerChange { slicer_layer: Some(3), z: Some(0.9), height: None }
            ; layer end
                Nothing
            ; feature outer perimeter
                Feature("outer perimeter")
            ;   Build time: 1 hours 2 minutes
                EstimatedTime(3720.0)
            ;   Filament length: 1234.5 mm (1.23 m)
                FilamentMm(1234.5)
            ;   layerHeight,0.2
                NominalLayerHeight(0.2)
            ;Print Time: 3600
                EstimatedTime(3600.0)
            ;Material#1 Used: 987.6
                FilamentMm(987.6)
            ; BEGIN_LAYER_OBJECT z=0.300 z_thickness=0.300
                LayerChange { slicer_layer: None, z: Some(0.3), height: Some(0.3) }
            ; 'Perimeter Path', 0.5 [feed mm/s], 20.0 [head mm/s]
                Feature("Perimeter Path")
            ; Estimated Build Time:   12.5 minutes
                EstimatedTime(750.0)
            ;LAYER:abc
                Nothing
            ;TIME:
                Nothing

                Nothing
        "#]],
    );
}

#[test]
fn generator_lines() {
    let lines = [
        "; generated by PrusaSlicer 2.5.0+UNKNOWN on 2026-11-23 at 16:50:00 UTC",
        "; generated by SuperSlicer 2.5.59.2 on 2023-01-01",
        "; generated by OrcaSlicer 2.1.1 on 2024-08-01 at 10:00:00",
        "; BambuStudio 01.08.04.51",
        ";Generated with Cura_SteamEngine 4.13.0",
        "; G-Code generated by Simplify3D(R) Version 4.1.2",
        ";Sliced by ideaMaker 4.2.1.4954, 2022-01-01",
        "; KISSlicer - FREE",
        "; generated by Slic3r 1.3.0 on 2019-01-01",
        "; printing object cube",
        ";FLAVOR:Marlin",
    ];
    let out: String = lines
        .iter()
        .map(|l| format!("{}\n", detect_slicer(&l.as_bytes()[1..]).map_or("-".to_string(), |s| s.to_string())))
        .collect();
    expect![[r#"
        PrusaSlicer 2.5.0+UNKNOWN
        SuperSlicer 2.5.59.2
        OrcaSlicer 2.1.1
        BambuStudio 01.08.04.51
        Cura 4.13.0
        Simplify3D 4.1.2
        ideaMaker 4.2.1.4954
        KISSlicer
        Slic3r 1.3.0
        -
        -
    "#]]
    .assert_eq(&out);
}

#[test]
fn durations() {
    let cases = ["1h 2m 3s", "45s", "2d", "12.5 minutes", "1 hours 2 minutes", "3600", "10 20", "bogus", "", "5x"];
    let out: String = cases.iter().map(|c| format!("{c:<20} {:?}\n", parse_duration(c))).collect();
    expect![[r#"
        1h 2m 3s             Some(3723.0)
        45s                  Some(45.0)
        2d                   Some(172800.0)
        12.5 minutes         Some(750.0)
        1 hours 2 minutes    Some(3720.0)
        3600                 Some(3600.0)
        10 20                Some(30.0)
        bogus                None
                             None
        5x                   None
    "#]]
    .assert_eq(&out);
}
