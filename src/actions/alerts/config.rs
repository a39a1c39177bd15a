//! `[alerts.webhook]`, `[alerts.sms]`, `[alerts.ntfy]`, `[alerts.telegram]`,
//! `[alerts.discord]`, `[alerts.pushover]`, `[alerts.email]`.
//!
//! Credentials are `Secret`s; each falls back to an environment variable so it
//! need not sit in the config file. Base URLs are configurable so tests (and
//! self-hosted servers) can point a channel at any host.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;
use crate::actions::config::is_http_url;
use crate::config_issues::Issues;
use crate::domain::Level;

pub const ENV_WEBHOOK_SECRET: &str = "LAYERWATCH_WEBHOOK_SECRET";
pub const ENV_TWILIO_SID: &str = "TWILIO_ACCOUNT_SID";
pub const ENV_TWILIO_TOKEN: &str = "TWILIO_AUTH_TOKEN";
pub const ENV_NTFY_TOKEN: &str = "NTFY_TOKEN";
pub const ENV_TELEGRAM_TOKEN: &str = "TELEGRAM_BOT_TOKEN";
pub const ENV_DISCORD_WEBHOOK: &str = "DISCORD_WEBHOOK_URL";
pub const ENV_PUSHOVER_TOKEN: &str = "PUSHOVER_TOKEN";
pub const ENV_PUSHOVER_USER: &str = "PUSHOVER_USER";
pub const ENV_SMTP_PASSWORD: &str = "LAYERWATCH_SMTP_PASSWORD";

/// How a webhook carries the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// `snapshot.url` = `{alerts.public_url}/api/snapshots/{id}.jpg` (needs `alerts.public_url`).
    Url,
    /// `snapshot.jpeg_base64` holds the JPEG.
    Embed,
    /// No image.
    None,
}

/// `[alerts.webhook]`: a signed JSON POST (see docs/alerts.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// HMAC-SHA256 key for `X-Layerwatch-Signature`; else `LAYERWATCH_WEBHOOK_SECRET`; else unsigned.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default = "default_snapshot_mode")]
    pub snapshot: SnapshotMode,
    /// Extra headers (e.g. `Authorization`); values are secrets and never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Alerts below this level are not sent on this channel.
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn default_snapshot_mode() -> SnapshotMode {
    SnapshotMode::Embed
}

fn warning() -> Level {
    Level::Warning
}

fn failure() -> Level {
    Level::Failure
}

impl WebhookConfig {
    pub fn validate(&self, p: &str, public_url_set: bool, out: &mut Issues) {
        if !is_http_url(&self.url) {
            out.push(format!("{p}.url"), &self.url, "must be an http:// or https:// URL");
        }
        if self.snapshot == SnapshotMode::Url && !public_url_set {
            out.push(format!("{p}.snapshot"), "url", "needs alerts.public_url (or use \"embed\")");
        }
        for (name, value) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                out.push(format!("{p}.headers"), name, "is not a valid header name");
            } else if reqwest::header::HeaderValue::from_str(value.expose()).is_err() {
                out.push(format!("{p}.headers.{name}"), "***", "is not a valid header value");
            }
        }
        check_level(out, p, self.min_level);
    }
}

/// `[alerts.sms]`: Twilio's Messages API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// Else `TWILIO_ACCOUNT_SID`.
    #[serde(default)]
    pub account_sid: Option<Secret>,
    /// Else `TWILIO_AUTH_TOKEN`.
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// Sender number (E.164), or use `messaging_service_sid`.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Recipient number (E.164, e.g. `+15551234567`).
    pub to: String,
    #[serde(default = "twilio_base")]
    pub base_url: String,
    /// Attach the snapshot as MMS (`MediaUrl`) when `alerts.public_url` is set.
    #[serde(default = "yes")]
    pub media: bool,
    /// SMS wakes people: failures only by default.
    #[serde(default = "failure")]
    pub min_level: Level,
}

fn twilio_base() -> String {
    "https://api.twilio.com".into()
}

fn yes() -> bool {
    true
}

