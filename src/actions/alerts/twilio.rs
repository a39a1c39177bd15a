//! The SMS channel through Twilio's Messages API:
//! `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with form
//! fields `To`, `From` (or `MessagingServiceSid`), `Body` (≤ 320 characters)
//! and `MediaUrl` when the snapshot has a public URL; HTTP Basic auth with the
//! account SID and auth token, neither of which is ever logged. Twilio's error
//! JSON (`code`, `message`) is surfaced in the error.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::config::{ENV_TWILIO_SID, ENV_TWILIO_TOKEN, SmsConfig};
use super::{Alert, Delivery, Notifier, NotifyError, Secret, error_body, render};
use crate::actions::http::{client, status_error, transport_error};
use crate::domain::Level;
use crate::store::Channel;

pub struct TwilioNotifier {
    client: reqwest::Client,
    base_url: String,
    sid: Secret,
    token: Secret,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    to: String,
    media: bool,
    min_level: Level,
    timeout: Duration,
}

impl std::fmt::Debug for TwilioNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioNotifier")
            .field("base_url", &self.base_url)
            .field("sid", &self.sid)
            .field("token", &self.token)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TwilioMessage {
    sid: Option<String>,
}

impl TwilioNotifier {
    pub fn new(cfg: &SmsConfig, timeout: Duration) -> Result<Self, NotifyError> {
        let missing = |what: &str, env: &str| NotifyError::Permanent {
            status: None,
            message: format!("alerts.sms.{what} is not set (nor {env})"),
        };
        Ok(TwilioNotifier {
            client: client(timeout)?,
            base_url: cfg.base_url.trim_end_matches('/').to_string(),
            sid: Secret::resolve(cfg.account_sid.as_ref(), ENV_TWILIO_SID)
                .ok_or_else(|| missing("account_sid", ENV_TWILIO_SID))?,
            token: Secret::resolve(cfg.auth_token.as_ref(), ENV_TWILIO_TOKEN)
                .ok_or_else(|| missing("auth_token", ENV_TWILIO_TOKEN))?,
            from: cfg.from.clone(),
            messaging_service_sid: cfg.messaging_service_sid.clone(),
            to: cfg.to.clone(),
            media: cfg.media,
            min_level: cfg.min_level,
            timeout,
        })
    }

    /// The form fields of one message.
    pub fn form(&self, alert: &Alert) -> Vec<(&'static str, String)> {
        let mut f = vec![("To", self.to.clone())];
        match (&self.from, &self.messaging_service_sid) {
            (_, Some(ms)) => f.push(("MessagingServiceSid", ms.clone())),
            (Some(from), None) => f.push(("From", from.clone())),
            (None, None) => {}
        }
        f.push(("Body", render::sms(alert)));
        if self.media
            && let Some(url) = alert.snapshot.as_ref().and_then(|s| s.url.clone())
        {
            f.push(("MediaUrl", url));
        }
        f
    }
}

#[async_trait]
impl Notifier for TwilioNotifier {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, _snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.sid.expose());
        let resp = self
            .client
            .post(url)
            .basic_auth(self.sid.expose(), Some(self.token.expose()))
            .form(&self.form(alert))
            .send()
            .await
            .map_err(|e| transport_error(e, self.timeout))?;
        let status = resp.status();
        if status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let sid = serde_json::from_slice::<TwilioMessage>(&body).ok().and_then(|m| m.sid);
            return Ok(Delivery { status: status.as_u16(), remote_id: sid });
        }
        let headers = resp.headers().clone();
        let raw = error_body(resp).await;
        let detail = match serde_json::from_str::<TwilioError>(&raw) {
            Ok(TwilioError { code, message }) => format!(
                "twilio error {}: {}",
                code.map_or("?".to_string(), |c| c.to_string()),
                message.unwrap_or_default()
            ),
            Err(_) => raw,
        };
        let e = status_error(status, &headers, &self.sid.scrub(&self.token.scrub(&detail)));
        Err(e)
    }
}
