//! The snapshot source polling the real MJPEG server's `/snapshot` on 127.0.0.1:
//! pacing, every broken response counted and skipped, restarts, wrong URL kinds.

mod capture_support;

use std::time::Duration;

use capture_support::*;
use layerwatch::capture::{CaptureError, FrameSource, SnapshotSource};
use layerwatch::domain::{Frame, FrameImage};
use layerwatch::sim::mjpeg_server::{Fault, MjpegServer};

fn source(url: &str, interval_ms: u64, timeout_ms: u64) -> SnapshotSource {
    SnapshotSource::new(
        "snapcam",
        url,
        Duration::from_millis(interval_ms),
        Duration::from_millis(timeout_ms),
        Duration::from_millis(400),
        1 << 22,
    )
    .unwrap()
}

fn jpeg(f: &Frame) -> &bytes::Bytes {
    match &f.image {
        FrameImage::Jpeg(b) => b,
        FrameImage::Rgb(_) => panic!("snapshots stay JPEG"),
    }
}

#[tokio::test]
async fn snapshots_are_polled_at_the_interval() {
    let frames = numbered_jpegs(50, 320, 240);
    let index = index_of(&frames);
    let server = MjpegServer::start(loopback().await, frames, 20.0).unwrap();
    let mut src = source(&server.snapshot_url(), 100, 2_000);
    let t0 = tokio::time::Instant::now();
    let mut seen = vec![];
    for seq in 0..5 {
        let f = within(5, "a snapshot", src.next_frame()).await.unwrap();
        assert_eq!((f.seq, &*f.source), (seq, "snapcam"));
        seen.push(index[jpeg(&f)]);
    }
    assert!(t0.elapsed() >= Duration::from_millis(400), "paced at 100 ms: {:?}", t0.elapsed());
    assert!(seen.windows(2).all(|w| w[1] >= w[0]), "{seen:?}");
    assert_eq!(server.stats().snapshots_sent, 5);
    server.shutdown().await;
}

#[tokio::test]
async fn broken_snapshots_are_counted_and_never_delivered() {
    let frames = numbered_jpegs(50, 320, 240);
    let index = index_of(&frames);
    let server = MjpegServer::start(loopback().await, frames, 25.0).unwrap();
    let mut src = source(&server.snapshot_url(), 60, 2_000);
    within(5, "a first snapshot", src.next_frame()).await.unwrap();
    for fault in [
        Fault::NotJpeg,
        Fault::CorruptJpeg,
        Fault::TruncatedPart,
        Fault::ContentLengthTooSmall,
        Fault::ContentLengthTooLarge,
    ] {
        server.set_fault(Some(fault));
        tokio::time::sleep(Duration::from_millis(100)).await; // the camera's current frame is now faulty
        let bad_before = src.stats().bad_frames();
        let r = tokio::time::timeout(Duration::from_millis(400), src.next_frame()).await;
        assert!(r.is_err(), "{fault:?}: no frame may come through");
        let s = src.stats();
        assert!(s.bad_frames() > bad_before, "{fault:?}: counted");
        assert_eq!(s.reconnects(), 0, "{fault:?}: a bad image is not a connection fault");
    }
    server.set_fault(None);
    let f = within(5, "a good snapshot again", src.next_frame()).await.unwrap();
    assert!(index.contains_key(jpeg(&f)));
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_snapshot_times_out_and_polling_goes_on() {
    let server = MjpegServer::start(loopback().await, numbered_jpegs(20, 160, 120), 20.0).unwrap();
    let mut src = source(&server.snapshot_url(), 50, 300);
    within(5, "a first snapshot", src.next_frame()).await.unwrap();
    server.set_fault(Some(Fault::Stall(Duration::from_secs(5))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = tokio::time::timeout(Duration::from_millis(800), src.next_frame()).await;
    assert!(r.is_err());
    let err = src.stats().last_error().unwrap().message;
    assert!(err.contains("timed out") || err.contains("image cut off"), "{err}");
    server.set_fault(None);
    within(5, "a snapshot after the stall", src.next_frame()).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_restart_is_survived() {
    let server = MjpegServer::start(loopback().await, numbered_jpegs(20, 160, 120), 20.0).unwrap();
    let mut src = source(&server.snapshot_url(), 50, 1_000);
    within(5, "a first snapshot", src.next_frame()).await.unwrap();
    server.restart(Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(50)).await;
    within(10, "a snapshot after the restart", src.next_frame()).await.unwrap();
    assert!(src.stats().reconnects() >= 1);
    assert!(server.stats().refused >= 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_stream_url_is_fatal_with_a_hint() {
    let server = MjpegServer::start(loopback().await, numbered_jpegs(3, 64, 48), 10.0).unwrap();
    let mut src = source(&server.url(), 50, 1_000);
    let e = within(5, "an error", src.next_frame()).await.unwrap_err();
    assert!(matches!(e, CaptureError::Fatal { .. }));
    assert!(e.to_string().ends_with("is an MJPEG stream, not a snapshot; use source = \"mjpeg\""), "{e}");
    server.shutdown().await;
}