impl SmsConfig {
    pub fn validate(&self, p: &str, _public_url_set: bool, out: &mut Issues) {
        if Secret::resolve(self.account_sid.as_ref(), ENV_TWILIO_SID).is_none() {
            out.push(format!("{p}.account_sid"), "", format!("is required (or set {ENV_TWILIO_SID})"));
        }
        if Secret::resolve(self.auth_token.as_ref(), ENV_TWILIO_TOKEN).is_none() {
            out.push(format!("{p}.auth_token"), "", format!("is required (or set {ENV_TWILIO_TOKEN})"));
        }
        match (&self.from, &self.messaging_service_sid) {
            (None, None) => out.push(format!("{p}.from"), "", "is required (or messaging_service_sid)"),
            (Some(_), Some(_)) => {
                out.push(format!("{p}.messaging_service_sid"), "", "set either from or messaging_service_sid, not both")
            }
            (Some(from), None) if !is_e164(from) => out.push(format!("{p}.from"), from, E164),
            _ => {}
        }
        if !is_e164(&self.to) {
            out.push(format!("{p}.to"), &self.to, E164);
        }
        if !is_http_url(&self.base_url) {
            out.push(format!("{p}.base_url"), &self.base_url, "must be an http:// or https:// URL");
        }
        check_level(out, p, self.min_level);
    }
}

const E164: &str = "must be a phone number in E.164 form, like +15551234567";

fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `[alerts.ntfy]`: push notifications through an ntfy server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    #[serde(default = "ntfy_server")]
    pub server: String,
    pub topic: String,
    /// Access token (`Authorization: Bearer`); else `NTFY_TOKEN`; else none.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Upload the snapshot as an attachment.
    #[serde(default = "yes")]
    pub attach_snapshot: bool,
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn ntfy_server() -> String {
    "https://ntfy.sh".into()
}

impl NtfyConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        if !is_http_url(&self.server) {
            out.push(format!("{p}.server"), &self.server, "must be an http:// or https:// URL");
        }
        let ok = !self.topic.is_empty()
            && self.topic.len() <= 64
            && self.topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            out.push(format!("{p}.topic"), &self.topic, "must be 1-64 characters of A-Z, a-z, 0-9, - and _");
        }
        check_level(out, p, self.min_level);
    }
}

/// `[alerts.telegram]`: a bot posts the snapshot with a caption to a chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// Else `TELEGRAM_BOT_TOKEN`.
    #[serde(default)]
    pub bot_token: Option<Secret>,
    /// Numeric chat id or `@channelname`.
    pub chat_id: String,
    #[serde(default = "telegram_base")]
    pub base_url: String,
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn telegram_base() -> String {
    "https://api.telegram.org".into()
}

impl TelegramConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        if Secret::resolve(self.bot_token.as_ref(), ENV_TELEGRAM_TOKEN).is_none() {
            out.push(format!("{p}.bot_token"), "", format!("is required (or set {ENV_TELEGRAM_TOKEN})"));
        }
        let id = self.chat_id.trim();
        let ok = id.strip_prefix('-').unwrap_or(id).parse::<i64>().is_ok() || (id.starts_with('@') && id.len() > 1);
        if !ok {
            out.push(format!("{p}.chat_id"), &self.chat_id, "must be a numeric chat id or @channelname");
        }
        if !is_http_url(&self.base_url) {
            out.push(format!("{p}.base_url"), &self.base_url, "must be an http:// or https:// URL");
        }
        check_level(out, p, self.min_level);
    }
}

/// `[alerts.discord]`: a Discord channel's incoming webhook posts an embed with the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// `https://discord.com/api/webhooks/{id}/{token}` (it holds the token); else `DISCORD_WEBHOOK_URL`.
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    /// Attach the snapshot to the embed.
    #[serde(default = "yes")]
    pub attach_snapshot: bool,
    #[serde(default = "warning")]
    pub min_level: Level,
}

impl DiscordConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        match Secret::resolve(self.webhook_url.as_ref(), ENV_DISCORD_WEBHOOK) {
            None => out.push(format!("{p}.webhook_url"), "", format!("is required (or set {ENV_DISCORD_WEBHOOK})")),
            Some(u) if !is_http_url(u.expose()) => {
                out.push(format!("{p}.webhook_url"), "***", "must be an http:// or https:// URL")
            }
            Some(_) => {}
        }
        check_level(out, p, self.min_level);
    }
}

