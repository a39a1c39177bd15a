//! The router over a real socket: health codes, the status JSON, snapshots.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::*;
use crate::domain::{Temperatures, Timestamp};

struct Fixed {
    health: Mutex<HealthReport>,
}

impl StatusSource for Fixed {
    fn status(&self) -> ApiStatus {
        ApiStatus {
            name: "bench".into(),
            version: "test".into(),
            started_at: Timestamp(0),
            uptime_s: 1.5,
            printer: PrinterDto {
                link: "none".into(),
                state: "idle".into(),
                job: None,
                layer: None,
                layer_count: None,
                temps: Temperatures::default(),
                since: Timestamp(0),
                gcode: "none".into(),
            },
            camera: CameraDto {
                name: "cam".into(),
                state: "streaming".into(),
                fps: 2.0,
                frames: 10,
                dropped: 1,
                bad_frames: 0,
                reconnects: 0,
                last_frame_at: None,
                last_error: None,
            },
            vision: VisionDto::default(),
            decision: None,
            outbox: OutboxDto::default(),
            stages: vec![],
            findings: vec![],
            health: self.health(),
        }
    }

    fn health(&self) -> HealthReport {
        self.health.lock().unwrap().clone()
    }
}

async fn start(store: Option<crate::store::Store>) -> (String, Arc<Fixed>, CancellationToken) {
    crate::actions::http::install_crypto_provider();
    let fixed = Arc::new(Fixed { health: Mutex::new(HealthReport { ok: true, problems: vec![] }) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let state = WebState { status: fixed.clone(), store };
    tokio::spawn(serve(state, listener, cancel.clone()));
    (url, fixed, cancel)
}

#[tokio::test]
async fn healthz_follows_the_status_source() {
    let (url, fixed, cancel) = start(None).await;
    let r = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    *fixed.health.lock().unwrap() = HealthReport { ok: false, problems: vec!["printer disconnected".into()] };
    let r = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["problems"][0], "printer disconnected");
    let status: serde_json::Value = reqwest::get(format!("{url}/api/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["camera"]["dropped"], 1);
    assert_eq!(status["health"]["ok"], false);
    cancel.cancel();
}

#[tokio::test]
async fn snapshots_are_served_from_the_store_and_bad_ids_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(&Default::default(), dir.path()).await.unwrap();
    let id = store.save_snapshot(b"\xff\xd8jpeg\xff\xd9".to_vec(), Timestamp::now(), None).await.unwrap();
    let (url, _, cancel) = start(Some(store)).await;
    let r = reqwest::get(format!("{url}/api/snapshots/{id}.jpg")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(&r.bytes().await.unwrap()[..], b"\xff\xd8jpeg\xff\xd9");
    for bad in [format!("{id}"), "nope.jpg".into(), "..%2Fetc.jpg".into(), format!("{id}.png")] {
        let r = reqwest::get(format!("{url}/api/snapshots/{bad}")).await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    cancel.cancel();
}
