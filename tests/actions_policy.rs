//! The action engine's policy against a `PrinterLink` double, with tokio's
//! clock paused so "after N minutes" takes no real time. Alerts go to a
//! recording channel here; the real channels are in `actions_delivery.rs`.

mod actions_support;

use std::sync::Arc;
use std::time::Duration;

use actions_support::{Answer, DoublePrinter, Harness, eventually, jpeg_frame, verdict};
use layerwatch::actions::alerts::fake::RecordingNotifier;
use layerwatch::actions::alerts::{Alert, Notifier};
use layerwatch::actions::feedback_set::DatasetOutcome;
use layerwatch::actions::{ActionsConfig, Clock, Policy, UserCommand};
use layerwatch::decision::Feedback;
use layerwatch::domain::{FrameImage, HealthFinding, Level, PrinterState, Timestamp, Verdict};
use layerwatch::store::{
    Actor, AlertKind, AuditCommand, Channel, CloseReason, CommandResult, FeedbackKind, OutboxState,
};

fn channel() -> (RecordingNotifier, Vec<Arc<dyn Notifier>>) {
    let n = RecordingNotifier::new(Channel::Webhook);
    (n.clone(), vec![Arc::new(n) as Arc<dyn Notifier>])
}

/// The engine on paused time with fast alert settings.
async fn start(
    dir: &std::path::Path,
    actions: ActionsConfig,
    printer: Option<DoublePrinter>,
    notifiers: Vec<Arc<dyn Notifier>>,
) -> Harness {
    Harness::start(dir, actions, actions_support::fast_alerts(), printer, notifiers, Clock::tokio()).await
}

fn incident_alerts(n: &RecordingNotifier) -> Vec<Alert> {
    n.sent().into_iter().map(|s| s.alert).filter(|a| a.kind == AlertKind::Incident).collect()
}

