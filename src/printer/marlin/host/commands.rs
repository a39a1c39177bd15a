//! Host mode's commands: print, pause, park, resume, cancel, temperatures.
//! Each either answers at once (`AlreadyThere`, an invalid state) or queues its
//! G-code and leaves the reply waiting for the printer's acknowledgement.

use std::path::PathBuf;

use tracing::info;

use super::HostMode;
use crate::printer::marlin::driver::{Cx, Mode, ModeEvent};
use crate::printer::marlin::flow::Target;
use crate::printer::marlin::host_flow::{Meta, Origin, Phase, Step};
use crate::printer::marlin::job::{self, Job, JobFile};
use crate::printer::marlin::park::{self, Parked};
use crate::printer::marlin::{Reply, Request};
use crate::printer::{Confirmation, PrinterError, objects};

impl HostMode {
    pub(super) fn request(&mut self, cx: &mut Cx, request: Request) {
        match request {
            Request::Print { path, reply } => self.start_print(cx, path, reply),
            Request::Pause { reply } => match &self.phase {
                _ if !self.connected => reply.send_result(Err(PrinterError::NotConnected)),
                Phase::Printing if self.flow.hold.is_some() => reply.send_result(Ok(Confirmation::AlreadyThere)),
                Phase::Printing => {
                    self.start_pause(cx, Origin::User);
                    self.flow.wait(Target::Paused, "pause", reply);
                }
                Phase::Pausing { .. } | Phase::Parking { .. } => self.flow.wait(Target::Paused, "pause", reply),
                Phase::Paused { .. } => reply.send_result(Ok(Confirmation::AlreadyThere)),
                _ => reply.send_result(Err(PrinterError::InvalidState {
                    command: "pause",
                    state: self.phase.name(),
                })),
            },
            Request::Resume { reply } => match &self.phase {
                _ if !self.connected => reply.send_result(Err(PrinterError::NotConnected)),
                Phase::Printing | Phase::Finishing if self.flow.hold.is_some() => match cx.quirks.answer_prompt() {
                    Some(cmd) => {
                        self.send_raw(cx, cmd);
                        self.flow.wait(Target::Unheld, "resume", reply);
                    }
                    None => reply.send_result(Err(PrinterError::Rejected {
                        command: "resume",
                        message: "the firmware waits for its own button (no emergency parser or host prompts)".into(),
                    })),
                },
                Phase::Printing | Phase::Finishing => reply.send_result(Ok(Confirmation::AlreadyThere)),
                Phase::Resuming => self.flow.wait(Target::Printing, "resume", reply),
                Phase::Paused { .. } => {
                    self.start_resume(cx);
                    self.flow.wait(Target::Printing, "resume", reply);
                }
                _ => reply.send_result(Err(PrinterError::InvalidState {
                    command: "resume",
                    state: self.phase.name(),
                })),
            },
            Request::Cancel { reply } => match &self.phase {
                Phase::Cancelling => self.flow.wait(Target::Cancelled, "cancel", reply),
                p if p.is_active() && self.connected => {
                    self.start_cancel(cx);
                    self.flow.wait(Target::Cancelled, "cancel", reply);
                }
                _ if !self.connected && self.phase.is_active() => reply.send_result(Err(PrinterError::NotConnected)),
                _ => reply.send_result(Ok(Confirmation::AlreadyThere)),
            },
            Request::Park { reply } => match &self.phase {
                _ if !self.connected => reply.send_result(Err(PrinterError::NotConnected)),
                Phase::Paused { parked: Some(_), .. } => reply.send_result(Ok(Confirmation::AlreadyThere)),
                Phase::Paused { parked: None, .. } => {
                    if let Phase::Paused { saved, origin, .. } = std::mem::replace(&mut self.phase, Phase::Idle) {
                        let z = saved.position.z;
                        let p = &cx.settings.park;
                        let parked = Parked {
                            retract_mm: p.retract_mm,
                            lift_mm: cx.quirks.clamp_lift(z, p.lift_mm),
                        };
                        self.push_sequence(park::park(parked.retract_mm, parked.lift_mm), Step::ParkDone);
                        self.phase = Phase::Parking { saved, parked, origin };
                    }
                    self.flow.wait(Target::Parked, "park", reply);
                }
                Phase::Pausing { .. } | Phase::Parking { .. } => self.flow.wait(Target::Parked, "park", reply),
                Phase::Printing if self.flow.hold.is_some() => reply.send_result(Err(PrinterError::Rejected {
                    command: "park",
                    message: "the firmware waits for the user and parks by itself".into(),
                })),
                _ => reply.send_result(Err(PrinterError::InvalidState {
                    command: "park",
                    state: self.phase.name(),
                })),
            },
            Request::SetTemperatures { hotend, bed, reply } => self.set_temperatures(cx, hotend, bed, reply),
            Request::Gcode { lines, reply } => {
                if !self.connected {
                    return reply.send_result(Err(PrinterError::NotConnected));
                }
                info!(printer = %cx.printer, lines = lines.len(), "running G-code");
                self.push_sequence(lines, Step::GcodeDone);
                self.flow.wait(Target::GcodeRan, "gcode", reply);
            }
            Request::CancelObject { name, reply } => reply.send_result(self.cancel_object(cx, &name)),
        }
    }

