//! Incidents: opening one per problem (never a second while one is open),
//! carrying out the policy for its severity, the annotated snapshot, the alert,
//! the cool-down timer, and closing with an optional follow-up.

use std::time::Duration;

use super::commands::{Request, done};
use super::{Engine, OpenIncident};
use crate::actions::ActionError;
use crate::actions::alerts::snapshot::{Annotation, annotate, decode, encode_jpeg};
use crate::actions::alerts::{
    ActionReport, ActionStep, Alert, PrintInfo, SnapshotRef, TimelapseRef, render, snapshot_url, timelapse_url,
};
use crate::actions::config::{HealthPolicy, Policy, SingleObjectPolicy};
use crate::domain::{Evidence, Frame, FrameImage, HealthFinding, Level, Timestamp, Verdict};
use crate::store::{
    Actor, AlertKind, AuditCommand, CloseReason, IncidentCause, IncidentId, IncidentRow, NewIncident, SnapshotId,
};

/// What opened an incident.
pub(super) struct Problem {
    pub level: Level,
    pub cause: IncidentCause,
    pub confidence: f32,
    pub evidence: Evidence,
    pub policy: Policy,
    pub frame: Option<Frame>,
}

impl Engine {
    pub(super) async fn on_verdict(&mut self, v: Verdict, frame: Option<Frame>) -> Result<(), ActionError> {
        let print_id = self.print.as_ref().map(|p| p.id);
        if let Some(point) = self.sampler.push(print_id, v.at, v.level, v.evidence.smoothed, v.evidence.layer)
            && let Err(e) = self.store.append_timeline(point).await
        {
            // History must never stand between a failure and the pause.
            tracing::error!(error = %e, "cannot write the verdict timeline");
        }
        if v.level == Level::Ok {
            let since = *self.ok_since.get_or_insert(v.at);
            let clear_after_ms = i64::from(self.cfg.clear_after_s) * 1000;
            if let Some(inc) = &self.incident
                && !inc.holds_printer
                && v.at.millis() - since.millis() >= clear_after_ms
            {
                let inc = inc.clone();
                self.close(inc, CloseReason::Cleared).await?;
            }
            return Ok(());
        }
        self.ok_since = None;
        let kept = frame.clone();
        let r = self.on_problem(v, frame).await;
        if let Some(f) = &kept {
            self.flagged.push(f, self.incident.as_ref().and_then(|i| i.id));
        }
        r
    }

    /// A verdict above `Ok`: raises the open incident, escalates it, or opens one.
    async fn on_problem(&mut self, v: Verdict, frame: Option<Frame>) -> Result<(), ActionError> {
        let cause = IncidentCause::from_verdict(v.kind, v.evidence.geometry.as_ref());
        if let Some(inc) = &self.incident {
            if inc.level >= v.level {
                // Still the same incident: remember the worst, never act twice.
                if let Some(id) = inc.id
                    && v.confidence > inc.max_confidence
                {
                    self.store.raise_incident(id, v.confidence, v.evidence.layer).await?;
                    if let Some(inc) = &mut self.incident {
                        inc.max_confidence = v.confidence;
                    }
                }
                return Ok(());
            }
            let inc = inc.clone();
            self.close(inc, CloseReason::Escalated).await?;
        }
        let policy = if v.level == Level::Failure { self.cfg.failure } else { self.cfg.warning };
        let problem = Problem { level: v.level, cause, confidence: v.confidence, evidence: v.evidence, policy, frame };
        self.open(problem).await
    }