#[tokio::test(start_paused = true)]
async fn a_failure_pauses_and_parks_once_however_many_verdicts_follow() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 30);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    for i in 0..20 {
        h.engine
            .verdict(verdict(Level::Failure, 0.8 + i as f32 * 0.005, 30 + i), Some(jpeg_frame(i as u64)))
            .await
            .unwrap();
    }
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park"]);
    assert!(matches!(printer.state(), PrinterState::Paused { .. }));

    let incidents = h.store.open_incidents().await.unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let inc = &incidents[0];
    assert!(inc.holds_printer);
    assert_eq!(inc.actions, "pause: confirmed; park: confirmed");
    assert!((inc.confidence - 0.895).abs() < 1e-4, "highest confidence kept: {}", inc.confidence);
    assert!(inc.snapshot_id.is_some());

    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 1 }).await);
    let sent = rec.sent();
    let alert = &sent[0].alert;
    assert_eq!(alert.incident_id, Some(inc.id));
    assert_eq!(alert.action.as_ref().unwrap().summary, "Paused and parked");
    assert!(alert.action.as_ref().unwrap().printer_stopped);
    assert!(sent[0].snapshot_len.unwrap() > 1000, "annotated JPEG sent along");

    let audit = h.store.audit_of_incident(inc.id).await.unwrap();
    let cmds: Vec<_> = audit.iter().map(|a| (a.entry.command, a.entry.actor, a.entry.result)).collect();
    assert_eq!(
        cmds,
        [
            (AuditCommand::Pause, Actor::Daemon, CommandResult::Confirmed),
            (AuditCommand::Park, Actor::Daemon, CommandResult::Confirmed)
        ]
    );
    assert!(audit[0].entry.reason.starts_with(&format!("incident {}: failure spaghetti 0.80", inc.id)));
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(incident_alerts(&rec).len(), 1, "one incident, one alert");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pause_then_cool_turns_the_hotend_off_after_n_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("vase.gcode", 50);
    let actions = ActionsConfig { failure: Policy::PauseThenCool, cool_after_min: 10, ..ActionsConfig::default() };
    let (_rec, notifiers) = channel();
    let h = start(dir.path(), actions, Some(printer.clone()), notifiers).await;
    h.engine.verdict(verdict(Level::Failure, 0.9, 50), None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park"]);
    let inc = h.store.open_incidents().await.unwrap().remove(0);
    assert!(inc.cool_due_at.is_some());

    tokio::time::sleep(Duration::from_secs(9 * 60 + 50)).await;
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park"], "not before 10 minutes");

    tokio::time::sleep(Duration::from_secs(20)).await;
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park", "set_temperatures(Some(0.0), None)"]);
    let inc = h.store.incident(inc.id).await.unwrap().unwrap();
    assert_eq!(inc.actions, "pause: confirmed; park: confirmed; cool_down: confirmed");
    assert_eq!(inc.cool_due_at, None);
    let audit = h.store.audit_of_incident(inc.id).await.unwrap();
    assert_eq!(audit.last().unwrap().entry.command, AuditCommand::CoolDown);
    assert!(audit.last().unwrap().entry.reason.contains("nobody resumed or acknowledged within 10 min"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn acknowledging_stops_the_cool_down() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("vase.gcode", 50);
    let actions =
        ActionsConfig { failure: Policy::PauseThenCool, cool_after_min: 5, cool_bed: true, ..ActionsConfig::default() };
    let h = start(dir.path(), actions, Some(printer.clone()), vec![]).await;
    h.engine.verdict(verdict(Level::Failure, 0.9, 50), None).await.unwrap();
    h.engine.sync().await.unwrap();
    let id = h.store.open_incidents().await.unwrap()[0].id;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let out = h.engine.user_command(UserCommand::Acknowledge { incident: id }, Some("ana".into())).await.unwrap();
    assert_eq!(out.message, "acknowledged; cool-down cancelled");
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park"]);
    let inc = h.store.incident(id).await.unwrap().unwrap();
    assert!(inc.is_open(), "the printer stays paused for the owner");
    assert!(inc.actions.ends_with("cool-down cancelled: acknowledged by ana"), "{}", inc.actions);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_pause_is_retried_once_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 10);
    printer.script(&[Answer::Unconfirmed, Answer::Unconfirmed]);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    for i in 0..5 {
        h.engine.verdict(verdict(Level::Failure, 0.9, 10 + i), None).await.unwrap();
    }
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "pause"], "one retry, no park, nothing more");
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 1 }).await);
    let action = incident_alerts(&rec)[0].action.clone().unwrap();
    assert!(!action.printer_stopped);
    assert_eq!(action.steps[0].attempts, 2);
    assert_eq!(action.steps[0].result, CommandResult::Unconfirmed);
    assert!(
        action.summary.starts_with("PAUSE NOT CONFIRMED after 2 attempts: pause sent but not confirmed"),
        "{}",
        action.summary
    );
    let inc = h.store.open_incidents().await.unwrap().remove(0);
    assert!(!inc.holds_printer, "the printer was not stopped");
    let audit = h.store.audit_of_incident(inc.id).await.unwrap();
    assert_eq!(audit.iter().map(|a| a.entry.attempt).collect::<Vec<_>>(), [1, 2]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_pause_that_fails_while_not_printing_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 10);
    printer.script(&[Answer::NotConnected]);
    printer.set_state(PrinterState::Disconnected);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    h.engine.verdict(verdict(Level::Failure, 0.9, 10), None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause"]);
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 1 }).await);
    let summary = incident_alerts(&rec)[0].action.clone().unwrap().summary;
    assert_eq!(summary, "PAUSE FAILED after 1 attempt: printer is not connected; the print may still be running");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_adopts_the_incident_instead_of_pausing_again() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 30);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers.clone()).await;
    h.engine.verdict(verdict(Level::Failure, 0.9, 30), Some(jpeg_frame(1))).await.unwrap();
    h.engine.sync().await.unwrap();
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 1 }).await);
    let id = h.store.open_incidents().await.unwrap()[0].id;
    drop(h.engine);
    h.cancel.cancel();
    drop(h.store);

    // A new daemon on the same data directory, the printer still paused.
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    assert_eq!(h.store.recovery().carried_over, [id]);
    for i in 0..10 {
        h.engine.verdict(verdict(Level::Failure, 0.95, 30 + i), None).await.unwrap();
    }
    h.engine.sync().await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(printer.commands(), ["pause", "park"], "no second pause after the restart");
    assert_eq!(incident_alerts(&rec).len(), 1, "no second alert after the restart");
    assert_eq!(h.store.alerts_of_incident(id).await.unwrap().len(), 1);

    let out = h.engine.user_command(UserCommand::Resume, Some("ana".into())).await.unwrap();
    assert_eq!(out.result, Some(CommandResult::Confirmed));
    assert_eq!(out.closed_incident, Some(id));
    let inc = h.store.incident(id).await.unwrap().unwrap();
    assert_eq!(inc.closed_reason, Some(CloseReason::Resumed));
    assert!(
        eventually(Duration::from_secs(5), || async {
            rec.sent().iter().any(|s| s.alert.kind == AlertKind::Resolved && s.alert.incident_id == Some(id))
        })
        .await
    );
    let audit = h.store.audit_log(10).await.unwrap();
    assert_eq!((audit[0].entry.command, audit[0].entry.actor), (AuditCommand::Resume, Actor::User));
    assert_eq!(audit[0].entry.who.as_deref(), Some("ana"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_warning_notifies_and_an_escalation_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 5);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    for i in 0..3 {
        h.engine.verdict(verdict(Level::Warning, 0.5, 5 + i), None).await.unwrap();
    }
    h.engine.sync().await.unwrap();
    assert!(printer.commands().is_empty(), "warnings only notify");
    h.engine.verdict(verdict(Level::Failure, 0.9, 9), None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park"]);
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 2 }).await);
    let levels: Vec<Level> = incident_alerts(&rec).iter().map(|a| a.level).collect();
    assert_eq!(levels, [Level::Warning, Level::Failure]);
    let all = h.store.recent_incidents(10).await.unwrap();
    assert_eq!(all[1].closed_reason, Some(CloseReason::Escalated));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_notify_incident_clears_and_a_later_failure_is_a_new_incident() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 5);
    let actions = ActionsConfig { failure: Policy::Notify, clear_after_s: 60, ..ActionsConfig::default() };
    let (rec, notifiers) = channel();
    let h = start(dir.path(), actions, Some(printer.clone()), notifiers).await;
    let at = |s: i64| Timestamp::from_millis(1_700_000_000_000 + s * 1000);
    let mut v = verdict(Level::Failure, 0.9, 5);
    v.at = at(0);
    h.engine.verdict(v, None).await.unwrap();
    for s in [10, 40, 71] {
        let mut v = verdict(Level::Ok, 0.1, 6);
        v.at = at(s);
        h.engine.verdict(v, None).await.unwrap();
    }
    let mut v = verdict(Level::Failure, 0.9, 7);
    v.at = at(80);
    h.engine.verdict(v, None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert!(printer.commands().is_empty());
    let all = h.store.recent_incidents(10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].closed_reason, Some(CloseReason::Cleared));
    assert!(all[0].is_open());
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 2 }).await);
    assert!(
        eventually(Duration::from_secs(5), || async {
            rec.sent().iter().filter(|s| s.alert.kind == AlertKind::Resolved).count() == 1
        })
        .await
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resuming_at_the_printer_closes_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 5);
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), vec![]).await;
    h.engine.verdict(verdict(Level::Failure, 0.9, 5), None).await.unwrap();
    h.engine.sync().await.unwrap();
    let id = h.store.open_incidents().await.unwrap()[0].id;
    printer.set_state(PrinterState::Printing { job: actions_support::job("benchy.gcode", 6) });
    assert!(
        eventually(Duration::from_secs(5), || async {
            h.store.incident(id).await.unwrap().unwrap().closed_reason == Some(CloseReason::Resumed)
        })
        .await
    );
    printer.set_state(PrinterState::Finished { job: actions_support::job("benchy.gcode", 119) });
    assert!(
        eventually(Duration::from_secs(5), || async {
            h.store.recent_prints(1).await.unwrap()[0].outcome == Some(layerwatch::store::PrintOutcome::Finished)
        })
        .await
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn not_a_failure_resumes_and_mute_silences() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 5);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    h.engine.verdict(verdict(Level::Failure, 0.9, 5), None).await.unwrap();
    h.engine.sync().await.unwrap();
    let id = h.store.open_incidents().await.unwrap()[0].id;
    let out = h.engine.user_command(UserCommand::NotAFailure { incident: id, resume: true }, None).await.unwrap();
    assert_eq!(out.closed_incident, Some(id));
    assert_eq!(printer.commands(), ["pause", "park", "resume"]);
    let inc = h.store.incident(id).await.unwrap().unwrap();
    assert_eq!((inc.closed_reason, inc.feedback.as_deref()), (Some(CloseReason::NotAFailure), Some("not_a_failure")));
    // Issue 13 item 7: a second "not a failure" on the closed incident answered 200.
    let err = h.engine.user_command(UserCommand::NotAFailure { incident: id, resume: true }, None).await.unwrap_err();
    assert_eq!(err.to_string(), format!("incident {id} is already closed (not_a_failure): nothing to mark as not a failure"));
    assert_eq!(printer.commands(), ["pause", "park", "resume"], "no second resume");

    let out = h.engine.user_command(UserCommand::Mute { minutes: None }, Some("ana".into())).await.unwrap();
    assert_eq!(out.message, "muted for the rest of this print");
    for i in 0..3 {
        h.engine.verdict(verdict(Level::Failure, 0.9, 20 + i), None).await.unwrap();
    }
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park", "resume"], "muted: no pause");
    let muted = h.store.open_incidents().await.unwrap().remove(0);
    assert!(!muted.holds_printer);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(incident_alerts(&rec).len(), 1, "muted: no alert");
    assert!(h.store.alerts_of_incident(muted.id).await.unwrap().is_empty());
    assert_eq!(h.feedback(), [Feedback::NotAFailure, Feedback::MuteForPrint], "the decider hears both, in order");
    h.stop().await;
}

