//! Durability: an alert written to the outbox survives the process being
//! killed (SIGKILL, no clean shutdown) before or during delivery, and a new
//! process on the same data directory delivers it.
//!
//! The "process" is this test binary run again as a child, filtered to the
//! ignored `child_process` test. Delivery is at-least-once: killed before any
//! attempt, the alert arrives exactly once; killed while the receiver holds
//! the request, it arrives twice with the same `X-Layerwatch-Delivery` id, and
//! a receiver that de-duplicates on that id keeps exactly one.

mod actions_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use actions_support::delivery::{SECRET, failure_alert, webhook};
use actions_support::{eventually, fast_alerts, open_store};
use layerwatch::actions::alerts::build_notifiers;
use layerwatch::actions::{AlertsConfig, Clock, Outbox};
use layerwatch::sim::receivers::{Fault, Outcome, WebhookReceiver};
use layerwatch::store::OutboxState;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const CHILD: &str = "child_process";

/// Runs in the child: queues one alert, optionally starts delivery, then waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the durability tests; run by them"]
async fn child_process() {
    let dir = std::env::var("LW_CHILD_DIR").expect("LW_CHILD_DIR");
    let url = std::env::var("LW_CHILD_URL").expect("LW_CHILD_URL");
    let deliver = std::env::var("LW_CHILD_DELIVER").as_deref() == Ok("1");
    let cfg = AlertsConfig { webhook: Some(webhook(url)), ..fast_alerts() };
    let store = open_store(Path::new(&dir)).await;
    let outbox = Outbox::new(store, build_notifiers(&cfg).unwrap(), &cfg, "Test MK4", Clock::System);
    let alert = failure_alert(1, None, None);
    outbox.enqueue(&alert).await.unwrap();
    println!("ENQUEUED {}", alert.id);
    if deliver {
        outbox.spawn(&CancellationToken::new(), &TaskTracker::new());
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    panic!("the parent should have killed this process");
}

/// Starts the child and returns it with the id of the alert it queued.
async fn spawn_child(dir: &Path, url: &str, deliver: bool) -> (tokio::process::Child, String) {
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .args([CHILD, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("LW_CHILD_DIR", dir)
        .env("LW_CHILD_URL", url)
        .env("LW_CHILD_DELIVER", if deliver { "1" } else { "0" })
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let id = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // libtest prints `test child_process ... ` on the same line first.
            if let Some((_, id)) = line.split_once("ENQUEUED ") {
                return id.trim().to_string();
            }
        }
        panic!("the child exited without queueing an alert");
    })
    .await
    .expect("the child queues its alert within 30 s");
    (child, id)
}

async fn kill_9(mut child: tokio::process::Child) {
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL, no clean shutdown");
}

/// A fresh outbox on `dir`, as a restarted daemon would run it.
async fn restart(dir: &Path, url: String) -> (layerwatch::store::Store, CancellationToken, TaskTracker) {
    let cfg = AlertsConfig { webhook: Some(webhook(url)), ..fast_alerts() };
    let store = open_store(dir).await;
    let outbox = Outbox::new(store.clone(), build_notifiers(&cfg).unwrap(), &cfg, "Test MK4", Clock::System);
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    outbox.spawn(&cancel, &tracker);
    (store, cancel, tracker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_queued_before_a_kill_is_delivered_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start(Some(SECRET)).await.unwrap();
    let (child, id) = spawn_child(dir.path(), &receiver.url(), false).await;
    kill_9(child).await;
    assert!(receiver.requests().is_empty());

    let (store, cancel, _tracker) = restart(dir.path(), receiver.url()).await;
    assert!(receiver.wait_accepted(1, Duration::from_secs(15)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.deliveries();
    assert_eq!(got.len(), 1, "exactly once");
    assert_eq!(got[0].delivery_id.as_deref(), Some(id.as_str()));
    assert!(got[0].signature_ok);
    let row = store.alerts_of_incident(1).await.unwrap().remove(0);
    assert_eq!((row.state, row.attempts), (OutboxState::Sent, 1));
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_in_flight_at_a_kill_is_sent_again_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start(Some(SECRET)).await.unwrap();
    receiver.push_fault(Fault::Hang, 1);
    let (child, id) = spawn_child(dir.path(), &receiver.url(), true).await;
    assert!(receiver.wait_requests(1, Duration::from_secs(15)).await, "the child started delivering");
    kill_9(child).await;

    let (store, cancel, _tracker) = restart(dir.path(), receiver.url()).await;
    assert_eq!(store.recovery().requeued_alerts, 1, "the in-flight row was queued again at start-up");
    assert!(receiver.wait_accepted(1, Duration::from_secs(15)).await);
    let got = receiver.deliveries();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].outcome, Outcome::Hung);
    assert!(got.iter().all(|d| d.delivery_id.as_deref() == Some(id.as_str())), "one idempotency key");
    assert_eq!(receiver.unique_accepted().len(), 1, "a de-duplicating receiver keeps one");
    assert!(
        eventually(Duration::from_secs(5), || async {
            store.alerts_of_incident(1).await.unwrap()[0].state == OutboxState::Sent
        })
        .await
    );
    cancel.cancel();
    receiver.stop();
}