    pub(super) async fn on_health(&mut self, f: HealthFinding) -> Result<(), ActionError> {
        if let HealthFinding::Cleared { what, .. } = &f {
            let cause = what.parse::<IncidentCause>().ok().filter(|c| c.is_health());
            let Some(cause) = cause else {
                tracing::warn!(what = %what, "health finding cleared for an unknown cause");
                return Ok(());
            };
            if let Some(id) = self.health.remove(&cause)
                && self.store.close_incident(id, self.clock.now(), CloseReason::Cleared).await?
            {
                tracing::info!(incident = id, %cause, "health problem cleared");
            }
            return Ok(());
        }
        let Some(cause) = IncidentCause::from_health(&f) else { return Ok(()) };
        if self.health.contains_key(&cause) {
            return Ok(());
        }
        let now = self.clock.now();
        let job = self.status.borrow().state.job().cloned();
        let evidence = Evidence {
            layer: job.as_ref().and_then(|j| j.layer),
            layer_count: job.as_ref().and_then(|j| j.layer_count),
            progress: job.as_ref().and_then(|j| j.progress),
            note: describe(&f, now),
            ..Evidence::default()
        };
        let id = self
            .store
            .open_incident(NewIncident {
                print_id: self.print.as_ref().map(|p| p.id),
                opened_at: now,
                level: Level::Warning,
                cause,
                confidence: 1.0,
                layer: evidence.layer,
                layer_count: evidence.layer_count,
                snapshot_id: None,
                holds_printer: false,
                note: evidence.note.clone(),
            })
            .await?;
        self.health.insert(cause, id);
        tracing::warn!(incident = id, %cause, note = %evidence.note, "health problem");
        if self.cfg.health == HealthPolicy::Notify && !self.is_muted(now) {
            let mut alert = self.alert(AlertKind::Incident, Level::Warning, Some(id), now);
            alert.cause = Some(cause);
            alert.note = evidence.note.clone();
            alert.print = self.print_info(&evidence);
            self.outbox.enqueue(&alert).await?;
            self.store.add_incident_action(id, "alerted").await?;
        }
        Ok(())
    }

    /// Opens an incident and carries out `policy`: the incident is recorded
    /// (holding the printer) before any command, so a crash mid-pause never
    /// leads to a second pause.
    async fn open(&mut self, p: Problem) -> Result<(), ActionError> {
        let now = self.clock.now();
        let muted = self.is_muted(now);
        let stops = p.policy.stops_print() && !muted && self.printer.is_some();
        let new = NewIncident {
            print_id: self.print.as_ref().map(|x| x.id),
            opened_at: now,
            level: p.level,
            cause: p.cause,
            confidence: p.confidence,
            layer: p.evidence.layer,
            layer_count: p.evidence.layer_count,
            snapshot_id: None,
            holds_printer: stops,
            note: p.evidence.note.clone(),
        };
        let id = match self.store.open_incident(new).await {
            Ok(id) => Some(id),
            Err(e) => {
                // Stopping a failing print matters more than its history.
                tracing::error!(error = %e, "cannot record the incident; acting on it anyway");
                None
            }
        };
        tracing::warn!(incident = ?id, level = ?p.level, cause = %p.cause, confidence = p.confidence,
            policy = p.policy.name(), muted, note = %p.evidence.note, "incident opened");
        self.incident = Some(OpenIncident {
            id,
            level: p.level,
            max_confidence: p.confidence,
            holds_printer: stops,
            seen_paused: false,
            alerted: false,
        });

        let report = if muted {
            ActionReport { policy: p.policy, steps: vec![], printer_stopped: false, summary: "Muted: no action".into() }
        } else {
            self.carry_out(id, &p, now).await?
        };
        if let Some(id) = id {
            for s in &report.steps {
                self.store.add_incident_action(id, &step_text(s)).await?;
            }
            if !report.printer_stopped && stops {
                self.store.set_holds_printer(id, false).await?;
            }
        }
        if let Some(inc) = &mut self.incident {
            inc.holds_printer = stops && report.printer_stopped;
            inc.seen_paused = inc.holds_printer;
        }
        let snapshot = self.snapshot(p.frame.as_ref(), &p, id, now).await;
        if muted || !p.policy.alerts() {
            return Ok(());
        }
        let mut alert = self.alert(AlertKind::Incident, p.level, id, now);
        alert.cause = Some(p.cause);
        alert.confidence = Some(p.confidence);
        alert.note = p.evidence.note.clone();
        alert.print = self.print_info(&p.evidence);
        alert.action = Some(report);
        alert.snapshot = snapshot.map(|s| SnapshotRef {
            url: self.public_url.as_deref().map(|u| snapshot_url(u, s.as_str())),
            id: s.as_str().to_string(),
            jpeg_base64: None,
        });
        self.outbox.enqueue(&alert).await?;
        if let Some(inc) = &mut self.incident {
            inc.alerted = true;
        }
        Ok(())
    }

