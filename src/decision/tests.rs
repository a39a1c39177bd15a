//! Unit tests of the decision module's file formats and small rules. The
//! timelines (time to pause, false pauses, gating, health) are data-driven in
//! `tests/decision_seq.rs`.

use expect_test::{Expect, expect};

use super::*;
use crate::config_issues::Issues;
use crate::domain::{ClassScore, FailureKind, Level, PrintJob, PrinterState, PrinterStatus, Scores, Temperatures};

const DEFAULT_TOML: &str = include_str!("../../calibration/default.toml");

#[test]
fn calibration_default_equals_the_shipped_file() {
    let file = Calibration::parse(DEFAULT_TOML, "calibration/default.toml").unwrap();
    assert_eq!(file, Calibration::default());
}

#[test]
fn calibration_round_trips_through_the_text_eval_writes() {
    let mut cal = Calibration::default();
    cal.levels.pause = 0.66;
    cal.classes.stringing.action = ClassAction::Pause;
    cal.model = Some("m1".into());
    let text = cal.to_toml_string().unwrap();
    assert_eq!(Calibration::parse(&text, "sweep.toml").unwrap(), cal);
}

#[test]
fn a_partial_calibration_takes_defaults_for_the_rest() {
    let cal = Calibration::parse("[levels]\npause = 0.8\n", "p.toml").unwrap();
    assert_eq!(cal.levels.pause, 0.8);
    assert_eq!(cal.levels.warning, Calibration::default().levels.warning);
    assert_eq!(cal.window, Calibration::default().window);
}

/// serde's "expected one of …" lists go on a line of their own, to keep the goldens readable.
fn wrap(message: String) -> String {
    message.replace(", expected one of", ",\n  expected one of")
}

fn check_cal(text: &str, expected: Expect) {
    let actual = match Calibration::parse(text, "cal.toml") {
        Ok(_) => "ok".to_string(),
        Err(e) => wrap(e.to_string()),
    };
    expected.assert_eq(&actual);
}

