//! Unit tests of the pump with scripted sources on a paused tokio clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::capture::fake::FakeSource;
use crate::capture::stats::CaptureState;

fn every_frame(q: usize) -> PumpConfig {
    PumpConfig::every_frame(q)
}

#[tokio::test(start_paused = true)]
async fn every_frame_mode_delivers_all_frames_in_order_then_ends() {
    let src = FakeSource::new("cam").jpeg_frames(20, Duration::from_millis(50));
    let h = spawn(Box::new(src), every_frame(4), CancellationToken::new());
    let mut seqs = vec![];
    while let Some(f) = h.next().await {
        assert_eq!(&*f.source, "cam");
        seqs.push(f.seq);
    }
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    let stats = h.stats();
    assert_eq!((stats.frames(), stats.dropped()), (20, 0));
    assert!(matches!(h.join().await, PumpExit::Ended));
    assert_eq!(stats.state(), CaptureState::Ended);
}

#[tokio::test(start_paused = true)]
async fn slow_consumer_gets_the_newest_frames_and_drops_are_counted() {
    let src = FakeSource::new("cam").jpeg_frames(10, Duration::ZERO).hang_at_end();
    let h = spawn(Box::new(src), every_frame(3), CancellationToken::new());
    // Let the source run ahead of the (not yet reading) consumer.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got: Vec<u64> = vec![h.next().await.unwrap().seq, h.next().await.unwrap().seq, h.next().await.unwrap().seq];
    assert_eq!(got, [7, 8, 9]);
    assert_eq!(h.stats().dropped(), 7);
    assert_eq!(h.latest().borrow().as_ref().map(|f| f.seq), Some(9));
}

#[tokio::test(start_paused = true)]
async fn sampling_gives_at_most_one_frame_per_interval_and_always_the_newest() {
    // 10 frames/s for 5 s, about one frame per second to the consumer. (1010 ms so that
    // no sampling instant coincides with a frame's arrival on the paused clock.)
    let src = FakeSource::new("cam").jpeg_frames(50, Duration::from_millis(100));
    let cfg = PumpConfig { sample_interval: Some(Duration::from_millis(1010)), queue: 4 };
    let h = spawn(Box::new(src), cfg, CancellationToken::new());
    let latest = h.latest();
    let mut got: Vec<(Instant, u64)> = vec![];
    while let Some(f) = h.next().await {
        let newest = latest.borrow().as_ref().map(|f| f.seq);
        assert_eq!(Some(f.seq), newest, "a sampled frame is the newest one at that moment");
        got.push((Instant::now(), f.seq));
    }
    assert!((5..=6).contains(&got.len()), "{got:?}");
    for w in got.windows(2) {
        assert!(w[1].0 - w[0].0 >= Duration::from_millis(1010), "{got:?}");
        assert!(w[1].1 > w[0].1);
    }
    assert_eq!(got[0].1, 0, "the first frame goes out at once");
    assert_eq!(got.last().unwrap().1, 49, "the last frame is not lost when the source ends");
    assert_eq!(h.stats().frames(), 50);
    assert_eq!(h.stats().dropped(), 0, "sampled-out frames are not drops");
}

#[tokio::test(start_paused = true)]
async fn a_slow_source_is_passed_on_as_soon_as_the_interval_allows() {
    // One frame every 3 s with a 1 s interval: every frame goes out when it arrives.
    let src = FakeSource::new("cam").jpeg_frames(3, Duration::from_secs(3));
    let cfg = PumpConfig { sample_interval: Some(Duration::from_secs(1)), queue: 4 };
    let t0 = Instant::now();
    let h = spawn(Box::new(src), cfg, CancellationToken::new());
    let mut at = vec![];
    while let Some(f) = h.next().await {
        at.push(((Instant::now() - t0).as_secs(), f.seq));
    }
    assert_eq!(at, [(3, 0), (6, 1), (9, 2)]);
}

#[tokio::test(start_paused = true)]
async fn fatal_errors_stop_the_pump_with_the_reason() {
    let src = FakeSource::new("cam").jpeg_frames(1, Duration::ZERO).fatal("no such device");
    let h = spawn(Box::new(src), every_frame(2), CancellationToken::new());
    assert_eq!(h.next().await.map(|f| f.seq), Some(0));
    assert!(h.next().await.is_none());
    let stats = h.stats();
    match h.join().await {
        PumpExit::Failed(e) => assert_eq!(e.to_string(), "cam: no such device"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stats.state(), CaptureState::Failed);
    assert_eq!(stats.last_error().unwrap().message, "cam: no such device");
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_a_silent_source_and_wakes_the_consumer() {
    let cancel = CancellationToken::new();
    let src = FakeSource::new("cam").hang_at_end();
    let h =
        spawn(Box::new(src), PumpConfig { sample_interval: Some(Duration::from_secs(1)), queue: 2 }, cancel.clone());
    let stats = h.stats();
    let consumer = async { h.next().await };
    let ((), got) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            cancel.cancel();
        },
        consumer
    );
    assert!(got.is_none());
    assert!(matches!(h.join().await, PumpExit::Cancelled));
    assert_eq!(stats.state(), CaptureState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_the_pump() {
    let src = FakeSource::new("cam").hang_at_end();
    let h = spawn(Box::new(src), every_frame(2), CancellationToken::new());
    let stats = h.stats();
    assert!(Arc::strong_count(&stats) > 1);
    drop(h);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(Arc::strong_count(&stats), 1, "the pump task and the source are gone");
    assert_eq!(stats.state(), CaptureState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn source_counters_show_through_the_handle() {
    let src = FakeSource::new("cam").bad("cut").lost("reset").jpeg_frames(1, Duration::ZERO);
    let h = spawn(Box::new(src), every_frame(2), CancellationToken::new());
    while h.next().await.is_some() {}
    let s = h.stats().snapshot();
    assert_eq!((s.frames, s.bad_frames, s.reconnects), (1, 1, 1));
    assert_eq!(s.last_error.map(|e| e.message).as_deref(), Some("reset"));
}
