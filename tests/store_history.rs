//! The store on real SQLite files in temp dirs: migrations from every older
//! schema version, crash recovery, snapshot retention, history pruning, and
//! the queries the dashboard uses.

use std::path::Path;
use std::time::Duration;

use expect_test::expect;
use layerwatch::domain::{Level, Timestamp};
use layerwatch::store::schema::{MIGRATIONS, current_version, migrate_with};
use layerwatch::store::{
    Actor, AlertKind, AuditCommand, AuditEntry, Channel, CloseReason, CommandResult, Enqueued, FeedbackEntry,
    FeedbackKind, IncidentCause, NewIncident, NewOutboxRow, OutboxState, PrintOutcome, SnapshotRetention, Store,
    StoreConfig, TimelineSampler,
};
use rusqlite::Connection;

fn db(dir: &Path) -> std::path::PathBuf {
    dir.join("layerwatch.db")
}

/// Rows that are valid at schema `version`, as an older build would have written them.
fn seed(c: &Connection, version: i64) {
    // Recent times, so that history pruning (default 90 days) keeps them.
    let now = "(CAST(strftime('%s', 'now') AS INTEGER) * 1000)";
    if version >= 1 {
        c.execute_batch(
            &"INSERT INTO prints (id, file, started_at) VALUES (1, 'old.gcode', NOW);
             INSERT INTO incidents (id, print_id, opened_at, level, cause, confidence, holds_printer)
               VALUES (1, 1, NOW, 'warning', 'stringing', 0.6, 0);
             INSERT INTO incidents (id, print_id, opened_at, level, cause, confidence, holds_printer, actions)
               VALUES (2, 1, NOW, 'failure', 'spaghetti', 0.9, 1, 'pause: confirmed');
             INSERT INTO audit_log (at, actor, command, reason, incident_id, result, duration_ms)
               VALUES (NOW, 'daemon', 'pause', 'incident 2', 2, 'confirmed', 40);"
                .replace("NOW", now),
        )
        .unwrap();
    }
    if version >= 2 {
        c.execute_batch(
            &"INSERT INTO timeline (print_id, start_at, end_at, level, score_min, score_max, score_last, frames)
               VALUES (1, NOW, NOW, 'ok', 0.1, 0.2, 0.15, 16);"
                .replace("NOW", now),
        )
        .unwrap();
    }
    if version >= 3 {
        c.execute_batch(
            &"INSERT INTO outbox (alert_id, incident_id, kind, channel, state, payload, created_at, next_attempt_at)
               VALUES ('lw-1', 2, 'incident', 'webhook', 'sending', '{}', NOW, NOW);"
                .replace("NOW", now),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn migrates_from_every_older_version_keeping_the_data() {
    let mut report = Vec::new();
    for from in 0..=current_version() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut c = Connection::open(db(dir.path())).unwrap();
            migrate_with(&mut c, &db(dir.path()), &MIGRATIONS[..from as usize]).unwrap();
            seed(&c, from);
        }
        let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
        let r = store.recovery();
        let m = r.migration.unwrap();
        let prints = store.recent_prints(10).await.unwrap();
        let incidents = store.recent_incidents(10).await.unwrap();
        let timeline = store.timeline_of_print(1).await.unwrap();
        let audit = store.audit_log(10).await.unwrap();
        report.push(format!(
            "v{} -> v{}: prints={} incidents={} closed={:?} carried={:?} timeline={} audit={} requeued={}",
            m.from,
            m.to,
            prints.len(),
            incidents.len(),
            r.closed_incidents,
            r.carried_over,
            timeline.len(),
            audit.len(),
            r.requeued_alerts
        ));
        let v: i64 = Connection::open(db(dir.path()))
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(v, current_version());
        if from >= 1 {
            let closed = store.incident(1).await.unwrap().unwrap();
            assert_eq!(closed.closed_reason, Some(CloseReason::CrashRecovery));
            assert!(store.incident(2).await.unwrap().unwrap().is_open());
        }
    }
    expect![[r#"
        v0 -> v5: prints=0 incidents=0 closed=[] carried=[] timeline=0 audit=0 requeued=0
        v1 -> v5: prints=1 incidents=2 closed=[1] carried=[2] timeline=0 audit=1 requeued=0
        v2 -> v5: prints=1 incidents=2 closed=[1] carried=[2] timeline=1 audit=1 requeued=0
        v3 -> v5: prints=1 incidents=2 closed=[1] carried=[2] timeline=1 audit=1 requeued=1
        v4 -> v5: prints=1 incidents=2 closed=[1] carried=[2] timeline=1 audit=1 requeued=1
        v5 -> v5: prints=1 incidents=2 closed=[1] carried=[2] timeline=1 audit=1 requeued=1"#]]
    .assert_eq(&report.join("\n"));
}

#[tokio::test]
async fn the_schema_is_what_the_code_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
    drop(store);
    let c = Connection::open(db(dir.path())).unwrap();
    let mut tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.retain(|t| !t.starts_with("sqlite_"));
    let mut out = String::new();
    for t in tables {
        let cols: Vec<String> = c
            .prepare(&format!("SELECT name FROM pragma_table_info('{t}') ORDER BY cid"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.push_str(&format!("{t}: {}\n", cols.join(", ")));
    }
    let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    out.push_str(&format!("journal_mode: {mode}"));
    expect![[r#"
        audit_log: id, at, actor, who, command, reason, incident_id, attempt, result, error, duration_ms
        camera_memory: camera, scores, prints, corrections, updated_at, reset_at
        feedback: id, at, kind, incident_id, who, until_at, print_id, note
        incidents: id, print_id, opened_at, closed_at, level, cause, confidence, layer, layer_count, snapshot_id, actions, holds_printer, feedback, closed_reason, note, cool_due_at
        outbox: id, alert_id, incident_id, kind, channel, state, payload, snapshot_id, created_at, next_attempt_at, attempts, last_attempt_at, last_status, last_error, sent_at, remote_id, suppressed_reason, summarized
        outbox_attempts: id, outbox_id, at, status, error, duration_ms
        prints: id, file, started_at, ended_at, outcome, layer_count
        snapshots: id, created_at, bytes, incident_id
        timeline: id, print_id, start_at, end_at, level, score_min, score_max, score_last, frames, layer
        journal_mode: wal"#]]
    .assert_eq(&out);
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Connection::open(db(dir.path())).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let err = Store::open(&StoreConfig::default(), dir.path()).await.unwrap_err();
    let msg = err.to_string();
    let want = format!("has schema version 99, newer than this build understands ({})", current_version());
    assert!(msg.contains(&want), "{msg}");
}

fn incident(print: i64, holds: bool) -> NewIncident {
    NewIncident {
        print_id: Some(print),
        opened_at: Timestamp::now(),
        level: Level::Failure,
        cause: IncidentCause::Spaghetti,
        confidence: 0.9,
        layer: Some(10),
        layer_count: Some(100),
        snapshot_id: None,
        holds_printer: holds,
        note: String::new(),
    }
}

fn outbox_row(incident: Option<i64>, snapshot: Option<String>) -> NewOutboxRow {
    NewOutboxRow {
        alert_id: format!("lw-{incident:?}"),
        incident_id: incident,
        kind: AlertKind::Incident,
        channel: Channel::Webhook,
        payload: "{}".into(),
        snapshot_id: snapshot,
        created_at: Timestamp::now(),
    }
}

#[tokio::test]
async fn a_crash_leaves_nothing_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
    let print = store.start_print("cube.gcode", Timestamp::now(), Some(100)).await.unwrap();
    let notify = store.open_incident(incident(print, false)).await.unwrap();
    let held = store.open_incident(incident(print, true)).await.unwrap();
    let Enqueued::Queued(row) = store.enqueue_alert(outbox_row(Some(held), None), None, None).await.unwrap() else {
        panic!("queued")
    };
    assert!(store.mark_sending(row, Timestamp::now()).await.unwrap());
    drop(store); // no shutdown of any kind

    let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
    assert_eq!(store.recovery().closed_incidents, [notify]);
    assert_eq!(store.recovery().carried_over, [held]);
    assert_eq!(store.recovery().requeued_alerts, 1);
    let n = store.incident(notify).await.unwrap().unwrap();
    assert_eq!(n.closed_reason, Some(CloseReason::CrashRecovery));
    assert!(n.closed_at.is_some());
    assert_eq!(store.outbox_row(row).await.unwrap().unwrap().state, OutboxState::Pending);
    assert_eq!(store.unfinished_print().await.unwrap().map(|p| p.id), Some(print));
}

fn jpeg_of(len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    v.resize(len, 0x55);
    v
}

#[tokio::test]
async fn snapshot_retention_deletes_oldest_first_but_never_one_an_alert_needs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { snapshots: SnapshotRetention { max_count: 3, max_mb: 1 }, ..StoreConfig::default() };
    let store = Store::open(&cfg, dir.path()).await.unwrap();
    let t0 = Timestamp::now();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(store.save_snapshot(jpeg_of(1000), t0.add(Duration::from_secs(i)), None).await.unwrap());
    }
    assert!(store.read_snapshot(&ids[0]).await.unwrap().is_none(), "over the count: oldest deleted");
    assert!(!store.snapshot_path(&ids[0]).exists());
    assert!(store.read_snapshot(&ids[1]).await.unwrap().is_some());

    // An undelivered alert needs ids[1]: it survives, the next oldest goes.
    store.enqueue_alert(outbox_row(Some(7), Some(ids[1].to_string())), None, None).await.unwrap();
    ids.push(store.save_snapshot(jpeg_of(1000), t0.add(Duration::from_secs(10)), None).await.unwrap());
    assert!(store.read_snapshot(&ids[1]).await.unwrap().is_some(), "referenced by a pending alert");
    assert!(store.read_snapshot(&ids[2]).await.unwrap().is_none());

    // Over the bytes: two big files push out everything unreferenced but the newest.
    ids.push(store.save_snapshot(jpeg_of(600 * 1024), t0.add(Duration::from_secs(11)), None).await.unwrap());
    ids.push(store.save_snapshot(jpeg_of(600 * 1024), t0.add(Duration::from_secs(12)), None).await.unwrap());
    let report = store.enforce_snapshot_retention().await.unwrap();
    assert_eq!((report.remaining, report.kept_for_alerts), (2, 0), "{report:?}");
    let left: Vec<bool> = futures_util::future::join_all(ids.iter().map(|i| store.read_snapshot(i)))
        .await
        .into_iter()
        .map(|r| r.unwrap().is_some())
        .collect();
    assert_eq!(left, [false, true, false, false, false, false, true]);
    let on_disk = std::fs::read_dir(store.snapshots_dir()).unwrap().count();
    assert_eq!(on_disk, 2);

    // Once the alert is delivered, its snapshot may go too.
    let row = store.recent_alerts(1).await.unwrap().remove(0);
    store.mark_sending(row.id, Timestamp::now()).await.unwrap();
    store
        .record_attempt(
            row.id,
            Timestamp::now(),
            5,
            layerwatch::store::AttemptOutcome::Sent { status: 200, remote_id: None },
        )
        .await
        .unwrap();
    store.save_snapshot(jpeg_of(600 * 1024), t0.add(Duration::from_secs(13)), None).await.unwrap();
    assert!(store.read_snapshot(&ids[1]).await.unwrap().is_none(), "delivered: no longer spared");
}

#[tokio::test]
async fn history_older_than_the_limit_is_pruned_but_undelivered_alerts_stay() {
    let dir = tempfile::tempdir().unwrap();
    let old = Timestamp::from_millis(Timestamp::now().millis() - 3 * 86_400_000);
    {
        let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
        let p = store.start_print("old.gcode", old, None).await.unwrap();
        store.end_print(p, old, PrintOutcome::Finished).await.unwrap();
        let mut row = outbox_row(None, None);
        row.created_at = old;
        store.enqueue_alert(row, None, None).await.unwrap();
    }
    let cfg = StoreConfig { history_days: 1, ..StoreConfig::default() };
    let store = Store::open(&cfg, dir.path()).await.unwrap();
    assert_eq!(store.recovery().history_rows_deleted, 1);
    assert!(store.recent_prints(10).await.unwrap().is_empty());
    assert_eq!(store.outbox_backlog().await.unwrap().pending, 1, "an undelivered alert is never pruned");
}

#[tokio::test]
async fn the_dashboard_queries_answer_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
    let t = |s: i64| Timestamp::from_millis(Timestamp::now().millis() / 1_000_000 * 1_000_000 + s * 1000);
    let a = store.start_print("a.gcode", t(0), Some(50)).await.unwrap();
    store.end_print(a, t(100), PrintOutcome::Finished).await.unwrap();
    let b = store.start_print("b.gcode", t(200), None).await.unwrap();
    store.set_print_layer_count(b, 80).await.unwrap();
    let mut sampler = TimelineSampler::new(10);
    for s in 0..30 {
        let level = if s >= 25 { Level::Failure } else { Level::Ok };
        if let Some(p) = sampler.push(Some(b), t(200 + s), level, s as f32 / 30.0, Some(s as u32)) {
            store.append_timeline(p).await.unwrap();
        }
    }
    store.append_timeline(sampler.flush().unwrap()).await.unwrap();
    let inc = store.open_incident(incident(b, true)).await.unwrap();
    store.raise_incident(inc, 0.97, Some(29)).await.unwrap();
    store.add_incident_action(inc, "pause: confirmed").await.unwrap();
    store.add_incident_action(inc, "park: confirmed").await.unwrap();
    let entry = AuditEntry {
        at: t(226),
        actor: Actor::Daemon,
        who: None,
        command: AuditCommand::Pause,
        reason: format!("incident {inc}"),
        incident_id: Some(inc),
        attempt: 1,
        result: CommandResult::Confirmed,
        error: None,
        duration_ms: 35,
    };
    store.audit(entry).await.unwrap();
    store.enqueue_alert(outbox_row(Some(inc), None), None, None).await.unwrap();
    let mute = FeedbackEntry {
        at: t(230),
        kind: FeedbackKind::Mute,
        incident_id: None,
        who: Some("ana".into()),
        until: Some(t(3830)),
        print_id: None,
        note: String::new(),
    };
    store.add_feedback(mute).await.unwrap();

    let prints: Vec<_> =
        store.recent_prints(10).await.unwrap().into_iter().map(|p| (p.file, p.outcome, p.layer_count)).collect();
    assert_eq!(
        prints,
        [("b.gcode".into(), None, Some(80)), ("a.gcode".into(), Some(PrintOutcome::Finished), Some(50))]
    );
    let timeline: Vec<String> = store
        .timeline_of_print(b)
        .await
        .unwrap()
        .iter()
        .map(|p| {
            let s = |ts: Timestamp| (ts.millis() - t(0).millis()) / 1000;
            format!("{:?} {}..{} n={} max={:.2}", p.level, s(p.start_at), s(p.end_at), p.frames, p.score_max)
        })
        .collect();
    expect![[r#"["Ok 200..209 n=10 max=0.30", "Ok 210..219 n=10 max=0.63", "Ok 220..224 n=5 max=0.80", "Failure 225..229 n=5 max=0.97"]"#]]
        .assert_eq(&format!("{timeline:?}"));
    let incs = store.incidents_of_print(b).await.unwrap();
    assert_eq!((incs.len(), incs[0].confidence, incs[0].layer), (1, 0.97, Some(29)));
    assert_eq!(incs[0].actions, "pause: confirmed; park: confirmed");
    assert_eq!(store.audit_log(5).await.unwrap()[0].entry.reason, format!("incident {inc}"));
    let alerts = store.alerts_of_incident(inc).await.unwrap();
    assert_eq!((alerts.len(), alerts[0].state), (1, OutboxState::Pending));
    let backlog = store.outbox_backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.failed), (1, 0));
    assert_eq!(store.last_mute().await.unwrap().unwrap().entry.until, Some(t(3830)));
}
