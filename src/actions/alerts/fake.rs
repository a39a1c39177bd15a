//! `RecordingNotifier`: an in-memory channel for unit tests of the engine and
//! the outbox. It records every alert and answers from a script (default:
//! success). The real channels are tested against real HTTP servers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{Alert, Delivery, Notifier, NotifyError};
use crate::domain::Level;
use crate::store::Channel;

/// One recorded send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub alert: Alert,
    pub snapshot_len: Option<usize>,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<Sent>,
    script: VecDeque<Result<Delivery, NotifyError>>,
}

/// A channel that records what it is asked to send.
#[derive(Debug, Clone)]
pub struct RecordingNotifier {
    channel: Channel,
    min_level: Level,
    state: Arc<Mutex<State>>,
}

impl RecordingNotifier {
    pub fn new(channel: Channel) -> Self {
        RecordingNotifier { channel, min_level: Level::Warning, state: Arc::default() }
    }

    pub fn with_min_level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// Queues answers for the next sends; after them, every send succeeds.
    pub fn script(&self, answers: impl IntoIterator<Item = Result<Delivery, NotifyError>>) {
        self.lock().script.extend(answers);
    }

    /// Every send so far, including failed ones.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let mut s = self.lock();
        s.sent.push(Sent { alert: alert.clone(), snapshot_len: snapshot.map(<[u8]>::len) });
        s.script.pop_front().unwrap_or(Ok(Delivery { status: 200, remote_id: None }))
    }
}
