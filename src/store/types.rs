//! The persistent vocabulary: closed enums stored as lower-case text, and ids.
//!
//! Every enum here round-trips through its `as_str`/`FromStr` text form, which
//! is what the database holds and what the JSON API shows. Adding a variant is
//! additive; renaming one needs a migration.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

use crate::domain::{FailureKind, GeometryKind, HealthFinding, Level};

/// Declares a closed enum with a snake_case text form used in SQL and JSON.
macro_rules! text_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, UnknownVariant> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(UnknownVariant { kind: stringify!($name), value: s.to_string() }),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                v.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

/// A text value that is not one of an enum's variants (a database written by a
/// newer build, or hand-edited).
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

text_enum! {
    /// Why an incident was opened: a failure class from the model, or a
    /// model-free health finding.
    pub enum IncidentCause {
        Spaghetti = "spaghetti",
        Stringing = "stringing",
        Surface = "surface",
        Other = "other",
        CameraFrozen = "camera_frozen",
        CameraDark = "camera_dark",
        CameraSilent = "camera_silent",
        PrinterStalled = "printer_stalled",
        ActivityAfterEnd = "activity_after_end",
        MissingMaterial = "missing_material",
        GrowthStopped = "growth_stopped",
        SilhouetteOffset = "silhouette_offset",
    }
}

impl IncidentCause {
    pub fn from_failure(kind: FailureKind) -> Self {
        match kind {
            FailureKind::Spaghetti => IncidentCause::Spaghetti,
            FailureKind::Stringing => IncidentCause::Stringing,
            FailureKind::Surface => IncidentCause::Surface,
            FailureKind::Other => IncidentCause::Other,
        }
    }

    /// The cause of a verdict: its geometry finding's kind when the geometry checks called it, else its failure kind.
    pub fn from_verdict(kind: Option<FailureKind>, geometry: Option<&crate::domain::GeometryFinding>) -> Self {
        match geometry.map(|g| g.kind) {
            Some(GeometryKind::MissingMaterial) => IncidentCause::MissingMaterial,
            Some(GeometryKind::GrowthStopped) => IncidentCause::GrowthStopped,
            Some(GeometryKind::SilhouetteOffset) => IncidentCause::SilhouetteOffset,
            None => IncidentCause::from_failure(kind.unwrap_or(FailureKind::Other)),
        }
    }

    /// The cause a health finding reports; `None` for `Cleared`.
    pub fn from_health(f: &HealthFinding) -> Option<Self> {
        Some(match f {
            HealthFinding::CameraFrozen { .. } => IncidentCause::CameraFrozen,
            HealthFinding::CameraDark { .. } => IncidentCause::CameraDark,
            HealthFinding::CameraSilent { .. } => IncidentCause::CameraSilent,
            HealthFinding::PrinterStalled { .. } => IncidentCause::PrinterStalled,
            HealthFinding::ActivityAfterEnd { .. } => IncidentCause::ActivityAfterEnd,
            HealthFinding::Cleared { .. } | HealthFinding::Muted { .. } => return None,
        })
    }

    /// True for causes found without the model (camera and printer health).
    pub fn is_health(self) -> bool {
        !matches!(
            self,
            IncidentCause::Spaghetti
                | IncidentCause::Stringing
                | IncidentCause::Surface
                | IncidentCause::Other
                | IncidentCause::MissingMaterial
                | IncidentCause::GrowthStopped
                | IncidentCause::SilhouetteOffset
        )
    }
}

text_enum! {
    /// Severity as stored (mirrors `domain::Level`).
    pub enum StoredLevel {
        Ok = "ok",
        Warning = "warning",
        Failure = "failure",
    }
}

impl From<Level> for StoredLevel {
    fn from(l: Level) -> Self {
        match l {
            Level::Ok => StoredLevel::Ok,
            Level::Warning => StoredLevel::Warning,
            Level::Failure => StoredLevel::Failure,
        }
    }
}

impl From<StoredLevel> for Level {
    fn from(l: StoredLevel) -> Self {
        match l {
            StoredLevel::Ok => Level::Ok,
            StoredLevel::Warning => Level::Warning,
            StoredLevel::Failure => Level::Failure,
        }
    }
}

