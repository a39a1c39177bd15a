//! The Discord channel: an incoming webhook posts an embed (the alert's
//! title, text and a colour by level) with the snapshot attached, as
//! `multipart/form-data` with `payload_json` and `files[0]` (or plain JSON
//! without one), and `?wait=true` so Discord answers with the message id.
//! The webhook URL holds its token: it is a `Secret`, never logged, and
//! scrubbed from error texts. Discord's 429 `retry_after` is honoured.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::config::{DiscordConfig, ENV_DISCORD_WEBHOOK};
use super::{Alert, Delivery, Notifier, NotifyError, Secret, render};
use crate::actions::http::{client, status_error, transport_error};
use crate::domain::Level;
use crate::store::{AlertKind, Channel};

/// Discord's limits for an embed's title and description.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;

pub struct DiscordNotifier {
    client: reqwest::Client,
    url: Secret,
    attach: bool,
    min_level: Level,
    timeout: Duration,
}

impl std::fmt::Debug for DiscordNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordNotifier").field("url", &self.url).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RateLimited {
    retry_after: Option<f64>,
}

impl DiscordNotifier {
    pub fn new(cfg: &DiscordConfig, timeout: Duration) -> Result<Self, NotifyError> {
        let url =
            Secret::resolve(cfg.webhook_url.as_ref(), ENV_DISCORD_WEBHOOK).ok_or_else(|| NotifyError::Permanent {
                status: None,
                message: format!("alerts.discord.webhook_url is not set (nor {ENV_DISCORD_WEBHOOK})"),
            })?;
        Ok(DiscordNotifier {
            client: client(timeout)?,
            url,
            attach: cfg.attach_snapshot,
            min_level: cfg.min_level,
            timeout,
        })
    }

    /// Red for failures, amber for warnings, green when resolved, grey otherwise.
    fn colour(a: &Alert) -> u32 {
        match (a.kind, a.level) {
            (AlertKind::Incident, Level::Failure) => 0xD6_31_2F,
            (AlertKind::Incident, _) | (AlertKind::Muted, _) => 0xE8_A3_17,
            (AlertKind::Resolved, _) => 0x2E_A0_43,
            _ => 0x8A_8F_98,
        }
    }

    fn payload(a: &Alert, image: bool) -> serde_json::Value {
        let mut embed = serde_json::json!({
            "title": render::shorten(&render::title(a), TITLE_MAX),
            "description": render::shorten(&render::body(a), DESCRIPTION_MAX),
            "color": Self::colour(a),
            "timestamp": chrono::DateTime::from_timestamp_millis(a.time.millis()).map(|t| t.to_rfc3339()),
        });
        if let Some(url) = a.snapshot.as_ref().and_then(|s| s.url.as_ref()) {
            embed["url"] = url.as_str().into();
        }
        if image {
            embed["image"] = serde_json::json!({ "url": "attachment://snapshot.jpg" });
        }
        // No @everyone or role pings from alert text.
        serde_json::json!({ "embeds": [embed], "allowed_mentions": { "parse": [] } })
    }

    fn url(&self) -> String {
        let u = self.url.expose();
        format!("{u}{}wait=true", if u.contains('?') { '&' } else { '?' })
    }
}

#[async_trait]
impl Notifier for DiscordNotifier {
    fn channel(&self) -> Channel {
        Channel::Discord
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let req = match snapshot.filter(|_| self.attach) {
            Some(jpeg) => {
                let file = Part::bytes(jpeg.to_vec())
                    .file_name("snapshot.jpg")
                    .mime_str("image/jpeg")
                    .map_err(|e| NotifyError::Permanent { status: None, message: format!("multipart: {e}") })?;
                let form =
                    Form::new().text("payload_json", Self::payload(alert, true).to_string()).part("files[0]", file);
                self.client.post(self.url()).multipart(form)
            }
            None => self.client.post(self.url()).json(&Self::payload(alert, false)),
        };
        let resp = req.send().await.map_err(|e| transport_error(e, self.timeout))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap_or_default();
        if status.is_success() {
            let id = serde_json::from_slice::<Message>(&raw).ok().and_then(|m| m.id);
            return Ok(Delivery { status: status.as_u16(), remote_id: id });
        }
        let detail = self.url.scrub(&String::from_utf8_lossy(&raw[..raw.len().min(2048)]));
        let mut e = status_error(status, &headers, &detail);
        if let NotifyError::Retryable { retry_after, .. } = &mut e
            && retry_after.is_none()
        {
            *retry_after = serde_json::from_slice::<RateLimited>(&raw)
                .ok()
                .and_then(|r| r.retry_after)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(3600.0)));
        }
        Err(e)
    }
}
