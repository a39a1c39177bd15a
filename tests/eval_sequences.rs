//! Sequence evaluation end to end with the real model (ONNX Runtime from
//! `.tools/`): synthetic sequences generated from the licence-OK samples and
//! a sliced-style G-code file, replayed through the daemon's decision layer;
//! the generator's reproducibility; the sweep and the calibration file it
//! writes (read back by the decision module's own parser); and recorded
//! sequences with bad parts (clock going backwards, truncated JSON lines,
//! missing frames) that must become named, counted skips; and the HTML
//! report's element ids, unique per run when two runs are compared.

mod eval_support;

use std::path::Path;

use eval_support::{gcode_file, options, samples, scorer, synth, variant};
use layerwatch::decision::{Calibration, DecisionParams};
use layerwatch::domain::PrinterState;
use layerwatch::eval::dataset::manifest::Manifest;
use layerwatch::eval::dataset::sequence::Sequence;
use layerwatch::eval::sweep::SweepSpec;
use layerwatch::eval::synth::generate;
use layerwatch::eval::{SkipKind, run};
use tokio_util::sync::CancellationToken;

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_generator_is_seeded_and_says_it_is_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    let g = gcode_file(dir.path(), 30);
    let a = generate(&synth(&dir.path().join("a"), &g, 2, 24, 11, true)).expect("generate a");
    let b = generate(&synth(&dir.path().join("b"), &g, 2, 24, 11, true)).expect("generate b");
    let c = generate(&synth(&dir.path().join("c"), &g, 2, 24, 12, true)).expect("generate c");
    assert_eq!((a.sequences.len(), a.frames), (2, 48));
    let mut differs = false;
    for ((sa, sb), sc) in a.sequences.iter().zip(&b.sequences).zip(&c.sequences) {
        for f in ["frames/frames.csv", "printer.jsonl"] {
            assert_eq!(read(&sa.join(f)), read(&sb.join(f)), "{f} differs between two runs with one seed");
        }
        let frames = std::fs::read_dir(sa.join("frames")).unwrap().count();
        assert_eq!(frames, 25, "24 JPEGs and frames.csv");
        for e in std::fs::read_dir(sa.join("frames")).unwrap() {
            let name = e.unwrap().file_name();
            assert_eq!(read(&sa.join("frames").join(&name)), read(&sb.join("frames").join(&name)), "{name:?}");
        }
        differs |= read(&sa.join("printer.jsonl")) != read(&sc.join("printer.jsonl"))
            || read(&sa.join("frames/frames.csv")) != read(&sc.join("frames/frames.csv"));
        let m = Manifest::read(sa).expect("manifest");
        assert!(m.synthetic, "a generated sequence must say it is synthetic");
        assert!(m.generator.as_ref().is_some_and(|g| g.contains_key("seed")), "the generator parameters are recorded");
        let seq = Sequence::load(sa).expect("a generated sequence loads");
        assert!(seq.skipped.is_empty(), "{:?}", seq.skipped);
        assert_eq!(seq.frames.len(), 24);
        // The printer stream comes from the sliced file: layers only go up and reach the top.
        let printer = seq.printer.as_ref().expect("printer.jsonl");
        let layers: Vec<u32> = printer
            .iter()
            .filter_map(|s| match &s.state {
                PrinterState::Printing { job } => job.layer,
                _ => None,
            })
            .collect();
        assert!(layers.windows(2).all(|w| w[0] <= w[1]), "layers go backwards: {layers:?}");
        assert!(layers.last().is_some_and(|&l| l >= 20), "the print should get near its 30 layers: {layers:?}");
    }
    assert!(differs, "another seed should give another sequence");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_sequences_are_replayed_detected_and_swept() {
    let dir = tempfile::tempdir().unwrap();
    let g = gcode_file(dir.path(), 40);
    let seqs = dir.path().join("seqs");
    // Clean switches without camera noise: the sample failures score high and the normals low,
    // so the failure sequences must be paused and the normal ones must not.
    let mut o = synth(&seqs, &g, 4, 40, 3, false);
    o.failure_share = 0.5;
    o.kinds = vec!["spaghetti".into(), "failure".into()];
    let s = generate(&o).expect("generate");
    assert_eq!(s.failures, 2);
    let mut opts = options(&[&seqs]);
    opts.sweep = Some(SweepSpec { sensitivities: vec![0.1, 0.5, 0.9], pause_levels: vec![], half_lives: vec![] });
    opts.rule.max_false_pauses_per_100h = 1e9;
    let cal_dir = dir.path().join("calibration");
    opts.write_calibration = Some((cal_dir.clone(), "swept".into()));
    let r = run(&opts, &[variant(scorer())], &CancellationToken::new()).await.expect("evaluation");
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let sq = r.runs[0].sequences.as_ref().expect("sequence section");
    assert_eq!((sq.summary.sequences, sq.summary.failure_sequences), (4, 2));
    for s in &sq.sequences {
        assert_eq!(s.frames, 40);
        assert!(s.synthetic);
        assert!(!s.outcome.timeline.is_empty(), "{}: the report carries the score timeline", s.name);
        assert_eq!(s.outcome.false_pauses, 0, "{}: {:?}", s.name, s.outcome.events);
        if s.failure {
            assert!(s.onset_t.is_some());
            assert!(s.outcome.detected, "{}: failure not paused: {:?}", s.name, s.outcome.events);
            let ttd = s.outcome.ttd_s.expect("time to detection");
            assert!((0.0..=60.0).contains(&ttd), "{}: ttd {ttd}", s.name);
            assert!(s.outcome.ttd_layers.is_some_and(|l| l >= 0));
            let (b, a) = (s.mean_score_before_onset.unwrap(), s.mean_score_after_onset.unwrap());
            assert!(a > b, "{}: scores after the onset {a} should exceed before {b}", s.name);
        }
    }
    assert_eq!(sq.summary.detection_rate, Some(1.0));
    assert!(sq.summary.ttd_s.median.is_some() && sq.summary.ttd_layers.median.is_some());
    assert_eq!(sq.summary.false_pauses.events, 0);
    assert!(sq.summary.false_pauses.print_hours > 0.0);
    // The sweep re-runs the decision only; a more eager setting is never slower.
    let sw = r.runs[0].sweep.as_ref().expect("sweep section");
    assert_eq!(sw.points.len(), 3);
    let med = |i: usize| sw.points[i].summary.ttd_s.median.unwrap_or(f64::INFINITY);
    assert!(med(2) <= med(0), "sensitivity 0.9 ({}) slower than 0.1 ({})", med(2), med(0));
    assert!(sw.points[2].effective_pause_level < sw.points[0].effective_pause_level);
    let chosen = sw.chosen.as_ref().expect("a point within the budget");
    let written = sw.written.as_ref().expect("calibration written");
    let path = cal_dir.join("swept.toml");
    assert_eq!(Path::new(written), path);
    let text = std::fs::read_to_string(&path).unwrap();
    let cal =
        Calibration::parse(&text, &path.display().to_string()).expect("the decision module reads what eval writes");
    // Written at sensitivity 0.5: the file's pause level is the chosen point's effective one.
    let want = sw.points[chosen.index].effective_pause_level;
    assert!((cal.levels.pause - want).abs() < 1e-3, "file {} vs chosen {want}", cal.levels.pause);
    let _ = DecisionParams::from_config(&Default::default(), &cal);
}

