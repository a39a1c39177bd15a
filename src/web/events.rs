//! `GET /api/events`: server-sent events so the page never polls.
//!
//! One event type, `status`: the live status, the newest live frame's
//! sequence number (the page then fetches `/api/live.jpg`) and the timeline
//! steps judged since the previous event. Sent when a step is judged (at most
//! [`MIN_GAP`] apart) and at least every [`HEARTBEAT`] (printer temperatures,
//! state changes without frames). The stream ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Serialize;
use tokio::sync::watch;

use super::server::WebState;
use super::{ApiStatus, TimelineStep};
use crate::domain::Timestamp;

/// Fewest milliseconds between two events (a fast camera does not flood the page).
pub const MIN_GAP: Duration = Duration::from_millis(250);
/// An event at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
struct Payload {
    status: ApiStatus,
    frame_seq: Option<u64>,
    steps: Vec<TimelineStep>,
}

struct Cursor {
    st: WebState,
    updates: Option<watch::Receiver<u64>>,
    last_step: Option<Timestamp>,
    first: bool,
}

impl Cursor {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Cursor)> {
        if !self.first {
            let shutdown = self.st.shutdown.clone();
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(MIN_GAP) => {}
            }
            let changed = async {
                match &mut self.updates {
                    Some(rx) => {
                        if rx.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = changed => {}
                _ = tokio::time::sleep(HEARTBEAT - MIN_GAP) => {}
            }
        }
        self.first = false;
        let last = self.last_step;
        let all = self.st.status.recent_steps();
        self.last_step = Some(all.last().map(|s| s.at).or(last).unwrap_or(Timestamp(i64::MIN)));
        // The first event carries no history: the page loads that from /api/timeline.
        let steps: Vec<TimelineStep> = match last {
            None => Vec::new(),
            Some(l) => all.into_iter().filter(|s| s.at > l).collect(),
        };
        let payload = Payload {
            status: self.st.status.status(),
            frame_seq: self.st.status.live_frames().last().map(|f| f.seq),
            steps,
        };
        let event = Event::default().event("status").json_data(&payload).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot encode a status event");
            Event::default().event("error").data("cannot encode the status")
        });
        Some((Ok(event), self))
    }
}

pub async fn events(State(st): State<WebState>) -> Response {
    let updates = st.status.updates();
    let cursor = Cursor { st, updates, last_step: None, first: true };
    let s = stream::unfold(cursor, Cursor::next);
    Sse::new(s).keep_alive(KeepAlive::default()).into_response()
}