    /// Runs the policy's printer commands and says what came of them.
    async fn carry_out(
        &mut self,
        id: Option<IncidentId>,
        p: &Problem,
        now: Timestamp,
    ) -> Result<ActionReport, ActionError> {
        let report = |steps: Vec<ActionStep>, stopped: bool, summary: String| ActionReport {
            policy: p.policy,
            steps,
            printer_stopped: stopped,
            summary,
        };
        if !p.policy.stops_print() {
            let summary = if p.policy == Policy::None { "Recorded only" } else { "Printer left running" };
            return Ok(report(vec![], false, summary.into()));
        }
        if self.printer.is_none() {
            return Ok(report(vec![], false, "No printer link configured: print NOT stopped".into()));
        }
        let req = Request {
            actor: Actor::Daemon,
            who: None,
            reason: format!(
                "incident {}: {} {} {:.2}{}",
                id.map_or("?".into(), |i| i.to_string()),
                p.level.name(),
                p.cause,
                p.confidence,
                p.evidence.layer.map(|l| format!(" at layer {}", l + 1)).unwrap_or_default()
            ),
            incident: id,
            file: None,
            object: None,
        };
        let mut steps = Vec::new();
        if p.policy != Policy::Cancel
            && self.cfg.on_single_object_failure == SingleObjectPolicy::CancelObject
            && let Some(object) = self.localised_object(p).await
        {
            let mut r = req.clone();
            r.reason = format!("{}; localised to object {object:?}", req.reason);
            r.object = Some(object.clone());
            let s = self.step(AuditCommand::CancelObject, &r).await;
            if done(s.result) {
                let summary = format!("Cancelled object {object:?} only; the other objects print on");
                return Ok(report(vec![s], false, summary));
            }
            tracing::warn!(object = %object, error = ?s.error, "cancelling the object failed: stopping the print");
            steps.push(s);
        }
        let stop_cmd = if p.policy == Policy::Cancel { AuditCommand::Cancel } else { AuditCommand::Pause };
        let first = self.stop_command(stop_cmd, &req).await;
        let stopped = done(first.result);
        steps.push(first.clone());
        if !stopped {
            let verb = if stop_cmd == AuditCommand::Cancel { "CANCEL" } else { "PAUSE" };
            let how = if first.result == crate::store::CommandResult::Unconfirmed { "NOT CONFIRMED" } else { "FAILED" };
            let summary = format!(
                "{verb} {how} after {} attempt{}: {}; the print may still be running",
                first.attempts,
                if first.attempts == 1 { "" } else { "s" },
                first.error.as_deref().unwrap_or("unknown error")
            );
            return Ok(report(steps, false, summary));
        }
        if p.policy == Policy::Cancel {
            return Ok(report(steps, true, "Print cancelled".into()));
        }
        let park = p.policy == Policy::PauseAndPark || (p.policy == Policy::PauseThenCool && self.cfg.park_before_cool);
        let mut summary = "Paused".to_string();
        if park {
            let s = self.step(AuditCommand::Park, &req).await;
            summary = if done(s.result) {
                "Paused and parked".into()
            } else {
                format!("Paused; PARK FAILED: {}", s.error.as_deref().unwrap_or("unknown error"))
            };
            steps.push(s);
        }
        if p.policy == Policy::PauseThenCool {
            let due = now.add(Duration::from_secs(u64::from(self.cfg.cool_after_min) * 60));
            if let Some(id) = id {
                self.store.set_cool_due(id, Some(due)).await?;
                self.cool_due = Some((id, due));
            }
            summary.push_str(&format!(
                "; heaters turn off at {} unless you resume or acknowledge",
                render::clock_time(due)
            ));
        }
        Ok(report(steps, true, summary))
    }

    /// The one object (its name) a failure is localised to, when cancelling it
    /// alone is safe: a bed location, the printing file's analysis, an object
    /// there without ambiguity (`gcode::object_at`), and other objects still to print.
    async fn localised_object(&self, p: &Problem) -> Option<String> {
        let xy = p.evidence.bed_xy_mm?;
        let printer = self.printer.as_ref()?;
        let job = self.status.borrow().state.job().cloned()?;
        let layer = p.evidence.layer.or(job.layer)?;
        let fa = printer.analysis().borrow().clone().filter(|fa| fa.matches(&job));
        let Some(fa) = fa else {
            tracing::info!("failure has a bed location but the file's objects are not known: stopping the print");
            return None;
        };
        let Some(index) = crate::gcode::object_at(&fa.analysis, xy, layer) else {
            let why = "no single object at the failure's location: stopping the print";
            tracing::info!(x = xy[0], y = xy[1], layer, "{why}");
            return None;
        };
        let name = fa.analysis.objects.get(index as usize)?.name.clone();
        let cancelled = printer.cancelled_objects().await;
        if crate::printer::objects::would_be_last(&fa.analysis, index, Some(layer), &cancelled) {
            tracing::info!(object = %name, "the failed object is the last one printing: stopping the print");
            return None;
        }
        Some(name)
    }

