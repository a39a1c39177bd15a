//! Image evaluation end to end with the real model (ONNX Runtime from
//! `.tools/`): the licence-OK samples in `datasets/samples/`, each import
//! layout in `datasets/formats/`, bad inputs that must become named skips,
//! an empty dataset, and a comparison of two models on the same frames.

mod eval_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use eval_support::{bin, options, repo, samples, scorer, variant};
use layerwatch::eval::dataset::import::{ImportFrom, ImportOptions, import};
use layerwatch::eval::dataset::{self, Selection};
use layerwatch::eval::taxonomy::LabelMap;
use layerwatch::eval::{Scorer, SkipKind, run};
use layerwatch::vision::{ClassifierOptions, Model};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_give_every_metric_and_a_breakdown() {
    let mut opts = options(&[&samples()]);
    opts.by = vec!["source".into()];
    let r = run(&opts, &[variant(scorer())], &CancellationToken::new()).await.expect("evaluation");
    assert_eq!(r.schema_version, 1);
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let im = r.runs[0].images.as_ref().expect("image section");
    assert_eq!((im.images, im.failures, im.normals), (14, 9, 5));
    assert_eq!(im.confusion.total(), 14);
    // The labels map onto model classes: blobs and under_extrusion → surface, failure → other_failure.
    let support: BTreeMap<&str, u64> = im.per_class.iter().map(|c| (c.class.as_str(), c.support)).collect();
    assert_eq!(support["surface"], 2);
    assert_eq!(support["other_failure"], 3);
    assert_eq!(support["normal"], 5);
    let auroc = im.auroc.expect("both classes present");
    assert!(auroc > 0.5 && auroc <= 1.0, "AUROC {auroc}");
    assert_eq!(im.recall_at_fpr.len(), 2);
    assert!(im.roc.first().is_some_and(|p| p.x == 0.0 && p.y == 0.0));
    assert!(im.roc.last().is_some_and(|p| p.x == 1.0 && p.y == 1.0));
    assert_eq!(im.reliability.len(), 15);
    assert!((im.threshold.value - 0.7).abs() < 1e-6, "default pause level at sensitivity 0.5");
    let c = im.at_threshold;
    assert_eq!(c.tp + c.fp + c.tn + c.fn_, 14);
    let by = &im.breakdowns[0];
    assert_eq!(by.column, "source");
    let groups: Vec<(&str, u64)> = by.groups.iter().map(|g| (g.value.as_str(), g.images)).collect();
    assert_eq!(groups, [("autozmj2n", 11), ("rf_qa3dprinting", 3)]);
    // Each row's score is the model's: failures score higher than normals on average.
    let mean = |f: bool| {
        let v: Vec<f32> = im.rows.iter().filter(|r| r.failure == f).map(|r| r.score).collect();
        v.iter().sum::<f32>() / v.len() as f32
    };
    assert!(mean(true) > mean(false), "failures {} vs normals {}", mean(true), mean(false));
    let dir = tempfile::tempdir().unwrap();
    let (json, html) = r.write(dir.path()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(v["schema"], "layerwatch.eval.report");
    assert_eq!(v["runs"][0]["images"]["images"], 14);
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("<svg") && !page.contains("<script"), "self-contained page without scripts");
}

fn import_into(from: ImportFrom, src: &Path, out: &Path, renames: &[&str]) -> layerwatch::eval::dataset::import::ImportSummary {
    let mut o = ImportOptions::new(from, src, out).with_renames(renames).unwrap();
    if from == ImportFrom::Csv {
        o.path_column = "image".into();
        o.label_column = "class".into();
    }
    import(&o).expect("import")
}

