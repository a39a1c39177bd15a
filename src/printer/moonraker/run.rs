//! The Moonraker link's background loop: connect the websocket, identify,
//! learn Klippy's state, subscribe to the printer objects, merge status
//! diffs, follow Klippy through ready/shutdown/disconnect, analyse the
//! printing file (layers where `print_stats.info` has none, and the per-layer
//! plan published on the `analysis` watch), and reconnect with backoff (logs
//! rate-limited) when the websocket drops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::domain::{PrinterStatus, Timestamp};
use crate::net::{Backoff, LogLimiter};
use crate::printer::FileAnalysis;
use crate::printer::hostlink::http::{self, Secret};
use crate::printer::hostlink::layers::{Analyzed, FileKey, LayerCache, Lookup, publish_analysis, spawn_analysis};
use crate::printer::hostlink::stats::Counters;

use super::follow::{Follow, Next};
use super::objects::{JobState, Klippy, subscription};
use super::rpc::{Incoming, Rpc, RpcError};

/// Timings and limits of the loop (from `[printer.moonraker]`).
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub reconnect_max: Duration,
    pub request_timeout: Duration,
    pub max_file_bytes: u64,
    /// How often `server.info` is asked while Klippy is not ready.
    pub klippy_poll: Duration,
}

/// Metadata of the printing file, resolved in the background.
#[derive(Debug)]
struct MetaDone {
    filename: String,
    key: Result<FileKey, String>,
}

/// A websocket session that lasted this long counts as healthy (resets the backoff).
const STABLE_SESSION: Duration = Duration::from_secs(30);

pub(crate) struct Runner {
    pub rpc: Arc<Rpc>,
    pub http: reqwest::Client,
    pub base: Url,
    pub ws_url: String,
    pub api_key: Option<Secret>,
    pub status: watch::Sender<PrinterStatus>,
    /// The printing file's analysis, when it is ready.
    pub analysis: watch::Sender<Option<FileAnalysis>>,
    pub counters: Arc<Counters>,
    pub opts: RunOptions,
    pub cancel: CancellationToken,
    follow: Follow,
    layers: LayerCache,
    /// The file being followed, with its key once metadata arrived.
    file: Option<(String, Option<FileKey>)>,
    /// Whether the last view was printing or paused (to see a print start).
    was_active: bool,
    analyzed: (mpsc::Sender<Analyzed>, mpsc::Receiver<Analyzed>),
    meta: (mpsc::Sender<MetaDone>, mpsc::Receiver<MetaDone>),
    log_limit: LogLimiter,
    drop_log: LogLimiter,
}

enum SessionEnd {
    Cancelled,
    Dropped(String),
}

