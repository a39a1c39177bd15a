//! The real model on the real ONNX Runtime: the built-in model scores the sample
//! images sensibly and deterministically, and every way a model can be wrong
//! (missing file, wrong sha, wrong input shape, wrong class count, logits instead
//! of probabilities, not an ONNX file) is a clear error, never a panic.

mod vision_support;

use std::path::{Path, PathBuf};

use layerwatch::vision::{Classifier, ClassifierOptions, Model, OnnxClassifier, VisionError};
use sha2::{Digest, Sha256};
use vision_support::*;

fn opts() -> ClassifierOptions {
    ClassifierOptions {
        ort_library: Some(require_ort()),
        ..ClassifierOptions::default()
    }
}

/// Writes `<dir>/<stem>.toml` describing `onnx` (copied beside it) with the given size and labels.
fn describe(dir: &Path, onnx: &Path, size: u32, labels: &[&str], sha: Option<&str>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let name = onnx.file_name().unwrap().to_string_lossy().to_string();
    let dst = dir.join(&name);
    if onnx.exists() {
        std::fs::copy(onnx, &dst).unwrap();
    }
    let sha = sha
        .map(str::to_string)
        .unwrap_or_else(|| hex::encode(Sha256::digest(std::fs::read(&dst).unwrap())));
    let labels: Vec<String> = labels.iter().map(|l| format!("{l:?}")).collect();
    let toml = format!(
        "name = \"t\"\nonnx = \"{name}\"\nsha256 = \"{sha}\"\ninput_name = \"image\"\noutput_name = \"probs\"\n\
         input_width = {size}\ninput_height = {size}\nresize = \"stretch\"\nlabels = [{}]\nnormal_label = \"normal\"\n",
        labels.join(", ")
    );
    let path = dir.join(name.replace(".onnx", ".toml"));
    std::fs::write(&path, toml).unwrap();
    path
}

const FIVE: [&str; 5] = ["normal", "spaghetti", "stringing", "surface", "other_failure"];

