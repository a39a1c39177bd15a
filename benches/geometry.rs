//! What the geometry layer costs: advancing the expected-print mask by one
//! layer (the per-layer update the checks and the ROI need), a whole print's
//! masks from scratch, and one judged layer-change frame of the checks.
//!
//! `cargo bench --bench geometry`. The print is a 40 × 40 mm hollow tower of
//! 100 layers (3 perimeters, so about 500 footprint cells a layer) seen by a
//! 1280 × 720 camera, mask 160 px wide.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use layerwatch::decision::{GeometryChecker, GeometryConfig};
use layerwatch::geometry::{Camera, ExpectedPrint, Grey};

fn tower() -> layerwatch::gcode::Analysis {
    let mut g = String::from("M83\n");
    for i in 0..100 {
        let z = 0.2 * (i + 1) as f32;
        g.push_str(&format!(";LAYER_CHANGE\n;Z:{z}\nG1 Z{z} F600\n"));
        for k in 0..3 {
            let (a, b) = (100.0 + k as f32 * 0.45, 140.0 - k as f32 * 0.45);
            g.push_str(&format!("G1 X{a} Y{a}\n"));
            for (x, y) in [(b, a), (b, b), (a, b), (a, a)] {
                g.push_str(&format!("G1 X{x} Y{y} E1.5 F1800\n"));
            }
        }
    }
    layerwatch::gcode::analyze(g.as_bytes())
}

fn bench(c: &mut Criterion) {
    let a = tower();
    let cam = Camera::look_at(1280, 720, [120.0, -80.0, 120.0], [120.0, 120.0, 10.0], 60.0);
    let base = ExpectedPrint::new(&a, &cam, 160).expect("a print");
    c.bench_function("mask: advance one layer (layer 50 -> 51)", |b| {
        let mut at50 = base.clone();
        at50.advance_to(50);
        b.iter_batched(
            || at50.clone(),
            |mut e| {
                e.advance_to(51);
                black_box(e.first_layer().len())
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("mask: all 100 layers from scratch", |b| {
        b.iter_batched(
            || base.clone(),
            |mut e| {
                e.advance_to(99);
                black_box(e.first_layer().len())
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("checks: one judged layer-change frame (layer 50)", |b| {
        let (w, h) = (base.width(), base.height());
        let empty = Grey::new(w, h, 90);
        let frame = Grey { width: w, height: h, data: (0..w * h).map(|i| (90 + (i % 7) * 20) as u8).collect() };
        b.iter_batched(
            || {
                let mut ch = GeometryChecker::new(&GeometryConfig::default(), base.clone());
                ch.observe(&empty, false, None);
                ch.observe(&frame, true, Some(49));
                ch
            },
            |mut ch| black_box(ch.observe(&frame, true, Some(50))),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
