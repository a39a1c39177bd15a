//! The vision worker thread: answers async callers, keeps a heartbeat a watchdog
//! can read, survives a panicking classifier, applies backpressure without losing
//! frames, and stops on cancel or when the last handle is dropped. Uses the fake
//! classifier for timing-sensitive cases and the real ONNX classifier end to end.

mod vision_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use layerwatch::domain::{Frame, FrameScore};
use layerwatch::vision::{
    Classifier, ClassifierOptions, FakeClassifier, FakeStep, Model, OnnxClassifier, VisionError, VisionWorker,
    WorkerOptions,
};
use tokio_util::sync::CancellationToken;
use vision_support::*;

fn tiny(seq: u64) -> Frame {
    rgb_frame(seq, rgb(4, 4, |_, _| [1, 2, 3]))
}

/// Wraps a classifier: panics on chosen frames and flags when it is dropped (the thread ended).
struct Probe<C> {
    inner: C,
    panic_on: u64,
    dropped: Arc<AtomicBool>,
}

impl<C: Classifier> Classifier for Probe<C> {
    fn labels(&self) -> &[Arc<str>] {
        self.inner.labels()
    }
    fn classify(&mut self, frame: &Frame) -> Result<FrameScore, VisionError> {
        if frame.seq == self.panic_on {
            panic!("probe panics on frame {}", frame.seq);
        }
        self.inner.classify(frame)
    }
}

impl<C> Drop for Probe<C> {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

async fn wait_for(flag: &AtomicBool) {
    for _ in 0..100 {
        if flag.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the worker thread did not end within 2 s");
}

#[tokio::test]
async fn answers_in_order_and_reports_a_heartbeat() {
    let fake = FakeClassifier::new([
        FakeStep::Failure(0.1),
        FakeStep::Stall(Duration::from_millis(700)),
        FakeStep::Failure(0.7),
    ]);
    let h = VisionWorker::spawn(fake).unwrap();
    assert_eq!(h.labels().len(), 5);
    let first = h.classify(tiny(0)).await.unwrap();
    assert!((first.scores.failure - 0.1).abs() < 1e-6);
    let before = h.health();
    assert!(before.busy_for.is_none() && before.since_last.is_some() && before.alive);
    let h2 = h.clone();
    let stalled = tokio::spawn(async move { h2.classify(tiny(1)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = h.health().busy_for.expect("a frame is being classified");
    assert!(
        busy >= Duration::from_millis(50) && busy < Duration::from_millis(700),
        "busy for {busy:?}"
    );
    stalled.await.unwrap().unwrap();
    let third = h.classify(tiny(2)).await.unwrap();
    assert!((third.scores.failure - 0.7).abs() < 1e-6);
    let after = h.health();
    assert_eq!((after.classified, after.failed, after.busy_for), (3, 0, None));
}

#[tokio::test]
async fn a_panicking_classifier_fails_one_frame_and_the_worker_carries_on() {
    let dropped = Arc::new(AtomicBool::new(false));
    let probe = Probe {
        inner: FakeClassifier::from_failures([0.2]),
        panic_on: 1,
        dropped: dropped.clone(),
    };
    let h = VisionWorker::spawn(probe).unwrap();
    assert!(h.classify(tiny(0)).await.is_ok());
    let e = h.classify(tiny(1)).await.unwrap_err();
    assert!(e.to_string().contains("probe panics on frame 1"), "{e}");
    assert!(h.classify(tiny(2)).await.is_ok());
    let health = h.health();
    assert_eq!(
        (health.classified, health.failed, health.panics, health.alive),
        (2, 1, 1, true)
    );
    // Dropping the last handle ends the thread (and drops the classifier).
    drop(h);
    wait_for(&dropped).await;
}

#[tokio::test]
async fn cancel_stops_waiting_callers_and_the_thread() {
    let dropped = Arc::new(AtomicBool::new(false));
    let fake = FakeClassifier::new([FakeStep::Stall(Duration::from_millis(300))]);
    let cancel = CancellationToken::new();
    let opts = WorkerOptions {
        queue: 1,
        cancel: cancel.clone(),
        name: "vision-test".into(),
    };
    let h = VisionWorker::spawn_with(
        Probe {
            inner: fake,
            panic_on: u64::MAX,
            dropped: dropped.clone(),
        },
        opts,
    )
    .unwrap();
    let h2 = h.clone();
    let pending = tokio::spawn(async move { h2.classify(tiny(0)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_millis(200), pending)
        .await
        .expect("cancel answers at once")
        .unwrap();
    assert!(matches!(r, Err(VisionError::Stopped)), "{r:?}");
    assert!(matches!(h.classify(tiny(1)).await, Err(VisionError::Stopped)));
    wait_for(&dropped).await;
    assert!(!h.health().alive);
}

#[tokio::test]
async fn a_full_queue_makes_callers_wait_but_loses_nothing() {
    let fake = FakeClassifier::new([FakeStep::Stall(Duration::from_millis(10))]);
    let opts = WorkerOptions {
        queue: 1,
        ..WorkerOptions::default()
    };
    let h = VisionWorker::spawn_with(fake, opts).unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.classify(tiny(i)).await.map(|s| s.seq) })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    assert_eq!(h.health().classified, 20);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_classifier_gives_the_same_scores_through_the_worker() {
    let opts = ClassifierOptions {
        ort_library: Some(require_ort()),
        ..ClassifierOptions::default()
    };
    let mut direct = OnnxClassifier::new(Model::built_in().unwrap(), &opts).unwrap();
    let h = VisionWorker::spawn(OnnxClassifier::new(Model::built_in().unwrap(), &opts).unwrap()).unwrap();
    let frames: Vec<Frame> = samples()
        .iter()
        .enumerate()
        .map(|(i, (p, _))| file_frame(i as u64, p))
        .collect();
    let tasks: Vec<_> = frames
        .iter()
        .cloned()
        .map(|f| {
            let h = h.clone();
            tokio::spawn(async move { h.classify(f).await })
        })
        .collect();
    for (f, t) in frames.iter().zip(tasks) {
        let via_worker = t.await.unwrap().unwrap();
        let expected = direct.classify(f).unwrap();
        assert_eq!(via_worker.scores, expected.scores, "frame {}", f.seq);
    }
    // A bad frame in between is an error for that frame only.
    let bad = jpeg_frame(99, std::fs::read(fixture("truncated.jpg")).unwrap());
    assert!(matches!(
        h.classify(bad).await,
        Err(VisionError::Decode { seq: 99, .. })
    ));
    assert!(h.classify(frames[0].clone()).await.is_ok());
    h.shutdown().await;
}