    /// Leaves object `name` out of the stream from the next file line on. The
    /// link streams the file, so the stream's own state is the confirmation.
    fn cancel_object(&mut self, cx: &mut Cx, name: &str) -> Result<Confirmation, PrinterError> {
        let command = objects::CANCEL_OBJECT;
        if !self.connected {
            return Err(PrinterError::NotConnected);
        }
        let active = matches!(
            self.phase,
            Phase::Printing | Phase::Pausing { .. } | Phase::Parking { .. } | Phase::Paused { .. } | Phase::Resuming
        );
        let layer = self.job_snapshot().layer;
        let state = self.phase.name();
        let Some(job) = self.job.as_mut().filter(|_| active) else {
            return Err(PrinterError::InvalidState { command, state });
        };
        let Some(fa) = job.file_analysis() else {
            return Err(PrinterError::Rejected {
                command,
                message: format!("{} is still being analysed: try again in a moment", job.name),
            });
        };
        let index = objects::find(&fa.analysis, &fa.file, name)?;
        let object = fa.analysis.objects[index as usize].name.clone();
        let Some(file) = job.file.as_mut() else {
            return Err(PrinterError::InvalidState { command, state: "not streaming a file" });
        };
        if file.skipper.is_cancelled(index) {
            return Ok(Confirmation::AlreadyThere);
        }
        let names = fa.analysis.objects.iter().filter(|o| file.skipper.is_cancelled(o.index));
        let cancelled: Vec<String> = names.map(|o| o.name.clone()).collect();
        if objects::would_be_last(&fa.analysis, index, layer, &cancelled) {
            return Err(objects::last_object(&object));
        }
        file.skipper.cancel(index);
        let mut names = cancelled;
        names.push(object.clone());
        self.cancelled.set(names);
        let what = "object cancelled: its moves are left out from the next line";
        info!(printer = %cx.printer, object = %object, index, layer, "{what}");
        Ok(Confirmation::Confirmed)
    }

    pub(super) fn start_pause(&mut self, cx: &mut Cx, origin: Origin) {
        info!(printer = %cx.printer, ?origin, "pausing: holding the stream");
        self.phase = Phase::Pausing { origin };
        if let Some(j) = self.job.as_mut() {
            j.set_paused(true, cx.now);
        }
        self.push("M400", Meta::Host(Step::Plain));
        self.push("M114", Meta::Host(Step::PauseMark));
    }

    pub(super) fn start_resume(&mut self, cx: &mut Cx) -> bool {
        let Phase::Paused { saved, parked, .. } = &self.phase else {
            return false;
        };
        let lines = park::resume(
            saved,
            *parked,
            cx.temps.hotend.map(|h| h.target),
            cx.temps.bed.map(|h| h.target),
        );
        info!(printer = %cx.printer, "resuming");
        self.push_sequence(lines, Step::ResumeDone);
        self.phase = Phase::Resuming;
        true
    }

    pub(super) fn start_cancel(&mut self, cx: &mut Cx) {
        let already_parked = matches!(self.phase, Phase::Paused { parked: Some(p), .. } if p.lift_mm > 0.0);
        let dropped = self.window.discard_queued();
        info!(printer = %cx.printer, dropped = dropped.len(), "cancelling: stream stopped");
        if self.in_heat_wait() || self.flow.hold.is_some() {
            if let Some(cmd) = cx.quirks.break_wait() {
                self.send_raw(cx, cmd);
            }
        }
        let z = self.job.as_ref().and_then(|j| j.modal.z);
        let park_cfg = &cx.settings.park;
        let lines = park::cancel(
            park_cfg.retract_mm,
            cx.quirks.clamp_lift(z, park_cfg.lift_mm),
            already_parked,
        );
        self.push_sequence(lines, Step::CancelDone);
        self.phase = Phase::Cancelling;
        self.flow.fail(Target::Paused, "pause", "the print was cancelled");
        self.flow.fail(Target::Printing, "resume", "the print was cancelled");
    }

    pub(super) fn start_print(&mut self, cx: &mut Cx, path: PathBuf, reply: Reply) {
        if !self.connected {
            return reply.send_result(Err(PrinterError::NotConnected));
        }
        if self.phase.is_active() {
            return reply.send_result(Err(PrinterError::InvalidState {
                command: "print",
                state: self.state().name(),
            }));
        }
        let (file, size) = match JobFile::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let message = format!("cannot open {}: {e}", path.display());
                return reply.send_result(Err(PrinterError::Rejected {
                    command: "print",
                    message,
                }));
            }
        };
        self.job_id += 1;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        info!(printer = %cx.printer, file = %path.display(), size, "print started (host mode)");
        self.job = Some(Job::new(name, Some(path.clone()), Some(size), Some(file), cx.now));
        self.cancelled.set(Vec::new());
        let (id, tx) = (self.job_id, cx.events.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(ModeEvent::Analysis(id, job::analyze(&path)));
        });
        self.phase = Phase::Printing;
        self.flow.print_reply = Some(reply);
        self.probes = 0;
        self.stuck_logged = false;
    }

    pub(super) fn set_temperatures(&mut self, cx: &mut Cx, hotend: Option<f32>, bed: Option<f32>, reply: Reply) {
        if !self.connected {
            return reply.send_result(Err(PrinterError::NotConnected));
        }
        let same = |want: Option<f32>, have: Option<crate::domain::Heater>| {
            want.is_none_or(|w| have.is_some_and(|h| (h.target - w).abs() < 0.5))
        };
        if same(hotend, cx.temps.hotend) && same(bed, cx.temps.bed) {
            return reply.send_result(Ok(Confirmation::AlreadyThere));
        }
        if let Some(t) = hotend {
            self.push(format!("M104 S{t}"), Meta::Host(Step::Plain));
        }
        if let Some(b) = bed {
            self.push(format!("M140 S{b}"), Meta::Host(Step::Plain));
        }
        self.push("M105", Meta::Host(Step::TempSet));
        self.flow.temp_waiters.push((hotend, bed, reply));
    }
}
