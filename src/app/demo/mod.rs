//! `layerwatch demo`: the real daemon (`Daemon::start`, the same wiring as
//! `layerwatch run`) on an embedded config pointing at simulated peers:
//!
//! - the **camera** is `sim::mjpeg_server` playing the demo's frames, so the
//!   real MJPEG capture path runs; it starts when the print starts and is
//!   paced so the failure appears part-way through the print;
//! - the **printer** is `sim::marlin` on a pseudo-terminal, printing the
//!   demo's G-code in host mode through the real serial link, on a compressed
//!   time scale;
//! - the **alerts** go to a local webhook receiver (which checks the HMAC
//!   signature) and a Twilio-compatible SMS endpoint, both started here.
//!
//! When the daemon has paused the printer and the alert is delivered, a
//! timeline is printed (`timeline`). Everything lives in a temporary folder
//! removed at the end; nothing on disk is needed (`assets` are embedded).

pub mod assets;
pub mod timeline;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::assets::DemoAssets;
use self::timeline::{Facts, Mark, PrinterEvent, Received};
use super::{Daemon, RunOptions};
use crate::config::Config;
use crate::domain::{PrinterState, Timestamp};
use crate::printer::PrinterLink;
use crate::sim::marlin::{MarlinSim, SimConfig};
use crate::sim::mjpeg_server::{MjpegServer, MjpegServerOptions};
use crate::sim::receivers::{Outcome, TwilioReceiver, WebhookReceiver};

const WEBHOOK_SECRET: &str = "layerwatch-demo-webhook-secret";
const TWILIO_SID: &str = "ACdemo00000000000000000000000000";
const TWILIO_TOKEN: &str = "demo-twilio-auth-token";
/// Where in the print (share of its estimated time) the failure should appear.
const ONSET_AT: f64 = 0.4;
/// The whole demo gives up after this long.
const DEADLINE: Duration = Duration::from_secs(90);

/// Knobs of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep the daemon and its API running after the timeline, until cancelled.
    pub keep: bool,
    /// Real seconds per simulated second of the printer (0.1 = ten times faster).
    pub time_scale: f64,
    /// Web API address; `None`: 127.0.0.1:8484 with `keep` when free, else any free port.
    pub web_bind: Option<String>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { keep: false, time_scale: 0.1, web_bind: None }
    }
}