/// The values of every `attr="…"` on the page, in order.
fn attr_values<'a>(page: &'a str, attr: &str) -> Vec<&'a str> {
    let open = format!(" {attr}=\"");
    page.match_indices(&open)
        .filter_map(|(i, _)| {
            let rest = &page[i + open.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Every id on the page is unique and every in-page link points at one of them.
fn assert_ids_unique_and_links_resolve(page: &str) -> std::collections::BTreeSet<&str> {
    let ids = attr_values(page, "id");
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "repeated ids among {ids:?}");
    let links: Vec<&str> = attr_values(page, "href").into_iter().filter_map(|h| h.strip_prefix('#')).collect();
    assert!(!links.is_empty(), "the sequence table links to the timelines");
    for l in links {
        assert!(unique.contains(l), "link #{l} points at no element; ids: {unique:?}");
    }
    unique
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compared_runs_get_unique_ids_and_links_that_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let g = gcode_file(dir.path(), 20);
    let seqs = dir.path().join("seqs");
    let mut o = synth(&seqs, &g, 3, 16, 7, false);
    o.kinds = vec!["spaghetti".into()];
    generate(&o).expect("generate");
    let mut opts = options(&[&samples(), &seqs]);
    opts.sweep = Some(SweepSpec { sensitivities: vec![0.2, 0.8], pause_levels: vec![], half_lives: vec![] });
    let (mut a, mut b) = (variant(scorer()), variant(scorer()));
    (a.label, b.label) = ("A".into(), "B".into());
    let r = run(&opts, &[a, b], &CancellationToken::new()).await.expect("evaluation");
    assert_eq!(r.runs.len(), 2);
    let page = layerwatch::eval::report::html::render(&r);
    let ids = assert_ids_unique_and_links_resolve(&page);
    for base in ["binary", "sequences", "sequence-summary", "sequence-table", "sweep", "sweep-table"] {
        for run in 0..2 {
            let id = format!("{base}-{run}");
            assert!(ids.contains(id.as_str()), "{id} missing: {ids:?}");
        }
        assert!(!ids.contains(base), "{base} unsuffixed in a comparison");
    }
    let timelines = ids.iter().filter(|i| i.starts_with("seq-")).count();
    assert_eq!(timelines, 2 * 3, "one timeline per sequence per run: {ids:?}");

    // The same data as a single run keeps the plain ids.
    let mut single = r.clone();
    single.runs.truncate(1);
    single.comparison = None;
    let page = layerwatch::eval::report::html::render(&single);
    let ids = assert_ids_unique_and_links_resolve(&page);
    for id in ["binary", "sequences", "sequence-summary", "sequence-table", "sweep", "sweep-table", "images0", "run0"] {
        assert!(ids.contains(id), "{id} missing: {ids:?}");
    }
    assert_eq!(ids.iter().filter(|i| i.starts_with("seq-")).count(), 3, "{ids:?}");

    // Many sequences, two of whose names map to the same anchor: only the drawn timelines
    // (the first 80) are linked, and every link lands on its own timeline.
    let sq = single.runs[0].sequences.as_mut().expect("sequence section");
    let one = sq.sequences[0].clone();
    let renamed = |k: usize| {
        let mut q = one.clone();
        q.name = format!("print {k}");
        q
    };
    sq.sequences = (0..85).map(renamed).collect();
    sq.sequences[1].name = "print_0".into();
    let page = layerwatch::eval::report::html::render(&single);
    let ids = assert_ids_unique_and_links_resolve(&page);
    assert_eq!(attr_values(&page, "href").len(), 80, "links only to drawn timelines");
    assert!(ids.contains("seq-print-0") && ids.contains("seq-print-0-2"), "{ids:?}");
}

/// Writes a small recorded sequence by hand: `frames` samples, printer lines, manifest.
fn hand_made(dir: &Path, frames_csv: &str, printer: &str) {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let samples = eval_support::samples().join("images/autozmj2n");
    let mut jpgs: Vec<_> = std::fs::read_dir(&samples).unwrap().map(|e| e.unwrap().path()).collect();
    jpgs.sort();
    for (i, p) in jpgs.iter().take(6).enumerate() {
        std::fs::copy(p, frames.join(format!("{i:06}.jpg"))).unwrap();
    }
    std::fs::write(frames.join("frames.csv"), frames_csv).unwrap();
    std::fs::write(dir.join("printer.jsonl"), printer).unwrap();
    let mut m = Manifest::new("hand-made", 0.5);
    m.label.failure = false;
    m.write(dir).unwrap();
}

/// One `printer.jsonl` line in the shape `domain` serialises.
fn status(at: i64, layer: u32) -> String {
    serde_json::json!({
        "state": {"state": "printing", "job": {
            "file": "a.gcode", "layer": layer, "layer_count": 100, "z": layer as f64 * 0.2,
            "progress": layer as f64 / 100.0, "file_position": layer * 100, "file_size": 10_000,
            "elapsed": null, "feature": null}},
        "temps": {"hotend": {"actual": 210.0, "target": 210.0}, "bed": {"actual": 60.0, "target": 60.0}},
        "at": at,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parts_of_a_recording_are_named_counted_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let seq = dir.path().join("rec");
    let csv = "file,timestamp_ms\n000000.jpg,1000\n000001.jpg,3000\n000002.jpg,2000\n000003.jpg,5000\n\
               gone.jpg,7000\n000004.jpg,9000\n000005.jpg,11000\n";
    let printer = format!("{}\n{}\n{{\"state\":\"printing\",\"job\":{{\"fi\n{}\n", status(900, 1), status(4000, 2), {
        status(8000, 3)
    });
    hand_made(&seq, csv, &printer);
    let loaded = Sequence::load(&seq).expect("a sequence with bad parts still loads");
    let kinds: Vec<(SkipKind, Option<u64>)> = loaded.skipped.iter().map(|s| (s.kind, s.line)).collect();
    assert!(kinds.contains(&(SkipKind::ClockBackwards, Some(4))), "{kinds:?}");
    assert!(kinds.contains(&(SkipKind::MissingFile, Some(6))), "{kinds:?}");
    assert!(kinds.contains(&(SkipKind::BadJson, Some(3))), "{kinds:?}");
    assert_eq!(loaded.frames.len(), 5);
    assert_eq!(loaded.printer.as_ref().map(Vec::len), Some(3));
    let r = run(&options(&[&seq]), &[variant(scorer())], &CancellationToken::new()).await.expect("evaluation");
    let files: Vec<String> = r.skipped.iter().map(|s| format!("{}:{:?}:{:?}", s.kind.name(), s.file, s.line)).collect();
    assert_eq!(r.skipped.len(), 3, "{files:?}");
    assert!(r.skipped.iter().all(|s| !s.reason.is_empty()));
    assert_eq!(r.skipped_by_kind.get("clock_backwards"), Some(&1), "{:?}", r.skipped_by_kind);
    let sq = r.runs[0].sequences.as_ref().expect("sequence section");
    assert_eq!(sq.sequences[0].frames, 5);
    let page = layerwatch::eval::report::html::render(&r);
    assert!(page.contains("gone.jpg"), "the HTML report lists the skipped inputs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_without_frames_is_an_error_or_a_named_skip() {
    let dir = tempfile::tempdir().unwrap();
    let seq = dir.path().join("empty");
    hand_made(&seq, "file,timestamp_ms\n", "");
    let err = Sequence::load(&seq).map(|s| s.frames.len());
    assert!(!matches!(err, Ok(n) if n > 0));
    match run(&options(&[&seq]), &[variant(scorer())], &CancellationToken::new()).await {
        Err(e) => assert!(e.to_string().contains("empty") || e.to_string().contains("no "), "{e}"),
        Ok(r) => {
            assert!(r.skipped.iter().any(|s| s.kind == SkipKind::BadSequence), "{:?}", r.skipped);
        }
    }
}
