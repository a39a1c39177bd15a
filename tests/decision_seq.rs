//! Data-driven proof of the decision layer's behaviour over time: every
//! `tests/data/decision/*.seq` is run through the real `Decider` on a
//! simulated clock and its timeline compared with the `.timeline` golden next
//! to it (refresh with `UPDATE_EXPECT=1`); expectations inside the files must
//! hold. Property tests then measure time to pause and false pauses over many
//! seeds and print the figures:
//!
//! `cargo test --release --test decision_seq -- --nocapture --test-threads 1`

#[path = "decision_seq/alloc.rs"]
mod alloc;
#[path = "decision_seq/rng.rs"]
mod rng;
#[path = "decision_seq/scores.rs"]
mod scores;
#[path = "decision_seq/seq.rs"]
mod seq;
#[path = "decision_seq/sim.rs"]
mod sim;

use std::path::PathBuf;

use layerwatch::decision::{Decider, DecisionParams, FeatureMix, Feedback, LayerExpectation};
use layerwatch::domain::{FrameScore, Level, PrinterState, Timestamp};

use rng::Rng;
use scores::{GoodNoise, clear_failure};
use sim::Sim;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/decision")
}

#[test]
fn timelines() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/decision exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seq"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the .seq cases, found {}", files.len());
    let mut failed = Vec::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        let text = std::fs::read_to_string(path).expect("readable .seq");
        let outcome = seq::run(&name, &text);
        expect_test::expect_file![path.with_extension("timeline")].assert_eq(&outcome.timeline);
        failed.extend(outcome.failed);
    }
    assert!(failed.is_empty(), "expectations failed:\n{}", failed.join("\n"));
}

const FRAME_MS: i64 = 2000;

/// A 10-hour print of good frames (18,000 at 2 s). Each pause is answered by
/// the owner with "resumed", as a user woken for nothing would. Returns pauses.
fn false_pauses(params: &DecisionParams, seed: u64, hours: u32, mut noise: GoodNoise) -> u32 {
    let mut sim = Sim::new(params);
    sim.record = false;
    sim.printer.layer = Some(0);
    sim.printer.layer_every_ms = Some(60_000);
    let mut rng = Rng::new(seed);
    let frames = hours as i64 * 3_600_000 / FRAME_MS;
    for _ in 0..frames {
        sim.advance(FRAME_MS);
        let (p, label) = noise.next(&mut rng);
        let step = sim.frame(p, label);
        if step.changed && step.level == Level::Failure {
            sim.feedback(Feedback::Resumed);
        }
    }
    sim.failures
}

/// Five minutes of good frames at layer 30+, then a clear failure labelled
/// `label`: seconds from onset to the pause (None: no pause within 2 minutes).
fn time_to_pause(params: &DecisionParams, seed: u64, label: &str) -> Option<f32> {
    let mut rng = Rng::new(seed);
    let mut noise = GoodNoise::new();
    let mut sim = Sim::new(params);
    sim.record = false;
    sim.printer.layer = Some(30);
    sim.printer.layer_every_ms = Some(60_000);
    for _ in 0..150 {
        sim.advance(FRAME_MS);
        let (p, l) = noise.next(&mut rng);
        if sim.frame(p, l).level == Level::Failure {
            // A false pause before the onset would spoil the measurement: start the print again.
            sim = Sim::new(params);
            sim.record = false;
            sim.printer.layer = Some(30);
        }
    }
    let onset = sim.t_ms;
    for _ in 0..60 {
        sim.advance(FRAME_MS);
        if sim.frame(clear_failure(&mut rng), label).level == Level::Failure {
            return Some((sim.t_ms - onset) as f32 / 1000.0);
        }
    }
    None
}

/// A failure developing over 10 minutes (0.10 → 0.95 ± 0.08): seconds from
/// its start to the first warning and to the pause.
fn slow_failure(params: &DecisionParams, seed: u64) -> (Option<f32>, Option<f32>) {
    let mut rng = Rng::new(seed);
    let mut sim = Sim::new(params);
    sim.record = false;
    sim.printer.layer = Some(30);
    let n = 300;
    let (mut warn, mut pause) = (None, None);
    for i in 0..n + 60 {
        sim.advance(FRAME_MS);
        let x = (i as f32 / n as f32).min(1.0);
        let step = sim.frame(rng.around(0.10 + 0.85 * x, 0.08), "spaghetti");
        let t = sim.t_ms as f32 / 1000.0;
        if step.level >= Level::Warning && warn.is_none() {
            warn = Some(t);
        }
        if step.level == Level::Failure {
            pause = Some(t);
            break;
        }
    }
    (warn, pause)
}

fn stats(v: &mut [f32]) -> (f32, f32, f32) {
    v.sort_by(f32::total_cmp);
    let median = v[v.len() / 2];
    let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
    (median, p90, v[v.len() - 1])
}

const SENSITIVITIES: [f32; 3] = [0.25, 0.5, 0.75];