#[test]
fn every_import_layout_yields_the_same_labels_as_the_samples() {
    let formats = repo().join("datasets/formats");
    let tmp = tempfile::tempdir().unwrap();
    let per_label = |dir: &Path| {
        let kind = dataset::detect(dir).unwrap();
        let set = dataset::load_images(&kind, &LabelMap::default(), &Selection::default()).unwrap();
        assert!(set.skipped.is_empty(), "{:?}", set.skipped);
        let mut m: BTreeMap<(String, bool), usize> = BTreeMap::new();
        for i in &set.images {
            *m.entry((i.label.clone(), i.failure)).or_default() += 1;
        }
        m
    };
    // Class folders: the 11 Auto-ZMJ2N samples.
    let s = import_into(ImportFrom::ClassFolders, &formats.join("class-folders"), &tmp.path().join("cf"), &[]);
    assert_eq!(s.images, 11);
    assert!(s.skipped.is_empty());
    let cf = per_label(&tmp.path().join("cf"));
    assert_eq!(cf[&("normal".into(), false)], 5);
    assert_eq!(cf[&("spaghetti".into(), true)], 2);
    // The class folders are also readable directly (test split).
    let direct = dataset::load_images(
        &dataset::detect(&formats.join("class-folders")).unwrap(),
        &LabelMap::default(),
        &Selection { split: Some("test".into()) },
    )
    .unwrap();
    assert_eq!(direct.images.len(), 11);
    // YOLO: images with `fail` boxes are failures, background images (empty or no label file) normal.
    let s = import_into(ImportFrom::Yolo, &formats.join("yolo"), &tmp.path().join("yolo"), &["fail=failure"]);
    assert_eq!(s.images, 6);
    let y = per_label(&tmp.path().join("yolo"));
    assert_eq!((y[&("failure".into(), true)], y[&("normal".into(), false)]), (3, 3));
    let text = std::fs::read_to_string(tmp.path().join("yolo/labels.csv")).unwrap();
    assert!(text.lines().next().unwrap().contains("boxes"), "{text}");
    assert!(text.contains(",val,") && text.contains(",test,"), "splits come from the export folders (valid → val): {text}");
    // Without the rename, `fail` is not a known label: a clear error, not a guess.
    let e = ImportOptions::new(ImportFrom::Yolo, &formats.join("yolo"), &tmp.path().join("y2"));
    let err = import(&e).unwrap_err().to_string();
    assert!(err.contains("none of the classes [\"fail\"] is a failure label"), "{err}");
    // CSV with another dialect: all 14 samples once OK and fail are renamed.
    let s = import_into(ImportFrom::Csv, &formats.join("csv/annotations.csv"), &tmp.path().join("csv"), &["ok=normal", "fail=failure"]);
    assert_eq!(s.images, 14);
    let c = per_label(&tmp.path().join("csv"));
    assert_eq!(c.values().sum::<usize>(), 14);
    assert_eq!(c[&("failure".into(), true)], 3);
    // Without the renames the unknown labels are listed with their lines.
    let s = import_into(ImportFrom::Csv, &formats.join("csv/annotations.csv"), &tmp.path().join("csv2"), &[]);
    assert_eq!(s.images, 6);
    assert_eq!(s.skipped.len(), 8);
    assert!(s.skipped.iter().all(|k| k.kind == SkipKind::UnknownLabel && k.line.is_some()));
    assert!(s.skipped[0].reason.contains("--map ok=LABEL"), "{}", s.skipped[0]);
}

