//! Which object is at a point of the bed: the pure lookup that localises a
//! failure seen at a bed position (mm, printer coordinates) to one object of
//! the print, so that object alone can be cancelled.
//!
//! An object's shape is what it deposits over the whole print (its footprint
//! on `Analysis::grid`), else its box (`PrintObject::bbox`), else the outline
//! Klipper's `EXCLUDE_OBJECT_DEFINE POLYGON=` declares. Only objects that
//! print on the given layer count (`first_layer..=last_layer`). The answer is
//! `None` when nothing is within [`OBJECT_MARGIN_MM`] of the point, or when
//! the point is as good as equally near two objects (both contain it, or the
//! two nearest are less than [`AMBIGUITY_MM`] apart): a wrong object cancelled
//! is worse than a pause.

use super::model::{Analysis, PrintObject};

/// How far outside an object's shape a point still counts as on the object (mm).
pub const OBJECT_MARGIN_MM: f32 = 3.0;
/// Two candidates whose distances differ by less than this are ambiguous (mm).
pub const AMBIGUITY_MM: f32 = 1.0;

/// The index (into `Analysis::objects`) of the object at `bed_xy_mm` on `layer`
/// (0-based `Layer::index`); see the module doc for the rule.
pub fn object_at(analysis: &Analysis, bed_xy_mm: [f32; 2], layer: u32) -> Option<u32> {
    if !bed_xy_mm.iter().all(|v| v.is_finite()) {
        return None;
    }
    let mut near: Vec<(f32, u32)> = analysis
        .objects
        .iter()
        .filter(|o| on_layer(o, layer))
        .filter_map(|o| distance(analysis, o, bed_xy_mm).map(|d| (d, o.index)))
        .filter(|(d, _)| *d <= OBJECT_MARGIN_MM)
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    match near.as_slice() {
        [] => None,
        [(_, only)] => Some(*only),
        [(d0, first), (d1, _), ..] => (d1 - d0 >= AMBIGUITY_MM).then_some(*first),
    }
}

/// Whether `object` prints on `layer` (objects without a known layer range count everywhere).
pub fn on_layer(object: &PrintObject, layer: u32) -> bool {
    match (object.first_layer, object.last_layer) {
        (Some(first), Some(last)) => (first..=last).contains(&layer),
        _ => true,
    }
}

/// Distance (mm) from the point to the object's shape: 0 inside; `None` when the object has no shape.
fn distance(analysis: &Analysis, o: &PrintObject, p: [f32; 2]) -> Option<f32> {
    if let Some(grid) = analysis.grid.as_ref().filter(|_| !o.footprint.is_empty()) {
        let half = grid.cell_mm / 2.0;
        return o
            .footprint
            .cells(grid)
            .map(|(c, r, _)| {
                let [cx, cy] = grid.cell_center(c, r);
                rect_distance(p, [cx - half, cy - half], [cx + half, cy + half])
            })
            .min_by(f32::total_cmp);
    }
    if let Some(b) = o.bbox {
        return Some(rect_distance(p, [b.min[0], b.min[1]], [b.max[0], b.max[1]]));
    }
    o.polygon.as_ref().filter(|poly| poly.len() >= 3).map(|poly| polygon_distance(p, poly))
}

fn rect_distance(p: [f32; 2], min: [f32; 2], max: [f32; 2]) -> f32 {
    let dx = (min[0] - p[0]).max(0.0).max(p[0] - max[0]);
    let dy = (min[1] - p[1]).max(0.0).max(p[1] - max[1]);
    (dx * dx + dy * dy).sqrt()
}

/// 0 inside (even-odd rule), else the distance to the nearest edge.
fn polygon_distance(p: [f32; 2], poly: &[[f32; 2]]) -> f32 {
    let mut inside = false;
    let mut best = f32::INFINITY;
    for (i, a) in poly.iter().enumerate() {
        let b = poly[(i + 1) % poly.len()];
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
        best = best.min(segment_distance(p, *a, b));
    }
    if inside { 0.0 } else { best }
}

fn segment_distance(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let (qx, qy) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    (qx * qx + qy * qy).sqrt()
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn two_objects() -> Analysis {
        let text =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcode/prusa_two_objects_support.gcode"))
                .unwrap();
        crate::gcode::analyze(&text)
    }

    /// One line per probe: the point, the layer and the object found.
    fn check(a: &Analysis, probes: &[([f32; 2], u32)], want: Expect) {
        let mut out = String::new();
        for (p, layer) in probes {
            let found = object_at(a, *p, *layer).map(|i| a.objects[i as usize].name.as_str());
            out.push_str(&format!("({:>5.1},{:>5.1}) L{layer:<3} {}\n", p[0], p[1], found.unwrap_or("-")));
        }
        want.assert_eq(&out);
    }

    #[test]
    fn finds_the_object_under_a_point_and_refuses_to_guess() {
        let a = two_objects();
        let boxes: Vec<String> = a
            .objects
            .iter()
            .map(|o| {
                let b = o.bbox.unwrap();
                format!("{} {:?}..{:?} L{:?}-{:?}", o.name, b.min, b.max, o.first_layer, o.last_layer)
            })
            .collect();
        expect![[r#"
            [
                "cube10.stl id:0 copy 0 [120.225, 106.225, 0.3]..[129.775, 115.775, 9.9] LSome(0)-Some(64)",
                "tee.stl id:1 copy 0 [107.954, 88.461, 0.3]..[142.046, 105.539, 12.9] LSome(0)-Some(74)",
            ]
        "#]]
        .assert_debug_eq(&boxes);
        check(
            &a,
            &[
                ([125.0, 105.0], 5),
                ([140.0, 97.0], 5),
                ([125.0, 111.5], 5),
                ([125.0, 140.0], 5),
                ([125.0, 105.0], 70),
                ([f32::NAN, 1.0], 5),
            ],
            expect![[r#"
                (125.0,105.0) L5   -
                (140.0, 97.0) L5   tee.stl id:1 copy 0
                (125.0,111.5) L5   cube10.stl id:0 copy 0
                (125.0,140.0) L5   -
                (125.0,105.0) L70  tee.stl id:1 copy 0
                (  NaN,  1.0) L5   -
            "#]],
        );
    }

    #[test]
    fn declared_polygons_serve_when_nothing_was_deposited() {
        let mut a = crate::gcode::analyze(b"");
        for (i, x) in [0.0f32, 50.0].into_iter().enumerate() {
            a.objects.push(PrintObject {
                index: i as u32,
                name: format!("o{i}"),
                center: None,
                polygon: Some(vec![[x, 0.0], [x + 20.0, 0.0], [x + 20.0, 20.0], [x, 20.0]]),
                bbox: None,
                extruded_mm: 0.0,
                first_layer: None,
                last_layer: None,
                footprint: Default::default(),
                m486_id: None,
            });
        }
        check(
            &a,
            &[([10.0, 10.0], 0), ([22.0, 10.0], 0), ([35.0, 10.0], 0), ([69.0, 21.0], 3)],
            expect![[r#"
            ( 10.0, 10.0) L0   o0
            ( 22.0, 10.0) L0   o0
            ( 35.0, 10.0) L0   -
            ( 69.0, 21.0) L3   o1
        "#]],
        );
        assert_eq!(rect_distance([3.0, 4.0], [0.0, 0.0], [0.0, 0.0]), 5.0);
    }
}
