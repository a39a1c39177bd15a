//! How fast `Decider::step` runs: the hot path of the daemon and of `eval`'s
//! parameter sweeps (which replay recorded score sequences thousands of times).
//!
//! `cargo bench --bench decision_step` reports steps/s for one judged frame,
//! one frame with a G-code expectation, a replay of a 10-hour print (18,000
//! frames, fresh decider each time) and the cost of building a decider.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use layerwatch::decision::{Decider, DecisionParams, FeatureMix, LayerExpectation};
use layerwatch::domain::{
    ClassScore, FrameScore, PrintJob, PrinterState, PrinterStatus, Scores, Temperatures, Timestamp,
};

/// A 5-class frame whose numbers are rewritten in place (no allocation per step).
fn frame() -> FrameScore {
    let classes = ["normal", "spaghetti", "stringing", "surface", "other_failure"]
        .iter()
        .map(|l| ClassScore { label: (*l).into(), p: 0.0 })
        .collect();
    FrameScore {
        seq: 0,
        captured_at: Timestamp(0),
        scores: Scores { failure: 0.0, classes },
        brightness: 110.0,
        fingerprint: 0,
        latency_ms: 10.0,
    }
}

fn printing(layer: u32) -> PrinterStatus {
    let job = PrintJob {
        file: "benchy.gcode".into(),
        layer: Some(layer),
        layer_count: Some(300),
        z: Some(10.0),
        progress: Some(0.3),
        file_position: Some(123_456),
        ..Default::default()
    };
    PrinterStatus { state: PrinterState::Printing { job }, temps: Temperatures::default(), at: Timestamp(0) }
}

/// A cheap deterministic score in 0..1 (xorshift), mostly low with occasional highs.
fn score(state: &mut u64) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let u = (*state >> 40) as f32 / (1u64 << 24) as f32;
    if u > 0.995 { u } else { u * 0.15 }
}

fn set(f: &mut FrameScore, i: u64, p: f32) {
    f.seq = i;
    f.captured_at = Timestamp(i as i64 * 2000);
    f.fingerprint = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    f.scores.failure = p;
    f.scores.classes[0].p = 1.0 - p;
    f.scores.classes[1].p = p * 0.85;
    f.scores.classes[2].p = p * 0.05;
    f.scores.classes[3].p = p * 0.05;
    f.scores.classes[4].p = p * 0.05;
}

fn bench(c: &mut Criterion) {
    let params = DecisionParams::default();
    let status = printing(120);
    let expect = LayerExpectation {
        layer: 120,
        layer_count: Some(300),
        z: 24.2,
        layer_height: 0.2,
        extruded_mm_in_layer: 450.0,
        cumulative_extruded_mm: 40_000.0,
        footprint_area_mm2: 2_500.0,
        feature_mix: FeatureMix { perimeter: 0.4, infill: 0.4, support: 0.15, bridge: 0.05, other: 0.0 },
    };

    let mut g = c.benchmark_group("decision");
    g.throughput(Throughput::Elements(1));
    for (name, with_expect) in [("step", false), ("step_with_expectation", true)] {
        let mut d = Decider::new(&params);
        let mut f = frame();
        let mut i = 0u64;
        let mut rng = 0x1234_5678_9ABC_DEF1u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                set(&mut f, i, score(&mut rng));
                let e = with_expect.then_some(&expect);
                black_box(d.step(black_box(&f), &status, e).level)
            })
        });
    }

    let frames = 18_000u64;
    g.throughput(Throughput::Elements(frames));
    g.bench_function("replay_10h_print", |b| {
        let mut f = frame();
        b.iter(|| {
            let mut d = Decider::new(&params);
            let mut rng = 0x1234_5678_9ABC_DEF1u64;
            let mut failures = 0u32;
            for i in 1..=frames {
                set(&mut f, i, score(&mut rng));
                failures += u32::from(d.step(&f, &status, Some(&expect)).changed);
            }
            black_box(failures)
        })
    });

    g.throughput(Throughput::Elements(1));
    g.bench_function("new_decider", |b| b.iter(|| black_box(Decider::new(black_box(&params)))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
