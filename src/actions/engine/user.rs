//! Commands from the owner (the dashboard): pause, resume, cancel, not a
//! failure, acknowledge, mute. They run in order with the daemon's own
//! actions and land in the same audit log, with the user's name.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::commands::{Request, done};
use super::{Engine, Mute};
use crate::actions::ActionError;
use crate::domain::{Evidence, Level};
use crate::store::{
    Actor, AlertKind, AuditCommand, CloseReason, CommandResult, FeedbackEntry, FeedbackKind, IncidentId,
};

/// What the owner asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum UserCommand {
    Pause,
    /// Resume the print; closes the incident that paused it (`resumed`).
    Resume,
    /// Cancel the print; closes the open incident (`cancelled`).
    Cancel,
    /// The incident was a false alarm: closes it (`not_a_failure`), records the
    /// feedback, and resumes the print when `resume` is set.
    NotAFailure {
        incident: IncidentId,
        resume: bool,
    },
    /// "I have seen it": stops a pending `pause_then_cool` cool-down.
    Acknowledge {
        incident: IncidentId,
    },
    /// No pauses and no alerts for `minutes` (1 to `actions.max_mute_min`), ending early
    /// with the current print; for the rest of the current print when unset.
    Mute {
        minutes: Option<u32>,
    },
    Unmute,
}

/// How a user command ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserOutcome {
    /// The printer command's result, when one was sent.
    pub result: Option<CommandResult>,
    pub error: Option<String>,
    /// The incident this command closed, if any.
    pub closed_incident: Option<IncidentId>,
    /// One line for the dashboard.
    pub message: String,
}

impl UserOutcome {
    fn note(message: impl Into<String>) -> Self {
        UserOutcome { result: None, error: None, closed_incident: None, message: message.into() }
    }
}

