//! The webhook channel: the alert as JSON, POSTed and signed with
//! HMAC-SHA256 (`X-Layerwatch-Signature`), with custom headers and the
//! snapshot as a URL or embedded base64 (docs/alerts.md).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::config::{ENV_WEBHOOK_SECRET, SnapshotMode, WebhookConfig};
use super::signature::{SIGNATURE_HEADER, sign};
use super::{Alert, Delivery, Notifier, NotifyError, Secret, error_body};
use crate::actions::http::{client, status_error, transport_error};
use crate::domain::Level;
use crate::store::Channel;

/// Header carrying `Alert::id`, for receivers that de-duplicate.
pub const DELIVERY_HEADER: &str = "X-Layerwatch-Delivery";
/// Header carrying the alert kind (`incident`, `resolved`, `summary`, `test`).
pub const EVENT_HEADER: &str = "X-Layerwatch-Event";

pub struct WebhookNotifier {
    client: reqwest::Client,
    url: String,
    secret: Option<Secret>,
    headers: HeaderMap,
    mode: SnapshotMode,
    min_level: Level,
    timeout: Duration,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &self.url)
            .field("signed", &self.secret.is_some())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    pub fn new(cfg: &WebhookConfig, timeout: Duration) -> Result<Self, NotifyError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let bad = |what: &str| NotifyError::Permanent {
                status: None,
                message: format!("webhook header {name:?}: {what}"),
            };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("invalid name"))?;
            let mut v = HeaderValue::from_str(value.expose()).map_err(|_| bad("invalid value"))?;
            v.set_sensitive(true);
            headers.insert(n, v);
        }
        Ok(WebhookNotifier {
            client: client(timeout)?,
            url: cfg.url.clone(),
            secret: Secret::resolve(cfg.secret.as_ref(), ENV_WEBHOOK_SECRET),
            headers,
            mode: cfg.snapshot,
            min_level: cfg.min_level,
            timeout,
        })
    }

    /// The exact body bytes that are signed and sent.
    pub fn body(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Vec<u8>, NotifyError> {
        let mut alert = alert.clone();
        match self.mode {
            SnapshotMode::None => alert.snapshot = None,
            SnapshotMode::Url => {}
            SnapshotMode::Embed => {
                if let (Some(bytes), Some(s)) = (snapshot, alert.snapshot.as_mut()) {
                    s.jpeg_base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
                }
            }
        }
        serde_json::to_vec(&alert)
            .map_err(|e| NotifyError::Permanent { status: None, message: format!("cannot render alert: {e}") })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let body = self.body(alert, snapshot)?;
        let mut req = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, &alert.id)
            .header("Idempotency-Key", &alert.id)
            .header(EVENT_HEADER, alert.kind.as_str());
        if let Some(secret) = &self.secret {
            let t = chrono::Utc::now().timestamp();
            req = req.header(SIGNATURE_HEADER, sign(secret.expose().as_bytes(), t, &body));
        }
        let resp = req.body(body).send().await.map_err(|e| transport_error(e, self.timeout))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Delivery { status: status.as_u16(), remote_id: None });
        }
        let headers = resp.headers().clone();
        Err(status_error(status, &headers, &error_body(resp).await))
    }
}
