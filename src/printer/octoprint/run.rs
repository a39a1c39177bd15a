//! The OctoPrint link's background loop: the push socket while it is up, REST
//! polling while it is down (reconnecting with backoff, logs rate-limited),
//! layer analysis of the selected file, and publication of every change on
//! the status `watch`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::domain::{PrinterStatus, Timestamp};
use crate::net::{Backoff, LogLimiter};
use crate::printer::FileAnalysis;
use crate::printer::hostlink::layers::{Analyzed, LayerCache, Lookup, publish_analysis, spawn_analysis};
use crate::printer::hostlink::stats::Counters;

use super::api::{OctoPrintApi, OctoPrintError};
use super::model::{HostEvent, PushMessage, reported_z};
use super::push::{PushSession, Received};
use super::state::{Observation, Tracker};

/// A push session that lasted this long counts as healthy (resets the backoff).
const STABLE_SESSION: Duration = Duration::from_secs(30);

/// A firmware position report (`M114`) seen in OctoPrint's terminal log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ReportedZ {
    pub z: f32,
    pub at: Instant,
}

/// Timings of the loop (from `[printer.octoprint]`).
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub poll: Duration,
    pub reconnect_max: Duration,
    pub request_timeout: Duration,
    pub max_file_bytes: u64,
    /// A push socket with no frame for this long is treated as dead; the
    /// loop pings every third of it, so an idle but healthy socket stays up.
    pub silence: Duration,
}

pub(crate) struct Runner {
    pub api: OctoPrintApi,
    pub status: watch::Sender<PrinterStatus>,
    pub zpos: watch::Sender<Option<ReportedZ>>,
    /// The selected file's analysis, when it is ready.
    pub analysis: watch::Sender<Option<FileAnalysis>>,
    pub counters: Arc<Counters>,
    pub opts: RunOptions,
    pub cancel: CancellationToken,
    tracker: Tracker,
    layers: LayerCache,
    analyzed_tx: mpsc::Sender<Analyzed>,
    analyzed_rx: mpsc::Receiver<Analyzed>,
    log_limit: LogLimiter,
    drop_log: LogLimiter,
}

/// Why a push session ended.
enum SessionEnd {
    Cancelled,
    Dropped(&'static str),
}

impl Runner {
    pub(crate) fn new(
        api: OctoPrintApi,
        status: watch::Sender<PrinterStatus>,
        zpos: watch::Sender<Option<ReportedZ>>,
        analysis: watch::Sender<Option<FileAnalysis>>,
        counters: Arc<Counters>,
        opts: RunOptions,
        cancel: CancellationToken,
    ) -> Self {
        let (analyzed_tx, analyzed_rx) = mpsc::channel(4);
        Runner {
            api,
            status,
            zpos,
            analysis,
            counters,
            opts,
            cancel,
            tracker: Tracker::default(),
            layers: LayerCache::default(),
            analyzed_tx,
            analyzed_rx,
            log_limit: LogLimiter::new(Duration::from_secs(60)),
            drop_log: LogLimiter::new(Duration::from_secs(60)),
        }
    }

    /// One REST look, used before the loop starts so the first status is real.
    pub(crate) async fn poll_once(&mut self) -> Result<(), OctoPrintError> {
        Counters::bump(&self.counters.polls);
        let job = self.api.job().await;
        let printer = match &job {
            Ok(_) => self.api.printer().await,
            Err(_) => Ok(None),
        };
        match (job, printer) {
            (Ok(job), Ok(printer)) => {
                self.tracker.observe(Observation::from_rest(job, printer));
                self.after_change();
                Ok(())
            }
            (Err(e), _) | (_, Err(e)) => {
                Counters::bump(&self.counters.poll_failures);
                self.publish_unreachable();
                Err(e)
            }
        }
    }

