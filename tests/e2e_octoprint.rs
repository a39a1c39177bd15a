//! End to end against a real OctoPrint 1.11 server (its VirtualPrinter
//! connected, see `hosts_support::octoprint`; one server per test binary):
//! OctoPrint prints an uploaded file, `layerwatch run` follows it over
//! OctoPrint's API (layers from the file it downloads and analyses, whose
//! analysis also gives the decider its per-layer plan), the camera
//! shows spaghetti part-way, and the daemon pauses the print through OctoPrint
//! and delivers a signed webhook.
//!
//! Prints the time from the first failure frame leaving the camera to
//! OctoPrint reporting the job paused.

mod e2e_support;
mod hosts_support;

use std::time::{Duration, Instant};

use e2e_support::printer_support::gcode::{self, Spec};
use e2e_support::*;
use hosts_support::octoprint;
use layerwatch::sim::receivers::WebhookReceiver;
use serde_json::json;

/// A print that outlasts the test: the VirtualPrinter runs moves at once, but
/// `G4` dwells take real time (0.5 s per layer here).
fn slow_print(dir: &std::path::Path) -> std::path::PathBuf {
    let text = gcode::generate(&Spec { layers: 300, moves_per_layer: 10, feedrate: 6_000, ..Spec::default() });
    let mut out = String::with_capacity(text.len() + 300 * 10);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with(";Z:") {
            out.push_str("G4 P500\n");
        }
    }
    let file = dir.join("e2e-octoprint.gcode");
    std::fs::write(&file, out).expect("write gcode");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_pauses_a_print_on_a_real_octoprint_server_and_alerts() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    server.connect_printer().await;
    let dir = tempfile::tempdir().unwrap();
    let file = slow_print(dir.path());
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    let mut cam = Camera::bind().await;
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + "\n"
        + &server.config_toml(&server.url, &server.api_key)
        + &webhook_section(&hook.url())
        + "\n[actions]\nwarning = \"none\"\nfailure = \"pause\"\n";
    let mut daemon = Daemon::start(dir.path(), &cfg, &[]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(20), "the daemon to see OctoPrint idle", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "idle").then_some(())
    })
    .await;

    server.upload_and_print(&file, "e2e-octoprint.gcode").await;
    let s = eventually(Duration::from_secs(30), "the daemon to follow the print by layer", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "printing" && s["printer"]["layer"].as_u64().is_some()).then_some(s)
    })
    .await;
    assert_eq!(s["printer"]["layer_count"], json!(300), "layers from the analysed file: {s:#}");

    let (frames, onset) = sequence(12, 400);
    cam.start(frames, 4.0);
    let paused = eventually(Duration::from_secs(40), "OctoPrint to report the job paused", Some(&daemon), async || {
        let job = server.get("api/job").await;
        job["state"].as_str().is_some_and(|s| s.starts_with("Paus")).then(Instant::now)
    })
    .await;
    let (onset_at, _) = cam.produced_at(onset).unwrap();
    assert!(paused > onset_at, "paused before the first failure frame: a false alarm\n{}", daemon.log_tail(40));
    println!(
        "e2e OctoPrint server: failure onset -> job paused in OctoPrint: {:.2} s",
        (paused - onset_at).as_secs_f64()
    );

    // The decider judged the frames with the per-layer plan made from the analysis the OctoPrint link
    // made of the file it downloaded ("gcode"), not with the layer numbers alone ("printer").
    let s = eventually(Duration::from_secs(10), "the daemon to see the pause", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "paused").then_some(s)
    })
    .await;
    assert_eq!(s["printer"]["gcode"], "gcode", "{s:#}");

    assert!(hook.wait_accepted(1, Duration::from_secs(10)).await, "webhook delivered");
    let failures: Vec<_> = hook
        .unique_accepted()
        .into_iter()
        .filter(|d| d.json.as_ref().is_some_and(|j| j["level"] == "failure"))
        .collect();
    assert_eq!(failures.len(), 1, "{:?}", hook.deliveries().iter().map(|d| &d.json).collect::<Vec<_>>());
    assert!(failures[0].signature_ok);
    let j = failures[0].json.clone().unwrap();
    assert!(j["print"]["layer"].as_u64().is_some_and(|l| l > 0), "the alert names the layer: {j:#}");
    assert_eq!(j["print"]["layer_count"], json!(300), "{j:#}");

    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(10)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", daemon.log_tail(20));
    let db = daemon.db();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM audit_log WHERE command = 'pause' AND result = 'confirmed'"), 1);

    // Leave the shared printer idle.
    server.post("api/job", json!({"command": "cancel"})).await;
}
