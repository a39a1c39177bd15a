//! `[actions]` and `[alerts]` sections. The channel subsections live in
//! `alerts::config`.

use serde::{Deserialize, Serialize};

use super::alerts::config::{
    DiscordConfig, EmailConfig, NtfyConfig, PushoverConfig, SmsConfig, TelegramConfig, WebhookConfig,
};
use crate::config_issues::Issues;

/// What the daemon does about an incident of one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Record it in the history only.
    None,
    /// Alert the owner; leave the printer alone.
    Notify,
    /// Pause, then alert.
    Pause,
    /// Pause, retract and lift the nozzle away from the print, then alert.
    PauseAndPark,
    /// Pause (and park), alert; if nobody resumes or acknowledges within
    /// `actions.cool_after_min`, turn the hotend (and optionally the bed) off.
    PauseThenCool,
    /// Cancel the print, then alert.
    Cancel,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Notify => "notify",
            Policy::Pause => "pause",
            Policy::PauseAndPark => "pause_and_park",
            Policy::PauseThenCool => "pause_then_cool",
            Policy::Cancel => "cancel",
        }
    }

    /// True when the policy stops the print (so the incident holds the printer).
    pub fn stops_print(self) -> bool {
        matches!(self, Policy::Pause | Policy::PauseAndPark | Policy::PauseThenCool | Policy::Cancel)
    }

    pub fn alerts(self) -> bool {
        self != Policy::None
    }
}

/// What a stopping policy does when a failure is localised to one object of
/// several (`Evidence::bed_xy_mm` → `gcode::object_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SingleObjectPolicy {
    /// Stop the whole print as the failure policy says.
    #[default]
    Pause,
    /// Cancel only that object and let the others print on; the failure policy
    /// applies when the location is unknown, ambiguous, or it is the last object.
    CancelObject,
}

/// What to do about a health finding (camera frozen, printer stalled…): these
/// never command the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthPolicy {
    None,
    Notify,
}

/// `[actions]`: what to do for a warning and for a failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    pub warning: Policy,
    pub failure: Policy,
    pub health: HealthPolicy,
    /// `pause_then_cool`: minutes to wait for the owner before cooling.
    pub cool_after_min: u32,
    /// `pause_then_cool`: also turn the bed off (the part may come loose when it cools).
    pub cool_bed: bool,
    /// `pause_then_cool`: retract and lift before cooling, so the nozzle does not sit on the part.
    pub park_before_cool: bool,
    /// Send a pause (or cancel) a second time when the first was not confirmed
    /// and the printer still reports printing. Never more than once.
    pub retry_unconfirmed: bool,
    /// An incident that did not stop the print closes after the verdicts have
    /// been `ok` for this long (a later failure opens a new incident).
    pub clear_after_s: u32,
    /// Draw the score, kind, layer and a coloured border on alert snapshots.
    pub annotate_snapshots: bool,
    /// JPEG quality of alert snapshots (1–100).
    pub snapshot_quality: u8,
    /// Longest mute the dashboard may set, in minutes (a mute also ends with the print it was set during).
    pub max_mute_min: u32,
    /// A failure localised to one object of several: `pause` (the failure policy) or
    /// `cancel_object` (cancel that object only; the failure policy when unsure).
    pub on_single_object_failure: SingleObjectPolicy,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            warning: Policy::Notify,
            failure: Policy::PauseAndPark,
            health: HealthPolicy::Notify,
            cool_after_min: 10,
            cool_bed: false,
            park_before_cool: true,
            retry_unconfirmed: true,
            clear_after_s: 120,
            annotate_snapshots: true,
            snapshot_quality: 85,
            max_mute_min: 240,
            on_single_object_failure: SingleObjectPolicy::Pause,
        }
    }
}

impl ActionsConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.cool_after_min"), self.cool_after_min, 1, 1_440);
        out.range(format!("{p}.clear_after_s"), self.clear_after_s, 1, 86_400);
        out.range(format!("{p}.snapshot_quality"), self.snapshot_quality, 1, 100);
        out.range(format!("{p}.max_mute_min"), self.max_mute_min, 1, 1_440);
        if self.warning > self.failure {
            out.push(
                format!("{p}.warning"),
                self.warning.name(),
                format!(
                    "is stronger than {p}.failure ({}); a warning must not do more than a failure",
                    self.failure.name()
                ),
            );
        }
    }
}