/// `[alerts.pushover]`: Pushover's Messages API, with the snapshot attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushoverConfig {
    /// The application's API token; else `PUSHOVER_TOKEN`.
    #[serde(default)]
    pub app_token: Option<Secret>,
    /// The user (or group) key; else `PUSHOVER_USER`.
    #[serde(default)]
    pub user_key: Option<Secret>,
    /// Only this device of the user (default: all).
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default = "pushover_base")]
    pub base_url: String,
    #[serde(default = "yes")]
    pub attach_snapshot: bool,
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn pushover_base() -> String {
    "https://api.pushover.net".into()
}

impl PushoverConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        for (key, value, env) in
            [("app_token", &self.app_token, ENV_PUSHOVER_TOKEN), ("user_key", &self.user_key, ENV_PUSHOVER_USER)]
        {
            match Secret::resolve(value.as_ref(), env) {
                None => out.push(format!("{p}.{key}"), "", format!("is required (or set {env})")),
                Some(s) if s.expose().len() != 30 || !s.expose().bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    out.push(format!("{p}.{key}"), "***", "must be Pushover's 30 letters and digits")
                }
                Some(_) => {}
            }
        }
        if let Some(d) = &self.device
            && (d.is_empty() || d.len() > 25 || !d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            out.push(format!("{p}.device"), d, "must be 1-25 characters of A-Z, a-z, 0-9, _ and -");
        }
        if !is_http_url(&self.base_url) {
            out.push(format!("{p}.base_url"), &self.base_url, "must be an http:// or https:// URL");
        }
        check_level(out, p, self.min_level);
    }
}

/// How the e-mail channel secures its SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this machine (port 25).
    None,
}

/// `[alerts.email]`: e-mail over SMTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (checked against its certificate).
    pub server: String,
    /// Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "starttls")]
    pub security: EmailSecurity,
    #[serde(default)]
    pub username: Option<String>,
    /// Else `LAYERWATCH_SMTP_PASSWORD`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// `Printer <printer@example.com>` or a bare address.
    pub from: String,
    pub to: Vec<String>,
    /// A PEM certificate to trust besides the system's (a home server's own CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "yes")]
    pub attach_snapshot: bool,
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn starttls() -> EmailSecurity {
    EmailSecurity::Starttls
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            EmailSecurity::Starttls => 587,
            EmailSecurity::Tls => 465,
            EmailSecurity::None => 25,
        })
    }

    pub fn validate(&self, p: &str, out: &mut Issues) {
        let host_ok = !self.server.is_empty()
            && self.server.len() <= 253
            && self.server.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
        if !host_ok {
            out.push(format!("{p}.server"), &self.server, "must be a host name or an IP address, without a scheme");
        }
        if self.port == Some(0) {
            out.push(format!("{p}.port"), "0", "must be 1-65535");
        }
        if let Err(e) = self.from.parse::<lettre::message::Mailbox>() {
            out.push(format!("{p}.from"), &self.from, format!("is not an e-mail address ({e})"));
        }
        if self.to.is_empty() {
            out.push(format!("{p}.to"), "[]", "needs at least one address");
        }
        for t in &self.to {
            if let Err(e) = t.parse::<lettre::message::Mailbox>() {
                out.push(format!("{p}.to"), t, format!("is not an e-mail address ({e})"));
            }
        }
        let password = Secret::resolve(self.password.as_ref(), ENV_SMTP_PASSWORD);
        if password.is_some() && self.username.is_none() {
            out.push(format!("{p}.username"), "", "is required with a password");
        }
        let local = matches!(self.server.as_str(), "localhost" | "127.0.0.1" | "::1");
        if self.security == EmailSecurity::None && !local {
            out.push(
                format!("{p}.security"),
                "none",
                "sends mail (and any password) in clear text: only allowed for a relay on localhost",
            );
        }
        if let Some(ca) = &self.ca_file
            && !ca.is_file()
        {
            out.push(format!("{p}.ca_file"), ca.display().to_string(), "is not a readable file");
        }
        check_level(out, p, self.min_level);
    }
}

fn check_level(out: &mut Issues, p: &str, level: Level) {
    if level == Level::Ok {
        out.push(format!("{p}.min_level"), "ok", "must be \"warning\" or \"failure\"");
    }
}