/// Issue 16 part 5: the "not a failure" workflow lives in the engine. It
/// closes the incident, saves the snapshot and the frames judged while the
/// incident was open into the feedback dataset, and tells the decider on the
/// feedback channel; a failed resume tells the decider nothing.
#[tokio::test(start_paused = true)]
async fn not_a_failure_saves_the_incidents_frames_and_tells_the_decider() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 5);
    let (_rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    h.engine.verdict(verdict(Level::Ok, 0.1, 4), Some(jpeg_frame(1))).await.unwrap();
    h.engine.verdict(verdict(Level::Failure, 0.9, 5), Some(jpeg_frame(2))).await.unwrap();
    h.engine.verdict(verdict(Level::Failure, 0.95, 5), Some(jpeg_frame(3))).await.unwrap();
    h.engine.sync().await.unwrap();
    let id = h.store.open_incidents().await.unwrap()[0].id;
    printer.script(&[Answer::NotConnected]);
    let out = h.engine.user_command(UserCommand::Resume, Some("ana".into())).await.unwrap();
    assert_eq!(out.result, Some(CommandResult::Failed));
    assert_eq!(h.feedback(), [], "a resume that failed is no resume");

    let out = h.engine.user_command(UserCommand::NotAFailure { incident: id, resume: false }, None).await.unwrap();
    assert_eq!(out.closed_incident, Some(id));
    let Some(DatasetOutcome::Saved { labels, images }) = out.dataset else { panic!("{out:?}") };
    assert_eq!((labels.clone(), images), (h.data_dir.join("feedback/labels.csv"), 3), "snapshot + 2 flagged frames");
    let rows = std::fs::read_to_string(&labels).unwrap();
    let names: Vec<_> = rows.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect();
    assert_eq!(
        names,
        [
            format!("images/incident{id}-snapshot.jpg"),
            format!("images/incident{id}-frame2.jpg"),
            format!("images/incident{id}-frame3.jpg")
        ],
        "the Ok frame before the incident is not in it"
    );
    let frame3 = std::fs::read(h.data_dir.join(format!("feedback/images/incident{id}-frame3.jpg"))).unwrap();
    let FrameImage::Jpeg(jpeg) = jpeg_frame(3).image else { unreachable!() };
    assert_eq!(frame3, jpeg.to_vec());
    assert_eq!(h.feedback(), [Feedback::NotAFailure]);

    let out = h.engine.user_command(UserCommand::ForgetCamera, Some("ana".into())).await.unwrap();
    assert_eq!(out.message, "this camera's memory of normal frames is forgotten");
    assert_eq!(h.feedback(), [Feedback::ForgetCamera]);
    let last = h.store.feedback_log(1).await.unwrap().remove(0).entry;
    assert_eq!((last.kind, last.who.as_deref()), (FeedbackKind::ForgetCamera, Some("ana")));
    h.stop().await;
}

