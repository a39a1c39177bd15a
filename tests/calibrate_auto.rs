//! `layerwatch calibrate auto` as a user runs it (the release binary): the
//! Marlin simulator on a pty moves the nozzle, and an MJPEG camera on
//! 127.0.0.1 shows the toolhead where the simulator says the nozzle is, drawn
//! by the renderer through a camera of known pose over a textured background.
//! The solved camera must come back to that pose; a camera that does not see
//! the printer, and a printer that is printing, are refused.
//!
//! What this proves and what it does not: the moves, the frame timing, the tip
//! finder and the solver together recover a known pose from rendered frames.
//! A real toolhead (fan ducts, shadows, a real lens) was not in the loop.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use layerwatch::eval::render::toolhead_frame;
use layerwatch::geometry::{Camera, CameraFile};
use layerwatch::sim::marlin::{MarlinSim, SimConfig, SimHandle};
use layerwatch::sim::mjpeg_server::MjpegServer;
use tokio_util::sync::CancellationToken;

const W: u32 = 640;
const H: u32 = 480;

fn truth() -> Camera {
    Camera::look_at(W, H, [110.0, -170.0, 190.0], [110.0, 110.0, 20.0], 58.0)
}

/// A still, textured scene: a bed plate, a frame around it, some clutter.
fn background() -> Vec<u8> {
    let mut bgr = vec![0u8; (W * H * 3) as usize];
    for y in 0..H {
        for x in 0..W {
            let i = ((y * W + x) * 3) as usize;
            let plate = y > H / 3;
            let base: u32 = if plate { 150 + ((x / 12 + y / 12) % 2) * 12 } else { 90 + (x * 7 + y * 3) % 25 };
            let n = x.wrapping_mul(2_654_435_761).wrapping_add(y.wrapping_mul(97)) % 9;
            bgr[i] = (base + n) as u8;
            bgr[i + 1] = (base + 5 + n) as u8;
            bgr[i + 2] = (base + 10) as u8;
        }
    }
    bgr
}

