//! Issue 12 live: the geometry checks in the real daemon (the binary, as a
//! child) with real peers. The demo's G-code is rendered (`dataset render`'s
//! code) through a camera file over a licence-clean sample photo, once as is
//! and once with the part removed half-way; the simulated Marlin printer
//! prints that same G-code in host mode, and the simulated MJPEG camera shows,
//! at each moment, the render's picture of the layer the daemon reports (the
//! first frame of the layer, toolhead parked). With the part removed the
//! daemon must raise `missing_material` (kind, bed mm, region) as a failure,
//! pause the printer, open the incident with that cause and an annotated
//! snapshot, and show it in `/api/status` and the journal; the unchanged
//! render must print to the end with no finding. `/api/overlay` must draw the
//! current layer's outline where the camera file projects it.
//!
//! The classifier runs (ONNX Runtime from `scripts/setup.sh`) but every failure
//! kind of it is set to `ignore`, so only the geometry checks can pause.
//!
//! Mid-way through the unchanged print, headless Chromium (`tests/web/overlay.mjs`,
//! the tools of `tests/web_browser.rs`) opens the dashboard, checks the drawn
//! outline lies over the live image where `/api/overlay` puts it, and saves
//! `target/web-screenshots/geometry-overlay.png` (and `-card.png`); the part-removed
//! run saves its alert snapshot as `geometry-alert-snapshot.jpg` there.

mod e2e_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e_support::*;
use layerwatch::eval::render::{RenderFailure, RenderOptions, render};
use layerwatch::geometry::{BedArea, Camera as CamModel, CameraFile};
use layerwatch::sim::marlin::{MarlinSim, SimConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A low front camera on the demo's 20 × 20 × 8 mm block (centred at 125, 105).
fn camera() -> CamModel {
    CamModel::look_at(320, 240, [125.0, -5.0, 38.0], [125.0, 105.0, 5.0], 50.0)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A photo from `datasets/samples` (CC BY 4.0, see datasets/README.md) as the background.
fn background() -> PathBuf {
    let dir = repo().join("datasets/samples/images/autozmj2n");
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("OK2_35_"))
        .expect("the sample photo ships with the repository")
}

/// The rendered pictures: before printing, and at the start of each layer (0-based), each as a few
/// variants a grey level or two apart (a real sensor never sends the same picture twice; an identical
/// picture while the printer moves on is a frozen camera).
struct Scenes {
    empty: Vec<Bytes>,
    layers: BTreeMap<u32, Vec<Bytes>>,
    onset_layer: Option<u32>,
}

impl Scenes {
    /// What the camera sees while the printer reports `layer` (the latest layer start at or before it).
    fn at(&self, layer: Option<u32>) -> Vec<Bytes> {
        match layer {
            None => self.empty.clone(),
            Some(l) => {
                self.layers.range(..=l).next_back().map(|(_, b)| b.clone()).unwrap_or_else(|| self.empty.clone())
            }
        }
    }
}

/// Five versions of a JPEG, 0 to 8 grey levels brighter.
fn sensor_variants(jpeg: &[u8]) -> Vec<Bytes> {
    use opencv::core::{Mat, MatTraitConst, Vector};
    use opencv::imgcodecs;
    use opencv::prelude::VectorToVec;
    let m = imgcodecs::imdecode(&Vector::<u8>::from_slice(jpeg), imgcodecs::IMREAD_COLOR).unwrap();
    (0..5)
        .map(|k| {
            let mut v = Mat::default();
            m.convert_to(&mut v, -1, 1.0, f64::from(k * 2)).unwrap();
            let mut buf = Vector::<u8>::new();
            let q = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, 92]);
            imgcodecs::imencode(".jpg", &v, &mut buf, &q).unwrap();
            Bytes::from(buf.to_vec())
        })
        .collect()
}

