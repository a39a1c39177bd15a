//! The connection to the broker: options from `[mqtt]` (credentials, TLS,
//! last will), the [`Link`] handle other tasks publish through, and what a
//! refused or broken connection means in words a user can act on.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, EventLoop, LastWill, MqttOptions, QoS, Transport};
use tokio::sync::{oneshot, watch};

use super::MqttError;
use super::config::MqttConfig;
use super::discovery::{OFFLINE, Topics};
use crate::actions::alerts::Secret;

/// Requests waiting for the event loop (publishes, subscriptions); beyond, `try_publish` fails and is counted.
pub(super) const REQUEST_QUEUE: usize = 64;
/// Largest message sent (a camera JPEG); bigger pictures are skipped, not sent.
pub const MAX_OUTGOING: usize = 8 * 1024 * 1024;
/// Largest message accepted (commands, a light's echo, Home Assistant's status).
const MAX_INCOMING: usize = 256 * 1024;
/// Echo waiters kept at once (one per light switch in flight).
const MAX_WAITERS: usize = 16;

/// A publish waiting for its echo: topic, payload, and whom to wake.
type Waiter = (String, Vec<u8>, oneshot::Sender<()>);

/// What every task shares about the one connection.
pub(super) struct Shared {
    pub connected: watch::Sender<bool>,
    /// Publishes that wait to see their own message come back from the broker.
    waiters: Mutex<Vec<Waiter>>,
    /// Topics subscribed for those echoes (subscribed again after a reconnect).
    pub echo_topics: Mutex<BTreeSet<String>>,
    /// Messages not queued because the request queue was full or the picture too big.
    pub dropped: AtomicU64,
    pub password: Option<Secret>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Wakes the publish waiting for this message, if any.
    pub fn echo(&self, topic: &str, payload: &[u8]) {
        let mut w = lock(&self.waiters);
        if let Some(i) = w.iter().position(|(t, p, _)| t == topic && p == payload) {
            let (_, _, tx) = w.swap_remove(i);
            let _ = tx.send(());
        }
        w.retain(|(_, _, tx)| !tx.is_closed());
    }

    /// Error text with the password taken out, whatever printed it.
    pub fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(p) => p.scrub(text),
            None => text.to_string(),
        }
    }
}

/// A handle on the connection: publish through it from any task.
#[derive(Clone)]
pub struct Link {
    pub(super) client: AsyncClient,
    pub(super) shared: Arc<Shared>,
}

impl Link {
    /// Whether the broker accepted the connection and it is up now.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.shared.connected.subscribe()
    }

    /// Messages dropped so far (queue full, picture too big).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Publishes `payload` on `topic` (QoS 1, not retained) and waits until the
    /// broker routes it back to us: the broker has taken it, and anyone
    /// subscribed (a Zigbee2MQTT light, Home Assistant) has been sent it.
    pub async fn publish_confirmed(&self, topic: &str, payload: &[u8], within: Duration) -> Result<(), MqttError> {
        if !*self.shared.connected.borrow() {
            return Err(MqttError::NotConnected);
        }
        let new_topic = lock(&self.shared.echo_topics).insert(topic.to_string());
        if new_topic {
            self.client.subscribe(topic, QoS::AtLeastOnce).await.map_err(|e| MqttError::Client(e.to_string()))?;
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut w = lock(&self.shared.waiters);
            w.retain(|(_, _, tx)| !tx.is_closed());
            if w.len() >= MAX_WAITERS {
                return Err(MqttError::Client("too many messages waiting for the broker".into()));
            }
            w.push((topic.to_string(), payload.to_vec(), tx));
        }
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .map_err(|e| MqttError::Client(e.to_string()))?;
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(MqttError::Unconfirmed(within)),
        }
    }
}

/// A connection not yet running: the event loop that [`super::run`] drives.
pub struct Connection {
    pub(super) eventloop: EventLoop,
    pub(super) link: Link,
    pub(super) topics: Topics,
    pub(super) addr: String,
    pub(super) username: String,
}

impl Connection {
    pub fn link(&self) -> Link {
        self.link.clone()
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|e| MqttError::Tls {
        key: key.into(),
        path: path.display().to_string(),
        why: format!("cannot read it: {e}"),
    })
}

/// rustls' client configuration: the CA file's roots or the system's, and the client certificate if any.
fn tls_config(cfg: &MqttConfig) -> Result<rustls::ClientConfig, MqttError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    crate::net::install_tls_provider();
    let bad =
        |key: &str, path: &Path, why: String| MqttError::Tls { key: key.into(), path: path.display().to_string(), why };
    let mut roots = rustls::RootCertStore::empty();
    if cfg.ca_file.as_os_str().is_empty() {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err(MqttError::Tls {
                key: "ca_file".into(),
                path: String::new(),
                why: "no system CA certificates were found: give the broker's CA as mqtt.ca_file".into(),
            });
        }
    } else {
        let pem = read("ca_file", &cfg.ca_file)?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(bad("ca_file", &cfg.ca_file, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
        }
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    if cfg.client_cert_file.as_os_str().is_empty() {
        return Ok(builder.with_no_client_auth());
    }
    let pem = read("client_cert_file", &cfg.client_cert_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(bad("client_cert_file", &cfg.client_cert_file, "holds no PEM certificate".into()));
    }
    let pem = read("client_key_file", &cfg.client_key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| bad("client_key_file", &cfg.client_key_file, "holds no PEM private key".into()))?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad("client_key_file", &cfg.client_key_file, format!("does not fit the certificate: {e}")))
}

