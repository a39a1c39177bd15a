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
    println!("e2e VirtualPrinter: failure onset -> pause executed by the printer: {:.2} s", onset_to_pause.as_secs_f64());

    // The stream is held: nothing more runs on the printer.
    let at_pause = vp.executed().len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = vp.executed();
    assert_eq!(after.len(), at_pause, "commands ran after the pause: {:?}", &after[at_pause.min(after.len())..]);
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