fn render_scenes(dir: &Path, cam_file: &Path, failure: Option<RenderFailure>) -> Scenes {
    let out = dir.join("render");
    let mut o =
        RenderOptions::new(repo().join("datasets/demo/print.gcode"), cam_file.into(), background(), out.clone());
    o.frames = 220;
    o.heat_frames = 4;
    o.failure = failure;
    o.onset = 0.5;
    o.park_at_layer_change = true;
    o.seed = 5;
    let summary = render(&o).expect("render");
    let csv = std::fs::read_to_string(out.join("frames/frames.csv")).unwrap();
    let mut empty = None;
    let mut layers = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let jpeg = || sensor_variants(&std::fs::read(out.join("frames").join(cols[0])).unwrap());
        match cols[2].parse::<u32>() {
            Ok(l) => {
                layers.entry(l).or_insert_with(jpeg);
            }
            Err(_) if empty.is_none() => empty = Some(jpeg()),
            Err(_) => {}
        }
    }
    assert!(layers.len() >= 24, "most layers have a layer-change frame: {}", layers.len());
    Scenes { empty: empty.expect("a heating frame"), layers, onset_layer: summary.onset_layer }
}

fn write_camera(dir: &Path) -> PathBuf {
    let bed = BedArea { size_mm: [60.0, 60.0], origin_mm: [95.0, 75.0] };
    std::fs::create_dir_all(dir.join("cameras")).unwrap();
    let p = dir.join("cameras/e2e.toml");
    std::fs::write(&p, CameraFile::new(&camera(), bed, None).to_toml_string().unwrap()).unwrap();
    p
}

