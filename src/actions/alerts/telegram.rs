//! The Telegram channel: a bot sends the snapshot with a caption
//! (`sendPhoto`, multipart) or, without a snapshot, a text (`sendMessage`),
//! to `{base_url}/bot{token}/…`. The token is part of the URL, so no URL ever
//! reaches an error text or a log line. Telegram's `retry_after` is honoured.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::config::{ENV_TELEGRAM_TOKEN, TelegramConfig};
use super::{Alert, Delivery, Notifier, NotifyError, Secret, render};
use crate::actions::http::{client, status_error, transport_error};
use crate::domain::Level;
use crate::store::Channel;

/// Telegram's limit for photo captions.
const CAPTION_MAX: usize = 1024;
const TEXT_MAX: usize = 4096;

pub struct TelegramNotifier {
    client: reqwest::Client,
    base_url: String,
    token: Secret,
    chat_id: String,
    min_level: Level,
    timeout: Duration,
}

impl std::fmt::Debug for TelegramNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramNotifier")
            .field("base_url", &self.base_url)
            .field("token", &self.token)
            .field("chat_id", &self.chat_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    result: Option<SentMessage>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: Option<i64>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

impl TelegramNotifier {
    pub fn new(cfg: &TelegramConfig, timeout: Duration) -> Result<Self, NotifyError> {
        let token =
            Secret::resolve(cfg.bot_token.as_ref(), ENV_TELEGRAM_TOKEN).ok_or_else(|| NotifyError::Permanent {
                status: None,
                message: format!("alerts.telegram.bot_token is not set (nor {ENV_TELEGRAM_TOKEN})"),
            })?;
        Ok(TelegramNotifier {
            client: client(timeout)?,
            base_url: cfg.base_url.trim_end_matches('/').to_string(),
            token,
            chat_id: cfg.chat_id.trim().to_string(),
            min_level: cfg.min_level,
            timeout,
        })
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.base_url, self.token.expose())
    }
}

#[async_trait]
impl Notifier for TelegramNotifier {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let text = format!("{}\n{}", render::title(alert), render::body(alert));
        let req = match snapshot {
            Some(jpeg) => {
                let photo = Part::bytes(jpeg.to_vec())
                    .file_name("snapshot.jpg")
                    .mime_str("image/jpeg")
                    .map_err(|e| NotifyError::Permanent { status: None, message: format!("multipart: {e}") })?;
                let form = Form::new()
                    .text("chat_id", self.chat_id.clone())
                    .text("caption", render::shorten(&text, CAPTION_MAX))
                    .part("photo", photo);
                self.client.post(self.url("sendPhoto")).multipart(form)
            }
            None => self
                .client
                .post(self.url("sendMessage"))
                .json(&serde_json::json!({ "chat_id": self.chat_id, "text": render::shorten(&text, TEXT_MAX) })),
        };
        let resp = req.send().await.map_err(|e| transport_error(e, self.timeout))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap_or_default();
        let answer = serde_json::from_slice::<Answer>(&raw).ok();
        if status.is_success() && answer.as_ref().is_none_or(|a| a.ok) {
            let id = answer.and_then(|a| a.result).and_then(|r| r.message_id).map(|i| i.to_string());
            return Ok(Delivery { status: status.as_u16(), remote_id: id });
        }
        let detail = answer
            .as_ref()
            .and_then(|a| a.description.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(&raw[..raw.len().min(2048)]).into_owned());
        let mut e = status_error(status, &headers, &self.token.scrub(&detail));
        if let NotifyError::Retryable { retry_after, .. } = &mut e
            && retry_after.is_none()
        {
            *retry_after = answer.and_then(|a| a.parameters).and_then(|p| p.retry_after).map(Duration::from_secs);
        }
        Err(e)
    }
}
