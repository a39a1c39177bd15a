//! Alerts: what the owner is told (`Alert`), how it looks (`render`,
//! `snapshot`), and the channels that carry it (`Notifier`: webhook, Twilio
//! SMS, ntfy, Telegram, Discord, Pushover, e-mail over SMTP, and a recording
//! fake for unit tests).
//!
//! A notifier sends one alert once and says whether a failure is worth
//! retrying; retries, rate limits and durability belong to `actions::outbox`.

mod alert;
pub mod config;
mod discord;
mod email;
pub mod fake;
mod ntfy;
mod pushover;
pub mod render;
pub mod signature;
pub mod snapshot;
mod telegram;
mod twilio;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use alert::{
    ALERT_SCHEMA_VERSION, ActionReport, ActionStep, Alert, PrintInfo, SnapshotRef, TimelapseRef, new_alert_id,
    snapshot_url, timelapse_url,
};
pub use discord::DiscordNotifier;
pub use email::EmailNotifier;
pub use ntfy::NtfyNotifier;
pub use pushover::PushoverNotifier;
pub use crate::secret::Secret;
pub use telegram::TelegramNotifier;
pub use twilio::TwilioNotifier;
pub use webhook::WebhookNotifier;

use super::config::AlertsConfig;
use crate::domain::Level;
use crate::store::Channel;

/// A channel accepted the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The channel's id for the message (Twilio `sid`, ntfy `id`, Telegram `message_id`).
    pub remote_id: Option<String>,
}

/// A channel did not accept the alert.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotifyError {
    /// Worth trying again later: timeouts, connection errors, 408/425/429/5xx.
    #[error("retryable: {message}")]
    Retryable { status: Option<u16>, retry_after: Option<Duration>, message: String },
    /// Trying again will not help (400/401/403/404…, bad credentials, bad number).
    /// The outbox still tries a few times (a misconfigured proxy may recover), then gives up.
    #[error("permanent: {message}")]
    Permanent { status: Option<u16>, message: String },
}

impl NotifyError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, NotifyError::Permanent { .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            NotifyError::Retryable { status, .. } | NotifyError::Permanent { status, .. } => *status,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::Retryable { retry_after, .. } => *retry_after,
            NotifyError::Permanent { .. } => None,
        }
    }
}

/// One alert channel.
#[async_trait]
pub trait Notifier: Send + Sync {
    fn channel(&self) -> Channel;
    /// Alerts below this level are not sent here.
    fn min_level(&self) -> Level;
    /// Sends `alert` once (with the snapshot JPEG when there is one). Must
    /// return within the configured request timeout.
    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError>;
}

/// Builds a notifier for every configured channel.
pub fn build_notifiers(cfg: &AlertsConfig) -> Result<Vec<Arc<dyn Notifier>>, NotifyError> {
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    if let Some(w) = &cfg.webhook {
        out.push(Arc::new(WebhookNotifier::new(w, timeout)?));
    }
    if let Some(s) = &cfg.sms {
        out.push(Arc::new(TwilioNotifier::new(s, timeout)?));
    }
    if let Some(n) = &cfg.ntfy {
        out.push(Arc::new(NtfyNotifier::new(n, timeout)?));
    }
    if let Some(t) = &cfg.telegram {
        out.push(Arc::new(TelegramNotifier::new(t, timeout)?));
    }
    if let Some(d) = &cfg.discord {
        out.push(Arc::new(DiscordNotifier::new(d, timeout)?));
    }
    if let Some(p) = &cfg.pushover {
        out.push(Arc::new(PushoverNotifier::new(p, timeout)?));
    }
    if let Some(e) = &cfg.email {
        out.push(Arc::new(EmailNotifier::new(e, timeout)?));
    }
    Ok(out)
}

/// Reads an error answer's body (bounded) for the error message.
pub(crate) async fn error_body(resp: reqwest::Response) -> String {
    match resp.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b[..b.len().min(2048)]).into_owned(),
        Err(_) => String::new(),
    }
}
