//! What the geometry layer costs: advancing the expected-print mask by one
//! layer (the per-layer update the checks and the ROI need), a whole print's
//! masks from scratch, and one judged layer-change frame of the checks; and
//! what the daemon pays live (`GeometryFeed`): a frame that is not a layer
//! change (no pixels read), a layer change with its 1280 × 720 JPEG read by
//! `vision::grey_for_checks` and checked, and the overlay of a layer.
//!
//! `cargo bench --bench geometry`. The print is a 40 × 40 mm hollow tower of
//! 100 layers (3 perimeters, so about 500 footprint cells a layer) seen by a
//! 1280 × 720 camera, mask 160 px wide.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use layerwatch::decision::{GeometryChecker, GeometryConfig, GeometryFeed};
use layerwatch::domain::{FrameImage, PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};
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

fn printing(layer: u32) -> PrinterStatus {
    PrinterStatus {
        state: PrinterState::Printing {
            job: PrintJob { file: "t.gcode".into(), layer: Some(layer), ..Default::default() },
        },
        temps: Temperatures::default(),
        at: Timestamp(0),
    }
}

/// A 1280 × 720 camera JPEG with some texture (quality 90).
fn camera_jpeg() -> FrameImage {
    use opencv::core::{Mat, Scalar, Vector};
    use opencv::prelude::VectorToVec;
    let mut m = Mat::new_rows_cols_with_default(720, 1280, opencv::core::CV_8UC3, Scalar::all(90.0)).unwrap();
    for i in 0..40 {
        let r = opencv::core::Rect::new((i * 31) % 1200, (i * 17) % 680, 60, 30);
        opencv::imgproc::rectangle(&mut m, r, Scalar::new(40.0 + i as f64 * 4.0, 120.0, 200.0, 0.0), -1, 8, 0).unwrap();
    }
    let mut out = Vector::<u8>::new();
    opencv::imgcodecs::imencode(
        ".jpg",
        &m,
        &mut out,
        &Vector::from_slice(&[opencv::imgcodecs::IMWRITE_JPEG_QUALITY, 90]),
    )
    .unwrap();
    FrameImage::Jpeg(out.to_vec().into())
}

fn bench_live(c: &mut Criterion) {
    let a = tower();
    let cam = Camera::look_at(1280, 720, [120.0, -80.0, 120.0], [120.0, 120.0, 10.0], 60.0);
    let base = ExpectedPrint::new(&a, &cam, 160).expect("a print");
    let jpeg = camera_jpeg();
    let read = |f: &FrameImage, mask: (u32, u32)| layerwatch::vision::grey_for_checks(f, (1280, 720), mask);
    let fed_to = |layer: u32| {
        let mut feed = GeometryFeed::new(GeometryChecker::new(&GeometryConfig::default(), base.clone()));
        let mask = feed.checker().frame_size();
        feed.push(jpeg.clone(), None, |f| read(f, mask)).unwrap();
        for l in 0..=layer {
            feed.push(jpeg.clone(), Some(&printing(l)), |f| read(f, mask)).unwrap();
        }
        feed
    };
    c.bench_function("live: a frame that is not a layer change (layer 50)", |b| {
        let mut feed = fed_to(50);
        let st = printing(50);
        let mask = feed.checker().frame_size();
        b.iter(|| black_box(feed.push(jpeg.clone(), Some(&st), |f| read(f, mask)).unwrap().read))
    });
    c.bench_function("live: a layer change, 1280x720 JPEG read and checked (layer 51)", |b| {
        let st = printing(51);
        b.iter_batched(
            || fed_to(50),
            |mut feed| {
                let mask = feed.checker().frame_size();
                black_box(feed.push(jpeg.clone(), Some(&st), |f| read(f, mask)).unwrap().stats)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    c.bench_function("live: reading a 1280x720 JPEG for the checks", |b| {
        b.iter(|| black_box(read(&jpeg, (160, 90)).unwrap().data.len()))
    });
    c.bench_function("live: the overlay of layer 50 (outline + ROI)", |b| {
        let ch = GeometryChecker::new(&GeometryConfig::default(), base.clone());
        b.iter(|| black_box(ch.overlay(50, 0.15).outline.len()))
    });
}

criterion_group!(benches, bench, bench_live);
criterion_main!(benches);
