//! End to end against real peers: `layerwatch run` (the binary, with a config
//! file) watches OctoPrint's VirtualPrinter behind a pseudo-terminal in host
//! mode, a camera (the MJPEG sim server) that shows a normal print and then
//! spaghetti, and delivers to a signed-webhook receiver and a Twilio-compatible
//! endpoint on 127.0.0.1.
//!
//! Prints the time from the first failure frame leaving the camera to the
//! pause executed by the VirtualPrinter.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::printer_support::gcode::{self, Spec};
use e2e_support::printer_support::vp::VirtualPrinter;
use e2e_support::*;
use layerwatch::sim::receivers::{TwilioReceiver, WebhookReceiver};

/// A print that outlasts the test (the VirtualPrinter runs ~1 layer per second).
fn long_print(dir: &std::path::Path) -> std::path::PathBuf {
    let text = gcode::generate(&Spec { layers: 300, moves_per_layer: 30, feedrate: 6_000, ..Spec::default() });
    let file = dir.join("e2e-block.gcode");
    std::fs::write(&file, text).expect("write gcode");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_pauses_the_virtual_printer_and_delivers_the_alerts() {
    let vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let dir = tempfile::tempdir().unwrap();
    let file = long_print(dir.path());
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    let sms = TwilioReceiver::start(TWILIO_SID, TWILIO_TOKEN).await.unwrap();
    let mut cam = Camera::bind().await;
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &marlin_host_section(&vp.link)
        + &webhook_section(&hook.url())
        + &sms_section(sms.base_url())
        + "\n[actions]\nfailure = \"pause_and_park\"\n";
    let mut daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;

    // /healthz answers while the daemon starts (503: no frames, printer connecting).
    let (code, _) = get_json(&client, &format!("{web}/healthz")).await.expect("healthz answers");
    assert!(code == 200 || code == 503, "{code}");

    eventually(Duration::from_secs(30), "the print to start", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "printing").then_some(())
    })
    .await;
    let (frames, onset) = sequence(16, 400);
    cam.start(frames, 4.0);

    // Healthy once frames flow and the printer prints.
    eventually(Duration::from_secs(20), "/healthz 200", Some(&daemon), async || {
        let (code, _) = get_json(&client, &format!("{web}/healthz")).await?;
        (code == 200).then_some(())
    })
    .await;

    let paused = eventually(Duration::from_secs(40), "the VirtualPrinter to run a pause", Some(&daemon), async || {
        (pauses(&vp.executed()) >= 1).then(Instant::now)
    })
    .await;
    let (onset_at, _) = cam.produced_at(onset).unwrap();
    assert!(paused > onset_at, "paused before the first failure frame: a false alarm\n{}", daemon.log_tail(40));
    let onset_to_pause = paused - onset_at;
    println!(
        "e2e VirtualPrinter: failure onset -> pause executed by the printer: {:.2} s",
        onset_to_pause.as_secs_f64()
    );

    // The stream is held: after the lift, only the park's mode restores (G90/M82…) run, no moves.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = vp.executed();
    let lift = after.iter().rposition(|c| c == PAUSE_LIFT).expect("the lift ran");
    let later = &after[lift + 1..];
    assert!(
        later.iter().all(|c| matches!(c.as_str(), "G90" | "G91" | "M82" | "M83")),
        "print commands ran after the pause: {later:?}"
    );
    let (_, s) = get_json(&client, &format!("{web}/api/status")).await.unwrap();
    assert_eq!(s["printer"]["state"], "paused", "{s:#}");
    assert_eq!(s["decision"]["gate"], "not_printing", "frames are no longer judged: {s:#}");
    assert!(s["printer"]["layer"].as_u64().unwrap_or(0) >= 2, "layers come through: {s:#}");

    // Alerts: one signed webhook for the failure, one SMS.
    assert!(hook.wait_accepted(1, Duration::from_secs(10)).await, "webhook delivered");
    assert!(sms.wait_accepted(1, Duration::from_secs(10)).await, "sms delivered");
    let failures: Vec<_> = hook
        .unique_accepted()
        .into_iter()
        .filter(|d| d.json.as_ref().is_some_and(|j| j["level"] == "failure"))
        .collect();
    assert_eq!(failures.len(), 1, "{:?}", hook.deliveries().iter().map(|d| &d.json).collect::<Vec<_>>());
    assert!(failures[0].signature_ok, "the webhook signature verifies");
    let j = failures[0].json.clone().unwrap();
    assert!(j["snapshot"]["jpeg_base64"].as_str().is_some_and(|s| s.len() > 1000), "snapshot embedded: {j:#}");
    let texts: Vec<String> = sms.messages().into_iter().map(|m| m.body).collect();
    assert!(texts.iter().any(|t| t.contains("FAILURE")), "{texts:?}");

    // SIGTERM: a clean exit, quickly.
    let t = Instant::now();
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(10)).expect("exited after SIGTERM");
    assert!(status.success(), "exit status {status:?}\n{}", daemon.log_tail(20));
    println!("e2e VirtualPrinter: SIGTERM -> exit 0 in {:.2} s", t.elapsed().as_secs_f64());

    // The store agrees: one failure incident holds the paused printer, one pause confirmed.
    let db = daemon.db();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM audit_log WHERE command = 'pause' AND result = 'confirmed'"), 1);
    assert_eq!(count("SELECT count(*) FROM incidents WHERE level = 'failure' AND holds_printer = 1"), 1);
    assert_eq!(count("SELECT count(*) FROM outbox WHERE state != 'sent'"), 0, "every alert was delivered");
}

