//! Helpers of the delivery tests: a store with a running outbox, alerts and
//! channel configs pointing at the simulated receivers.

use std::time::Duration;

use layerwatch::actions::alerts::config::{SmsConfig, SnapshotMode, WebhookConfig};
use layerwatch::actions::alerts::{Alert, PrintInfo, Secret, SnapshotRef, build_notifiers, snapshot_url};
use layerwatch::actions::{AlertsConfig, Clock, Outbox};
use layerwatch::domain::{Level, Timestamp};
use layerwatch::store::{AlertKind, IncidentCause, OutboxRow, OutboxState, SnapshotId, Store};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{eventually, jpeg_frame, open_store};

pub const SECRET: &[u8] = b"whsec_0123456789abcdef";

/// A store and a running outbox for `cfg`'s channels.
pub struct Delivery {
    _dir: tempfile::TempDir,
    pub store: Store,
    pub outbox: Outbox,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Delivery {
    pub async fn start(cfg: AlertsConfig) -> Delivery {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        let outbox = Outbox::new(store.clone(), build_notifiers(&cfg).unwrap(), &cfg, "Test MK4", Clock::System);
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        outbox.spawn(&cancel, &tracker);
        Delivery { _dir: dir, store, outbox, cancel, tracker }
    }

    pub async fn snapshot(&self) -> SnapshotId {
        let layerwatch::domain::FrameImage::Jpeg(b) = jpeg_frame(1).image else { unreachable!() };
        self.store.save_snapshot(b.to_vec(), Timestamp::now(), None).await.unwrap()
    }

    pub async fn row(&self, incident: i64) -> OutboxRow {
        self.store.alerts_of_incident(incident).await.unwrap().remove(0)
    }

    pub async fn wait_state(&self, incident: i64, state: OutboxState) -> OutboxRow {
        let ok = eventually(Duration::from_secs(15), || async { self.row(incident).await.state == state }).await;
        let row = self.row(incident).await;
        assert!(ok, "outbox row never reached {state}: {row:?}");
        row
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

pub fn failure_alert(incident: i64, snapshot: Option<&SnapshotId>, public_url: Option<&str>) -> Alert {
    let mut a = Alert::new(AlertKind::Incident, "Test MK4", Timestamp::now(), Level::Failure);
    a.incident_id = Some(incident);
    a.cause = Some(IncidentCause::Spaghetti);
    a.confidence = Some(0.93);
    a.print =
        Some(PrintInfo { file: "benchy.gcode".into(), layer: Some(41), layer_count: Some(120), progress: Some(0.35) });
    a.note = "smoothed 0.93 over 6 frames".into();
    a.snapshot = snapshot.map(|s| SnapshotRef {
        id: s.as_str().into(),
        url: public_url.map(|u| snapshot_url(u, s.as_str())),
        jpeg_base64: None,
    });
    a
}

pub fn webhook(url: String) -> WebhookConfig {
    WebhookConfig {
        url,
        secret: Some(Secret::new(std::str::from_utf8(SECRET).unwrap())),
        snapshot: SnapshotMode::Embed,
        headers: Default::default(),
        min_level: Level::Warning,
    }
}

pub fn sms(base_url: &str, sid: &str, token: &str) -> SmsConfig {
    SmsConfig {
        account_sid: Some(Secret::new(sid)),
        auth_token: Some(Secret::new(token)),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
        to: "+15551234567".into(),
        base_url: base_url.into(),
        media: true,
        min_level: Level::Failure,
    }
}

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
