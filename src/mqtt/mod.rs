//! MQTT with Home Assistant discovery (`[mqtt]`): one connection to the
//! broker per daemon, with a last will (`offline` on the availability
//! topic), retained discovery configs, the printer's state as one JSON
//! message, the live and incident pictures as `image` entities, and the
//! owner's buttons.
//!
//! Owns the connection ([`link`]: options, TLS, credentials, the [`Link`]
//! handle, errors in plain words), the discovery payloads ([`discovery`],
//! pure), the state message ([`state`], pure) and the loop that drives them
//! ([`run`]): reconnect with `net::Backoff`, quiet logs with `LogLimiter`,
//! bounded queues, shutdown on the token with an explicit `offline`.
//!
//! It knows nothing of the daemon's insides: `app` hands it a
//! [`DaemonView`] that reads the status board and the store, and carries a
//! button press out through the action engine, like a dashboard button (so
//! it lands in the audit log). The MQTT light (`[printer.light] method =
//! "mqtt"`) publishes through [`Link::publish_confirmed`].

pub mod config;
pub mod discovery;
mod link;
pub mod state;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{Event, Outgoing, Packet, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::{ENV_MQTT_PASSWORD, MqttConfig};
pub use discovery::{Button, Topics};
pub use link::{Connection, Link, MAX_OUTGOING, open};
pub use state::{Snapshot, StateMessage};

use crate::net::{Backoff, LogLimiter};

/// Why the bus is not working.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MqttError {
    #[error("mqtt.{key} {path}: {why}")]
    Tls { key: String, path: String, why: String },
    #[error(
        "the broker at {addr} refused user {user:?}: wrong user name or password \
         (check mqtt.username, and mqtt.password or {ENV_MQTT_PASSWORD})"
    )]
    BadCredentials { addr: String, user: String },
    #[error(
        "the broker at {addr} refused user {user:?}: not authorised — a wrong user name or password, \
         or no login where the broker wants one (check mqtt.username, and mqtt.password or {ENV_MQTT_PASSWORD})"
    )]
    NotAuthorized { addr: String, user: String },
    #[error("the broker at {addr} refused the connection ({code}); check mqtt.client_id and the broker's log")]
    Refused { addr: String, code: String },
    #[error(
        "TLS with the broker at {addr} failed: {why} (check mqtt.tls, mqtt.port — usually 8883 — and mqtt.ca_file)"
    )]
    TlsHandshake { addr: String, why: String },
    #[error("cannot reach the broker at {addr}: {why} (check mqtt.host and mqtt.port, and that the broker runs)")]
    Unreachable { addr: String, why: String },
    #[error("the connection to the broker at {addr} broke: {why}")]
    Lost { addr: String, why: String },
    #[error("not connected to the broker")]
    NotConnected,
    #[error("the broker did not route the message back within {0:?}")]
    Unconfirmed(Duration),
    #[error("MQTT client: {0}")]
    Client(String),
}

/// What the MQTT side reads from, and asks of, the daemon (implemented by `app`).
#[async_trait::async_trait]
pub trait DaemonView: Send + Sync {
    /// The state to publish now.
    async fn snapshot(&self) -> Snapshot;
    /// The newest judged frame: its sequence number and JPEG bytes.
    fn live_jpeg(&self) -> Option<(u64, Bytes)>;
    /// The snapshot saved with an incident, once it is saved.
    async fn incident_jpeg(&self, incident: i64) -> Option<Vec<u8>>;
    /// Carries out a button through the action engine; the one-line outcome, or why it failed.
    async fn press(&self, button: Button) -> Result<String, String>;
}

/// How the loop publishes (from `[mqtt]`, fixed for the connection's life).
#[derive(Debug, Clone)]
pub struct Publishing {
    pub printer_name: String,
    pub discovery: bool,
    pub qos: QoS,
    pub interval: Duration,
    /// `None`: no live picture.
    pub live_every: Option<Duration>,
}

impl Publishing {
    pub fn from_config(cfg: &MqttConfig, printer_name: &str) -> Publishing {
        Publishing {
            printer_name: printer_name.to_string(),
            discovery: cfg.discovery,
            qos: if cfg.qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce },
            interval: Duration::from_secs(cfg.publish_interval_s.max(1)),
            live_every: (cfg.live_image_interval_s > 0).then(|| Duration::from_secs(cfg.live_image_interval_s)),
        }
    }
}

