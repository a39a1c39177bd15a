//! The HTML report rendered by a real browser: `layerwatch eval` (the binary)
//! on the licence-OK samples plus synthetic sequences with a sweep, then
//! headless Chromium (`/usr/bin/chromium`, from `scripts/setup.sh test`)
//! dumps the DOM and takes a screenshot. The DOM must hold every plot as
//! inline SVG and nothing fetched from elsewhere; the screenshot must decode
//! and not be blank.

mod eval_support;

use std::path::Path;

use eval_support::{bin, chromium_cmd, gcode_file, require_ort, samples, synth};
use layerwatch::eval::synth::generate;
use opencv::core::{Mat, MatTraitConst, Vec3b};

/// Runs `layerwatch eval` on the samples and three short synthetic sequences; returns the report folder.
fn make_report(dir: &Path) -> std::path::PathBuf {
    require_ort();
    let g = gcode_file(dir, 30);
    let seqs = dir.join("seqs");
    let mut o = synth(&seqs, &g, 3, 30, 5, true);
    o.kinds = vec!["spaghetti".into()];
    generate(&o).expect("generate sequences");
    // One bad frame listed in a sequence, so the skipped-inputs list has an entry.
    let first = std::fs::read_dir(&seqs).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    let csv = first.join("frames/frames.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("missing.jpg,9999999999999\n");
    std::fs::write(&csv, text).unwrap();
    let out = dir.join("report");
    let o = bin()
        .args(["eval", "--quiet", "--jobs", "2", "--by", "source", "--sweep-sensitivity", "0.2,0.5,0.8", "--out"])
        .arg(&out)
        .arg(samples())
        .arg(&seqs)
        .output()
        .expect("run layerwatch eval");
    // Exit code 1: evaluated, but an input was skipped (the missing frame).
    assert_eq!(
        o.status.code(),
        Some(1),
        "eval failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(out.join("report.json").is_file() && out.join("report.html").is_file());
    out
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = make_report(dir.path());
    let html = out.join("report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    // Nothing to fetch: no scripts, stylesheets, imports or remote sources (the SVG namespace is a name, not a fetch).
    let fetchable = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for banned in ["<script", "<link", "src=", "http://", "https://", "@import", "url("] {
        assert!(!fetchable.contains(banned), "the page must be self-contained, found {banned:?}");
    }
    let url = format!("file://{}", html.display());

    let dom = chromium_cmd(&dir.path().join("profile-dom")).arg("--dump-dom").arg(&url).output().expect("chromium");
    assert!(dom.status.success(), "chromium --dump-dom: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The browser parsed the plots as SVG elements: ROC, PR, reliability, score histogram,
    // the confusion heat-map, a timeline per sequence and the sweep curve.
    assert!(count(&dom, "<svg") >= 4 + 1 + 3 + 1, "too few SVG plots: {}", count(&dom, "<svg"));
    assert!(count(&dom, "class=\"heatmap\"") >= 1, "no confusion heat-map");
    assert_eq!(count(&dom, "class=\"timeline\""), 3, "one timeline per sequence");
    for id in ["id=\"images", "id=\"sequences\"", "id=\"sweep\"", "id=\"skipped\""] {
        assert!(dom.contains(id), "section {id} missing");
    }
    assert!(dom.contains("missing.jpg"), "the skipped frame is listed");
    assert!(count(&dom, "<path") + count(&dom, "<polyline") >= 10, "curves are drawn");

    let png = dir.path().join("shot.png");
    let shot = chromium_cmd(&dir.path().join("profile-shot"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,2000")
        .arg("--hide-scrollbars")
        .arg(&url)
        .output()
        .expect("chromium");
    assert!(shot.status.success(), "chromium --screenshot: {}", String::from_utf8_lossy(&shot.stderr));
    let img = opencv::imgcodecs::imread(&png.display().to_string(), opencv::imgcodecs::IMREAD_COLOR).unwrap();
    assert_eq!((img.cols(), img.rows()), (1280, 2000), "screenshot size");
    let (ink, colour) = ink_and_colour(&img);
    // Not blank: text and plots cover a fair share of the page, and the plots bring colour.
    assert!(ink > 0.02, "the screenshot is nearly blank ({:.3} of pixels not background)", ink);
    assert!(colour > 0.002, "no coloured plot pixels ({colour:.4})");
}

/// Share of pixels that are not near-white, and share that are clearly coloured (not grey).
fn ink_and_colour(img: &Mat) -> (f64, f64) {
    let (mut ink, mut colour, mut n) = (0u64, 0u64, 0u64);
    for y in (0..img.rows()).step_by(2) {
        for x in (0..img.cols()).step_by(2) {
            let p = img.at_2d::<Vec3b>(y, x).unwrap();
            let (b, g, r) = (p[0] as i32, p[1] as i32, p[2] as i32);
            n += 1;
            if b.min(g).min(r) < 200 {
                ink += 1;
            }
            if b.max(g).max(r) - b.min(g).min(r) > 60 {
                colour += 1;
            }
        }
    }
    (ink as f64 / n as f64, colour as f64 / n as f64)
}