fn load_err(toml: &Path) -> String {
    match Model::from_file(toml).and_then(|m| OnnxClassifier::new(m, &opts())) {
        Ok(_) => "loaded".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn built_in_model_scores_the_samples_consistently() {
    let mut a = OnnxClassifier::new(Model::built_in().unwrap(), &opts()).unwrap();
    let mut b = OnnxClassifier::new(Model::built_in().unwrap(), &opts()).unwrap();
    let normal = a.spec().normal_label.clone();
    let frames: Vec<_> = samples()
        .iter()
        .enumerate()
        .map(|(i, (p, _))| file_frame(i as u64, p))
        .collect();
    let mut singles = Vec::new();
    for f in &frames {
        let s = a.classify(f).unwrap();
        let sum: f32 = s.scores.classes.iter().map(|c| c.p).sum();
        assert!((sum - 1.0).abs() < 1e-4, "frame {} probabilities sum to {sum}", f.seq);
        assert_eq!(s.scores.classes.len(), 5);
        let p_normal = s.scores.class(&normal).unwrap();
        assert!((s.scores.failure - (1.0 - p_normal)).abs() < 1e-6);
        assert!(s.latency_ms > 0.0 && s.brightness > 0.0 && s.brightness < 255.0);
        assert_eq!((s.seq, s.captured_at), (f.seq, f.captured_at));
        // Another session, same input: the same numbers, bit for bit.
        let again = b.classify(f).unwrap();
        assert_eq!(
            again.scores, s.scores,
            "frame {} not deterministic across sessions",
            f.seq
        );
        assert_eq!(again.fingerprint, s.fingerprint);
        singles.push(s);
    }
    // The pictures differ, so the fingerprints and scores do too.
    let mut prints: Vec<u64> = singles.iter().map(|s| s.fingerprint).collect();
    prints.sort();
    prints.dedup();
    assert_eq!(prints.len(), singles.len(), "fingerprints collide");
    let spread = singles.iter().map(|s| s.scores.failure).fold(f32::MIN, f32::max)
        - singles.iter().map(|s| s.scores.failure).fold(f32::MAX, f32::min);
    assert!(spread > 1e-4, "all samples got the same failure score");
    // One batch of all frames agrees with one call per frame.
    let batch = a.classify_batch(&frames);
    for (s, r) in singles.iter().zip(batch) {
        let r = r.unwrap();
        for (x, y) in s.scores.classes.iter().zip(&r.scores.classes) {
            assert!(
                (x.p - y.p).abs() < 1e-5,
                "batch {} vs single {} for {}",
                y.p,
                x.p,
                x.label
            );
        }
    }
}

#[test]
fn a_model_file_with_another_input_size_is_used_as_described() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = describe(tmp.path(), &fixture("tiny64.onnx"), 64, &FIVE, None);
    let mut c = OnnxClassifier::new(Model::from_file(&toml).unwrap(), &opts()).unwrap();
    assert_eq!(c.preprocessor().input_size(), (64, 64));
    let red = c.classify(&rgb_frame(0, rgb(300, 200, |_, _| [250, 10, 10]))).unwrap();
    let blue = c.classify(&rgb_frame(1, rgb(300, 200, |_, _| [10, 10, 250]))).unwrap();
    assert_ne!(
        red.scores, blue.scores,
        "the tiny model's output depends on the colours"
    );
    // The same model named by its .onnx path finds the description beside it.
    assert!(Model::from_file(&tmp.path().join("tiny64.onnx")).is_ok());
}

#[test]
fn broken_models_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let wrong_size = describe(&t.join("a"), &fixture("tiny64.onnx"), 224, &FIVE, None);
    let wrong_classes = describe(&t.join("b"), &fixture("three_class.onnx"), 224, &FIVE, None);
    let logits = describe(&t.join("c"), &fixture("tiny64_logits.onnx"), 64, &FIVE, None);
    let bad_sha = describe(&t.join("d"), &fixture("tiny64.onnx"), 64, &FIVE, Some(&"0".repeat(64)));
    std::fs::create_dir_all(t.join("e")).unwrap();
    std::fs::write(t.join("e/garbage.onnx"), b"this is not a protobuf").unwrap();
    let garbage = describe(&t.join("e"), &t.join("e/garbage.onnx"), 64, &FIVE, None);
    let missing = describe(&t.join("f"), &fixture("tiny64.onnx"), 64, &FIVE, None);
    std::fs::remove_file(t.join("f/tiny64.onnx")).unwrap();
    let cases = [
        ("wrong input size", load_err(&wrong_size)),
        ("wrong class count", load_err(&wrong_classes)),
        ("logits", load_err(&logits)),
        ("wrong sha", load_err(&bad_sha)),
        ("not onnx", load_err(&garbage)),
        ("onnx missing", load_err(&missing)),
        ("description missing", load_err(&t.join("nowhere/classifier.toml"))),
        ("onnx without toml", load_err(&fixture("three_class.onnx"))),
    ];
    let root = t.display().to_string();
    let fixtures = fixture("").display().to_string();
    let fixtures = fixtures.trim_end_matches('/');
    let out: Vec<String> = cases
        .iter()
        .map(|(n, e)| {
            let e = e.replace(&root, "$TMP").replace(fixtures, "$FIXTURES");
            // The logits themselves depend on the CPU's float kernels in the last digits: keep the words.
            let e = match (e.find("model output ["), e.find("] is not")) {
                (Some(a), Some(b)) => format!(
                    "{}model output [..]{}",
                    &e[..a],
                    &e[b + 1..e.find(" (sum").unwrap_or(e.len())]
                ),
                _ => e,
            };
            format!("{n}: {e}")
        })
        .collect();
    expect_test::expect![[r#"
        wrong input size: model $TMP/a/tiny64.onnx: wrong input shape: input "image" is [N, 3, 64, 64], the description says [N, 3, 224, 224]
        wrong class count: model $TMP/b/three_class.onnx: wrong number of classes: output "probs" is [N, 3], the description lists 5 labels ["normal", "spaghetti", "stringing", "surface", "other_failure"]
        logits: model $TMP/c/tiny64_logits.onnx: warm-up: model output [..] is not a probability distribution
        wrong sha: model $TMP/d/tiny64.onnx: sha256 mismatch: the description says 0000000000000000000000000000000000000000000000000000000000000000, the file is 08d5b76ca86d1331dd08aabe5d75d2a5234de892ccd5814cd90ef3133a607aff
        not onnx: model $TMP/e/garbage.onnx: onnx runtime cannot load it: No graph was found in the protobuf.
        onnx missing: model $TMP/f/tiny64.onnx: cannot read the onnx file named in $TMP/f/tiny64.toml: No such file or directory (os error 2)
        description missing: model $TMP/nowhere/classifier.toml: cannot read: No such file or directory (os error 2)
        onnx without toml: model $FIXTURES/three_class.onnx: an .onnx file needs its description; expected $FIXTURES/three_class.toml beside it"#]]
    .assert_eq(&out.join("\n"));
}

#[test]
fn a_missing_runtime_library_is_an_error_that_says_how_to_get_it() {
    let e = OnnxClassifier::new(
        Model::built_in().unwrap(),
        &ClassifierOptions {
            ort_library: Some("/nonexistent/libonnxruntime.so".into()),
            ..ClassifierOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, VisionError::Runtime(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/libonnxruntime.so") && msg.contains("scripts/setup.sh"),
        "{msg}"
    );
}

/// The int8 built-in model (`vision.precision = "int8"`) stays close to the fp32 one on the sample images on
/// average. Measured with onnxruntime in `training/` on these 14 samples: mean |difference| of p(normal)
/// 0.057, but 0.57 on one close-up stringing photo: int8 is not faithful image by image (model card, "int8").
/// A wrong quantisation (a missing scale, a swapped channel) moves the mean far more.
#[test]
fn the_int8_built_in_model_tracks_the_fp32_one_on_the_samples() {
    use layerwatch::vision::Precision;
    let fp32 = Model::built_in_precision(Precision::Fp32).unwrap();
    let int8 = Model::built_in_precision(Precision::Int8).unwrap();
    assert!(int8.spec.name.ends_with("-int8") && !fp32.spec.name.ends_with("-int8"));
    assert!(int8.bytes().len() * 3 < fp32.bytes().len(), "the int8 graph is not smaller");
    assert_eq!((int8.spec.labels.clone(), int8.spec.input_width), (fp32.spec.labels.clone(), fp32.spec.input_width));
    let mut a = OnnxClassifier::new(fp32, &opts()).unwrap();
    let mut b = OnnxClassifier::new(int8, &opts()).unwrap();
    let mut diffs = Vec::new();
    for (i, (path, label)) in samples().iter().enumerate() {
        let f = file_frame(i as u64, path);
        let (x, y) = (a.classify(&f).unwrap().scores.failure, b.classify(&f).unwrap().scores.failure);
        assert!(y.is_finite() && (0.0..=1.0).contains(&y), "{} ({label}): int8 {y}", path.display());
        diffs.push((x - y).abs());
    }
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    assert!(mean < INT8_MEAN_GAP, "mean |fp32 - int8| failure probability {mean:.3}");
}

/// Mean failure-probability gap allowed between the int8 and the fp32 built-in model (measured 0.057).
const INT8_MEAN_GAP: f32 = 0.10;