/// What happened, for the exit status and tests.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub facts: Facts,
    /// The rendered timeline with its summary.
    pub timeline: String,
    /// The printer was paused after the failure appeared.
    pub paused_after_onset: bool,
    /// At least one alert reached a receiver with a valid signature.
    pub alert_delivered: bool,
    pub web_addr: Option<SocketAddr>,
}

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let p = std::env::temp_dir().join(format!("layerwatch-demo-{}-{}", std::process::id(), Timestamp::now().0));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the demo to its timeline (and, with `keep`, until `cancel` fires).
pub async fn run(opts: DemoOptions, cancel: CancellationToken) -> anyhow::Result<DemoOutcome> {
    let assets = tokio::task::spawn_blocking(DemoAssets::load).await.context("loading the demo assets")??;
    let dir = TempDir::new().context("cannot create a temporary folder for the demo")?;
    let gcode = dir.0.join("demo-block.gcode");
    std::fs::write(&gcode, assets.gcode).with_context(|| format!("cannot write {}", gcode.display()))?;

    // The simulated peers.
    let peers = CancellationToken::new();
    let _stop_peers = peers.clone().drop_guard();
    let sim_cfg = SimConfig { time_scale: opts.time_scale, ..SimConfig::default() };
    let (_sim, pty) = MarlinSim::spawn(sim_cfg, peers.clone()).await.context("cannot start the simulated printer")?;
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.context("webhook receiver")?;
    let sms = TwilioReceiver::start(TWILIO_SID, TWILIO_TOKEN).await.context("SMS receiver")?;
    // Bound now, served once the print starts: the daemon's first request waits in the backlog.
    let cam_listener = TcpListener::bind("127.0.0.1:0").await.context("camera port")?;
    let cam_url = format!("http://{}/stream", cam_listener.local_addr()?);
    let web_bind = match &opts.web_bind {
        Some(b) => b.clone(),
        None if opts.keep && std::net::TcpListener::bind("127.0.0.1:8484").is_ok() => "127.0.0.1:8484".into(),
        None => "127.0.0.1:0".into(),
    };
    let toml = config_toml(&dir.0, &cam_url, &pty, &hook.url(), sms.base_url(), &web_bind);
    let cfg = Config::from_toml_str(&toml).context("the demo's built-in config")?;

    let daemon_cancel = cancel.child_token();
    let daemon =
        Daemon::start(cfg, RunOptions { print: Some(gcode.clone()), ..Default::default() }, daemon_cancel.clone())
            .await?;
    let board = daemon.status();
    let slot = daemon.printer().context("the demo has a printer")?;
    let events = record_printer(slot.status(), peers.clone());

    let outcome = async {
        let mut status = slot.status();
        let printing = status.wait_for(|s| s.state.is_printing());
        tokio::time::timeout(Duration::from_secs(30), printing)
            .await
            .context("the simulated printer did not start printing within 30 s")?
            .context("printer status closed")?;
        let print_started = Timestamp::now();
        let analysis = crate::gcode::analyze(assets.gcode);
        let print_s = analysis.estimated_time_s.unwrap_or(analysis.kinematic_time_s).max(1.0) * opts.time_scale;
        let fps = (assets.onset as f64 / (ONSET_AT * print_s)).clamp(1.0, 15.0);
        let layer_count = u32::try_from(analysis.layers.len()).ok();
        let cam_started = Timestamp::now();
        let cam = MjpegServer::start_with(
            cam_listener,
            assets.frames.clone(),
            MjpegServerOptions { fps, ..Default::default() },
        )
        .context("cannot start the simulated camera")?;
        // The camera produces frame n at n / fps after it starts.
        let onset_at = cam_started.add(Duration::from_secs_f64(assets.onset as f64 / fps));
        // Until paused and alerted, the print ends, or time is up; meanwhile note
        // when the camera produces its first failure frame (frame `onset`).
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut onset: Option<Mark> = None;
        loop {
            let s = slot.status().borrow().clone();
            if onset.is_none() && cam.stats().frames_produced > assets.onset as u64 {
                onset = Some(Mark { at: onset_at.min(Timestamp::now()), layer: s.state.job().and_then(|j| j.layer) });
            }
            let paused = matches!(s.state, PrinterState::Paused { .. });
            let delivered = hook.deliveries().iter().any(|d| d.signature_ok && d.outcome == Outcome::Answered(200));
            let ended = matches!(s.state, PrinterState::Finished { .. } | PrinterState::Cancelled { .. });
            if (paused && delivered) || ended || tokio::time::Instant::now() > deadline || cancel.is_cancelled() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Let the follow-up requests (SMS, attempts) land.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let store = daemon.store().clone();
        let audit = store.audit_log(100).await.unwrap_or_default();
        let mut alerts = Vec::new();
        for o in store.recent_alerts(50).await.unwrap_or_default() {
            let attempts = store.attempts_of(o.id).await.unwrap_or_default();
            alerts.push((o, attempts));
        }
        let mut received: Vec<Received> = hook
            .deliveries()
            .iter()
            .map(|d| Received {
                at: d.request.at,
                line: webhook_line(d),
                accepted: d.signature_ok && d.outcome == Outcome::Answered(200),
            })
            .collect();
        let sms_times = sms.requests().into_iter().filter(|e| e.accepted()).map(|e| e.request.at);
        received.extend(sms.messages().iter().zip(sms_times).map(|(m, at)| Received {
            at,
            line: format!("SMS to {}: {}", m.to, shorten(&m.body, 90)),
            accepted: true,
        }));
        let printer: Vec<PrinterEvent> = events.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let pause = printer
            .iter()
            .find(|e| matches!(e.state, "pausing" | "paused") && onset.is_some_and(|o| e.at >= o.at))
            .or_else(|| printer.iter().find(|e| matches!(e.state, "pausing" | "paused")))
            .map(|e| Mark { at: e.at, layer: e.layer });
        let facts = Facts {
            print_started: Some(print_started),
            layer_count,
            onset,
            pause,
            frames: board.journal().entries().into_iter().filter(|r| r.at >= print_started).collect(),
            printer: printer.into_iter().filter(|e| e.at >= print_started).collect(),
            audit,
            alerts,
            received,
        };
        anyhow::Ok((facts, cam))
    }
    .await;

    let web_addr = *board.web_addr().borrow();
    let (outcome, cam) = match outcome {
        Ok((facts, cam)) => (Ok(facts), Some(cam)),
        Err(e) => (Err(e), None),
    };
    let result = outcome.map(|facts| {
        let paused_after_onset = matches!((facts.onset, facts.pause), (Some(o), Some(p)) if p.at >= o.at);
        let alert_delivered = facts.received.iter().any(|r| r.accepted);
        DemoOutcome { timeline: timeline::render(&facts), facts, paused_after_onset, alert_delivered, web_addr }
    });
    if opts.keep && result.is_ok() {
        if let Ok(o) = &result {
            println!("{}", o.timeline);
        }
        match web_addr {
            Some(a) => println!("daemon still running: status at http://{a}/api/status (Ctrl-C to stop)"),
            None => println!("daemon still running (Ctrl-C to stop)"),
        }
        cancel.cancelled().await;
    }
    daemon_cancel.cancel();
    daemon.wait().await?;
    if let Some(cam) = cam {
        cam.shutdown().await;
    }
    result
}

fn webhook_line(d: &crate::sim::receivers::WebhookDelivery) -> String {
    let field = |k: &str| d.json.as_ref().and_then(|j| j[k].as_str()).unwrap_or("-").to_string();
    let outcome = match d.outcome {
        Outcome::Answered(s) => format!("HTTP {s}"),
        Outcome::Hung => "no answer".into(),
        Outcome::Closed => "connection closed".into(),
    };
    format!(
        "webhook: {} {} {} ({}) -> {outcome}",
        field("kind"),
        field("level"),
        field("cause"),
        if d.signature_ok { "signature ok" } else { "SIGNATURE NOT VALID" }
    )
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}

/// Records every printer state change (with its layer) until `stop`.
fn record_printer(
    mut rx: tokio::sync::watch::Receiver<crate::domain::PrinterStatus>,
    stop: CancellationToken,
) -> Arc<Mutex<Vec<PrinterEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        let mut last = "";
        loop {
            let (state, layer) = {
                let s = rx.borrow_and_update();
                (s.state.name(), s.state.job().and_then(|j| j.layer))
            };
            if state != last {
                out.lock().unwrap_or_else(|p| p.into_inner()).push(PrinterEvent { at: Timestamp::now(), state, layer });
                last = state;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                r = rx.changed() => if r.is_err() { return },
            }
        }
    });
    seen
}