/// Button presses waiting for the engine; more are refused (logged), never queued without bound.
const PRESS_QUEUE: usize = 4;
/// How often the snapshot is read for changes.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Reports from the connection's task waiting for the loop.
const WIRE_QUEUE: usize = 64;
/// Time given to say `offline` and disconnect at shutdown.
const GOODBYE: Duration = Duration::from_secs(2);

/// What the loop remembers between publications.
#[derive(Default)]
struct Published {
    state: Option<StateMessage>,
    state_at: Option<Instant>,
    live_seq: Option<u64>,
    live_at: Option<Instant>,
    incident: Option<i64>,
    last_command: Option<String>,
}

/// What the connection's own task reports to the loop.
enum Wire {
    Connected,
    Message(String, Bytes),
    /// The connection failed or broke; the next try is in the given time.
    Down(MqttError, Duration),
}

/// Drives the connection until `cancel`: connects (and reconnects with
/// backoff), publishes availability, discovery and states, and hands button
/// presses to `view`. Never returns an error: a broker outage is logged
/// (quietly after the first time) and waited out.
pub async fn run(conn: Connection, view: Arc<dyn DaemonView>, how: Publishing, cancel: CancellationToken) {
    let Connection { eventloop, link, topics, addr, username } = conn;
    let (press_tx, press_rx) = mpsc::channel::<Button>(PRESS_QUEUE);
    let (answer_tx, mut answer_rx) = mpsc::channel::<String>(PRESS_QUEUE);
    let worker = tokio::spawn(presses(view.clone(), press_rx, answer_tx, cancel.clone()));
    // The event loop runs in a task of its own, never cancelled mid-poll (a dropped poll can lose a packet).
    let (wire_tx, mut wire) = mpsc::channel::<Wire>(WIRE_QUEUE);
    let pump = tokio::spawn(pump(eventloop, wire_tx, addr.clone(), username, link.shared.clone()));
    let mut quiet = LogLimiter::new(Duration::from_secs(300));
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = Published::default();
    let mut connected = false;
    tracing::info!(broker = %addr, base_topic = %topics.base, discovery = how.discovery, "MQTT starting");
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            w = wire.recv() => match w {
                None => break,
                Some(Wire::Connected) => {
                    connected = true;
                    quiet.reset();
                    link.shared.connected.send_replace(true);
                    tracing::info!(broker = %addr, base_topic = %topics.base, "MQTT connected");
                    on_connect(&link, &topics, &how);
                    done.state = None;
                    done.live_seq = None;
                    done.incident = None;
                }
                Some(Wire::Message(topic, payload)) => {
                    incoming(&link, &topics, &how, &press_tx, &mut done, &topic, &payload);
                }
                Some(Wire::Down(err, retry_in)) => {
                    let was = std::mem::replace(&mut connected, false);
                    link.shared.connected.send_replace(false);
                    match quiet.check(Instant::now()) {
                        Some(suppressed) => tracing::warn!(
                            error = %err, retry_in_s = retry_in.as_secs_f32(), suppressed, was_connected = was,
                            "MQTT broker not available"
                        ),
                        None => tracing::debug!(error = %err, "MQTT broker still not available"),
                    }
                }
            },
            Some(answer) = answer_rx.recv() => {
                done.last_command = Some(answer);
                if connected {
                    publish_state(&link, &topics, &how, view.as_ref(), &mut done, true).await;
                }
            }
            _ = tick.tick(), if connected => {
                publish_state(&link, &topics, &how, view.as_ref(), &mut done, false).await;
                publish_pictures(&link, &topics, &how, view.as_ref(), &mut done).await;
            }
        }
    }
    link.shared.connected.send_replace(false);
    worker.abort();
    if connected {
        // A clean disconnect sends no last will: say `offline` first, then let the pump flush both.
        let _ = link.client.try_publish(topics.availability(), QoS::AtLeastOnce, true, discovery::OFFLINE);
        let _ = link.client.try_disconnect();
        let _ = tokio::time::timeout(GOODBYE, async { while wire.recv().await.is_some() {} }).await;
    }
    pump.abort();
    tracing::info!("MQTT stopped");
}