/// A labels file with one problem per row, plus files that are not images.
fn bad_dataset(dir: &Path) {
    let s = samples();
    let good = "images/autozmj2n/OK2_94_jpg_rf_e5f67b25cbcb69cc6ba699cf86b6930f.jpg";
    let fail = "images/autozmj2n/spaghetti_31_jpg_rf_98879badb6d2716fb8f6981f772181d8.jpg";
    std::fs::create_dir_all(dir.join("img")).unwrap();
    std::fs::copy(s.join(good), dir.join("img/good.jpg")).unwrap();
    std::fs::copy(s.join(fail), dir.join("img/fail.jpg")).unwrap();
    let bytes = std::fs::read(s.join(fail)).unwrap();
    std::fs::write(dir.join("img/truncated.jpg"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.join("img/text.jpg"), b"<html>not an image</html>").unwrap();
    std::fs::write(
        dir.join("labels.csv"),
        "path,label,failure,split,source\n\
         img/good.jpg,normal,0,test,a\n\
         img/fail.jpg,spaghetti,1,test,a\n\
         img/missing.jpg,normal,0,test,a\n\
         img/truncated.jpg,spaghetti,1,test,b\n\
         img/text.jpg,normal,0,test,b\n\
         img/good.jpg,warping,1,test,b\n",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_named_skips_and_the_rest_is_evaluated() {
    let tmp = tempfile::tempdir().unwrap();
    bad_dataset(tmp.path());
    let r = run(&options(&[tmp.path()]), &[variant(scorer())], &CancellationToken::new()).await.expect("evaluation");
    let im = r.runs[0].images.as_ref().unwrap();
    assert_eq!(im.images, 2, "only the two good images are scored");
    let mut got: Vec<(SkipKind, Option<u64>)> = r.skipped.iter().map(|s| (s.kind, s.line)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            (SkipKind::MissingFile, Some(4)),
            (SkipKind::Undecodable, Some(5)),
            (SkipKind::Undecodable, Some(6)),
            (SkipKind::UnknownLabel, Some(7)),
        ]
    );
    for s in &r.skipped {
        assert!(s.file.ends_with("labels.csv"), "skips name the labels file: {s}");
    }
    let trunc = r.skipped.iter().find(|s| s.line == Some(5)).unwrap();
    assert!(trunc.reason.contains("img/truncated.jpg") && trunc.reason.contains("truncated"), "{trunc}");
    assert_eq!(r.skipped_by_kind["undecodable"], 2);
    // The CLI says so and exits 1.
    let out_dir = tmp.path().join("out");
    let out = bin()
        .args(["eval", tmp.path().to_str().unwrap(), "--quiet", "--jobs", "2", "--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("labels.csv:7: unknown label \"warping\""), "{stderr}");
    let page = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(page.contains("id=\"skipped-list\"") && page.contains("img/missing.jpg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_dataset_is_an_error_that_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("labels.csv"), "path,label,failure\n").unwrap();
    let e = run(&options(&[tmp.path()]), &[variant(scorer())], &CancellationToken::new()).await.unwrap_err();
    assert!(e.to_string().contains("empty dataset: no usable image or sequence"), "{e}");
    let out = bin().args(["eval", tmp.path().to_str().unwrap(), "--quiet", "--split", "test"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no `split` column"), "{stderr}");
    let empty_dir = tempfile::tempdir().unwrap();
    let out = bin().args(["eval", empty_dir.path().to_str().unwrap(), "--quiet"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a dataset"), "{:?}", out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparing_the_built_in_model_with_its_own_file_shows_no_difference() {
    // Two separate scorers (two sets of sessions) on the same frames: every delta must be zero.
    let a = scorer();
    let model = Model::from_file(&repo().join("models/classifier.toml")).expect("models/classifier.toml");
    let b = Arc::new(Scorer::onnx(model, &ClassifierOptions::default(), 2).unwrap());
    let mut va = variant(a);
    va.label = "A".into();
    let mut vb = variant(b);
    vb.label = "B".into();
    vb.params = vb.params.with_sensitivity(0.8);
    let r = run(&options(&[&samples()]), &[va, vb], &CancellationToken::new()).await.unwrap();
    assert_eq!(r.runs.len(), 2);
    let c = r.comparison.as_ref().expect("comparison");
    let auroc = c.deltas.iter().find(|d| d.metric == "images.auroc").unwrap();
    assert_eq!((auroc.delta, auroc.better), (Some(0.0), Some("same")));
    // B judges at a lower threshold (sensitivity 0.8), so it calls at least as many failures.
    let (ra, rb) = (r.runs[0].images.as_ref().unwrap(), r.runs[1].images.as_ref().unwrap());
    assert!(rb.threshold.value < ra.threshold.value);
    assert!(rb.at_threshold.tp + rb.at_threshold.fp >= ra.at_threshold.tp + ra.at_threshold.fp);
    assert_eq!(c.images_compared, Some(14));
    let html = layerwatch::eval::report::html::render(&r);
    assert!(html.contains("id=\"deltas\"") && html.contains("ROC, A vs B"));
}