/// The demo's config: the same TOML a user would write, pointing at the simulated peers.
fn config_toml(dir: &Path, cam_url: &str, pty: &Path, hook_url: &str, twilio: &str, web_bind: &str) -> String {
    format!(
        r#"
[general]
name = "demo printer"
data_dir = {data:?}

[camera]
name = "demo camera"
source = "mjpeg"
url = {cam_url:?}
interval_ms = 250
timeout_ms = 15000
reconnect_max_ms = 1000

[printer]
kind = "marlin"
command_timeout_ms = 10000

[printer.serial]
path = {pty:?}
mode = "host"
read_timeout_ms = 3000

[decision]
# The demo runs ten times faster than a real print: smoothing follows suit.
half_life_s = 1.0
warmup_layers = 2
strict_layers = 2

[actions]
warning = "notify"
failure = "pause_and_park"

[alerts.webhook]
url = {hook_url:?}
secret = {WEBHOOK_SECRET:?}
snapshot = "embed"

[alerts.sms]
account_sid = {TWILIO_SID:?}
auth_token = {TWILIO_TOKEN:?}
from = "+15550000001"
to = "+15550000002"
base_url = {twilio:?}

[alerts.retry]
initial_ms = 200
max_ms = 2000

[web]
bind = {web_bind:?}
"#,
        data = dir.join("data").display().to_string(),
        pty = pty.display().to_string(),
    )
}
