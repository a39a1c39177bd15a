//! The engine's one way to the decider: [`DeciderFeedback`], the sending end
//! of a bounded channel (`FEEDBACK_QUEUE`) whose receiver the decision stage
//! reads. The engine never waits on it: the decision stage waits on the
//! engine (verdicts), so a blocking send could deadlock the two. Feedback is
//! a handful of owner clicks per print; a full queue means the decider is
//! stuck, and the dropped item is logged and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::decision::Feedback;

/// Feedback items that may wait for the decider.
pub const FEEDBACK_QUEUE: usize = 16;

/// Sending end of the feedback channel, with a count of what could not be queued.
#[derive(Debug, Clone)]
pub struct DeciderFeedback {
    tx: mpsc::Sender<Feedback>,
    dropped: Arc<AtomicU64>,
}

impl DeciderFeedback {
    /// The channel: this end for the engine, the receiver for the decision stage.
    pub fn channel() -> (DeciderFeedback, mpsc::Receiver<Feedback>) {
        let (tx, rx) = mpsc::channel(FEEDBACK_QUEUE);
        (DeciderFeedback { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    /// Queues `f` without waiting; a full or closed channel drops it (logged, counted).
    pub fn send(&self, f: Feedback) {
        match self.tx.try_send(f) {
            Ok(()) => tracing::debug!(feedback = f.name(), "feedback queued for the decider"),
            Err(e) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "the decider's queue is full",
                    mpsc::error::TrySendError::Closed(_) => "the decision stage is gone",
                };
                tracing::warn!(feedback = f.name(), dropped = n, why, "feedback for the decider dropped");
            }
        }
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_arrives_in_order_and_a_full_queue_drops_and_counts() {
        let (tx, mut rx) = DeciderFeedback::channel();
        tx.send(Feedback::NotAFailure);
        tx.send(Feedback::MuteForPrint);
        assert_eq!(rx.try_recv().ok(), Some(Feedback::NotAFailure));
        assert_eq!(rx.try_recv().ok(), Some(Feedback::MuteForPrint));
        for _ in 0..FEEDBACK_QUEUE + 3 {
            tx.send(Feedback::Resumed);
        }
        assert_eq!(tx.dropped(), 3);
        drop(rx);
        tx.send(Feedback::Resumed);
        assert_eq!(tx.dropped(), 4);
    }
}