/// Issue 16 part 5: `run --print` starts the print through the engine, so the
/// start is in the audit log like every other printer command.
#[tokio::test(start_paused = true)]
async fn starting_a_print_goes_through_the_engine_and_its_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::with_state(PrinterState::Idle);
    let (_rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    let file = dir.path().join("benchy.gcode");
    let cmd = UserCommand::StartPrint { file: file.clone() };
    let out = h.engine.user_command(cmd.clone(), Some("run --print".into())).await.unwrap();
    assert_eq!((out.result, out.error), (Some(CommandResult::Confirmed), None));
    assert_eq!(printer.commands(), ["print benchy.gcode"]);
    // A second start while printing is refused by the printer, and audited too.
    let out = h.engine.user_command(cmd, Some("run --print".into())).await.unwrap();
    assert_eq!(out.result, Some(CommandResult::Failed), "{out:?}");
    let audit = h.store.audit_log(10).await.unwrap();
    let line = |a: &layerwatch::store::AuditRow| {
        let e = &a.entry;
        format!("{} {} {} {:?}", e.command, e.result, e.reason, e.who)
    };
    let got: Vec<_> = audit.iter().rev().map(line).collect();
    let want = |r: &str| format!("print {r} print {} Some(\"run --print\")", file.display());
    assert_eq!(got, [want("confirmed"), want("failed")]);
    assert_eq!(h.feedback(), []);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn without_a_printer_link_the_alert_says_the_print_was_not_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), None, notifiers).await;
    h.engine.verdict(verdict(Level::Failure, 0.9, 5), None).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 1 }).await);
    let a = incident_alerts(&rec).remove(0);
    assert_eq!(a.action.unwrap().summary, "No printer link configured: print NOT stopped");
    let err = h.engine.user_command(UserCommand::Pause, None).await.unwrap_err();
    assert_eq!(err.to_string(), "no printer link is configured (printer.kind = \"none\")");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn health_findings_notify_once_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 5);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    let since = Timestamp::now();
    for _ in 0..3 {
        h.engine.health(HealthFinding::CameraFrozen { since, layers_advanced: 4 }).await.unwrap();
    }
    h.engine.health(HealthFinding::Cleared { what: "camera_frozen".into(), at: since }).await.unwrap();
    h.engine.health(HealthFinding::CameraFrozen { since, layers_advanced: 9 }).await.unwrap();
    h.engine.sync().await.unwrap();
    assert!(printer.commands().is_empty(), "health findings never touch the printer");
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 2 }).await);
    let all = h.store.recent_incidents(10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].closed_reason, Some(CloseReason::Cleared));
    assert!(incident_alerts(&rec)[0].note.starts_with("Camera picture frozen"));
    let rows = h.store.alerts_of_incident(all[0].id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        eventually(Duration::from_secs(5), || async {
            h.store.outbox_row(rows[0].id).await.unwrap().unwrap().state == OutboxState::Sent
        })
        .await
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_incident_paused_for_but_never_alerted_is_alerted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A previous run paused the printer and died before queueing the alert.
        let store = actions_support::open_store(dir.path()).await;
        let print = store.start_print("benchy.gcode", Timestamp::now(), Some(120)).await.unwrap();
        let id = store
            .open_incident(layerwatch::store::NewIncident {
                print_id: Some(print),
                opened_at: Timestamp::now(),
                level: Level::Failure,
                cause: layerwatch::store::IncidentCause::Spaghetti,
                confidence: 0.9,
                layer: Some(30),
                layer_count: Some(120),
                snapshot_id: None,
                holds_printer: true,
                note: "smoothed 0.90".into(),
            })
            .await
            .unwrap();
        store.add_incident_action(id, "pause: confirmed").await.unwrap();
    }
    let printer = DoublePrinter::with_state(PrinterState::Paused { job: actions_support::job("benchy.gcode", 30) });
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    h.engine.verdict(verdict(Level::Failure, 0.95, 31), None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 1 }).await);
    let a = incident_alerts(&rec).remove(0);
    let action = a.action.unwrap();
    assert_eq!(action.summary, "layerwatch restarted while handling this incident; done: pause: confirmed");
    assert!(action.printer_stopped);
    assert_eq!(a.print.unwrap().file, "benchy.gcode");
    assert!(printer.commands().is_empty(), "no second pause");
    h.stop().await;
}