text_enum! {
    /// Why an incident was closed.
    pub enum CloseReason {
        /// The owner (or someone at the printer) resumed the print.
        Resumed = "resumed",
        /// The owner said it was not a failure.
        NotAFailure = "not_a_failure",
        /// The print was cancelled.
        Cancelled = "cancelled",
        /// The print ended (finished, or another print started).
        PrintEnded = "print_ended",
        /// The scores went back to normal (incidents that did not hold the printer).
        Cleared = "cleared",
        /// A warning became a failure, which opened its own incident.
        Escalated = "escalated",
        /// Left open by a daemon that stopped without closing it.
        CrashRecovery = "crash_recovery",
    }
}

text_enum! {
    /// How a print ended.
    pub enum PrintOutcome {
        Finished = "finished",
        Cancelled = "cancelled",
        Error = "error",
        /// Another print started, or the printer went idle without saying why.
        Interrupted = "interrupted",
    }
}

text_enum! {
    /// Who asked for a printer command.
    pub enum Actor {
        Daemon = "daemon",
        User = "user",
    }
}

text_enum! {
    /// A printer command as recorded in the audit log.
    pub enum AuditCommand {
        Pause = "pause",
        Resume = "resume",
        Cancel = "cancel",
        Park = "park",
        CoolDown = "cool_down",
        /// Host mode: start streaming a file (`run --print`).
        Print = "print",
        /// The printer's light, switched for the camera (`[printer.light]`).
        LightOn = "light_on",
        LightOff = "light_off",
        /// One object of the print cancelled, the others go on (`Request::object` names it).
        CancelObject = "cancel_object",
    }
}

text_enum! {
    /// How a printer command ended.
    pub enum CommandResult {
        Confirmed = "confirmed",
        AlreadyThere = "already_there",
        /// Sent, but the printer's state did not confirm it in time.
        Unconfirmed = "unconfirmed",
        /// Refused or not sent (not connected, invalid state, link error).
        Failed = "failed",
    }
}

text_enum! {
    /// An alert channel.
    pub enum Channel {
        Webhook = "webhook",
        Sms = "sms",
        Ntfy = "ntfy",
        Telegram = "telegram",
        Discord = "discord",
        Pushover = "pushover",
        Email = "email",
    }
}

text_enum! {
    /// What an alert is about.
    pub enum AlertKind {
        /// An incident opened.
        Incident = "incident",
        /// An incident was resolved (resumed, not a failure, cleared): the optional follow-up.
        Resolved = "resolved",
        /// "N alerts suppressed" after a rate-limit window.
        Summary = "summary",
        /// A test message from `layerwatch alerts test`.
        Test = "test",
        /// The owner muted pauses and alerts while a print runs.
        Muted = "muted",
    }
}

text_enum! {
    /// Delivery state of one alert on one channel.
    pub enum OutboxState {
        /// Waiting for its first or next attempt.
        Pending = "pending",
        /// An attempt is in flight (found at start-up: the daemon died mid-send; retried).
        Sending = "sending",
        /// The channel answered 2xx.
        Sent = "sent",
        /// Given up: permanent errors, or too old. Shown in health and the dashboard.
        Failed = "failed",
        /// Not sent: rate limit or mute; counted in the next summary.
        Suppressed = "suppressed",
    }
}

text_enum! {
    /// Owner feedback about an incident or the monitor.
    pub enum FeedbackKind {
        NotAFailure = "not_a_failure",
        Mute = "mute",
        Unmute = "unmute",
        Acknowledge = "acknowledge",
        /// The owner reset the camera's memory of normal frames.
        ForgetCamera = "forget_camera",
    }
}

/// Row id of a print.
pub type PrintId = i64;
/// Row id of an incident.
pub type IncidentId = i64;
/// Row id of an outbox entry (one alert on one channel).
pub type OutboxId = i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for c in IncidentCause::ALL {
            assert_eq!(c.as_str().parse::<IncidentCause>().unwrap(), *c);
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{}\"", c.as_str()));
        }
        for s in OutboxState::ALL {
            assert_eq!(s.as_str().parse::<OutboxState>().unwrap(), *s);
        }
        let e = "exploded".parse::<CloseReason>().unwrap_err();
        assert_eq!(e.to_string(), "unknown CloseReason \"exploded\"");
    }
}
