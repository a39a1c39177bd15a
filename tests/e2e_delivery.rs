//! Alert delivery across failures of the receiver and of the daemon itself:
//! - `kill -9` while the webhook hangs, then a restart: the alert is delivered
//!   exactly once (same idempotency key) and the printer is not paused twice;
//! - a webhook that answers 500 five times, then 200: delivered once, every
//!   attempt recorded.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::printer_support::gcode::{self, Spec};
use e2e_support::printer_support::vp::VirtualPrinter;
use e2e_support::*;
use layerwatch::sim::receivers::{Fault, Outcome, WebhookReceiver};

fn failure_alerts(hook: &WebhookReceiver) -> Vec<layerwatch::sim::receivers::WebhookDelivery> {
    hook.deliveries()
        .into_iter()
        .filter(|d| d.json.as_ref().is_some_and(|j| j["kind"] == "incident" && j["level"] == "failure"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_delivery_then_restart_delivers_once_and_never_pauses_twice() {
    let vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let dir = tempfile::tempdir().unwrap();
    let text = gcode::generate(&Spec { layers: 300, moves_per_layer: 30, feedrate: 6_000, ..Spec::default() });
    let file = dir.path().join("e2e-kill.gcode");
    std::fs::write(&file, text).unwrap();
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    // The first delivery hangs (the daemon's request timeout is 10 s): it dies with its alert in flight.
    hook.push_fault(Fault::Hang, 1);
    let mut cam = Camera::bind().await;
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &marlin_host_section(&vp.link)
        + &webhook_section(&hook.url())
        + "\n[actions]\nwarning = \"none\"\nfailure = \"pause_and_park\"\n";
    let mut daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), "the print to start", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "printing").then_some(())
    })
    .await;
    let (frames, _) = sequence(12, 400);
    cam.start(frames, 4.0);
    eventually(Duration::from_secs(40), "the pause and a hung delivery", Some(&daemon), async || {
        (pauses(&vp.executed()) == 1 && !failure_alerts(&hook).is_empty()).then_some(())
    })
    .await;
    let hung = failure_alerts(&hook);
    assert!(hung.iter().all(|d| d.outcome != Outcome::Answered(200)), "nothing accepted yet");
    let first_id = hung[0].delivery_id.clone().expect("X-Layerwatch-Delivery header");

    daemon.kill9();
    let executed_at_kill = vp.executed().len();

    let t = Instant::now();
    daemon.restart(&[]);
    let web = daemon.web_url(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), "the alert after the restart", Some(&daemon), async || {
        failure_alerts(&hook).iter().any(|d| d.outcome == Outcome::Answered(200)).then_some(())
    })
    .await;
    println!("e2e kill -9: alert delivered {:.2} s after the restart", t.elapsed().as_secs_f64());
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let accepted: Vec<_> = failure_alerts(&hook).into_iter().filter(|d| d.outcome == Outcome::Answered(200)).collect();
    assert_eq!(accepted.len(), 1, "delivered exactly once: {accepted:?}");
    assert_eq!(accepted[0].delivery_id.as_deref(), Some(first_id.as_str()), "same idempotency key as before the kill");
    assert!(accepted[0].signature_ok);
    let executed = vp.executed();
    assert_eq!(pauses(&executed), 1, "paused once: {:?}", &executed[executed_at_kill.min(executed.len())..]);
    let (_, s) = get_json(&client, &format!("{web}/api/status")).await.unwrap();
    assert_ne!(s["printer"]["state"], "printing", "{s:#}");

    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(10)).expect("exit").success());
    let db = daemon.db();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM audit_log WHERE command = 'pause'"), 1, "one pause command in all");
    assert_eq!(count("SELECT count(*) FROM incidents WHERE level = 'failure'"), 1, "one incident, adopted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_failing_five_times_is_delivered_once_with_every_attempt_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    hook.push_fault(Fault::Status { status: 500, body: "boom".into() }, 5);
    let mut cam = Camera::bind().await;
    // No printer: watch and alert only (the camera is judged with the time fall-backs).
    let cfg = base_config_with(&dir.path().join("data"), &cam.url, "warmup_fallback_s = 0\nstrict_fallback_s = 0\n")
        + &webhook_section(&hook.url())
        + "\n[actions]\nwarning = \"none\"\nfailure = \"notify\"\n";
    let mut daemon = Daemon::start(dir.path(), &cfg, &[]);
    daemon.web_url(Duration::from_secs(30)).await;
    let (frames, _) = sequence(8, 400);
    cam.start(frames, 4.0);
    eventually(Duration::from_secs(40), "the sixth attempt to succeed", Some(&daemon), async || {
        failure_alerts(&hook).iter().any(|d| d.outcome == Outcome::Answered(200)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = failure_alerts(&hook);
    let codes: Vec<_> = all.iter().map(|d| d.outcome.clone()).collect();
    assert_eq!(codes.len(), 6, "{codes:?}");
    assert!(codes[..5].iter().all(|o| *o == Outcome::Answered(500)) && codes[5] == Outcome::Answered(200), "{codes:?}");
    let ids: std::collections::HashSet<_> = all.iter().map(|d| d.delivery_id.clone()).collect();
    assert_eq!(ids.len(), 1, "one alert, retried under one idempotency key");

    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(10)).expect("exit").success());
    let db = daemon.db();
    let (state, attempts): (String, i64) = db
        .query_row("SELECT state, attempts FROM outbox WHERE kind = 'incident' AND channel = 'webhook'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((state.as_str(), attempts), ("sent", 6));
    let statuses: Vec<Option<i64>> = db
        .prepare("SELECT status FROM outbox_attempts ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(500), Some(500), Some(200)]);
}