/// Shows the toolhead where the simulator's nozzle is, while `live`.
fn follow(sim: SimHandle, server: Arc<MjpegServer>, live: Arc<AtomicBool>, cancel: CancellationToken) {
    let cam = truth();
    let bg = background();
    tokio::spawn(async move {
        let mut last = None;
        let mut n = 0u64;
        while !cancel.is_cancelled() {
            let p = sim.state().position;
            if live.load(Ordering::SeqCst) && last != Some(p) {
                n += 1;
                let tip = [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])];
                let jpeg = toolhead_frame(&cam, &bg, tip, 2.0, n, 90).expect("render");
                server.show(Some(vec![Bytes::from(jpeg)]));
                last = Some(p);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

struct Rig {
    dir: tempfile::TempDir,
    sim: SimHandle,
    config: std::path::PathBuf,
    live: Arc<AtomicBool>,
    cancel: CancellationToken,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (sim, port) = MarlinSim::spawn(
        SimConfig { link: Some(dir.path().join("ttySIM")), ..SimConfig::default() },
        cancel.child_token(),
    )
    .await
    .expect("simulator");
    let cam = truth();
    let first = toolhead_frame(&cam, &background(), [20.0, 200.0, 120.0], 2.0, 0, 90).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Arc::new(MjpegServer::start(listener, vec![Bytes::from(first)], 15.0).unwrap());
    let live = Arc::new(AtomicBool::new(true));
    follow(sim.clone(), server.clone(), live.clone(), cancel.child_token());
    let config = dir.path().join("layerwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\ndata_dir = \"{}\"\n\n[camera]\nname = \"side\"\nsource = \"mjpeg\"\nurl = \"{}\"\n\n\
             [printer]\nkind = \"marlin\"\n\n[printer.serial]\npath = \"{}\"\nmode = \"monitor\"\n",
            dir.path().join("data").display(),
            server.url(),
            port.display()
        ),
    )
    .unwrap();
    Rig { dir, sim, config, live, cancel }
}

async fn calibrate(config: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layerwatch"));
    cmd.arg("-c").arg(config).args(["calibrate", "auto", "--out"]).arg(out);
    cmd.args(["--bed", "220x220", "--settle-ms", "300", "--connect-timeout", "10"]).args(extra);
    cmd.env("RUST_LOG", "warn").env_remove("LAYERWATCH_CONFIG");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run layerwatch")).await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nozzle_moved_over_the_bed_gives_back_the_cameras_known_pose() {
    let r = rig().await;
    let out = r.dir.path().join("cameras/side.toml");
    let points = r.dir.path().join("points.toml");
    let (code, text) = calibrate(&r.config, &out, &["--yes", "--points-out", points.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("from the moves"), "{text}");
    let executed = r.sim.executed().join("\n");
    assert!(executed.contains("G28") && executed.contains("M400"), "{executed}");
    // The nozzle never went below the lowest height once homed.
    let file = CameraFile::parse(&std::fs::read_to_string(&out).unwrap(), "side.toml").unwrap();
    let got = file.camera();
    let want = truth();
    // The bed's points (Z 0) as the truth sees them, read back onto the bed through the solved
    // camera: the error in bed millimetres (what the geometry checks work in) and in pixels, inside
    // the grid the nozzle visited (X/Y 30..190) and out to the bed's corners (extrapolated).
    let off = |x: f64, y: f64| {
        let seen = want.project([x, y, 0.0]).unwrap();
        let back = got.back_project_to_plane(seen, 0.0).unwrap();
        let px = got.project([x, y, 0.0]).unwrap();
        ((back[0] - x).hypot(back[1] - y), (px[0] - seen[0]).hypot(px[1] - seen[1]))
    };
    let steps = |lo: f64, hi: f64| (0..5).map(move |i| lo + (hi - lo) * f64::from(i) / 4.0);
    let worst = |lo: f64, hi: f64| {
        steps(lo, hi)
            .flat_map(|x| steps(lo, hi).map(move |y| (x, y)))
            .map(|(x, y)| off(x, y))
            .fold((0.0f64, 0.0f64), |(m, p), (a, b)| (m.max(a), p.max(b)))
    };
    let (inside_mm, inside_px) = worst(30.0, 190.0);
    let (edge_mm, edge_px) = worst(0.0, 220.0);
    let (c, t) = (got.center(), want.center());
    let centre_mm = ((c[0] - t[0]).powi(2) + (c[1] - t[1]).powi(2) + (c[2] - t[2]).powi(2)).sqrt();
    let fit = file.fit.as_ref().expect("the fit is recorded");
    eprintln!(
        "calibrate auto on renders: bed points (Z 0) within {inside_mm:.2} mm / {inside_px:.2} px inside the visited \
         grid, {edge_mm:.2} mm / {edge_px:.2} px out to the bed's corners; camera centre {centre_mm:.1} mm from the \
         truth; fit RMS {:.2} px / {:.2} mm, {}/{} inliers",
        fit.rms_px, fit.rms_mm, fit.inliers, fit.points
    );
    assert!(inside_mm < 3.5, "bed points inside the grid off by up to {inside_mm:.2} mm\n{text}");
    assert!(edge_mm < 5.0, "bed points off by up to {edge_mm:.2} mm\n{text}");
    assert!(centre_mm < 15.0, "camera centre off by {centre_mm:.1} mm\n{text}");
    assert!(fit.method.starts_with("auto"), "{:?}", fit.method);
    // The points file reads back for `calibrate solve`.
    let p = layerwatch::geometry::PointsFile::parse(&std::fs::read_to_string(&points).unwrap(), "points").unwrap();
    assert_eq!(p.point.len() as u32, fit.points);
    r.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_does_not_see_the_toolhead_and_a_busy_printer_are_refused() {
    let r = rig().await;
    let out = r.dir.path().join("cameras/side.toml");
    // The picture never changes (a camera looking elsewhere): refused, nothing written.
    r.live.store(false, Ordering::SeqCst);
    let (code, text) = calibrate(&r.config, &out, &["--yes", "--grid", "2", "--heights", "10,60"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("refused: the nozzle was found at 0 of 8 points"), "{text}");
    assert!(text.contains("is this camera looking at this printer"), "{text}");
    assert!(!out.exists());
    // Without --yes and without a terminal to ask on: refused before anything moves.
    r.live.store(true, Ordering::SeqCst);
    let before = r.sim.executed().len();
    let (code, text) = calibrate(&r.config, &out, &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pass --yes"), "{text}");
    assert!(!r.sim.executed()[before..].iter().any(|l| l.starts_with("G0") || l.starts_with("G28")));
    // A printer that is printing is never moved.
    r.sim.put_sd_file("cube.gco", b"G28\nG1 Z0.2 F600\nG1 X10 Y10 E1\n".repeat(4000));
    r.sim.start_sd_print("cube.gco");
    let (code, text) = calibrate(&r.config, &out, &["--yes"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("refused: the printer is printing"), "{text}");
    assert!(!out.exists());
    r.cancel.cancel();
}
