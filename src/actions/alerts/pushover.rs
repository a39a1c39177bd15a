//! The Pushover channel: `POST {base_url}/1/messages.json` as
//! `multipart/form-data` with the application token, the user (or group)
//! key, a title, the text, a priority by level, the snapshot link and the
//! snapshot itself as `attachment`. Both keys are `Secret`s, never logged
//! and scrubbed from error texts. Pushover answers `{"status":1,"request":…}`.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::config::{ENV_PUSHOVER_TOKEN, ENV_PUSHOVER_USER, PushoverConfig};
use super::{Alert, Delivery, Notifier, NotifyError, Secret, render};
use crate::actions::http::{client, status_error, transport_error};
use crate::domain::Level;
use crate::store::{AlertKind, Channel};

/// Pushover's limits for the title and the message.
const TITLE_MAX: usize = 250;
const MESSAGE_MAX: usize = 1024;
/// Pushover refuses attachments above 5 MB; a snapshot is far smaller.
const ATTACHMENT_MAX: usize = 5 * 1024 * 1024;

pub struct PushoverNotifier {
    client: reqwest::Client,
    url: String,
    token: Secret,
    user: Secret,
    device: Option<String>,
    attach: bool,
    min_level: Level,
    timeout: Duration,
}

impl std::fmt::Debug for PushoverNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushoverNotifier")
            .field("url", &self.url)
            .field("token", &self.token)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    status: Option<i64>,
    request: Option<String>,
    errors: Option<Vec<String>>,
}

fn missing(key: &str, env: &str) -> NotifyError {
    NotifyError::Permanent { status: None, message: format!("alerts.pushover.{key} is not set (nor {env})") }
}

impl PushoverNotifier {
    pub fn new(cfg: &PushoverConfig, timeout: Duration) -> Result<Self, NotifyError> {
        Ok(PushoverNotifier {
            client: client(timeout)?,
            url: format!("{}/1/messages.json", cfg.base_url.trim_end_matches('/')),
            token: Secret::resolve(cfg.app_token.as_ref(), ENV_PUSHOVER_TOKEN)
                .ok_or_else(|| missing("app_token", ENV_PUSHOVER_TOKEN))?,
            user: Secret::resolve(cfg.user_key.as_ref(), ENV_PUSHOVER_USER)
                .ok_or_else(|| missing("user_key", ENV_PUSHOVER_USER))?,
            device: cfg.device.clone(),
            attach: cfg.attach_snapshot,
            min_level: cfg.min_level,
            timeout,
        })
    }

    /// High priority (bypasses quiet hours) for failures, normal for warnings, low for the rest.
    fn priority(a: &Alert) -> &'static str {
        match (a.kind, a.level) {
            (AlertKind::Incident, Level::Failure) => "1",
            (AlertKind::Incident | AlertKind::Muted, _) => "0",
            _ => "-1",
        }
    }

    fn scrub(&self, text: &str) -> String {
        self.user.scrub(&self.token.scrub(text))
    }
}

#[async_trait]
impl Notifier for PushoverNotifier {
    fn channel(&self) -> Channel {
        Channel::Pushover
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let mut form = Form::new()
            .text("token", self.token.expose().to_string())
            .text("user", self.user.expose().to_string())
            .text("title", render::shorten(&render::title(alert), TITLE_MAX))
            .text("message", render::shorten(&render::body(alert), MESSAGE_MAX))
            .text("priority", Self::priority(alert))
            .text("timestamp", (alert.time.millis() / 1000).to_string());
        if let Some(d) = &self.device {
            form = form.text("device", d.clone());
        }
        if let Some(url) = alert.snapshot.as_ref().and_then(|s| s.url.as_ref()) {
            form = form.text("url", url.clone()).text("url_title", "Snapshot");
        }
        if let Some(jpeg) = snapshot.filter(|j| self.attach && j.len() <= ATTACHMENT_MAX) {
            let part = Part::bytes(jpeg.to_vec())
                .file_name("snapshot.jpg")
                .mime_str("image/jpeg")
                .map_err(|e| NotifyError::Permanent { status: None, message: format!("multipart: {e}") })?;
            form = form.part("attachment", part);
        }
        let resp =
            self.client.post(&self.url).multipart(form).send().await.map_err(|e| transport_error(e, self.timeout))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap_or_default();
        let answer = serde_json::from_slice::<Answer>(&raw).ok();
        if status.is_success() && answer.as_ref().is_none_or(|a| a.status == Some(1)) {
            return Ok(Delivery { status: status.as_u16(), remote_id: answer.and_then(|a| a.request) });
        }
        let detail = answer
            .and_then(|a| a.errors)
            .map(|e| e.join("; "))
            .unwrap_or_else(|| String::from_utf8_lossy(&raw[..raw.len().min(2048)]).into_owned());
        if status.is_success() {
            // A 200 that says status 0: Pushover refused the message.
            return Err(NotifyError::Permanent { status: Some(status.as_u16()), message: self.scrub(&detail) });
        }
        Err(status_error(status, &headers, &self.scrub(&detail)))
    }
}