/// Polls the event loop for the connection's whole life: (re)connects with
/// backoff and reports to [`run`]; ends once the disconnect is sent.
async fn pump(
    mut eventloop: rumqttc::EventLoop,
    tx: mpsc::Sender<Wire>,
    addr: String,
    username: String,
    shared: Arc<link::Shared>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let report = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                Wire::Connected
            }
            Ok(Event::Incoming(Packet::Publish(p))) => Wire::Message(p.topic, p.payload),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => continue,
            Err(e) => {
                let delay = backoff.next_delay(rand::random::<f64>());
                if tx.send(Wire::Down(link::explain(&e, &addr, &username, &shared), delay)).await.is_err() {
                    return;
                }
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        if tx.send(report).await.is_err() {
            return;
        }
    }
}

fn try_publish(link: &Link, topic: String, qos: QoS, retain: bool, payload: impl Into<Vec<u8>>) {
    if let Err(e) = link.client.try_publish(topic.clone(), qos, retain, payload) {
        link.shared.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(topic, error = %e, "MQTT message dropped: the queue is full");
    }
}

/// After each (re)connect: subscriptions, `online`, discovery.
fn on_connect(link: &Link, topics: &Topics, how: &Publishing) {
    let mut subs = vec![topics.command_filter(), topics.ha_status()];
    subs.extend(link.shared.echo_topics.lock().map(|s| s.iter().cloned().collect::<Vec<_>>()).unwrap_or_default());
    for t in subs {
        if let Err(e) = link.client.try_subscribe(t.clone(), QoS::AtLeastOnce) {
            tracing::warn!(topic = t, error = %e, "MQTT subscription not queued");
        }
    }
    try_publish(link, topics.availability(), QoS::AtLeastOnce, true, discovery::ONLINE);
    publish_discovery(link, topics, how);
}

/// The retained discovery configs (when `discovery` is on).
fn publish_discovery(link: &Link, topics: &Topics, how: &Publishing) {
    if how.discovery {
        for d in discovery::messages(topics, &how.printer_name, env!("CARGO_PKG_VERSION")) {
            try_publish(link, d.topic, QoS::AtLeastOnce, true, d.payload.to_string());
        }
    }
}

/// A message from the broker: a button, Home Assistant starting, or a light's echo.
fn incoming(
    link: &Link,
    topics: &Topics,
    how: &Publishing,
    presses: &mpsc::Sender<Button>,
    done: &mut Published,
    topic: &str,
    payload: &[u8],
) {
    if let Some(key) = topic.strip_prefix(&format!("{}/command/", topics.base)) {
        let Some(button) = Button::from_key(key) else {
            tracing::warn!(topic, "MQTT command for no known button: ignored");
            return;
        };
        if payload != discovery::PRESS.as_bytes() {
            tracing::warn!(
                topic,
                payload_len = payload.len(),
                "MQTT button pressed with a payload other than PRESS: ignored"
            );
            return;
        }
        tracing::info!(button = button.key(), "MQTT button pressed");
        if presses.try_send(button).is_err() {
            tracing::warn!(button = button.key(), "MQTT button ignored: earlier presses are still being carried out");
        }
    } else if topic == topics.ha_status() {
        if payload == b"online" {
            tracing::info!("Home Assistant (re)started: discovery and states sent again");
            publish_discovery(link, topics, how);
            done.state = None;
            done.live_seq = None;
            done.incident = None;
        }
    } else {
        link.shared.echo(topic, payload);
    }
}

/// Carries out button presses one at a time, so the event loop never waits on the engine.
async fn presses(
    view: Arc<dyn DaemonView>,
    mut rx: mpsc::Receiver<Button>,
    answers: mpsc::Sender<String>,
    cancel: CancellationToken,
) {
    loop {
        let button = tokio::select! {
            _ = cancel.cancelled() => return,
            b = rx.recv() => match b { Some(b) => b, None => return },
        };
        let answer = match view.press(button).await {
            Ok(msg) => {
                tracing::info!(button = button.key(), outcome = %msg, "MQTT button carried out");
                format!("{}: {msg}", button.key())
            }
            Err(why) => {
                tracing::warn!(button = button.key(), error = %why, "MQTT button refused");
                format!("{}: refused: {why}", button.key())
            }
        };
        let _ = answers.send(answer).await;
    }
}