    /// Alerts for an incident a crashed run opened (and maybe paused for) but
    /// never alerted: the owner must hear about a paused printer.
    pub(super) async fn alert_adopted(&mut self, row: &IncidentRow) -> Result<(), ActionError> {
        let policy = if row.level == Level::Failure { self.cfg.failure } else { self.cfg.warning };
        let done = if row.actions.is_empty() { "nothing confirmed" } else { row.actions.as_str() };
        let mut alert = self.alert(AlertKind::Incident, row.level, Some(row.id), row.opened_at);
        alert.cause = Some(row.cause);
        alert.confidence = Some(row.confidence);
        alert.note = row.note.clone();
        alert.print = self.print.as_ref().map(|p| PrintInfo {
            file: p.file.clone(),
            layer: row.layer,
            layer_count: row.layer_count,
            progress: None,
        });
        alert.action = Some(ActionReport {
            policy,
            steps: vec![],
            printer_stopped: row.holds_printer,
            summary: format!("layerwatch restarted while handling this incident; done: {done}"),
        });
        alert.snapshot = row.snapshot_id.as_ref().map(|s| SnapshotRef {
            url: self.public_url.as_deref().map(|u| snapshot_url(u, s)),
            id: s.clone(),
            jpeg_base64: None,
        });
        tracing::warn!(incident = row.id, "alerting for an incident the previous run did not alert");
        self.outbox.enqueue(&alert).await?;
        Ok(())
    }

    /// Nobody resumed or acknowledged in time: cool the printer down.
    pub(super) async fn on_cool_due(&mut self) -> Result<(), ActionError> {
        let Some((id, _)) = self.cool_due.take() else { return Ok(()) };
        self.store.set_cool_due(id, None).await?;
        let still_held = self.incident.as_ref().is_some_and(|i| i.id == Some(id) && i.holds_printer);
        if !still_held {
            return Ok(());
        }
        let req = Request {
            actor: Actor::Daemon,
            who: None,
            reason: format!("incident {id}: nobody resumed or acknowledged within {} min", self.cfg.cool_after_min),
            incident: Some(id),
            file: None,
            object: None,
        };
        let s = self.step(AuditCommand::CoolDown, &req).await;
        self.store.add_incident_action(id, &step_text(&s)).await?;
        Ok(())
    }

    /// Closes an incident. If it had alerted and `alerts.followup` is on, a
    /// resume, a not-a-failure or a clearing sends one `resolved` follow-up.
    pub(super) async fn close(&mut self, inc: OpenIncident, reason: CloseReason) -> Result<(), ActionError> {
        if self.incident.as_ref().is_some_and(|i| i.id == inc.id) {
            self.incident = None;
        }
        if self.cool_due.is_some_and(|(id, _)| Some(id) == inc.id) {
            self.cool_due = None;
        }
        let Some(id) = inc.id else { return Ok(()) };
        let now = self.clock.now();
        if !self.store.close_incident(id, now, reason).await? {
            return Ok(());
        }
        tracing::info!(incident = id, %reason, "incident closed");
        let wants_followup = matches!(reason, CloseReason::Resumed | CloseReason::NotAFailure | CloseReason::Cleared);
        if self.followup && inc.alerted && wants_followup {
            let row = self.store.incident(id).await?;
            let mut alert = self.alert(AlertKind::Resolved, inc.level, Some(id), now);
            alert.resolution = Some(reason);
            if let Some(row) = row {
                alert.cause = Some(row.cause);
                alert.note = format!(
                    "Incident {id} ({}) closed: {}",
                    row.cause.as_str().replace('_', " "),
                    reason.as_str().replace('_', " ")
                );
            }
            alert.print = self.print.as_ref().map(|p| PrintInfo { file: p.file.clone(), ..PrintInfo::default() });
            self.outbox.enqueue(&alert).await?;
        }
        Ok(())
    }

    pub(super) fn alert(&self, kind: AlertKind, level: Level, incident: Option<IncidentId>, now: Timestamp) -> Alert {
        let mut a = Alert::new(kind, &self.name, now, level);
        a.incident_id = incident;
        if self.timelapse_links
            && let (Some(base), Some(p)) = (&self.public_url, &self.print)
        {
            a.timelapse = Some(TimelapseRef { print_id: p.id, url: timelapse_url(base, p.id) });
        }
        a
    }

