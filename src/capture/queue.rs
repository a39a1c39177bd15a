//! The bounded, lossy frame queue between capture and its consumer (vision).
//!
//! Policy: when full, the **oldest** frame is dropped and counted, so a slow
//! consumer always gets recent frames and the producer never waits. Memory is
//! bounded by the capacity. The lock is a `std` mutex held only to push or pop,
//! never across an `.await`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::stats::CaptureStats;
use crate::domain::Frame;

#[derive(Debug)]
struct Inner {
    items: VecDeque<Frame>,
    closed: bool,
}

/// Bounded drop-oldest multi-consumer queue of frames.
#[derive(Debug)]
pub struct FrameQueue {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
    stats: Arc<CaptureStats>,
}

impl FrameQueue {
    /// A queue holding at most `capacity` frames (at least 1); drops are counted in `stats`.
    pub fn new(capacity: usize, stats: Arc<CaptureStats>) -> Self {
        let capacity = capacity.max(1);
        FrameQueue {
            inner: Mutex::new(Inner { items: VecDeque::with_capacity(capacity), closed: false }),
            notify: Notify::new(),
            capacity,
            stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the deque inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a frame, dropping the oldest one if the queue is full. Returns the frame
    /// that was dropped, if any. Pushing to a closed queue drops the frame silently.
    pub fn push(&self, frame: Frame) -> Option<Frame> {
        let dropped = {
            let mut g = self.lock();
            if g.closed {
                return None;
            }
            let dropped = if g.items.len() >= self.capacity { g.items.pop_front() } else { None };
            g.items.push_back(frame);
            dropped
        };
        if let Some(d) = &dropped {
            self.stats.record_dropped(1);
            tracing::trace!(camera = &*d.source, frame_seq = d.seq, "queue full: dropped oldest frame");
        }
        self.notify.notify_one();
        dropped
    }

    /// Takes the oldest queued frame, waiting for one; `None` once the queue is
    /// closed and empty. Cancel-safe: dropping the future loses no frame.
    pub async fn pop(&self) -> Option<Frame> {
        loop {
            let notified = self.notify.notified();
            {
                let mut g = self.lock();
                if let Some(f) = g.items.pop_front() {
                    if !g.items.is_empty() {
                        // Let another waiting consumer see the rest.
                        self.notify.notify_one();
                    }
                    return Some(f);
                }
                if g.closed {
                    // Pass the wake-up on so every waiting consumer sees the end.
                    self.notify.notify_one();
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Takes the oldest queued frame without waiting.
    pub fn try_pop(&self) -> Option<Frame> {
        self.lock().items.pop_front()
    }

    /// No more frames will be pushed; consumers drain what is left, then get `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FrameImage, Timestamp};

    fn frame(seq: u64) -> Frame {
        Frame { seq, captured_at: Timestamp(0), source: "t".into(), image: FrameImage::Jpeg(Default::default()) }
    }

    #[test]
    fn drops_the_oldest_and_counts() {
        let stats = Arc::new(CaptureStats::new());
        let q = FrameQueue::new(3, stats.clone());
        for i in 0..5 {
            q.push(frame(i));
        }
        assert_eq!(stats.dropped(), 2);
        let seqs: Vec<u64> = std::iter::from_fn(|| q.try_pop()).map(|f| f.seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
    }

    #[tokio::test]
    async fn pop_waits_for_a_push_and_ends_after_close() {
        let q = Arc::new(FrameQueue::new(2, Arc::new(CaptureStats::new())));
        let q2 = q.clone();
        let consumer = tokio::spawn(async move {
            let mut got = vec![];
            while let Some(f) = q2.pop().await {
                got.push(f.seq);
            }
            got
        });
        tokio::task::yield_now().await;
        q.push(frame(7));
        tokio::task::yield_now().await;
        q.push(frame(8));
        q.close();
        q.push(frame(9));
        assert_eq!(consumer.await.unwrap(), [7, 8]);
    }

    #[tokio::test]
    async fn close_wakes_every_consumer() {
        let q = Arc::new(FrameQueue::new(2, Arc::new(CaptureStats::new())));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { q.pop().await.map(|f| f.seq) })
            })
            .collect();
        tokio::task::yield_now().await;
        q.close();
        for w in waiters {
            assert_eq!(w.await.unwrap(), None);
        }
    }
}
