//! The link task: connects (and reconnects with backoff), runs the handshake,
//! then feeds one `Mode` (host or monitor) with everything that happens —
//! printer lines, requests, timers, background results — and writes what the
//! mode queued. The mode decides; the driver does the I/O.
//!
//! One task owns the port, so lines are never interleaved and the mode needs
//! no locks. Shutdown: the `CancellationToken` ends the loop between events.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::conn::{Conn, Handshake, HandshakeTiming, LinkError};
use super::counters::Counters;
use super::protocol::Response;
use super::quirks::Quirks;
use super::transport::Transport;
use super::{Request, Settings};
use crate::domain::{Heater, PrinterState, PrinterStatus, Temperatures, Timestamp};
use crate::printer::{FileAnalysis, PrinterError};

/// Results of background work a mode started (file analysis).
pub enum ModeEvent {
    /// The analysis of job `id`'s file (or `None` when it could not be analysed).
    Analysis(u64, Option<Arc<crate::gcode::Analysis>>),
}

/// What a mode can see and do during one event.
pub struct Cx {
    /// Lines to write, in order, after the event.
    pub out: Vec<String>,
    pub quirks: Quirks,
    pub temps: Temperatures,
    pub counters: Arc<Counters>,
    pub settings: Settings,
    pub now: Instant,
    /// When the printer last sent anything.
    pub last_rx: Instant,
    /// Set to drop the connection after this event (the driver reconnects).
    pub disconnect: Option<String>,
    pub events: mpsc::UnboundedSender<ModeEvent>,
    pub printer: Arc<str>,
}

impl Cx {
    /// Updates the temperatures from a report; keeps known targets when the report has none.
    pub fn update_temps(&mut self, report: &super::protocol::TempReport) {
        let merge = |old: Option<Heater>, new: Option<super::protocol::HeaterReading>| {
            new.map(|r| Heater {
                actual: r.actual,
                target: r.target.or(old.map(|h| h.target)).unwrap_or(0.0),
            })
            .or(old)
        };
        self.temps.hotend = merge(self.temps.hotend, report.hotend());
        self.temps.bed = merge(self.temps.bed, report.bed);
    }
}

/// A way of driving the printer (host: we stream the file; monitor: we follow it).
pub trait Mode: Send + Sync {
    fn on_connected(&mut self, cx: &mut Cx, handshake: &Handshake);
    fn on_response(&mut self, cx: &mut Cx, response: Response);
    fn on_request(&mut self, cx: &mut Cx, request: Request);
    fn on_event(&mut self, cx: &mut Cx, event: ModeEvent);
    /// Called when `deadline` passes.
    fn on_timer(&mut self, cx: &mut Cx);
    fn deadline(&self) -> Option<Instant>;
    fn on_disconnected(&mut self, cx: &mut Cx, reason: &str);
    /// Requests that cannot be served while disconnected are answered here.
    fn reject_disconnected(&mut self, request: Request) {
        request.reply(Err(PrinterError::NotConnected));
    }
    fn state(&self) -> PrinterState;
    /// The analysis of the current job's file, as `PrinterLink::analysis` publishes it.
    fn analysis(&self) -> Option<FileAnalysis>;
    /// Command answers decided since the last call (sent after the status is published).
    fn take_replies(&mut self) -> Vec<(super::Reply, Result<crate::printer::Confirmation, PrinterError>)>;
}

/// Publishes status: state changes at once, progress and temperatures at most
/// every `min_interval`; and the analysis of the job's file whenever it changes.
struct Publisher {
    tx: watch::Sender<PrinterStatus>,
    analysis: watch::Sender<Option<FileAnalysis>>,
    last: Instant,
    min_interval: Duration,
}

impl Publisher {
    fn publish(&mut self, state: PrinterState, temps: Temperatures, now: Instant) {
        self.publish_inner(state, temps, now, false);
    }

    /// Publishes, then delivers the answers the mode decided (in that order).
    /// The analysis goes first, so a reader that sees a new job also sees its
    /// file's analysis once there is one.
    fn publish_and_reply(&mut self, mode: &mut dyn Mode, temps: Temperatures, now: Instant) {
        FileAnalysis::publish(&self.analysis, mode.analysis());
        let replies = mode.take_replies();
        self.publish_inner(mode.state(), temps, now, !replies.is_empty());
        for (reply, result) in replies {
            reply.send_result(result);
        }
    }

    fn publish_inner(&mut self, state: PrinterState, temps: Temperatures, now: Instant, force: bool) {
        let changed_kind = self.tx.borrow().state.name() != state.name();
        let same = {
            let cur = self.tx.borrow();
            cur.state == state && cur.temps == temps
        };
        if same || (!force && !changed_kind && now.duration_since(self.last) < self.min_interval) {
            return;
        }
        self.last = now;
        self.tx.send_replace(PrinterStatus {
            state,
            temps,
            at: Timestamp::now(),
        });
    }
}