/// Builds the connection from `[mqtt]` (nothing is sent until it runs).
/// Fails only on local problems: unreadable TLS files.
pub fn open(cfg: &MqttConfig, printer_name: &str) -> Result<Connection, MqttError> {
    let topics = Topics::new(&cfg.base(printer_name), &cfg.discovery_prefix);
    let mut opts = MqttOptions::new(cfg.client_id_for(printer_name), cfg.host.clone(), cfg.port);
    opts.set_keep_alive(Duration::from_secs(cfg.keepalive_s.max(5)));
    opts.set_max_packet_size(MAX_INCOMING, MAX_OUTGOING);
    opts.set_clean_session(true);
    opts.set_last_will(LastWill::new(topics.availability(), OFFLINE, QoS::AtLeastOnce, true));
    let password = cfg.password();
    if !cfg.username.is_empty() {
        opts.set_credentials(
            cfg.username.clone(),
            password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default(),
        );
    }
    if cfg.tls {
        opts.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(tls_config(cfg)?))));
    }
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_QUEUE);
    eventloop.network_options.set_connection_timeout(10);
    let shared = Arc::new(Shared {
        connected: watch::channel(false).0,
        waiters: Mutex::new(Vec::new()),
        echo_topics: Mutex::new(BTreeSet::new()),
        dropped: AtomicU64::new(0),
        password,
    });
    Ok(Connection {
        eventloop,
        link: Link { client, shared },
        topics,
        addr: format!("{}{}:{}", if cfg.tls { "mqtts://" } else { "mqtt://" }, cfg.host, cfg.port),
        username: cfg.username.clone(),
    })
}

/// A connection error in words a user can act on.
pub(super) fn explain(e: &ConnectionError, addr: &str, username: &str, shared: &Shared) -> MqttError {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => MqttError::BadCredentials {
            addr: addr.into(),
            user: if username.is_empty() { "(none)".into() } else { username.into() },
        },
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => MqttError::NotAuthorized {
            addr: addr.into(),
            user: if username.is_empty() { "(none)".into() } else { username.into() },
        },
        ConnectionError::ConnectionRefused(code) => MqttError::Refused { addr: addr.into(), code: format!("{code:?}") },
        // rustls' alerts and certificate errors often surface as I/O errors (in the handshake or the first read).
        other if tls_words(&other.to_string()).is_some() => MqttError::TlsHandshake {
            addr: addr.into(),
            why: tls_words(&shared.scrub(&other.to_string())).unwrap_or_default(),
        },
        ConnectionError::Tls(t) => MqttError::TlsHandshake { addr: addr.into(), why: shared.scrub(&t.to_string()) },
        ConnectionError::Io(io) => MqttError::Unreachable { addr: addr.into(), why: shared.scrub(&io.to_string()) },
        ConnectionError::NetworkTimeout => {
            MqttError::Unreachable { addr: addr.into(), why: "no answer within the connection timeout".into() }
        }
        other => MqttError::Lost { addr: addr.into(), why: shared.scrub(&other.to_string()) },
    }
}

/// A TLS failure hidden in an I/O error's text, in plain words (`None` when it is not one).
fn tls_words(text: &str) -> Option<String> {
    if text.contains("CertificateRequired") {
        Some("the broker wants a client certificate: set mqtt.client_cert_file and mqtt.client_key_file".into())
    } else if text.contains("invalid peer certificate") {
        let what = text.split("invalid peer certificate").nth(1).unwrap_or("").trim_start_matches(':').trim();
        Some(format!("the broker's certificate is not trusted ({what}): mqtt.ca_file must be the CA that signed it"))
    } else if text.contains("received fatal alert") {
        Some(text.rsplit(": ").next().map(|a| format!("the broker ended the TLS handshake ({a})")).unwrap_or_default())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::tls_words;

    #[test]
    fn tls_failures_in_io_errors_are_named() {
        let t = tls_words("Mqtt state: IO: received fatal alert: CertificateRequired").unwrap();
        assert!(t.contains("client certificate"), "{t}");
        let t = tls_words("I/O: invalid peer certificate: UnknownIssuer").unwrap();
        assert!(t.contains("(UnknownIssuer)") && t.contains("mqtt.ca_file"), "{t}");
        let t = tls_words("IO: received fatal alert: HandshakeFailure").unwrap();
        assert_eq!(t, "the broker ended the TLS handshake (HandshakeFailure)");
        assert_eq!(tls_words("I/O: Connection refused (os error 111)"), None);
    }
}