#[test]
fn calibration_errors_name_file_key_line_and_value() {
    check_cal(
        "format = 1\n[levels]\npuase = 0.7\n",
        expect![[r#"
            cal.toml: levels.puase: line 3: unknown field `puase`,
              expected one of `warning`, `pause`, `hysteresis`, `sensitivity_span`"#]],
    );
    check_cal(
        "[window]\nk = \"four\"\n",
        expect![[r#"cal.toml: window.k: line 2: invalid type: string "four", expected u32"#]],
    );
    check_cal(
        "[classes.stringing]\naction = \"stop\"\nwarning_scale = 1.0\npause_scale = 1.0\nairborne_scale = 1.0\n",
        expect![[r#"
            cal.toml: classes.stringing.action: line 2: unknown variant `stop`,
              expected one of `pause`, `warn`, `ignore`"#]],
    );
    check_cal(
        "format = 2\n[levels]\nwarning = 0.8\npause = 0.7\n[window]\nk = 7\nn = 6\n[smoothing]\nhalf_life_s = 0\n",
        expect![[r#"
            cal.toml: invalid calibration:
              - format = 2: this build reads format 1
              - levels.warning = 0.8: must be below levels.pause (0.7)
              - smoothing.half_life_s = 0.0: must be between 0.1 and 3600
              - window.k = 7: must be between 1 and window.n (6)"#]],
    );
}

#[test]
fn config_resolves_the_calibration_path_next_to_the_config_file() {
    let mut cfg = DecisionConfig { calibration: Some("cal/a.toml".into()), ..Default::default() };
    cfg.resolve_paths(std::path::Path::new("/etc/layerwatch"));
    assert_eq!(cfg.calibration.as_deref(), Some(std::path::Path::new("/etc/layerwatch/cal/a.toml")));
}

#[test]
fn default_config_validates_clean() {
    let mut issues = Issues::default();
    DecisionConfig::default().validate("decision", &mut issues);
    Calibration::default().validate("", &mut issues);
    assert!(issues.is_empty(), "{:?}", issues.into_vec());
}

fn printing(t: i64, layer: u32) -> PrinterStatus {
    PrinterStatus {
        state: PrinterState::Printing {
            job: PrintJob { file: "a.gcode".into(), layer: Some(layer), ..Default::default() },
        },
        temps: Temperatures::default(),
        at: Timestamp(t),
    }
}

fn frame(i: u64, p: f32, label: &str) -> FrameScore {
    FrameScore {
        seq: i,
        captured_at: Timestamp(i as i64 * 2000),
        scores: Scores {
            failure: p,
            classes: vec![ClassScore { label: "normal".into(), p: 1.0 - p }, ClassScore { label: label.into(), p }],
        },
        brightness: 100.0,
        fingerprint: i,
        latency_ms: 10.0,
    }
}

/// Frames 0..n at 2 s: `p_before` until `onset`, then `p_after`; returns the first failure time (s).
fn first_failure(params: &DecisionParams, label: &str, p_after: f32) -> Option<f32> {
    let mut d = Decider::new(params);
    (0..60u64).find_map(|i| {
        let p = if i < 10 { 0.05 } else { p_after };
        let s = d.step(&frame(i, p, label), &printing(i as i64 * 2000, 50), None);
        (s.level == Level::Failure).then_some((i as f32 - 10.0) * 2.0)
    })
}

#[test]
fn stringing_warns_but_only_pauses_when_the_owner_asks() {
    let mut d = Decider::new(&DecisionParams::default());
    let last = (0..60u64).map(|i| d.step(&frame(i, 0.97, "stringing"), &printing(i as i64 * 2000, 50), None)).last();
    let last = last.unwrap();
    assert_eq!((last.level, last.kind), (Level::Warning, Some(FailureKind::Stringing)));

    let cfg = DecisionConfig {
        classes: ClassOverrides {
            stringing: ClassOverride { action: Some(ClassAction::Pause), ..Default::default() },
            ..Default::default()
        },
        ..Default::default()
    };
    let params = DecisionParams::from_config(&cfg, &Calibration::default());
    assert!(first_failure(&params, "stringing", 0.97).is_some());
}

#[test]
fn spaghetti_pauses_sooner_than_other_failures() {
    let p = DecisionParams::default();
    let spaghetti = first_failure(&p, "spaghetti", 0.75).unwrap();
    let other = first_failure(&p, "other_failure", 0.75);
    assert!(other.is_none_or(|o| o > spaghetti), "spaghetti {spaghetti}s, other {other:?}");
}

#[test]
fn sensitivity_zero_never_raises_anything() {
    let p = DecisionParams::default().with_sensitivity(0.0);
    let mut d = Decider::new(&p);
    for i in 0..60u64 {
        let s = d.step(&frame(i, 1.0, "spaghetti"), &printing(i as i64 * 2000, 50), None);
        assert_eq!(s.level, Level::Ok);
    }
}

#[test]
fn more_sensitivity_pauses_no_later() {
    let times: Vec<Option<f32>> = [0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|&s| first_failure(&DecisionParams::default().with_sensitivity(s), "other_failure", 0.8))
        .collect();
    let t: Vec<f32> = times.iter().map(|t| t.unwrap_or(f32::MAX)).collect();
    assert!(t.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert!(t[3] < f32::MAX);
}

#[test]
fn the_fake_judge_fails_on_the_chosen_frame_and_only_while_printing() {
    let mut j = ThresholdJudge::new(0.5, 0.9);
    let s = Judge::step(&mut j, &frame(1, 0.95, "spaghetti"), &PrinterStatus::disconnected(Timestamp(0)), None);
    assert_eq!(s.level, Level::Ok);
    let s = Judge::step(&mut j, &frame(2, 0.6, "spaghetti"), &printing(4000, 3), None);
    assert_eq!(s.level, Level::Warning);
    let s = Judge::step(&mut j, &frame(3, 0.95, "spaghetti"), &printing(6000, 3), None);
    assert_eq!((s.level, s.kind, s.changed), (Level::Failure, Some(FailureKind::Spaghetti), true));
    let s = Judge::step(&mut j, &frame(4, 0.1, "spaghetti"), &printing(8000, 3), None);
    assert_eq!(s.level, Level::Failure, "latched");
    Judge::feedback(&mut j, Feedback::Resumed, Timestamp(9000));
    let s = Judge::step(&mut j, &frame(5, 0.1, "spaghetti"), &printing(10000, 3), None);
    assert_eq!(s.level, Level::Ok);
}

#[test]
fn verdict_note_reads_like_a_sentence() {
    let mut d = Decider::new(&DecisionParams::default());
    let mut last = None;
    for i in 0..20u64 {
        let mut st = printing(i as i64 * 2000, 12);
        if let PrinterState::Printing { job } = &mut st.state {
            job.layer_count = Some(40);
        }
        let s = d.step(&frame(i, 0.9, "spaghetti"), &st, None);
        if s.level == Level::Failure {
            last = Some(s);
            break;
        }
    }
    let v = last.unwrap().verdict();
    expect!["smoothed 0.76 over 4 frames at layer 12/40, spaghetti"].assert_eq(&v.evidence.note);
    assert_eq!(v.kind, Some(FailureKind::Spaghetti));
    assert!(v.confidence >= 0.8);
}

#[test]
fn feature_mix_is_unknown_only_when_empty() {
    assert!(!FeatureMix::default().is_known());
    assert!(FeatureMix { infill: 1.0, ..Default::default() }.is_known());
    assert_eq!(FeatureMix { support: 0.7, bridge: 0.6, ..Default::default() }.airborne(), 1.0);
}

#[test]
fn the_printers_feature_counts_when_the_gcode_says_nothing() {
    // Stringing warns at 0.5 on walls; on support (feature name from PrusaSlicer) its level is × 1.3.
    let run = |feature: Option<&str>, mix: Option<FeatureMix>| {
        let mut d = Decider::new(&DecisionParams::default());
        let expect = mix.map(|feature_mix| LayerExpectation { layer: 50, feature_mix, ..Default::default() });
        let mut last = None;
        for i in 0..30u64 {
            let mut st = printing(i as i64 * 2000, 50);
            if let PrinterState::Printing { job } = &mut st.state {
                job.feature = feature.map(str::to_string);
            }
            last = Some(d.step(&frame(i, 0.58, "stringing"), &st, expect.as_ref()));
        }
        last.map(|s| (s.level, s.context.airborne))
    };
    assert_eq!(run(None, None), Some((Level::Warning, false)));
    assert_eq!(run(Some("Support material"), None), Some((Level::Ok, true)));
    assert_eq!(run(Some("BRIDGE"), None), Some((Level::Ok, true)));
    // An infill-only layer is known not to be airborne, whatever the printer's feature says.
    let infill = FeatureMix { infill: 1.0, ..Default::default() };
    assert_eq!(run(Some("support"), Some(infill)), Some((Level::Warning, false)));
}

/// A camera that froze before the printer reported its first layer is still found
/// once the layers advance (not only after `frozen_fallback_s`).
#[test]
fn a_camera_frozen_before_the_first_layer_report_is_found_when_layers_advance() {
    let params = DecisionParams::default();
    let mut d = Decider::new(&params);
    let still = |i: u64| FrameScore { fingerprint: 7, ..frame(i, 0.05, "spaghetti") };
    let mut no_layer = printing(0, 0);
    if let PrinterState::Printing { job } = &mut no_layer.state {
        job.layer = None;
    }
    let mut found = None;
    for i in 0..8u64 {
        let status = if i < 3 { no_layer.clone() } else { printing(i as i64 * 2000, i as u32 - 3) };
        let s = d.step(&still(i), &status, None);
        if s.findings.iter().any(|f| matches!(f, HealthFinding::CameraFrozen { .. })) {
            found = Some(i);
        }
    }
    assert_eq!(found, Some(4), "frozen once the first reported layer is followed by the next");
}

fn geo_finding(kind: crate::domain::GeometryKind, layer: u32) -> GeometryFinding {
    GeometryFinding {
        kind,
        layer,
        bed_mm: [125.0, 105.0, 4.0],
        region: Some(crate::domain::Roi { x: 100, y: 120, width: 60, height: 40 }),
        contrast: 0.05,
        best_contrast: 0.8,
        offset_mm: None,
    }
}

fn frame_at(seq: u64, t: i64) -> crate::domain::FrameScore {
    crate::domain::FrameScore {
        seq,
        captured_at: crate::domain::Timestamp(t),
        scores: Scores { failure: 0.02, classes: vec![] },
        brightness: 120.0,
        fingerprint: seq,
        latency_ms: 10.0,
    }
}

fn printing_at(layer: u32, t: i64) -> PrinterStatus {
    PrinterStatus {
        state: PrinterState::Printing {
            job: PrintJob {
                file: "block.gcode".into(),
                layer: Some(layer),
                layer_count: Some(27),
                ..Default::default()
            },
        },
        temps: Temperatures::default(),
        at: crate::domain::Timestamp(t),
    }
}

#[test]
fn a_geometry_finding_is_a_failure_held_until_the_printer_stops_with_its_kind_and_place() {
    let mut params = DecisionParams::default();
    params.geometry.action = ClassAction::Pause;
    let mut d = Decider::new(&params);
    let mut t = 0;
    for layer in 0..12u32 {
        t += 2000;
        let mut step = d.step(&frame_at(u64::from(layer), t), &printing_at(layer, t), None);
        d.geometry(&[], &mut step);
        assert_eq!(step.level, Level::Ok, "layer {layer}");
    }
    t += 2000;
    let f = geo_finding(crate::domain::GeometryKind::MissingMaterial, 12);
    let mut step = d.step(&frame_at(12, t), &printing_at(12, t), None);
    d.geometry(std::slice::from_ref(&f), &mut step);
    assert_eq!((step.level, step.kind, step.changed), (Level::Failure, Some(FailureKind::Other), true));
    assert!(step.confidence >= 0.8);
    let v = step.verdict();
    assert_eq!(v.evidence.geometry.as_ref(), Some(&f));
    assert!(v.evidence.note.ends_with("missing material at (125, 105) mm"), "{}", v.evidence.note);
    // Its place on the bed travels with the verdict, so `actions` can cancel just the object there.
    assert_eq!(v.evidence.bed_xy_mm, Some([f.bed_mm[0], f.bed_mm[1]]));
    assert_eq!(step.geometry_raised, vec![f.clone()]);
    // Held on the next frames (nothing new raised), like a failure.
    t += 2000;
    let mut next = d.step(&frame_at(13, t), &printing_at(12, t), None);
    d.geometry(&[], &mut next);
    assert_eq!((next.level, next.changed), (Level::Failure, false));
    assert_eq!(next.geometry.as_ref(), Some(&f));
    assert!(next.geometry_raised.is_empty());
    // The printer paused: released.
    t += 2000;
    let paused = PrinterStatus {
        state: PrinterState::Paused {
            job: PrintJob { file: "block.gcode".into(), layer: Some(12), ..Default::default() },
        },
        temps: Temperatures::default(),
        at: crate::domain::Timestamp(t),
    };
    let step = d.step(&frame_at(14, t), &paused, None);
    assert_eq!((step.level, step.geometry.is_none()), (Level::Ok, true));
}

#[test]
fn geometry_actions_warn_and_ignore_and_gates_are_respected() {
    let f = geo_finding(crate::domain::GeometryKind::GrowthStopped, 9);
    for (action, want) in [(ClassAction::Warn, Level::Warning), (ClassAction::Ignore, Level::Ok)] {
        let mut params = DecisionParams::default();
        params.geometry.action = action;
        let mut d = Decider::new(&params);
        let mut step = d.step(&frame_at(1, 10_000), &printing_at(9, 10_000), None);
        d.geometry(std::slice::from_ref(&f), &mut step);
        assert_eq!(step.level, want, "{action:?}");
        assert_eq!(step.geometry_raised.len(), 1, "raised either way (shown on the dashboard)");
    }
    // A repeated frame is no evidence: the finding does not raise a verdict.
    let mut params = DecisionParams::default();
    params.geometry.action = ClassAction::Pause;
    let mut d = Decider::new(&params);
    let s1 = d.step(&frame_at(1, 10_000), &printing_at(9, 10_000), None);
    assert_eq!(s1.level, Level::Ok);
    let mut same = frame_at(1, 12_000);
    same.seq = 2;
    let mut step = d.step(&same, &printing_at(9, 12_000), None);
    assert_eq!(step.gate, Gate::RepeatedFrame);
    d.geometry(std::slice::from_ref(&f), &mut step);
    assert_eq!(step.level, Level::Ok);
}

#[test]
fn the_geometry_feed_reads_only_the_reference_and_one_frame_per_layer() {
    let g = |layer: u32| {
        crate::gcode::analyze(
            {
                let mut s = String::from("M83\n");
                for i in 0..layer {
                    let z = 0.5 * (i + 1) as f32;
                    s.push_str(&format!(";LAYER_CHANGE\n;Z:{z}\nG1 Z{z} F600\nG1 X100 Y100\n"));
                    for (x, y) in [(120, 100), (120, 120), (100, 120), (100, 100)] {
                        s.push_str(&format!("G1 X{x} Y{y} E1 F1200\n"));
                    }
                }
                s
            }
            .as_bytes(),
        )
    };
    let a = g(10);
    let cam = crate::geometry::Camera::look_at(320, 240, [110.0, -60.0, 120.0], [110.0, 110.0, 5.0], 50.0);
    let e = crate::geometry::ExpectedPrint::new(&a, &cam, 80).unwrap();
    let mut feed = GeometryFeed::new(GeometryChecker::new(&GeometryConfig::default(), e));
    let (w, h) = feed.checker().frame_size();
    let mut reads = vec![];
    let idle =
        PrinterStatus { state: PrinterState::Idle, temps: Temperatures::default(), at: crate::domain::Timestamp(0) };
    for i in 0..3u32 {
        let r = feed.push(i, Some(&idle), |n| -> Result<crate::geometry::Grey, ()> {
            reads.push(*n);
            Ok(crate::geometry::Grey::new(w, h, 90))
        });
        assert_eq!(r.unwrap().read, 0, "idle frames are held, not read");
    }
    let mut judged = 0;
    for (n, layer) in [(3u32, 0u32), (4, 0), (5, 1), (6, 1), (7, 1), (8, 2), (9, 3), (10, 3)] {
        let st = printing_at(layer, i64::from(n));
        let wanted = feed.needs_pixels(Some(&st));
        let fed = feed
            .push(n, Some(&st), |f| -> Result<crate::geometry::Grey, ()> {
                reads.push(*f);
                Ok(crate::geometry::Grey::new(w, h, 90))
            })
            .unwrap();
        assert_eq!(wanted, fed.read > 0, "frame {n}");
        judged += u32::from(fed.stats.is_some());
    }
    // The last idle frame (2) as the reference, then the first frame of each layer.
    assert_eq!(reads, vec![2, 3, 5, 8, 9]);
    assert_eq!(judged, 1, "layers before warmup_layers (3) are not judged");
}