/// Issue 13 item 2: `{"minutes":4294967295}` muted for ~8 000 years and `0` was accepted;
/// a mute is now bounded (by `actions.max_mute_min` and by its print), published, alerted.
#[tokio::test(start_paused = true)]
async fn mute_is_bounded_published_alerted_and_ends_with_its_print() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 5);
    let (rec, notifiers) = channel();
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), notifiers).await;
    for minutes in [0, 241, u32::MAX] {
        let err = h.engine.user_command(UserCommand::Mute { minutes: Some(minutes) }, None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "minutes = {minutes}: give 1 to 240 minutes (actions.max_mute_min), \
                 or no minutes to mute for the rest of this print"
            )
        );
    }
    assert_eq!(*h.engine.mute().borrow(), None, "a refused mute changes nothing");

    let out = h.engine.user_command(UserCommand::Mute { minutes: Some(30) }, Some("ana".into())).await.unwrap();
    assert!(out.message.starts_with("muted until ") && out.message.ends_with(" or the end of this print"), "{out:?}");
    let m = h.engine.mute().borrow().clone().expect("published");
    assert_eq!((m.for_print, m.who.as_deref()), (true, Some("ana")));
    assert_eq!(m.until.unwrap().millis() - m.since.millis(), 30 * 60_000);
    assert!(
        eventually(Duration::from_secs(5), || async { rec.sent().iter().any(|s| s.alert.kind == AlertKind::Muted) })
            .await,
        "muting during a print alerts the owner"
    );
    let alert = rec.sent().into_iter().find(|s| s.alert.kind == AlertKind::Muted).unwrap().alert;
    assert!(alert.note.contains("(by ana)"), "{}", alert.note);

    h.engine.verdict(verdict(Level::Failure, 0.9, 6), None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert!(printer.commands().is_empty(), "muted: no pause");

    // Past the mute's end the same failure pauses again.
    // (Verdict times are wall-clock stamps: the muted incident clears after 120 s of `ok`.)
    tokio::time::sleep(Duration::from_secs(31 * 60)).await;
    let ok = verdict(Level::Ok, 0.1, 7);
    let later = Verdict { at: ok.at.add(Duration::from_secs(200)), ..verdict(Level::Ok, 0.1, 8) };
    h.engine.verdict(ok, None).await.unwrap();
    h.engine.verdict(later, None).await.unwrap();
    h.engine.verdict(verdict(Level::Failure, 0.9, 9), None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park"], "the mute ran out");

    // A print-bound mute ends with the print.
    h.engine.user_command(UserCommand::Mute { minutes: None }, None).await.unwrap();
    assert!(h.engine.mute().borrow().is_some());
    printer.set_state(PrinterState::Finished { job: actions_support::job("benchy.gcode", 119) });
    assert!(eventually(Duration::from_secs(5), || async { h.engine.mute().borrow().is_none() }).await);
    let err = h.engine.user_command(UserCommand::Mute { minutes: None }, None).await.unwrap_err();
    assert_eq!(err.to_string(), "nothing is printing: give a number of minutes to mute");
    h.stop().await;
}

/// The two-object PrusaSlicer fixture as the double's published analysis of `file`.
fn two_objects(printer: &DoublePrinter, file: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcode/prusa_two_objects_support.gcode");
    let analysis = layerwatch::gcode::analyze(&std::fs::read(path).unwrap());
    let analysis = Arc::new(analysis);
    printer.set_analysis(layerwatch::printer::FileAnalysis { file: file.into(), size: None, analysis });
}

/// Issue 12: `[actions] on_single_object_failure = "cancel_object"` cancels only the object a
/// located failure is on; without a location, on an ambiguous spot, or with the default
/// policy, the print pauses as before.
#[tokio::test(start_paused = true)]
async fn a_failure_on_one_object_cancels_only_that_object_when_configured() {
    let located = |layer, xy: Option<[f32; 2]>| {
        let mut v = verdict(Level::Failure, 0.9, layer);
        v.evidence.bed_xy_mm = xy;
        v
    };
    // The cube (x 120..130, y 106..116, layers 0..=64) where the tee (y ≤ 105.5) does not reach.
    let on_cube = Some([125.0, 111.0]);
    let cfg = ActionsConfig {
        on_single_object_failure: layerwatch::actions::SingleObjectPolicy::CancelObject,
        ..ActionsConfig::default()
    };
    let cases: [(&str, ActionsConfig, Option<[f32; 2]>, &[&str]); 3] = [
        ("located, cancel_object", cfg.clone(), on_cube, &["cancel_object cube10.stl id:0 copy 0"]),
        ("no location", cfg.clone(), None, &["pause", "park"]),
        ("default policy", ActionsConfig::default(), on_cube, &["pause", "park"]),
    ];
    for (what, actions, xy, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let printer = DoublePrinter::printing("two.gcode", 5);
        two_objects(&printer, "two.gcode");
        let (rec, notifiers) = channel();
        let h = start(dir.path(), actions, Some(printer.clone()), notifiers).await;
        h.engine.verdict(located(5, xy), Some(jpeg_frame(1))).await.unwrap();
        h.engine.sync().await.unwrap();
        assert_eq!(printer.commands(), want, "{what}");
        let inc = &h.store.open_incidents().await.unwrap()[0];
        let audit = h.store.audit_of_incident(inc.id).await.unwrap();
        if want[0].starts_with("cancel_object") {
            assert!(!inc.holds_printer, "{what}: the print goes on");
            assert!(matches!(printer.state(), PrinterState::Printing { .. }));
            let a = &audit[0].entry;
            let want = (AuditCommand::CancelObject, Actor::Daemon, CommandResult::Confirmed);
            assert_eq!((a.command, a.actor, a.result), want);
            assert!(a.reason.contains("localised to object \"cube10.stl id:0 copy 0\""), "{}", a.reason);
            assert!(eventually(Duration::from_secs(5), || async { incident_alerts(&rec).len() == 1 }).await);
            let summary = incident_alerts(&rec)[0].action.clone().unwrap().summary;
            assert_eq!(summary, "Cancelled object \"cube10.stl id:0 copy 0\" only; the other objects print on");
        } else {
            assert!(inc.holds_printer, "{what}");
        }
        h.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_located_failure_on_the_last_object_or_a_failed_cancel_pauses() {
    let cfg = ActionsConfig {
        on_single_object_failure: layerwatch::actions::SingleObjectPolicy::CancelObject,
        ..ActionsConfig::default()
    };
    // Layer 70: only the tee prints (the cube ends at layer 64) — the last object: pause.
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("two.gcode", 70);
    two_objects(&printer, "two.gcode");
    let h = start(dir.path(), cfg.clone(), Some(printer.clone()), vec![]).await;
    let mut v = verdict(Level::Failure, 0.9, 70);
    v.evidence.bed_xy_mm = Some([140.0, 95.0]);
    h.engine.verdict(v.clone(), None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["pause", "park"]);
    h.stop().await;
    // The cancel is not confirmed: the print is paused after it.
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("two.gcode", 5);
    two_objects(&printer, "two.gcode");
    printer.script(&[Answer::Unconfirmed]);
    let h = start(dir.path(), cfg, Some(printer.clone()), vec![]).await;
    v.evidence.layer = Some(5);
    v.evidence.bed_xy_mm = Some([125.0, 111.0]);
    h.engine.verdict(v, None).await.unwrap();
    h.engine.sync().await.unwrap();
    assert_eq!(printer.commands(), ["cancel_object cube10.stl id:0 copy 0", "pause", "park"]);
    let inc = &h.store.open_incidents().await.unwrap()[0];
    assert!(inc.holds_printer);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_an_object_goes_through_the_engine_and_its_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("two.gcode", 5);
    two_objects(&printer, "two.gcode");
    let h = start(dir.path(), ActionsConfig::default(), Some(printer.clone()), vec![]).await;
    let objects = h.engine.objects().await;
    let states: Vec<_> = objects.objects.iter().map(|o| format!("{} {:?}", o.name, o.state)).collect();
    assert_eq!(states, ["cube10.stl id:0 copy 0 Printing", "tee.stl id:1 copy 0 Printing"]);
    let out = h
        .engine
        .user_command(UserCommand::CancelObject { name: "tee.stl id:1 copy 0".into() }, Some("ann".into()))
        .await
        .unwrap();
    assert_eq!(out.result, Some(CommandResult::Confirmed), "{out:?}");
    let err = h.engine.user_command(UserCommand::CancelObject { name: " ".into() }, None).await.unwrap_err();
    assert!(err.to_string().contains("object name"), "{err}");
    let audit = h.store.audit_log(10).await.unwrap();
    let a = &audit.iter().find(|a| a.entry.command == AuditCommand::CancelObject).expect("audited").entry;
    assert_eq!((a.actor, a.who.as_deref()), (Actor::User, Some("ann")));
    assert_eq!(a.reason, "cancel object \"tee.stl id:1 copy 0\"");
    let states: Vec<_> = h.engine.objects().await.objects.iter().map(|o| format!("{:?}", o.state)).collect();
    assert_eq!(states, ["Printing", "Cancelled"]);
    h.stop().await;
}
