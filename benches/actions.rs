//! Costs on the action path, per operation: the alert snapshot (decode,
//! annotate, re-encode a 1280×720 JPEG), store writes (a timeline point, an
//! outbox insert committed with synchronous = FULL), and the engine absorbing
//! `ok` verdicts (timeline downsampling included).
//!
//! Run with `cargo bench --bench actions`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use layerwatch::actions::alerts::snapshot::{Annotation, annotate, encode_jpeg};
use layerwatch::actions::{ActionEngine, ActionsConfig, AlertsConfig, Clock, EngineDeps};
use layerwatch::domain::{Evidence, FrameImage, Level, RgbImage, Timestamp, Verdict};
use layerwatch::store::{AlertKind, Channel, NewOutboxRow, Store, StoreConfig, TimelinePoint};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A 1280×720 JPEG with some structure (gradient and blocks), like a camera frame.
fn frame_720p() -> FrameImage {
    let (w, h) = (1280u32, 720u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let block = ((x / 40 + y / 40) % 2) as u8 * 60;
            data.extend_from_slice(&[(x / 6) as u8, (y / 3) as u8, block + 80]);
        }
    }
    let rgb = FrameImage::Rgb(Arc::new(RgbImage::new(w, h, data).expect("size matches")));
    let mat = layerwatch::actions::alerts::snapshot::decode(&rgb).expect("rgb frame");
    FrameImage::Jpeg(encode_jpeg(&mat, 85).expect("encode").into())
}

fn snapshot(c: &mut Criterion) {
    let frame = frame_720p();
    let ann = Annotation {
        level: Level::Failure,
        score: 0.91,
        label: "spaghetti".into(),
        layer: Some(41),
        layer_count: Some(120),
        detail: "Prusa MK4  16:49".into(),
        overlay: None,
        region: None,
    };
    c.bench_function("snapshot/annotate_1280x720_jpeg", |b| b.iter(|| annotate(&frame, &ann, 85).expect("annotate")));
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = rt.block_on(Store::open(&StoreConfig::default(), dir.path())).expect("store");
    let point = TimelinePoint {
        print_id: None,
        start_at: Timestamp::now(),
        end_at: Timestamp::now(),
        level: Level::Ok,
        score_min: 0.1,
        score_max: 0.2,
        score_last: 0.15,
        frames: 20,
        layer: Some(3),
    };
    c.bench_function("store/append_timeline_point", |b| {
        b.iter(|| rt.block_on(store.append_timeline(point.clone())).expect("append"))
    });
    c.bench_function("store/enqueue_alert_synchronous_full", |b| {
        b.iter(|| {
            let row = NewOutboxRow {
                alert_id: "lw-bench".into(),
                incident_id: None,
                kind: AlertKind::Incident,
                channel: Channel::Webhook,
                payload: "{\"version\":1}".into(),
                snapshot_id: None,
                created_at: Timestamp::now(),
            };
            rt.block_on(store.enqueue_alert(row, None, None)).expect("enqueue")
        })
    });
}

fn engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    let engine: ActionEngine = rt.block_on(async {
        let store = Store::open(&StoreConfig::default(), dir.path()).await.expect("store");
        let deps = EngineDeps {
            printer_name: "bench".into(),
            actions: ActionsConfig::default(),
            alerts: AlertsConfig::default(),
            store,
            printer: None,
            notifiers: vec![],
            clock: Clock::System,
            data_dir: None,
            decider: None,
            timelapse_links: false,
        };
        ActionEngine::start(deps, &cancel, &tracker).await.expect("engine")
    });
    let mut t = 0i64;
    let mut group = c.benchmark_group("engine");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("ok_verdicts_x100", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..100 {
                    t += 200; // 5 verdicts per second of printer time
                    let v = Verdict {
                        at: Timestamp::from_millis(1_800_000_000_000 + t),
                        frame_seq: None,
                        level: Level::Ok,
                        kind: None,
                        confidence: 0.1,
                        evidence: Evidence { smoothed: 0.1, ..Evidence::default() },
                    };
                    engine.verdict(v, None).await.expect("verdict");
                }
                engine.sync().await.expect("sync");
            })
        })
    });
    group.finish();
    cancel.cancel();
}

criterion_group!(benches, snapshot, store, engine);
criterion_main!(benches);