/// Starts VirtualPrinter + daemon printing a long file with `frames` on the camera; returns once printing.
async fn printing_with(
    frames: Vec<bytes::Bytes>,
    hook: &WebhookReceiver,
) -> (VirtualPrinter, tempfile::TempDir, Camera, Daemon, String) {
    let vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let dir = tempfile::tempdir().unwrap();
    let file = long_print(dir.path());
    let mut cam = Camera::bind().await;
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &marlin_host_section(&vp.link)
        + &webhook_section(&hook.url())
        + "\n[actions]\nfailure = \"pause_and_park\"\nhealth = \"notify\"\n";
    let daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let web = daemon.web_url(Duration::from_secs(30)).await;
    let client = http();
    eventually(Duration::from_secs(30), "the print to start", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "printing").then_some(())
    })
    .await;
    cam.start(frames, 4.0);
    (vp, dir, cam, daemon, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_camera_showing_spaghetti_is_a_health_finding_not_a_pause() {
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    // One frame, served again and again: the camera froze on a picture of spaghetti.
    let frozen = failure_frames(1);
    let (vp, _dir, _cam, daemon, web) = printing_with(frozen, &hook).await;
    let client = http();
    let s = eventually(Duration::from_secs(30), "a camera_frozen finding", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        let frozen = s["findings"].as_array()?.iter().any(|f| f["finding"] == "camera_frozen");
        frozen.then_some(s)
    })
    .await;
    assert!(s["camera"]["frames"].as_u64().unwrap_or(0) >= 2, "{s:#}");
    assert!(hook.wait_accepted(1, Duration::from_secs(10)).await, "the owner is told");
    let causes: Vec<_> =
        hook.unique_accepted().iter().filter_map(|d| d.json.as_ref().map(|j| j["cause"].clone())).collect();
    assert!(causes.iter().any(|c| c == "camera_frozen"), "{causes:?}");
    // Keep watching a while: identical frames are no evidence, so nothing pauses.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(pauses(&vp.executed()), 0, "a frozen picture must never pause the printer");
    let (_, s) = get_json(&client, &format!("{web}/api/status")).await.unwrap();
    assert_eq!(s["printer"]["state"], "printing", "{s:#}");
    assert_ne!(s["decision"]["level"], "failure", "{s:#}");
    assert!(hook.deliveries().iter().all(|d| d.json.as_ref().is_none_or(|j| j["level"] != "failure")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_unplugged_mid_print_is_reported_without_false_alarm_and_reconnects() {
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    let (mut vp, _dir, _cam, daemon, web) = printing_with(normal_frames(40), &hook).await;
    let client = http();
    eventually(Duration::from_secs(20), "/healthz 200 while printing", Some(&daemon), async || {
        let (code, _) = get_json(&client, &format!("{web}/healthz")).await?;
        (code == 200).then_some(())
    })
    .await;

    vp.control("unplug");
    let t = Instant::now();
    let h = eventually(Duration::from_secs(20), "the disconnect to show", Some(&daemon), async || {
        let (code, h) = get_json(&client, &format!("{web}/healthz")).await?;
        (code == 503).then_some(h)
    })
    .await;
    println!("e2e unplug: reported after {:.2} s", t.elapsed().as_secs_f64());
    // Host mode: the print died with the link (the printer rebooted or lost power), which is an
    // error of the printer, not a failure of the print.
    let problems = h["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .filter_map(|p| p.as_str())
            .any(|p| p == "printer link is down" || p.contains("connection lost")),
        "{h:#}"
    );
    let (_, s) = get_json(&client, &format!("{web}/api/status")).await.unwrap();
    assert!(matches!(s["printer"]["state"].as_str(), Some("disconnected" | "error")), "{s:#}");
    assert_ne!(s["decision"]["level"], "failure", "{s:#}");
    tokio::time::sleep(Duration::from_secs(2)).await;

    vp.control("replug");
    let t = Instant::now();
    eventually(Duration::from_secs(30), "the link to come back", Some(&daemon), async || {
        let (code, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (code == 200 && s["printer"]["state"] == "idle").then_some(())
    })
    .await;
    println!("e2e replug: reconnected after {:.2} s", t.elapsed().as_secs_f64());
    eventually(Duration::from_secs(10), "/healthz 200 again", Some(&daemon), async || {
        let (code, _) = get_json(&client, &format!("{web}/healthz")).await?;
        (code == 200).then_some(())
    })
    .await;
    assert_eq!(pauses(&vp.executed()), 0, "nothing was paused");
    assert!(
        hook.deliveries().iter().all(|d| d.json.as_ref().is_none_or(|j| j["level"] != "failure")),
        "no failure alert for a disconnect"
    );
    assert_eq!(s_restarts(&client, &web).await, 0, "no stage crashed");
}

async fn s_restarts(client: &reqwest::Client, web: &str) -> u64 {
    let (_, s) = get_json(client, &format!("{web}/api/status")).await.unwrap();
    s["stages"].as_array().unwrap().iter().map(|st| st["restarts"].as_u64().unwrap_or(0)).sum()
}