/// `[alerts]`: where to tell the owner, and how hard to try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// The dashboard's address as the owner's phone reaches it (e.g.
    /// `https://printer.example.net`): snapshot links are `{public_url}/api/snapshots/{id}.jpg`.
    /// Unset: alerts carry no links (the webhook can embed the image instead).
    pub public_url: Option<String>,
    /// One "resolved" follow-up per incident (resumed, not a failure, cleared).
    pub followup: bool,
    /// Time limit of every request to an alert channel.
    pub request_timeout_ms: u64,
    pub rate_limit: RateLimitConfig,
    pub retry: RetryConfig,
    pub webhook: Option<WebhookConfig>,
    pub sms: Option<SmsConfig>,
    pub ntfy: Option<NtfyConfig>,
    pub telegram: Option<TelegramConfig>,
    pub discord: Option<DiscordConfig>,
    pub pushover: Option<PushoverConfig>,
    pub email: Option<EmailConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            public_url: None,
            followup: true,
            request_timeout_ms: 10_000,
            rate_limit: RateLimitConfig::default(),
            retry: RetryConfig::default(),
            webhook: None,
            sms: None,
            ntfy: None,
            telegram: None,
            discord: None,
            pushover: None,
            email: None,
        }
    }
}

/// `[alerts.rate_limit]`: at most `max` alerts per `window_s` on each channel;
/// the excess is recorded as suppressed and summarised once the window reopens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub max: u32,
    pub window_s: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig { max: 6, window_s: 3_600 }
    }
}

/// `[alerts.retry]`: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Cap of the first retry's random delay; doubles per attempt.
    pub initial_ms: u64,
    /// Largest cap.
    pub max_ms: u64,
    /// A permanent error (400/401/403/404…) is tried this many times in all, then `failed`.
    pub permanent_attempts: u32,
    /// An alert still undelivered after this many hours is `failed` (it is stale).
    pub give_up_after_h: u32,
    /// Longest `Retry-After` honoured; longer values are cut to this.
    pub max_retry_after_s: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_ms: 2_000,
            max_ms: 300_000,
            permanent_attempts: 3,
            give_up_after_h: 24,
            max_retry_after_s: 3_600,
        }
    }
}

impl AlertsConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        if let Some(url) = &self.public_url
            && !is_http_url(url)
        {
            out.push(format!("{p}.public_url"), url, "must be an http:// or https:// URL");
        }
        out.range(format!("{p}.request_timeout_ms"), self.request_timeout_ms, 500, 120_000);
        out.range(format!("{p}.rate_limit.max"), self.rate_limit.max, 1, 10_000);
        out.range(format!("{p}.rate_limit.window_s"), self.rate_limit.window_s, 1, 86_400);
        let r = &self.retry;
        out.range(format!("{p}.retry.initial_ms"), r.initial_ms, 1, 3_600_000);
        out.range(format!("{p}.retry.max_ms"), r.max_ms, 1, 86_400_000);
        if r.max_ms < r.initial_ms {
            out.push(
                format!("{p}.retry.max_ms"),
                r.max_ms,
                format!("must be at least retry.initial_ms ({})", r.initial_ms),
            );
        }
        out.range(format!("{p}.retry.permanent_attempts"), r.permanent_attempts, 1, 100);
        out.range(format!("{p}.retry.give_up_after_h"), r.give_up_after_h, 1, 24 * 30);
        out.range(format!("{p}.retry.max_retry_after_s"), r.max_retry_after_s, 1, 86_400);
        if let Some(w) = &self.webhook {
            w.validate(&format!("{p}.webhook"), self.public_url.is_some(), out);
        }
        if let Some(s) = &self.sms {
            s.validate(&format!("{p}.sms"), self.public_url.is_some(), out);
        }
        if let Some(n) = &self.ntfy {
            n.validate(&format!("{p}.ntfy"), out);
        }
        if let Some(t) = &self.telegram {
            t.validate(&format!("{p}.telegram"), out);
        }
        if let Some(d) = &self.discord {
            d.validate(&format!("{p}.discord"), out);
        }
        if let Some(x) = &self.pushover {
            x.validate(&format!("{p}.pushover"), out);
        }
        if let Some(e) = &self.email {
            e.validate(&format!("{p}.email"), out);
        }
    }

    /// True when at least one channel is configured.
    pub fn any_channel(&self) -> bool {
        self.webhook.is_some()
            || self.sms.is_some()
            || self.ntfy.is_some()
            || self.telegram.is_some()
            || self.discord.is_some()
            || self.pushover.is_some()
            || self.email.is_some()
    }
}

pub(crate) fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}
