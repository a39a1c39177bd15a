//! The supervisor and the vision watchdog through the real binary (issue 13,
//! item 10): `layerwatch run` with a config file, as a child process.
//!
//! - A stage that keeps crashing (the web stage, its port taken by another
//!   program) is restarted within its budget, then the daemon exits non-zero
//!   with one line naming the stage, the count and the last error.
//! - An inference that never returns (a model that loops for many minutes,
//!   `tests/data/vision/slow64.onnx`) is reported stuck by the watchdog in the
//!   log, `/api/status` and `/healthz`, and SIGTERM still stops the daemon.

mod e2e_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_support::*;
use sha2::{Digest, Sha256};

/// `base_config` with `[web] bind` replaced.
fn config_with_bind(data: &Path, camera_url: &str, bind: &str) -> String {
    let cfg = base_config(data, camera_url);
    assert!(cfg.contains("bind = \"127.0.0.1:0\""), "base_config changed:\n{cfg}");
    cfg.replace("bind = \"127.0.0.1:0\"", &format!("bind = {bind:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_that_keeps_crashing_ends_the_daemon_with_a_clear_error_after_its_restart_budget() {
    // Another program holds the port the dashboard is configured to use.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::bind().await;
    let cfg = config_with_bind(&dir.path().join("data"), &cam.url, &taken);
    let started = Instant::now();
    let mut daemon = Daemon::start(dir.path(), &cfg, &[]);

    // Budget: 5 restarts within 60 s, backoff 0.2 s doubling to 5 s: the 6th crash comes after ~6 s.
    let status = daemon
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("still running after 60 s:\n{}", daemon.log_tail(30)));
    let took = started.elapsed();
    let log = daemon.log_text();
    assert_eq!(status.code(), Some(2), "exit status {status:?}\n{log}");
    assert!(took > Duration::from_secs(3), "gave up after {took:?}: without restarting?\n{log}");

    let restarts = daemon.log_records("stage crashed: restarting");
    assert_eq!(restarts.len(), 5, "five restarts before giving up\n{log}");
    assert!(restarts.iter().all(|r| r["stage"] == "web"), "{restarts:?}");
    // The last line is the error, for a person and the service manager's journal.
    let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("stage web crashed 6 times within 60 s"),
        "last line: {last}\n{log}"
    );
    assert!(last.contains(&taken) || last.to_lowercase().contains("address"), "names the cause: {last}");
    drop(squatter);
}

/// `slow64.onnx` described for the daemon (`[vision] model`), with its sha256.
fn slow_model(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vision/slow64.onnx");
    let bytes = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    std::fs::write(dir.join("slow64.onnx"), &bytes).unwrap();
    let toml = format!(
        "name = \"slow\"\nonnx = \"slow64.onnx\"\nsha256 = \"{}\"\ninput_name = \"image\"\noutput_name = \"probs\"\n\
         input_width = 64\ninput_height = 64\nresize = \"stretch\"\n\
         labels = [\"normal\", \"spaghetti\", \"stringing\", \"surface\", \"other_failure\"]\nnormal_label = \"normal\"\n",
        hex::encode(Sha256::digest(&bytes))
    );
    let path = dir.join("slow64.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_inference_is_reported_by_the_watchdog_and_sigterm_still_stops_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let model = slow_model(dir.path());
    let mut cam = Camera::bind().await;
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &format!("\n[vision]\nmodel = {:?}\nthreads = 1\n", model.display().to_string());
    let mut daemon = Daemon::start(dir.path(), &cfg, &[]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;
    cam.start(normal_frames(4), 4.0);
    let first_frame = Instant::now();

    // Reported within the limit (10 s) plus the watchdog's 1 s tick, and not before.
    let record = eventually(Duration::from_secs(40), "the watchdog's \"inference stuck\"", Some(&daemon), async || {
        daemon.log_records("inference stuck").into_iter().next()
    })
    .await;
    let seen_after = first_frame.elapsed();
    assert!(seen_after >= Duration::from_secs(10), "reported stuck after {seen_after:?}: too early");
    assert_eq!(record["level"], "ERROR", "{record}");
    assert!(record["busy_ms"].as_u64().is_some_and(|ms| ms > 10_000), "{record}");

    let (_, s) = get_json(&client, &format!("{web}/api/status")).await.expect("status answers");
    assert_eq!(s["vision"]["stuck"], true, "{:#}", s["vision"]);
    assert!(s["vision"]["busy_for_ms"].as_u64().is_some_and(|ms| ms > 10_000), "{:#}", s["vision"]);
    assert_eq!(s["vision"]["classified"], 0, "nothing came out of the classifier: {:#}", s["vision"]);
    let r = client.get(format!("{web}/healthz")).send().await.expect("healthz answers");
    assert_eq!(r.status().as_u16(), 503);
    let body = r.text().await.unwrap();
    assert!(body.contains("inference stuck for"), "{body}");

    // The stuck thread does not hold the process: SIGTERM ends it cleanly.
    let t = Instant::now();
    daemon.signal(libc::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running 20 s after SIGTERM:\n{}", daemon.log_tail(20)));
    assert!(status.success(), "exit status {status:?}\n{}", daemon.log_tail(20));
    println!(
        "stuck inference: reported after {:.1} s; SIGTERM -> exit in {:.2} s",
        seen_after.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
}