struct Run {
    status: Value,
    paused: bool,
    finished: bool,
    /// The 0-based layer the printer reported when it first paused.
    paused_at: Option<u32>,
    overlay: Option<(u16, Value)>,
    incidents: Value,
    timeline: Value,
    daemon: Daemon,
    web: String,
    /// What `tests/web/overlay.mjs` measured (its JSON line), when it ran.
    browser: Option<Value>,
    _tmp: tempfile::TempDir,
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn shots() -> PathBuf {
    repo().join("target/web-screenshots")
}

/// Starts the overlay check in Chromium against the dashboard at `web` (it runs while the print goes on).
fn start_browser(web: &str) -> std::process::Child {
    let node = repo().join(".tools/venv-node/bin/node");
    let pw = repo().join(".tools/web/node_modules/playwright-core");
    assert!(node.exists(), "{} is missing: run scripts/setup.sh test", node.display());
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run scripts/setup.sh test");
    assert!(pw.join("package.json").exists(), "{} is missing: run scripts/setup.sh test", pw.display());
    std::process::Command::new("timeout")
        .arg("90")
        .arg(node)
        .arg(repo().join("tests/web/overlay.mjs"))
        .env("LW_URL", web)
        .env("LW_SHOTS", shots())
        .env("LW_PLAYWRIGHT", pw)
        .env("LW_CHROMIUM", CHROMIUM)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run node")
}

async fn print_with(failure: Option<RenderFailure>, browser_at: Option<u32>) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let cam_file = write_camera(&dir);
    let scenes = render_scenes(&dir, &cam_file, failure);
    // The demo's G-code at a fifth of real time: about 35 s, each layer over a second (four camera frames).
    let sim_cfg = SimConfig { time_scale: 0.2, link: Some(dir.join("ttySIM")), ..SimConfig::default() };
    let (_sim, pty) = MarlinSim::spawn(sim_cfg, peers.child_token()).await.expect("simulated printer");
    let gcode = dir.join("print.gcode");
    std::fs::copy(repo().join("datasets/demo/print.gcode"), &gcode).unwrap();
    let mut cam = Camera::bind().await;
    cam.start(scenes.empty.clone(), 8.0);
    let decision = "\
[decision.geometry]
action = \"pause\"

[decision.classes.spaghetti]
action = \"ignore\"
[decision.classes.stringing]
action = \"ignore\"
[decision.classes.surface]
action = \"ignore\"
[decision.classes.other]
action = \"ignore\"

[actions]
warning = \"notify\"
failure = \"pause\"
";
    let base = base_config_with(&dir.join("data"), &cam.url, decision);
    assert!(base.contains("reconnect_max_ms = 1000\n"), "base_config changed:\n{base}");
    let cfg = base.replacen(
        "reconnect_max_ms = 1000\n",
        &format!("reconnect_max_ms = 1000\ngeometry = {:?}\n", cam_file.display().to_string()),
        1,
    ) + &marlin_host_section(&pty)
        // The removed part is found without the classifier's second pass on the print's crop (it runs in the
        // unchanged print): the inference time of both is printed.
        + if failure.is_some() { "\n[vision]\ncrop_to_print = false\n" } else { "" };
    let daemon = Daemon::start(&dir, &cfg, &["--print", gcode.to_str().unwrap()]);
    let web = daemon.web_url(Duration::from_secs(30)).await;
    let client = http();
    let (mut paused_at, mut overlay, mut finished) = (None, None, false);
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut status = Value::Null;
    let mut shown: Option<Option<u32>> = None;
    let mut browser: Option<std::process::Child> = None;
    // The camera follows the layer the daemon reports; the test follows the print to its end or pause.
    while Instant::now() < deadline {
        if let Some((200, s)) = get_json(&client, &format!("{web}/api/status")).await {
            let state = s["printer"]["state"].as_str().unwrap_or("").to_string();
            let layer = s["printer"]["layer"].as_u64().map(|l| l as u32 - 1);
            let scene_layer = match state.as_str() {
                "printing" | "pausing" | "paused" | "finished" => layer,
                _ => None,
            };
            if shown != Some(scene_layer) && state != "paused" && state != "pausing" {
                cam.server.as_ref().unwrap().show(Some(scenes.at(scene_layer)));
                shown = Some(scene_layer);
            }
            // Mid-print (layer 10), the overlay the dashboard draws.
            if overlay.is_none() && state == "printing" && layer == Some(10) {
                overlay = get_json(&client, &format!("{web}/api/overlay")).await;
            }
            if browser.is_none() && state == "printing" && browser_at.is_some_and(|b| layer >= Some(b)) {
                browser = Some(start_browser(&web));
            }
            status = s;
            if state == "paused" {
                paused_at = layer;
                break;
            }
            if state == "finished" {
                finished = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // Let the incident, its snapshot and the alert land.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = get_json(&client, &format!("{web}/api/status")).await.map(|r| r.1).unwrap_or(status);
    let incidents = get_json(&client, &format!("{web}/api/incidents")).await.map(|r| r.1).unwrap_or(Value::Null);
    let timeline = get_json(&client, &format!("{web}/api/timeline")).await.map(|r| r.1).unwrap_or(Value::Null);
    let _ = scenes.onset_layer;
    let browser = browser.map(|child| {
        let out = child.wait_with_output().expect("node");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the overlay check in Chromium failed ({}):\n{}\n{stdout}\nscreenshots in {}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            shots().display()
        );
        serde_json::from_str::<Value>(stdout.lines().last().unwrap_or("")).expect("measurements")
    });
    Run {
        status,
        paused: paused_at.is_some(),
        finished,
        paused_at,
        overlay,
        incidents,
        timeline,
        daemon,
        web,
        browser,
        _tmp: tmp,
    }
}

fn geometry(run: &Run) -> &Value {
    &run.status["geometry"]
}

/// Cost of the live checks as the daemon measured them, for the report.
fn print_cost(name: &str, run: &Run) {
    let g = geometry(run);
    println!(
        "{name}: frames {} (read {}), layer changes judged {}, mean read+check {:.2} ms per read frame; \
         vision (decode + inference{}) mean {:.1} ms per frame",
        g["frames"],
        g["frames_read"],
        g["judged_layers"],
        g["mean_read_ms"].as_f64().unwrap_or(f64::NAN),
        if name == "normal" { ", whole frame and the print's crop" } else { ", whole frame only" },
        run.status["vision"]["mean_latency_ms"].as_f64().unwrap_or(f64::NAN),
    );
    assert_eq!(run.daemon.log_records("geometry: watching this print against its expected shape").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_part_is_found_live_and_pauses_the_printer() {
    let run = print_with(Some(RenderFailure::PartRemoved), None).await;
    print_cost("part removed", &run);
    let g = geometry(&run);
    assert!(run.paused, "the printer was not paused: {:#}\n{}", run.status, run.daemon.log_tail(40));
    let found = g["findings"].as_array().expect("findings");
    let first = found.first().unwrap_or_else(|| panic!("no geometry finding: {g:#}"));
    assert_eq!(first["kind"], "missing_material", "{g:#}");
    // Where: the block's centre on the bed, and a region in the frame around its projection.
    let (x, y) = (first["bed_mm"][0].as_f64().unwrap(), first["bed_mm"][1].as_f64().unwrap());
    assert!((x - 125.0).abs() < 6.0 && (y - 105.0).abs() < 6.0, "{first:#}");
    let r = &first["region"];
    let c = camera().project([125.0, 105.0, 2.0]).unwrap();
    let (rx, ry, rw, rh) = (
        r["x"].as_f64().unwrap(),
        r["y"].as_f64().unwrap(),
        r["width"].as_f64().unwrap(),
        r["height"].as_f64().unwrap(),
    );
    assert!(rx <= c[0] && c[0] <= rx + rw && ry <= c[1] && c[1] <= ry + rh, "region {r} misses the block at {c:?}");
    // When: after the part went, within a few layers.
    let onset = 13; // round(0.5 × 27 layers)
    let raised = first["layer"].as_u64().unwrap() as u32;
    assert!((onset..=onset + 4).contains(&raised), "raised at layer {raised}: {g:#}");
    assert!(run.paused_at.is_some_and(|l| l >= onset), "paused at layer {:?}", run.paused_at);
    // The incident: its cause, a failure, the printer paused, and the annotated snapshot.
    let inc = run.incidents.as_array().and_then(|a| a.first()).unwrap_or_else(|| panic!("{:#}", run.incidents));
    assert_eq!(inc["cause"], "missing_material", "{inc:#}");
    assert_eq!(inc["level"], "failure", "{inc:#}");
    assert!(inc["note"].as_str().unwrap().contains("missing material at (12"), "{inc:#}");
    let snap = inc["snapshot_url"].as_str().unwrap_or_else(|| panic!("no snapshot: {inc:#}"));
    let jpeg = http().get(format!("{}{snap}", run.web)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "the snapshot is a JPEG");
    std::fs::create_dir_all(repo().join("target/web-screenshots")).unwrap();
    std::fs::write(repo().join("target/web-screenshots/geometry-alert-snapshot.jpg"), &jpeg).unwrap();
    // The journal names the finding on the frame that raised it.
    let steps = run.timeline["steps"].as_array().expect("timeline steps");
    assert!(steps.iter().any(|s| s["geometry"] == "missing_material"), "no journal step with the finding");
    let lines = run.daemon.log_records("geometry finding");
    assert!(lines.iter().any(|l| l["kind"] == "missing_material"), "{}", run.daemon.log_tail(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_print_raises_no_finding_and_the_overlay_is_where_the_camera_projects() {
    let run = print_with(None, Some(8)).await;
    print_cost("normal", &run);
    let g = geometry(&run);
    assert!(
        run.finished && !run.paused,
        "the print did not run to its end: {:#}\n{}",
        run.status,
        run.daemon.log_tail(40)
    );
    assert_eq!(g["findings"].as_array().map(Vec::len), Some(0), "{g:#}");
    assert!(g["judged_layers"].as_u64().unwrap() >= 20, "{g:#}");
    assert!(g["best_contrast"].as_f64().unwrap() >= 0.3, "the print showed against the bed: {g:#}");
    assert_eq!(g["errors"], 0, "{g:#}");
    // Every frame is seen, but only the reference and one per layer are decoded.
    assert!(g["frames_read"].as_u64().unwrap() <= g["judged_layers"].as_u64().unwrap() + 4, "{g:#}");
    assert!(run.incidents.as_array().is_some_and(|a| a.is_empty()), "{:#}", run.incidents);

    // The overlay at layer 10 (0-based): the top outline at that layer's Z, projected by the camera file.
    let (code, o) = run.overlay.clone().expect("the overlay was fetched mid-print");
    assert_eq!(code, 200, "{o:#}");
    // The overlay follows the frames the daemon judged: the layer before the status's, at a layer change.
    let layer = o["layer"].as_u64().unwrap();
    assert!((9..=10).contains(&layer), "{o:#}");
    assert_eq!((o["width"].as_u64(), o["height"].as_u64()), (Some(320), Some(240)));
    let z = 0.3 * (layer + 1) as f64;
    let cam = camera();
    let corners: Vec<[f64; 2]> = [[114.0, 94.0], [136.0, 94.0], [136.0, 116.0], [114.0, 116.0]]
        .iter()
        .map(|c| cam.project([c[0], c[1], z]).unwrap())
        .collect();
    let (x0, x1) =
        (corners.iter().map(|c| c[0]).fold(f64::MAX, f64::min), corners.iter().map(|c| c[0]).fold(f64::MIN, f64::max));
    let (y0, y1) =
        (corners.iter().map(|c| c[1]).fold(f64::MAX, f64::min), corners.iter().map(|c| c[1]).fold(f64::MIN, f64::max));
    let segs = o["outline"].as_array().unwrap();
    assert!(segs.len() >= 8, "{o:#}");
    let pts: Vec<(f64, f64)> = segs
        .iter()
        .flat_map(|s| {
            s.as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect::<Vec<_>>()
        })
        .collect();
    for (x, y) in &pts {
        assert!(
            *x >= x0 && *x <= x1 && *y >= y0 && *y <= y1,
            "({x}, {y}) outside the block's top at z {z}: {x0} {x1} {y0} {y1}"
        );
    }
    // The outline spans the block: its front and back edges, left and right sides.
    let span_x = pts.iter().map(|p| p.0).fold(f64::MIN, f64::max) - pts.iter().map(|p| p.0).fold(f64::MAX, f64::min);
    assert!(span_x > 0.8 * (x1 - x0) * 20.0 / 22.0, "{span_x} of {}", x1 - x0);
    let roi = &o["roi"];
    let base = cam.project([125.0, 95.0, 0.0]).unwrap();
    assert!(roi["y"].as_f64().unwrap() + roi["height"].as_f64().unwrap() >= base[1], "the ROI reaches the bed: {roi}");

    // In the browser: the drawn outline sits over the live image where /api/overlay puts it.
    let m = run.browser.as_ref().expect("the browser check ran");
    println!(
        "overlay in Chromium: layer {} ({} segments), image {} px, outline drawn at {}, ROI at {}",
        m["layer"], m["segments"], m["image"], m["outline"], m["roi"]
    );
    assert_eq!(m["layer"], m["api"]["layer"], "{m}");
    let (img, line, api) = (&m["image"], &m["outline"], &m["api"]);
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let (w, h) = (f(api, "width"), f(api, "height"));
    let xs: Vec<f64> = api["outline"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| [s[0][0].as_f64().unwrap(), s[1][0].as_f64().unwrap()])
        .collect();
    let ys: Vec<f64> = api["outline"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| [s[0][1].as_f64().unwrap(), s[1][1].as_f64().unwrap()])
        .collect();
    let min = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
    let max = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
    let (sx, sy) = (f(img, "w") / w, f(img, "h") / h);
    let expect_x = f(img, "x") + min(&xs) * sx;
    let expect_y = f(img, "y") + min(&ys) * sy;
    let tol = 0.03 * f(img, "w");
    assert!(
        (f(line, "x") - expect_x).abs() < tol && (f(line, "y") - expect_y).abs() < tol,
        "drawn at {line}, expected ({expect_x}, {expect_y})"
    );
    assert!((f(line, "w") - (max(&xs) - min(&xs)) * sx).abs() < tol, "{line} vs {api}");
    assert!(m["segments"].as_u64().unwrap() >= 8, "{m}");
    assert!(shots().join("geometry-overlay.png").exists());
}