#[test]
fn good_prints_do_not_pause_and_the_false_pause_rate_is_reported() {
    const SEEDS: u64 = 30;
    const HOURS: u32 = 10;
    let mut at_default = 0;
    for (model, noise) in [("good-print", GoodNoise::new()), ("harsh stress", GoodNoise::harsh())] {
        for s in SENSITIVITIES {
            let params = DecisionParams::default().with_sensitivity(s);
            let pauses: u32 = (1..=SEEDS).map(|seed| false_pauses(&params, seed, HOURS, noise.clone())).sum();
            let hours = SEEDS as f32 * HOURS as f32;
            let rate = pauses as f32 * 100.0 / hours;
            println!(
                "false pauses, {model} noise model, sensitivity {s:.2}: \
                 {pauses} in {hours:.0} print-hours = {rate:.2} per 100 print-hours"
            );
            if s == 0.5 && model == "good-print" {
                at_default = pauses;
            }
        }
    }
    assert_eq!(at_default, 0, "good prints paused at the default sensitivity");
}

#[test]
fn clear_failures_pause_within_30_seconds_for_every_seed() {
    const SEEDS: u64 = 200;
    let mut worst_default = 0.0f32;
    for label in ["spaghetti", "other_failure"] {
        for s in SENSITIVITIES {
            let params = DecisionParams::default().with_sensitivity(s);
            let mut missed = 0;
            let mut times: Vec<f32> = Vec::new();
            for seed in 1..=SEEDS {
                match time_to_pause(&params, seed, label) {
                    Some(t) => times.push(t),
                    None => missed += 1,
                }
            }
            let (median, p90, max) = stats(&mut times);
            println!(
                "time to pause, clear {label} failure, sensitivity {s:.2}: median {median:.0} s, p90 {p90:.0} s, \
                 max {max:.0} s over {SEEDS} seeds ({missed} not paused within 120 s)"
            );
            if s == 0.5 {
                assert_eq!(missed, 0, "{label}: clear failures not paused");
                worst_default = worst_default.max(max);
            }
        }
    }
    assert!(worst_default <= 30.0, "a clear failure took {worst_default} s to pause");
}

#[test]
fn slow_failures_are_warned_then_paused() {
    const SEEDS: u64 = 50;
    for s in SENSITIVITIES {
        let params = DecisionParams::default().with_sensitivity(s);
        let (mut warns, mut pauses) = (Vec::new(), Vec::new());
        for seed in 1..=SEEDS {
            let (w, p) = slow_failure(&params, seed);
            let (w, p) = (w.expect("warned"), p.expect("paused"));
            assert!(w < p, "seed {seed}: warning at {w} s is not before the pause at {p} s");
            warns.push(w);
            pauses.push(p);
        }
        let (wm, _, wx) = stats(&mut warns);
        let (pm, _, px) = stats(&mut pauses);
        println!(
            "slow failure (0.10 → 0.95 over 10 min), sensitivity {s:.2}: warning at median {wm:.0} s (max {wx:.0}), \
             pause at median {pm:.0} s (max {px:.0}) after it starts"
        );
    }
}

#[test]
fn step_does_not_allocate_on_the_hot_path() {
    let sim = Sim::new(&DecisionParams::default());
    let mut status = sim.status();
    let mut expect = LayerExpectation {
        layer: 10,
        footprint_area_mm2: 2000.0,
        cumulative_extruded_mm: 5000.0,
        feature_mix: FeatureMix { perimeter: 0.5, infill: 0.5, ..Default::default() },
        ..Default::default()
    };
    let mut frame = FrameScore {
        seq: 0,
        captured_at: Timestamp(sim::BASE_MS),
        scores: Sim::scores(0.05, "spaghetti"),
        brightness: 110.0,
        fingerprint: 0,
        latency_ms: 10.0,
    };
    let mut d = Decider::new(&DecisionParams::default());
    let mut rng = Rng::new(5);
    let mut noise = GoodNoise::new();
    // The first frames learn the print (its file name is copied once).
    d.step(&frame, &status, Some(&expect));
    let before = alloc::allocations();
    let mut levels = [0u32; 3];
    for i in 1..20_000u64 {
        let p = if i % 2000 >= 1900 { clear_failure(&mut rng) } else { noise.next(&mut rng).0 };
        frame.seq = i;
        frame.captured_at = Timestamp(sim::BASE_MS + i as i64 * 2000);
        frame.fingerprint = i;
        frame.scores.failure = p;
        frame.scores.classes[0].p = 1.0 - p;
        frame.scores.classes[1].p = 0.85 * p;
        if let PrinterState::Printing { job } = &mut status.state {
            job.file_position = Some(i * 100);
            job.layer = Some(10 + (i / 30) as u32);
            expect.layer = 10 + (i / 30) as u32;
        }
        let step = d.step(&frame, &status, Some(&expect));
        levels[step.level as usize] += 1;
        if step.level == Level::Failure {
            d.feedback(Feedback::Resumed, frame.captured_at);
        }
    }
    let allocations = alloc::allocations() - before;
    assert!(levels[2] >= 5, "the run must include failures to cover that path: {levels:?}");
    assert_eq!(allocations, 0, "step allocated {allocations} times in 20,000 frames ({levels:?} ok/warning/failure)");
}
