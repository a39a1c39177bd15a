//! The MJPEG client against a real HTTP server on 127.0.0.1 (`sim::mjpeg_server`)
//! serving real JPEGs made with OpenCV: ordering, every injected fault, restarts,
//! silent streams, auth, boundary styles, and the pump's drop-oldest queue.

mod capture_support;

use std::time::Duration;

use capture_support::*;
use layerwatch::capture::{
    self, CaptureError, CaptureState, FrameSource, MjpegSource, PumpConfig, PumpExit, SourceKind,
};
use layerwatch::domain::{Frame, FrameImage};
use layerwatch::sim::mjpeg_server::{BoundaryStyle, Fault, Framing, MjpegServer, MjpegServerOptions};
use tokio_util::sync::CancellationToken;

fn source(url: &str, timeout_ms: u64) -> MjpegSource {
    MjpegSource::new("testcam", url, Duration::from_millis(timeout_ms), Duration::from_millis(500), 1 << 22).unwrap()
}

fn jpeg(f: &Frame) -> &bytes::Bytes {
    match &f.image {
        FrameImage::Jpeg(b) => b,
        FrameImage::Rgb(_) => panic!("MJPEG frames stay JPEG"),
    }
}

async fn next(src: &mut MjpegSource) -> Frame {
    within(10, "the next frame", src.next_frame()).await.expect("a frame")
}

