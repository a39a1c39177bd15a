//! Commands from the owner (the dashboard, `run --print`): pause, resume,
//! cancel, not a failure, acknowledge, mute, forget the camera, start a print.
//! They run in order with the daemon's own actions and land in the same audit
//! log, with the user's name. The workflow behind each one lives here: "not a
//! failure" closes the incident, records the feedback, saves the frames to the
//! feedback dataset and tells the decider; the web only asks.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::commands::{Request, done};
use super::{Engine, Mute};
use crate::actions::ActionError;
use crate::actions::feedback_set::{self, DatasetOutcome, Image};
use crate::decision::Feedback;
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
    /// Forget this camera's memory of normal frames (`decision::CameraMemory`),
    /// e.g. after moving the camera or changing the light.
    ForgetCamera,
    /// Host mode: stream `file` to the printer (`run --print`), audited as `print`.
    StartPrint {
        file: PathBuf,
    },
    /// Cancel one object of the print (its name in the file); the others go on.
    /// Audited as `cancel_object`; the open incident stays open.
    CancelObject {
        name: String,
    },
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
    /// "Not a failure": what went into the feedback dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetOutcome>,
}

impl UserOutcome {
    pub fn note(message: impl Into<String>) -> Self {
        UserOutcome { result: None, error: None, closed_incident: None, message: message.into(), dataset: None }
    }
}

/// What the decider must learn once `cmd` has been carried out as `out`.
fn decider_feedback(cmd: &UserCommand, out: &UserOutcome) -> Option<Feedback> {
    let carried_out = out.result.is_none_or(done);
    match cmd {
        UserCommand::Resume if carried_out => Some(Feedback::Resumed),
        UserCommand::NotAFailure { .. } => Some(Feedback::NotAFailure),
        UserCommand::Mute { minutes: None } => Some(Feedback::MuteForPrint),
        UserCommand::ForgetCamera => Some(Feedback::ForgetCamera),
        _ => None,
    }
}

impl Engine {
    /// Carries out `cmd`, then tells the decider what it implies.
    pub(super) async fn on_user(&mut self, cmd: UserCommand, who: Option<String>) -> Result<UserOutcome, ActionError> {
        let out = self.run_user(cmd.clone(), who).await?;
        if let (Some(f), Some(decider)) = (decider_feedback(&cmd, &out), &self.decider) {
            decider.send(f);
        }
        Ok(out)
    }

    async fn run_user(&mut self, cmd: UserCommand, who: Option<String>) -> Result<UserOutcome, ActionError> {
        let now = self.clock.now();
        let open_id = self.incident.as_ref().and_then(|i| i.id);
        let req = |reason: String, incident: Option<IncidentId>| Request {
            actor: Actor::User,
            who: who.clone(),
            reason,
            incident,
            file: None,
            object: None,
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
                out.dataset = Some(self.save_not_a_failure(incident, &row).await);
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
            UserCommand::ForgetCamera => {
                let print = self.print.as_ref().map(|p| p.id);
                self.store.add_feedback(feedback(FeedbackKind::ForgetCamera, None, None, print, String::new())).await?;
                tracing::info!(who = ?who, "the camera's memory of normal frames is forgotten");
                Ok(UserOutcome::note("this camera's memory of normal frames is forgotten"))
            }
            UserCommand::CancelObject { name } => {
                let name = name.trim().to_string();
                if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
                    return Err(ActionError::Invalid(
                        "object name: give the object's name as the file labels it (1 to 256 characters)".into(),
                    ));
                }
                let mut r = req(format!("cancel object {name:?}"), open_id);
                r.object = Some(name);
                self.user_printer(AuditCommand::CancelObject, &r, None).await
            }
            UserCommand::StartPrint { file } => {
                let mut r = req(format!("print {}", file.display()), None);
                r.file = Some(file);
                self.user_printer(AuditCommand::Print, &r, None).await
            }
        }
    }

    /// The incident's snapshot and its flagged frames, labelled normal, into the feedback dataset.
    async fn save_not_a_failure(&self, incident: IncidentId, row: &crate::store::IncidentRow) -> DatasetOutcome {
        let mut images = Vec::new();
        if let Some(sid) = row.snapshot_id.as_deref().and_then(|s| crate::store::SnapshotId::parse(s).ok()) {
            match self.store.read_snapshot(&sid).await {
                Ok(Some(jpeg)) => images.push(Image {
                    name: format!("incident{incident}-snapshot.jpg"),
                    captured_at: row.opened_at,
                    jpeg: jpeg.into(),
                }),
                Ok(None) => tracing::warn!(incident, snapshot = %sid, "the incident's snapshot is gone"),
                Err(e) => tracing::warn!(incident, error = %e, "cannot read the incident's snapshot"),
            }
        }
        images.extend(self.flagged.of_incident(incident));
        feedback_set::save(self.data_dir.as_deref(), incident, images).await
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
            dataset: None,
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