    pub(crate) async fn run(mut self) {
        let mut backoff = Backoff::new(Duration::from_millis(250), self.opts.reconnect_max);
        let throttle = 1;
        loop {
            let open = tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = PushSession::open(&self.api, throttle, self.opts.request_timeout) => r,
            };
            match open {
                Ok(session) => {
                    Counters::bump(&self.counters.socket_connects);
                    if backoff.failures() > 0 {
                        tracing::info!(url = %self.api.base(), "octoprint push socket connected again");
                    } else {
                        tracing::debug!(url = %self.api.base(), "octoprint push socket connected");
                    }
                    self.log_limit.reset();
                    let started = Instant::now();
                    let end = self.session(session).await;
                    // A socket that keeps dropping right after connecting must not
                    // reconnect (and log) four times a second: only a session that
                    // lived a while resets the backoff.
                    if started.elapsed() >= STABLE_SESSION {
                        backoff.reset();
                    }
                    match end {
                        SessionEnd::Cancelled => break,
                        SessionEnd::Dropped(why) => {
                            Counters::bump(&self.counters.socket_drops);
                            if let Some(suppressed) = self.drop_log.check(Instant::now()) {
                                tracing::warn!(
                                    url = %self.api.base(),
                                    reason = why,
                                    suppressed,
                                    "octoprint push socket lost; polling REST until it is back"
                                );
                            }
                        }
                    }
                }
                Err(e) => {
                    Counters::bump(&self.counters.connect_failures);
                    if let Some(suppressed) = self.log_limit.check(Instant::now()) {
                        let (url, attempts) = (self.api.base(), backoff.failures() + 1);
                        tracing::warn!(
                            url = %url,
                            error = %e,
                            attempts,
                            suppressed,
                            "cannot open the octoprint push socket; polling REST"
                        );
                    }
                }
            }
            // Poll until the next reconnect attempt is due.
            let until = tokio::time::Instant::now() + backoff.next_plain();
            loop {
                if let Err(e) = self.poll_once().await
                    && let Some(suppressed) = self.log_limit.check(Instant::now())
                {
                    if matches!(e, OctoPrintError::Auth { .. }) {
                        // Nothing will change until someone fixes the key.
                        let url = self.api.base();
                        tracing::error!(url = %url, error = %e, suppressed, "octoprint refuses the api key");
                    } else {
                        tracing::warn!(url = %self.api.base(), error = %e, suppressed, "octoprint status poll failed");
                    }
                }
                let wake = (tokio::time::Instant::now() + self.opts.poll).min(until);
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    Some(done) = self.analyzed_rx.recv() => self.finish_analysis(done),
                    _ = tokio::time::sleep_until(wake) => {}
                }
                if tokio::time::Instant::now() >= until {
                    break;
                }
            }
        }
    }

    async fn session(&mut self, mut session: PushSession) -> SessionEnd {
        let mut ping = tokio::time::interval(self.opts.silence / 3);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_frame = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => {
                    session.close().await;
                    return SessionEnd::Cancelled;
                }
                Some(done) = self.analyzed_rx.recv() => self.finish_analysis(done),
                _ = ping.tick() => {
                    if last_frame.elapsed() > self.opts.silence {
                        return SessionEnd::Dropped("no frame within the silence timeout");
                    }
                    if let Err(e) = PushSession::ping(&mut session.tx).await {
                        tracing::debug!(error = %e, "octoprint push socket ping failed");
                        return SessionEnd::Dropped("ping failed");
                    }
                }
                got = session.rx.next() => {
                    last_frame = tokio::time::Instant::now();
                    match got {
                        None => return SessionEnd::Dropped("socket closed"),
                        Some(Received::Alive) => {}
                        Some(Received::Garbled { error, sample }) => {
                            Counters::bump(&self.counters.garbled_messages);
                            tracing::warn!(
                                error = %error,
                                sample = %sample,
                                "skipping an unreadable octoprint push message"
                            );
                        }
                        Some(Received::Message(m)) => {
                            if let Some(end) = self.handle(m) {
                                session.close().await;
                                return end;
                            }
                        }
                    }
                }
            }
        }
    }

    fn handle(&mut self, m: PushMessage) -> Option<SessionEnd> {
        match m {
            PushMessage::Connected { version } => tracing::debug!(version = %version, "octoprint push socket greeted"),
            PushMessage::Current(c) | PushMessage::History(c) => {
                let now = Instant::now();
                if let Some(z) = c.logs.iter().rev().find_map(|l| reported_z(l)) {
                    tracing::debug!(z, "firmware position report");
                    self.zpos.send_replace(Some(ReportedZ { z, at: now }));
                }
                self.tracker.observe(Observation::from_push(*c));
                self.after_change();
            }
            PushMessage::Event(ev) => {
                match &ev {
                    HostEvent::Other(_) | HostEvent::FileSelected { .. } => {}
                    HostEvent::Disconnected | HostEvent::Error { .. } => {
                        Counters::bump(&self.counters.printer_disconnects);
                        tracing::warn!(event = ?ev, "octoprint reports the printer connection went away");
                    }
                    _ => tracing::info!(event = ?ev, "octoprint event"),
                }
                self.tracker.event(&ev);
                self.after_change();
            }
            PushMessage::ReauthRequired { reason } => {
                tracing::info!(reason = %reason, "octoprint asks for a new login; reconnecting the push socket");
                return Some(SessionEnd::Dropped("re-authentication required"));
            }
            PushMessage::Other(_) => {}
        }
        None
    }

    fn finish_analysis(&mut self, done: Analyzed) {
        match &done.result {
            Ok(_) => Counters::bump(&self.counters.files_analysed),
            Err(_) => Counters::bump(&self.counters.analysis_failures),
        }
        self.layers.finish(&done, Instant::now());
        self.publish();
    }

    /// Starts an analysis if the selected file is new, then publishes.
    fn after_change(&mut self) {
        if self.opts.max_file_bytes > 0
            && let Some(key) = self.tracker.file_key()
            && let Lookup::Start = self.layers.lookup(&key, Instant::now())
        {
            let api = self.api.clone();
            let path = key.path.clone();
            let open = async move { api.download_local(&path).await };
            let limit = self.opts.max_file_bytes;
            spawn_analysis(key, open, limit, self.analyzed_tx.clone(), self.cancel.child_token());
        }
        self.publish();
    }

    fn publish(&mut self) {
        let key = self.tracker.file_key();
        let map = key.as_ref().and_then(|k| self.layers.get(k));
        publish_analysis(&self.analysis, key.as_ref().zip(map.as_deref()).map(|(k, m)| (k.path.as_str(), k.size, m)));
        let next = self.tracker.status(map.as_deref(), Timestamp::now());
        let prev = self.status.borrow().state.name();
        if prev != next.state.name() {
            tracing::info!(url = %self.api.base(), from = prev, to = next.state.name(), "printer state");
        }
        self.status.send_replace(next);
    }

    /// Neither socket nor REST answers: we cannot see the printer.
    fn publish_unreachable(&mut self) {
        let prev = self.status.borrow().state.name();
        if prev != "disconnected" {
            tracing::warn!(url = %self.api.base(), from = prev, "octoprint unreachable; printer state unknown");
        }
        let temps = self.status.borrow().temps;
        self.status.send_replace(PrinterStatus { temps, ..PrinterStatus::disconnected(Timestamp::now()) });
    }
}