impl Engine {
    pub(super) async fn on_user(&mut self, cmd: UserCommand, who: Option<String>) -> Result<UserOutcome, ActionError> {
        let now = self.clock.now();
        let open_id = self.incident.as_ref().and_then(|i| i.id);
        let req = |reason: String, incident: Option<IncidentId>| Request {
            actor: Actor::User,
            who: who.clone(),
            reason,
            incident,
        };
        let feedback = |kind, incident, until, print_id, note: String| FeedbackEntry {
            at: now,
            kind,
            incident_id: incident,
            who: who.clone(),
            until,
            print_id,
            note,
        };
        match cmd {
            UserCommand::Pause => {
                self.user_printer(AuditCommand::Pause, &req("paused from the dashboard".into(), open_id), None).await
            }
            UserCommand::Resume => {
                self.user_printer(
                    AuditCommand::Resume,
                    &req("resumed from the dashboard".into(), open_id),
                    Some(CloseReason::Resumed),
                )
                .await
            }
            UserCommand::Cancel => {
                self.user_printer(
                    AuditCommand::Cancel,
                    &req("cancelled from the dashboard".into(), open_id),
                    Some(CloseReason::Cancelled),
                )
                .await
            }
            UserCommand::NotAFailure { incident, resume } => {
                let row = self.store.incident(incident).await?.ok_or(ActionError::UnknownIncident(incident))?;
                if !row.is_open() {
                    let why = row.closed_reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    return Err(ActionError::Conflict(format!(
                        "incident {incident} is already closed{why}: nothing to mark as not a failure"
                    )));
                }
                self.store.set_incident_feedback(incident, "not_a_failure").await?;
                self.store
                    .add_feedback(feedback(
                        FeedbackKind::NotAFailure,
                        Some(incident),
                        None,
                        row.print_id,
                        String::new(),
                    ))
                    .await?;
                let mut out = if resume && self.printer.is_some() {
                    let r = req(format!("incident {incident} is not a failure"), Some(incident));
                    self.user_printer(AuditCommand::Resume, &r, None).await?
                } else {
                    UserOutcome::note("recorded as not a failure")
                };
                if let Some(inc) = self.incident.clone().filter(|i| i.id == Some(incident)) {
                    self.close(inc, CloseReason::NotAFailure).await?;
                    out.closed_incident = Some(incident);
                } else if row.is_open() && self.store.close_incident(incident, now, CloseReason::NotAFailure).await? {
                    self.health.retain(|_, id| *id != incident);
                    out.closed_incident = Some(incident);
                }
                Ok(out)
            }
            UserCommand::Acknowledge { incident } => {
                self.store.incident(incident).await?.ok_or(ActionError::UnknownIncident(incident))?;
                self.store
                    .add_feedback(feedback(FeedbackKind::Acknowledge, Some(incident), None, None, String::new()))
                    .await?;
                let mut msg = "acknowledged".to_string();
                if self.cool_due.is_some_and(|(id, _)| id == incident) {
                    self.cool_due = None;
                    self.store.set_cool_due(incident, None).await?;
                    let by = who.as_deref().unwrap_or("owner");
                    self.store
                        .add_incident_action(incident, &format!("cool-down cancelled: acknowledged by {by}"))
                        .await?;
                    msg.push_str("; cool-down cancelled");
                }
                Ok(UserOutcome::note(msg))
            }
            UserCommand::Mute { minutes } => {
                let print = self.print.as_ref().map(|p| p.id);
                let max = self.cfg.max_mute_min;
                if let Some(m) = minutes
                    && (m == 0 || m > max)
                {
                    return Err(ActionError::Invalid(format!(
                        "minutes = {m}: give 1 to {max} minutes (actions.max_mute_min), \
                         or no minutes to mute for the rest of this print"
                    )));
                }
                let until = minutes.map(|m| now.add(Duration::from_secs(u64::from(m) * 60)));
                if until.is_none() && print.is_none() {
                    return Err(ActionError::Invalid(
                        "nothing is printing: give a number of minutes to mute".into(),
                    ));
                }
                self.store.add_feedback(feedback(FeedbackKind::Mute, None, until, print, String::new())).await?;
                self.set_mute(Some(Mute { since: now, until, print, who: who.clone() }));
                let words = match until {
                    Some(t) if print.is_some() => {
                        format!("muted until {} or the end of this print", crate::actions::alerts::render::clock_time(t))
                    }
                    Some(t) => format!("muted until {}", crate::actions::alerts::render::clock_time(t)),
                    None => "muted for the rest of this print".to_string(),
                };
                tracing::warn!(?until, ?print, who = ?who, "pauses and alerts muted");
                if print.is_some() {
                    // Muting switches the monitor off for this print: the owner hears about it.
                    let by = who.as_deref().unwrap_or("the dashboard");
                    let mut alert = self.alert(AlertKind::Muted, Level::Warning, None, now);
                    alert.note = format!("Pauses and alerts {words} (by {by}). Failures are still watched but not acted on.");
                    alert.print = self.print_info(&Evidence::default());
                    self.outbox.enqueue(&alert).await?;
                }
                Ok(UserOutcome::note(words))
            }
            UserCommand::Unmute => {
                self.store.add_feedback(feedback(FeedbackKind::Unmute, None, None, None, String::new())).await?;
                self.set_mute(None);
                tracing::info!(who = ?who, "mute lifted");
                Ok(UserOutcome::note("unmuted"))
            }
        }
    }

    /// Sends a user's printer command; on success closes the open incident with `close`.
    async fn user_printer(
        &mut self,
        cmd: AuditCommand,
        req: &Request,
        close: Option<CloseReason>,
    ) -> Result<UserOutcome, ActionError> {
        let (result, error) = self.command(cmd, req, 1).await?;
        let mut out = UserOutcome {
            result: Some(result),
            error: error.clone(),
            closed_incident: None,
            message: match &error {
                None => format!("{cmd}: {result}"),
                Some(e) => format!("{cmd}: {result}: {e}"),
            },
        };
        if done(result)
            && let Some(reason) = close
            && let Some(inc) = self.incident.clone()
        {
            out.closed_incident = inc.id;
            self.close(inc, reason).await?;
        }
        Ok(out)
    }
}