pub struct Driver {
    pub transport: Arc<dyn Transport>,
    pub settings: Settings,
    pub mode: Box<dyn Mode>,
    pub numbered: bool,
    pub requests: mpsc::Receiver<Request>,
    pub status: watch::Sender<PrinterStatus>,
    pub analysis: watch::Sender<Option<FileAnalysis>>,
    pub counters: Arc<Counters>,
    pub cancel: CancellationToken,
    pub timing: HandshakeTiming,
}

impl Driver {
    pub async fn run(mut self) {
        let printer: Arc<str> = self.transport.describe().into();
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let mut cx = Cx {
            out: Vec::new(),
            quirks: Quirks::unknown(),
            temps: Temperatures::default(),
            counters: self.counters.clone(),
            settings: self.settings.clone(),
            now: Instant::now(),
            last_rx: Instant::now(),
            disconnect: None,
            events: events_tx,
            printer: printer.clone(),
        };
        let mut publisher = Publisher {
            tx: self.status.clone(),
            analysis: self.analysis.clone(),
            last: Instant::now(),
            min_interval: Duration::from_millis(250),
        };
        let mut backoff = Duration::from_millis(200);
        let mut failures: u32 = 0;
        loop {
            publisher.publish(self.mode.state(), cx.temps, Instant::now());
            let connected = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.connect(&printer) => r,
            };
            let (mut conn, handshake) = match connected {
                Ok(c) => {
                    failures = 0;
                    backoff = Duration::from_millis(200);
                    c
                }
                Err(e) => {
                    failures += 1;
                    // Rate-limited: the first failure, then every tenth.
                    if failures == 1 || failures % 10 == 0 {
                        warn!(printer = %printer, error = %e, failures, "cannot connect to the printer; retrying");
                    }
                    if let LinkError::Halted { message, .. } = &e {
                        self.mode.on_response(
                            &mut cx,
                            Response::Error(super::protocol::FirmwareError {
                                kind: super::protocol::ErrorKind::Halted,
                                message: message.clone(),
                                last_line: None,
                            }),
                        );
                        cx.out.clear();
                    }
                    publisher.publish(self.mode.state(), cx.temps, Instant::now());
                    let until = Instant::now() + backoff;
                    backoff = (backoff * 2).min(self.settings.reconnect_max);
                    loop {
                        tokio::select! {
                            _ = self.cancel.cancelled() => return,
                            _ = sleep_until(until) => break,
                            Some(req) = self.requests.recv() => self.mode.reject_disconnected(req),
                        }
                    }
                    continue;
                }
            };
            Counters::inc(&self.counters.connects);
            let q = &handshake.quirks;
            info!(printer = %printer, firmware = %q.firmware_name, kind = ?q.kind, "printer connected");
            cx.quirks = handshake.quirks.clone();
            cx.now = Instant::now();
            cx.last_rx = conn.last_rx;
            self.mode.on_connected(&mut cx, &handshake);
            let reason = loop {
                if let Err(e) = flush(&mut conn, &mut cx).await {
                    break e.to_string();
                }
                publisher.publish_and_reply(self.mode.as_mut(), cx.temps, Instant::now());
                if let Some(reason) = cx.disconnect.take() {
                    break reason;
                }
                let deadline = self
                    .mode
                    .deadline()
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                tokio::select! {
                    _ = self.cancel.cancelled() => {
                        publisher.publish(self.mode.state(), cx.temps, Instant::now());
                        return;
                    }
                    r = conn.recv() => match r {
                        Ok(response) => {
                            cx.now = Instant::now();
                            cx.last_rx = conn.last_rx;
                            self.mode.on_response(&mut cx, response);
                        }
                        Err(e) => break e.to_string(),
                    },
                    Some(req) = self.requests.recv() => {
                        cx.now = Instant::now();
                        self.mode.on_request(&mut cx, req);
                    }
                    Some(ev) = events_rx.recv() => {
                        cx.now = Instant::now();
                        self.mode.on_event(&mut cx, ev);
                    }
                    _ = sleep_until(deadline) => {
                        cx.now = Instant::now();
                        self.mode.on_timer(&mut cx);
                    }
                }
            };
            Counters::inc(&self.counters.disconnects);
            warn!(printer = %printer, reason = %reason, "printer connection lost");
            cx.out.clear();
            cx.now = Instant::now();
            self.mode.on_disconnected(&mut cx, &reason);
            publisher.publish_and_reply(self.mode.as_mut(), cx.temps, Instant::now());
        }
    }

    async fn connect(&self, printer: &Arc<str>) -> Result<(Conn, Handshake), LinkError> {
        let port = self.transport.open().await.map_err(|e| LinkError::Open {
            target: printer.to_string(),
            source: e,
        })?;
        let mut conn = Conn::new(port, printer.clone(), self.counters.clone());
        let handshake = conn.handshake(self.numbered, self.timing).await?;
        Ok((conn, handshake))
    }
}

async fn flush(conn: &mut Conn, cx: &mut Cx) -> Result<(), LinkError> {
    for line in std::mem::take(&mut cx.out) {
        conn.send(&line).await?;
    }
    Ok(())
}