    pub(super) fn print_info(&self, ev: &Evidence) -> Option<PrintInfo> {
        let job = self.status.borrow().state.job().cloned();
        let file = self.print.as_ref().map(|p| p.file.clone()).or_else(|| job.as_ref().map(|j| j.file.clone()))?;
        Some(PrintInfo {
            file,
            layer: ev.layer.or(job.as_ref().and_then(|j| j.layer)),
            layer_count: ev.layer_count.or(job.as_ref().and_then(|j| j.layer_count)),
            progress: ev.progress.or(job.as_ref().and_then(|j| j.progress)),
        })
    }

    /// Annotates (off the runtime) and stores the frame; `None` if there is no
    /// frame or it cannot be read (logged, never fatal).
    async fn snapshot(
        &self,
        frame: Option<&Frame>,
        p: &Problem,
        id: Option<IncidentId>,
        now: Timestamp,
    ) -> Option<SnapshotId> {
        let frame = frame?;
        let image = frame.image.clone();
        let ann = Annotation {
            level: p.level,
            score: p.evidence.smoothed.max(p.confidence),
            label: p.cause.as_str().replace('_', " "),
            layer: p.evidence.layer,
            layer_count: p.evidence.layer_count,
            detail: format!("{}  {}", self.name, render::clock_time(now)),
            overlay: p.evidence.overlay.clone(),
            region: p.evidence.geometry.as_ref().and_then(|g| g.region),
        };
        let (draw, quality) = (self.cfg.annotate_snapshots, self.cfg.snapshot_quality);
        let jpeg = tokio::task::spawn_blocking(move || match (&image, draw) {
            (_, true) => annotate(&image, &ann, quality),
            (FrameImage::Jpeg(b), false) => Ok(b.to_vec()),
            (FrameImage::Rgb(_), false) => decode(&image).and_then(|m| encode_jpeg(&m, quality)),
        })
        .await;
        let jpeg = match jpeg {
            Ok(Ok(j)) => j,
            Ok(Err(e)) => {
                tracing::warn!(frame_seq = frame.seq, error = %e, "cannot make the alert snapshot");
                return None;
            }
            Err(e) => {
                tracing::warn!(frame_seq = frame.seq, error = %e, "snapshot task failed");
                return None;
            }
        };
        match self.store.save_snapshot(jpeg, now, id).await {
            Ok(s) => {
                if let Some(id) = id
                    && let Err(e) = self.store.set_incident_snapshot(id, s.as_str()).await
                {
                    tracing::warn!(incident = id, error = %e, "cannot link the snapshot to the incident");
                }
                Some(s)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot store the alert snapshot");
                None
            }
        }
    }
}

/// `pause: confirmed`, `pause: unconfirmed x2 (…)`.
fn step_text(s: &ActionStep) -> String {
    let mut t = format!("{}: {}", s.command, s.result);
    if s.attempts > 1 {
        t.push_str(&format!(" x{}", s.attempts));
    }
    if let Some(e) = &s.error {
        t.push_str(&format!(" ({e})"));
    }
    t
}

/// One sentence for a health finding.
fn describe(f: &HealthFinding, now: Timestamp) -> String {
    let mins = |since: &Timestamp| (now.secs_since(*since) / 60.0).max(0.0).round();
    match f {
        HealthFinding::CameraFrozen { since, layers_advanced } => {
            format!("Camera picture frozen for {} min while the printer advanced {layers_advanced} layers", mins(since))
        }
        HealthFinding::CameraDark { since, brightness } => {
            format!("Camera picture too dark to judge (brightness {brightness:.0}/255) for {} min", mins(since))
        }
        HealthFinding::CameraSilent { since } => format!("No frames from the camera for {} min", mins(since)),
        HealthFinding::PrinterStalled { since, layer } => format!(
            "Printer says printing but has not advanced for {} min{}",
            mins(since),
            layer.map(|l| format!(" (layer {})", l + 1)).unwrap_or_default()
        ),
        HealthFinding::ActivityAfterEnd { since } => {
            format!("The print ended but the picture keeps changing ({} min)", mins(since))
        }
        HealthFinding::Muted { until: Some(t), .. } => format!("Pauses and alerts muted until {}", render::clock_time(*t)),
        HealthFinding::Muted { until: None, .. } => "Pauses and alerts muted for the rest of this print".into(),
        HealthFinding::Cleared { what, .. } => format!("{what} cleared"),
    }
}