#[tokio::test]
async fn good_frames_arrive_in_order_and_broken_parts_are_counted_not_delivered() {
    let frames = numbered_jpegs(100, 320, 240);
    let index = index_of(&frames);
    let server = MjpegServer::start(loopback().await, frames.clone(), 25.0).unwrap();
    let mut src = source(&server.url(), 3_000);

    let first = next(&mut src).await;
    let start = index[jpeg(&first)];
    let faults = [
        Fault::TruncatedPart,
        Fault::NotJpeg,
        Fault::ContentLengthTooSmall,
        Fault::CorruptJpeg,
        Fault::ContentLengthTooLarge,
        Fault::GarbageBetweenParts,
    ];
    for f in faults {
        server.inject(f);
    }
    let mut got = vec![start];
    let mut seqs = vec![first.seq];
    while got.len() < 14 {
        let f = next(&mut src).await;
        assert_eq!(&*f.source, "testcam");
        got.push(index[jpeg(&f)]);
        seqs.push(f.seq);
    }
    let log = server.fault_log();
    assert_eq!(log.iter().map(|(_, f)| *f).collect::<Vec<_>>(), faults);
    let lost: Vec<usize> = log
        .iter()
        .filter(|(_, f)| matches!(f, Fault::TruncatedPart | Fault::NotJpeg | Fault::CorruptJpeg))
        .map(|(n, _)| *n as usize)
        .collect();
    let expected: Vec<usize> = (start..).filter(|i| !lost.contains(i)).take(14).collect();
    assert_eq!(got, expected, "every good frame, in order (lost: {lost:?})");
    assert_eq!(seqs, (0..14).collect::<Vec<u64>>(), "seq counts delivered frames");
    let stats = src.stats();
    assert_eq!(stats.bad_frames(), 3);
    assert_eq!(stats.resyncs(), 2, "both wrong Content-Lengths were re-framed");
    assert_eq!(stats.junk_bytes(), 42, "the garbage between parts");
    assert_eq!(stats.reconnects(), 0);
    assert_eq!(server.stats().lagged, 0, "the server skipped nothing for this client");
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_restart_is_survived_by_reconnecting() {
    let frames = numbered_jpegs(30, 160, 120);
    let server = MjpegServer::start(loopback().await, frames, 30.0).unwrap();
    let mut src = source(&server.url(), 2_000);
    for _ in 0..3 {
        next(&mut src).await;
    }
    server.restart(Duration::from_millis(700));
    let mut after = 0;
    while after < 5 {
        next(&mut src).await;
        after += 1;
    }
    let s = src.stats();
    assert!(s.reconnects() >= 1, "reconnected: {:?}", s.snapshot());
    assert!(server.stats().connections >= 2);
    assert!(s.last_error().is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_stream_times_out_and_reconnects() {
    let frames = numbered_jpegs(30, 160, 120);
    let server = MjpegServer::start(loopback().await, frames, 20.0).unwrap();
    let mut src = source(&server.url(), 300);
    next(&mut src).await;
    server.inject(Fault::Stall(Duration::from_secs(3)));
    let t0 = tokio::time::Instant::now();
    // Frames keep coming: the stalled part is abandoned after 300 ms of silence.
    for _ in 0..5 {
        next(&mut src).await;
    }
    assert!(t0.elapsed() < Duration::from_secs(3), "did not wait for the stall to end: {:?}", t0.elapsed());
    let s = src.stats();
    assert_eq!(s.reconnects(), 1);
    assert_eq!(s.bad_frames(), 1, "the half part held when the stream went silent");
    let err = s.last_error().unwrap().message;
    assert!(err.contains("stream silent for 300 ms"), "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_sends_only_junk_is_abandoned() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that answers with a multipart header, then bytes that never form a part.
    let listener = loopback().await;
    let url = format!("http://{}/stream", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = [0u8; 2048];
                let _ = sock.read(&mut req).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=b\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                while sock.write_all(&[b'z'; 1024]).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });
    let mut src = source(&url, 300);
    let r = tokio::time::timeout(Duration::from_millis(1500), src.next_frame()).await;
    assert!(r.is_err(), "no frame from junk");
    let s = src.stats();
    assert!(s.reconnects() >= 1, "{:?}", s.snapshot());
    assert!(s.junk_bytes() >= 10 * 1024, "{:?}", s.snapshot());
    let err = s.last_error().unwrap().message;
    assert!(err.starts_with("no frame in 300 ms of data"), "{err}");
}

#[tokio::test]
async fn basic_auth_from_the_url_and_clear_errors_without_it() {
    let frames = numbered_jpegs(10, 160, 120);
    let opts = MjpegServerOptions { basic_auth: Some(("octo".into(), "s3cret".into())), ..Default::default() };
    let server = MjpegServer::start_with(loopback().await, frames, opts).unwrap();
    assert!(server.url().starts_with("http://octo:s3cret@127.0.0.1:"));
    let mut good = source(&server.url(), 2_000);
    next(&mut good).await;

    let wrong = format!("http://octo:hunter2@{}/stream", server.addr());
    let mut bad = source(&wrong, 2_000);
    let r = tokio::time::timeout(Duration::from_millis(800), bad.next_frame()).await;
    assert!(r.is_err(), "no frame without the right password");
    let err = bad.stats().last_error().unwrap().message;
    assert!(err.starts_with("HTTP 401 from http://***@127.0.0.1:"), "{err}");
    assert!(err.ends_with("(check the user and password in camera.url)"), "{err}");
    assert!(!err.contains("hunter2"));
    assert!(bad.stats().reconnects() >= 1);
    server.shutdown().await;
}

#[tokio::test]
async fn boundary_styles_and_framings_of_other_servers() {
    let frames = numbered_jpegs(40, 160, 120);
    let index = index_of(&frames);
    for (boundary, framing, content_length) in [
        (BoundaryStyle::Quoted, Framing::BoundaryAfter, true),
        (BoundaryStyle::Dashed, Framing::BoundaryAfter, false),
        (BoundaryStyle::Undeclared, Framing::BoundaryBefore, false),
        (BoundaryStyle::Plain, Framing::BoundaryBefore, true),
    ] {
        let opts = MjpegServerOptions { fps: 40.0, boundary, framing, content_length, ..Default::default() };
        let server = MjpegServer::start_with(loopback().await, frames.clone(), opts).unwrap();
        let mut src = source(&server.url(), 2_000);
        let mut got = vec![];
        for _ in 0..6 {
            got.push(index[jpeg(&next(&mut src).await)]);
        }
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{boundary:?}/{framing:?}: {got:?}");
        assert_eq!(src.stats().bad_frames(), 0, "{boundary:?}/{framing:?}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn urls_of_the_wrong_kind_are_fatal_with_a_hint() {
    let server = MjpegServer::start(loopback().await, numbered_jpegs(3, 64, 48), 10.0).unwrap();
    let mut src = source(&server.snapshot_url(), 2_000);
    let e = within(5, "an error", src.next_frame()).await.unwrap_err();
    assert!(matches!(e, CaptureError::Fatal { .. }));
    assert!(e.to_string().ends_with("not a stream; use source = \"snapshot\""), "{e}");
    server.shutdown().await;
}

#[tokio::test]
async fn nothing_listening_means_backoff_and_reconnecting_state() {
    let addr = {
        let l = loopback().await;
        l.local_addr().unwrap()
    };
    let cfg = camera(SourceKind::Mjpeg, &format!("http://{addr}/stream"));
    let h = capture::start(&cfg, CancellationToken::new()).unwrap();
    let stats = h.stats();
    wait_until(10, "two reconnect attempts", || stats.reconnects() >= 2).await;
    assert_eq!(stats.state(), CaptureState::Reconnecting);
    let err = stats.last_error().unwrap().message;
    assert!(err.starts_with("cannot connect"), "{err}");
    assert_eq!(stats.frames(), 0);
}

#[tokio::test]
async fn slow_consumer_drop_oldest_keeps_memory_bounded_and_counts_drops() {
    let frames = numbered_jpegs(200, 320, 240);
    let server = MjpegServer::start(loopback().await, frames, 60.0).unwrap();
    let cancel = CancellationToken::new();
    let src = Box::new(source(&server.url(), 2_000));
    let h = capture::spawn(src, PumpConfig::every_frame(3), cancel.clone());
    let mut delivered = vec![];
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        let f = within(5, "a frame", h.next()).await.unwrap();
        delivered.push(f.seq);
        assert!(h.queued() <= 3);
        tokio::time::sleep(Duration::from_millis(150)).await; // inference is slow
    }
    let latest = h.latest().borrow().as_ref().map(|f| f.seq).unwrap();
    assert!(latest > *delivered.last().unwrap(), "the live view runs ahead of the consumer");
    cancel.cancel();
    while let Some(f) = h.next().await {
        delivered.push(f.seq);
    }
    let stats = h.stats();
    assert!(matches!(h.join().await, PumpExit::Cancelled));
    assert!(delivered.windows(2).all(|w| w[1] > w[0]), "{delivered:?}");
    assert!(stats.dropped() > 10, "dropped {}", stats.dropped());
    assert_eq!(stats.frames(), delivered.len() as u64 + stats.dropped(), "every frame delivered or counted as dropped");
    assert_eq!(stats.state(), CaptureState::Stopped);
    server.shutdown().await;
}

#[tokio::test]
async fn sampling_through_the_pump_hands_over_few_frames_while_the_live_view_follows_the_camera() {
    let server = MjpegServer::start(loopback().await, numbered_jpegs(100, 160, 120), 30.0).unwrap();
    let mut cfg = camera(SourceKind::Mjpeg, &server.url());
    cfg.interval_ms = 250;
    let cancel = CancellationToken::new();
    let h = capture::start(&cfg, cancel.clone()).unwrap();
    let mut got = vec![];
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(1200) {
        got.push(within(5, "a sampled frame", h.next()).await.unwrap().seq);
    }
    let native = h.stats().frames();
    assert!(got.len() <= 7, "at most one per 250 ms: {got:?}");
    assert!(native >= 2 * got.len() as u64, "native {native} vs sampled {}", got.len());
    assert_eq!(h.stats().dropped(), 0);
    cancel.cancel();
    server.shutdown().await;
}