/// Publishes the state message when it changed: at once for an urgent change, else at most once per interval.
async fn publish_state(
    link: &Link,
    topics: &Topics,
    how: &Publishing,
    view: &dyn DaemonView,
    done: &mut Published,
    force: bool,
) {
    let snap = view.snapshot().await;
    let msg = StateMessage::from_snapshot(&snap, done.last_command.clone());
    let due = match (&done.state, done.state_at) {
        (None, _) | (_, None) => true,
        (Some(before), Some(at)) => {
            force || msg.urgent_change(before) || (msg != *before && at.elapsed() >= how.interval)
        }
    };
    if !due {
        return;
    }
    let Ok(json) = serde_json::to_vec(&msg) else { return };
    try_publish(link, topics.state(), how.qos, true, json);
    done.state = Some(msg);
    done.state_at = Some(Instant::now());
}

/// The live picture every `live_every` (when a new frame was judged), and an incident's snapshot once.
async fn publish_pictures(link: &Link, topics: &Topics, how: &Publishing, view: &dyn DaemonView, done: &mut Published) {
    if let Some(every) = how.live_every
        && done.live_at.is_none_or(|t| t.elapsed() >= every)
        && let Some((seq, jpeg)) = view.live_jpeg()
        && done.live_seq != Some(seq)
    {
        done.live_seq = Some(seq);
        done.live_at = Some(Instant::now());
        picture(link, topics.live_image(), jpeg.to_vec());
    }
    let open = done.state.as_ref().and_then(|s| s.incident);
    if let Some(id) = open
        && done.incident != Some(id)
        && let Some(jpeg) = view.incident_jpeg(id).await
    {
        done.incident = Some(id);
        picture(link, topics.incident_image(), jpeg);
    }
}

fn picture(link: &Link, topic: String, jpeg: Vec<u8>) {
    if jpeg.len() + topic.len() + 16 > MAX_OUTGOING {
        link.shared.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(topic, bytes = jpeg.len(), max = MAX_OUTGOING, "picture too big for MQTT: not sent");
        return;
    }
    try_publish(link, topic, QoS::AtMostOnce, true, jpeg);
}

/// What `layerwatch doctor` found: the connection works, or why not.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub broker: String,
    pub base_topic: String,
    /// The light topic's echo, when asked to switch it.
    pub light: Option<Result<(), MqttError>>,
}

/// Connects once with the configured credentials and TLS, publishes a test
/// message on `<base>/doctor` and reads it back (so both publishing and
/// subscribing are allowed), and, with `light`, switches an MQTT light on
/// and off. Disconnects cleanly; leaves the availability topic to the daemon.
pub async fn check(
    cfg: &MqttConfig,
    printer_name: &str,
    light: Option<(&str, &[u8], &[u8])>,
    within: Duration,
) -> Result<CheckReport, MqttError> {
    let mut conn = open(cfg, printer_name)?;
    // A doctor's connection must not end the daemon's: its own client id, and no last will of the daemon's.
    conn.eventloop.mqtt_options.set_client_id(format!("{}-doctor", cfg.client_id_for(printer_name)));
    conn.eventloop.mqtt_options.set_last_will(rumqttc::LastWill::new(
        format!("{}/doctor", conn.topics.base),
        "gone",
        QoS::AtMostOnce,
        false,
    ));
    let Connection { mut eventloop, link, topics, addr, username } = conn;
    let drive = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    link.shared.connected.send_replace(true);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => link.shared.echo(&p.topic, &p.payload),
                Ok(_) => {}
                Err(e) => return link::explain(&e, &addr, &username, &link.shared),
            }
        }
    };
    let work = async {
        let mut up = link.connected();
        tokio::time::timeout(within, up.wait_for(|c| *c))
            .await
            .map_err(|_| MqttError::Unreachable { addr: addr.clone(), why: format!("no answer within {within:?}") })?
            .map_err(|_| MqttError::NotConnected)?;
        let stamp = format!("layerwatch doctor {}", std::process::id());
        link.publish_confirmed(&format!("{}/doctor", topics.base), stamp.as_bytes(), within).await?;
        let light = match light {
            Some((topic, on, off)) => {
                let r = async {
                    link.publish_confirmed(topic, on, within).await?;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    link.publish_confirmed(topic, off, within).await
                }
                .await;
                Some(r)
            }
            None => None,
        };
        let _ = link.client.try_disconnect();
        Ok::<_, MqttError>(CheckReport { broker: addr.clone(), base_topic: topics.base.clone(), light })
    };
    let out = tokio::select! {
        e = drive => Err(e),
        r = work => r,
    };
    if out.is_ok() {
        let _ = tokio::time::timeout(GOODBYE, async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
    out
}
