//! The ntfy channel: `POST {server}/{topic}` with the text as body and
//! `Title`, `Priority`, `Tags` headers; with a snapshot, one `PUT` with the JPEG
//! as body (`Filename` header) and the text in the `Message` header. An access
//! token goes in `Authorization: Bearer` and is never logged. Header values
//! that are not ASCII are RFC 2047-encoded (ntfy decodes them); newlines in the
//! `Message` header are sent as `\n`, which ntfy turns back into newlines.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;

use super::config::{ENV_NTFY_TOKEN, NtfyConfig};
use super::{Alert, Delivery, Notifier, NotifyError, Secret, error_body, render};
use crate::actions::http::{client, status_error, transport_error};
use crate::domain::Level;
use crate::store::{AlertKind, Channel};

pub struct NtfyNotifier {
    client: reqwest::Client,
    url: String,
    token: Option<Secret>,
    attach: bool,
    min_level: Level,
    timeout: Duration,
}

impl std::fmt::Debug for NtfyNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfyNotifier").field("url", &self.url).field("token", &self.token).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Published {
    id: Option<String>,
}

/// A header value ntfy accepts: ASCII as is, anything else as `=?UTF-8?B?…?=`.
pub fn header_text(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        s.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(s))
    }
}

impl NtfyNotifier {
    pub fn new(cfg: &NtfyConfig, timeout: Duration) -> Result<Self, NotifyError> {
        Ok(NtfyNotifier {
            client: client(timeout)?,
            url: format!("{}/{}", cfg.server.trim_end_matches('/'), cfg.topic),
            token: Secret::resolve(cfg.token.as_ref(), ENV_NTFY_TOKEN),
            attach: cfg.attach_snapshot,
            min_level: cfg.min_level,
            timeout,
        })
    }

    /// ntfy priority (1–5) and tags (emoji short codes).
    fn priority_and_tags(a: &Alert) -> (&'static str, &'static str) {
        match (a.kind, a.level) {
            (AlertKind::Incident, Level::Failure) => ("5", "rotating_light"),
            (AlertKind::Incident, _) => ("4", "warning"),
            (AlertKind::Resolved, _) => ("3", "white_check_mark"),
            (AlertKind::Summary, _) => ("3", "mute"),
            (AlertKind::Muted, _) => ("4", "mute"),
            (AlertKind::Test, _) => ("2", "test_tube"),
        }
    }
}

#[async_trait]
impl Notifier for NtfyNotifier {
    fn channel(&self) -> Channel {
        Channel::Ntfy
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let (priority, tags) = Self::priority_and_tags(alert);
        let text = render::body(alert);
        let mut req = match snapshot.filter(|_| self.attach) {
            Some(jpeg) => self
                .client
                .put(&self.url)
                .header("Filename", format!("{}.jpg", alert.snapshot.as_ref().map_or("snapshot", |s| s.id.as_str())))
                .header("Message", header_text(&text.replace('\n', "\\n")))
                .header(CONTENT_TYPE, "image/jpeg")
                .body(jpeg.to_vec()),
            None => self.client.post(&self.url).header(CONTENT_TYPE, "text/plain; charset=utf-8").body(text),
        };
        req = req.header("Title", header_text(&render::title(alert))).header("Priority", priority).header("Tags", tags);
        if let Some(url) = alert.snapshot.as_ref().and_then(|s| s.url.as_ref()) {
            req = req.header("Click", url.as_str());
        }
        if let Some(token) = &self.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                NotifyError::Permanent { status: None, message: "alerts.ntfy.token is not a valid header value".into() }
            })?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        let resp = req.send().await.map_err(|e| transport_error(e, self.timeout))?;
        let status = resp.status();
        if status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let id = serde_json::from_slice::<Published>(&body).ok().and_then(|p| p.id);
            return Ok(Delivery { status: status.as_u16(), remote_id: id });
        }
        let headers = resp.headers().clone();
        let detail = error_body(resp).await;
        let detail = match &self.token {
            Some(t) => t.scrub(&detail),
            None => detail,
        };
        Err(status_error(status, &headers, &detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_headers_are_rfc2047_encoded() {
        assert_eq!(header_text("Prusa: FAILURE"), "Prusa: FAILURE");
        assert_eq!(header_text("Büro"), "=?UTF-8?B?QsO8cm8=?=");
    }
}