impl Runner {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rpc: Arc<Rpc>,
        http: reqwest::Client,
        base: Url,
        ws_url: String,
        api_key: Option<Secret>,
        status: watch::Sender<PrinterStatus>,
        analysis: watch::Sender<Option<FileAnalysis>>,
        counters: Arc<Counters>,
        opts: RunOptions,
        cancel: CancellationToken,
    ) -> Self {
        Runner {
            rpc,
            http,
            base,
            ws_url,
            api_key,
            status,
            analysis,
            counters,
            opts,
            cancel,
            follow: Follow::default(),
            layers: LayerCache::default(),
            file: None,
            was_active: false,
            analyzed: mpsc::channel(4),
            meta: mpsc::channel(4),
            log_limit: LogLimiter::new(Duration::from_secs(60)),
            drop_log: LogLimiter::new(Duration::from_secs(60)),
        }
    }

    /// Opens the first session (so `connect` fails fast on a wrong URL),
    /// then follows the printer until cancelled.
    pub(crate) async fn first_session(&mut self) -> Result<mpsc::UnboundedReceiver<Incoming>, String> {
        let incoming = self.rpc.open(&self.ws_url, self.api_key.as_ref(), self.opts.request_timeout).await?;
        Counters::bump(&self.counters.socket_connects);
        if let Err(e) = self.init_session().await {
            self.rpc.detach();
            return Err(e.to_string());
        }
        Ok(incoming)
    }

    /// Follows the printer until cancelled, starting with `first` if a
    /// session is already open, else by connecting.
    pub(crate) async fn run(mut self, first: Option<mpsc::UnboundedReceiver<Incoming>>) {
        let mut backoff = Backoff::new(Duration::from_millis(250), self.opts.reconnect_max);
        let mut immediate = first.is_none();
        // A session opened by `first_session` is the first connection: later ones are "again".
        let mut connected_before = first.is_some();
        let mut incoming = first;
        loop {
            if let Some(rx) = incoming.take() {
                self.log_limit.reset();
                let started = Instant::now();
                let end = self.session(rx).await;
                self.rpc.detach();
                // Only a session that lived a while resets the backoff, so a
                // websocket that drops right after connecting is not hammered.
                if started.elapsed() >= STABLE_SESSION {
                    backoff.reset();
                }
                match end {
                    SessionEnd::Cancelled => return,
                    SessionEnd::Dropped(why) => {
                        Counters::bump(&self.counters.socket_drops);
                        if let Some(suppressed) = self.drop_log.check(Instant::now()) {
                            tracing::warn!(
                                url = %self.base,
                                reason = %why,
                                suppressed,
                                "moonraker websocket lost; reconnecting"
                            );
                        }
                        self.follow.socket_lost();
                        self.publish_to(PrinterStatus::disconnected(Timestamp::now()));
                    }
                }
            }
            let delay = if std::mem::take(&mut immediate) { Duration::ZERO } else { backoff.next_plain() };
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            match self.rpc.open(&self.ws_url, self.api_key.as_ref(), self.opts.request_timeout).await {
                Ok(rx) => {
                    Counters::bump(&self.counters.socket_connects);
                    match self.init_session().await {
                        Ok(()) => {
                            let attempts = backoff.failures();
                            if std::mem::replace(&mut connected_before, true) {
                                tracing::info!(url = %self.base, attempts, "moonraker websocket connected again");
                            } else {
                                tracing::info!(url = %self.base, attempts, "moonraker websocket connected");
                            }
                            incoming = Some(rx);
                        }
                        Err(e) => {
                            self.rpc.detach();
                            self.connect_failed(&e.to_string(), &backoff);
                        }
                    }
                }
                Err(e) => self.connect_failed(&e, &backoff),
            }
        }
    }

    fn connect_failed(&mut self, error: &str, backoff: &Backoff) {
        Counters::bump(&self.counters.connect_failures);
        if let Some(suppressed) = self.log_limit.check(Instant::now()) {
            let attempts = backoff.failures();
            let lower = error.to_ascii_lowercase();
            if lower.contains("unauthorized") || lower.contains("invalid api key") {
                // Nothing will change until someone fixes the key.
                let url = &self.base;
                tracing::error!(url = %url, error = %error, attempts, suppressed, "moonraker refuses the api key");
            } else {
                tracing::warn!(url = %self.base, error = %error, attempts, suppressed, "cannot connect to moonraker");
            }
        }
    }

    /// Identify, learn Klippy's state, subscribe if it is ready.
    async fn init_session(&mut self) -> Result<(), RpcError> {
        let mut identify = json!({
            "client_name": "layerwatch",
            "version": env!("CARGO_PKG_VERSION"),
            // Not "agent": Moonraker allows one agent per name, so a second
            // layerwatch (the CLI beside the daemon) would be refused.
            "type": "other",
            "url": env!("CARGO_PKG_REPOSITORY"),
        });
        if let Some(k) = &self.api_key {
            identify["api_key"] = json!(k.expose());
        }
        self.rpc.call("server.connection.identify", identify).await?;
        self.refresh_klippy().await
    }

    /// `server.info`, and a fresh subscription when Klippy is ready.
    async fn refresh_klippy(&mut self) -> Result<(), RpcError> {
        let info = self.rpc.call("server.info", json!({})).await?;
        let k = info.get("klippy_state").and_then(Value::as_str).map(Klippy::parse).unwrap_or(Klippy::Disconnected);
        if k == Klippy::Ready {
            return self.subscribe().await;
        }
        self.follow.klippy_not_ready(k);
        if matches!(k, Klippy::Shutdown | Klippy::Error) && !self.follow.has_objects() {
            // Shut down, the objects still answer: webhooks has the reason.
            if let Ok(q) = self.rpc.call("printer.objects.query", json!({"objects": {"webhooks": null}})).await {
                self.follow.subscribed(q.get("status").unwrap_or(&Value::Null));
                self.follow.klippy_not_ready(k);
            }
        }
        self.publish();
        Ok(())
    }

    async fn subscribe(&mut self) -> Result<(), RpcError> {
        let answer = self.rpc.call("printer.objects.subscribe", json!({"objects": subscription()})).await?;
        self.follow.subscribed(answer.get("status").unwrap_or(&Value::Null));
        self.after_change();
        Ok(())
    }

    async fn session(&mut self, mut incoming: mpsc::UnboundedReceiver<Incoming>) -> SessionEnd {
        let mut poll = tokio::time::interval(self.opts.klippy_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return SessionEnd::Cancelled,
                got = incoming.recv() => match got {
                    None => return SessionEnd::Dropped("socket closed".into()),
                    Some(Incoming::Garbled { error, sample }) => {
                        Counters::bump(&self.counters.garbled_messages);
                        tracing::warn!(error = %error, sample = %sample, "skipping an unreadable moonraker message");
                    }
                    Some(Incoming::Notification(n)) => {
                        if let Err(e) = self.notification(&n.method, &n.params).await {
                            if matches!(e, RpcError::Dropped { .. } | RpcError::NotConnected) {
                                return SessionEnd::Dropped(e.to_string());
                            }
                            tracing::warn!(
                                error = %e,
                                notification = %n.method,
                                "moonraker call after a notification failed"
                            );
                        }
                    }
                },
                Some(done) = self.analyzed.1.recv() => self.finish_analysis(done),
                Some(meta) = self.meta.1.recv() => self.meta_done(meta),
                _ = poll.tick(), if self.follow.klippy() != Klippy::Ready => {
                    match self.refresh_klippy().await {
                        Err(e @ (RpcError::Dropped { .. } | RpcError::NotConnected)) => {
                            return SessionEnd::Dropped(e.to_string());
                        }
                        Err(RpcError::Timeout { .. }) => return SessionEnd::Dropped("server.info timed out".into()),
                        _ => {}
                    }
                }
            }
        }
    }

    async fn notification(&mut self, method: &str, params: &Value) -> Result<(), RpcError> {
        match method {
            "notify_klippy_ready" => tracing::info!(url = %self.base, "klippy is ready"),
            "notify_klippy_shutdown" => tracing::warn!(url = %self.base, "klippy shut down"),
            "notify_klippy_disconnected" => {
                Counters::bump(&self.counters.printer_disconnects);
                let job = self.follow.last_active().map(|j| j.file.clone());
                tracing::warn!(url = %self.base, job = ?job, "klippy disconnected from moonraker");
            }
            _ => {}
        }
        match self.follow.notification(method, params) {
            Next::Nothing => {}
            Next::Publish => self.after_change(),
            Next::Resubscribe => self.subscribe().await?,
        }
        Ok(())
    }

    fn meta_done(&mut self, m: MetaDone) {
        let Some((name, key)) = &mut self.file else { return };
        if *name != m.filename || key.is_some() {
            return;
        }
        match m.key {
            Ok(k) => {
                *key = Some(k);
                self.after_change();
            }
            Err(e) => {
                Counters::bump(&self.counters.analysis_failures);
                let file = &m.filename;
                tracing::warn!(file = %file, error = %e, "cannot read the printing file's metadata; layers unknown");
            }
        }
    }

    fn finish_analysis(&mut self, done: Analyzed) {
        match &done.result {
            Ok(_) => Counters::bump(&self.counters.files_analysed),
            Err(_) => Counters::bump(&self.counters.analysis_failures),
        }
        self.layers.finish(&done, Instant::now());
        self.publish();
    }

    /// Tracks the printing file: metadata at once, then, once it prints,
    /// download + analysis (also when `print_stats.info` reports layers: the
    /// decision loop needs the per-layer plan either way).
    fn after_change(&mut self) {
        let v = self.follow.view();
        let analysis_on = self.opts.max_file_bytes > 0;
        let active = matches!(v.job_state, Some(JobState::Printing | JobState::Paused));
        // A new print of the same name may be a re-uploaded file: read its metadata again.
        let started = active && !std::mem::replace(&mut self.was_active, active);
        match (&v.filename, &self.file) {
            (Some(f), Some((known, _))) if f == known && !started => {}
            (Some(f), _) => {
                self.file = Some((f.clone(), None));
                if analysis_on {
                    self.spawn_metadata(f.clone());
                }
            }
            (None, _) => self.file = None,
        }
        if analysis_on
            && active
            && let Some((name, Some(key))) = &self.file
            && let Lookup::Start = self.layers.lookup(key, Instant::now())
        {
            let url = http::file_url(&self.base, &["server", "files", "gcodes"], name);
            let (client, api_key) = (self.http.clone(), self.api_key.clone());
            let open =
                async move { http::open_download(&client, url, api_key.as_ref()).await.map_err(|e| e.to_string()) };
            let limit = self.opts.max_file_bytes;
            spawn_analysis(key.clone(), open, limit, self.analyzed.0.clone(), self.cancel.child_token());
        }
        self.publish();
    }

    fn spawn_metadata(&self, filename: String) {
        let (rpc, tx) = (self.rpc.clone(), self.meta.0.clone());
        tokio::spawn(async move {
            let key = match rpc.call("server.files.metadata", json!({"filename": filename})).await {
                Ok(m) => Ok(FileKey {
                    path: filename.clone(),
                    size: m.get("size").and_then(Value::as_u64),
                    modified: m.get("modified").and_then(Value::as_f64).map(|t| t as i64),
                }),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx.send(MetaDone { filename, key }).await;
        });
    }

    fn publish(&mut self) {
        let (key, map) = match &self.file {
            Some((_, Some(key))) => (Some(key), self.layers.get(key)),
            _ => (None, None),
        };
        publish_analysis(&self.analysis, key.zip(map.as_deref()).map(|(k, m)| (k.path.as_str(), k.size, m)));
        let next = self.follow.status(map.as_deref(), Timestamp::now());
        self.publish_to(next);
    }

    fn publish_to(&mut self, next: PrinterStatus) {
        let prev = self.status.borrow().state.name();
        if prev != next.state.name() {
            tracing::info!(url = %self.base, from = prev, to = next.state.name(), "printer state");
        }
        self.status.send_replace(next);
    }
}
