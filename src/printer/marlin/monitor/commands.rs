//! Monitor mode's commands: the firmware's own pause/resume/cancel/park
//! commands (from `quirks.rs`), confirmed later by what the printer reports.

use tracing::info;

use super::{MonitorMode, Phase};
use crate::printer::marlin::Request;
use crate::printer::marlin::driver::{Cx, Mode};
use crate::printer::marlin::flow::Target;
use crate::printer::{Confirmation, PrinterError};

impl MonitorMode {
    pub(super) fn request(&mut self, cx: &mut Cx, request: Request) {
        if !self.connected {
            return request.reply(Err(PrinterError::NotConnected));
        }
        let state = self.phase.name();
        match request {
            Request::Print { reply, .. } => reply.send_result(Err(PrinterError::InvalidState {
                command: "print",
                state: "monitor mode",
            })),
            Request::Pause { reply } => match self.phase {
                Phase::Paused => reply.send_result(Ok(Confirmation::AlreadyThere)),
                _ if self.hold.is_some() => reply.send_result(Ok(Confirmation::AlreadyThere)),
                Phase::Pausing => self.flow.wait(Target::Paused, "pause", reply),
                Phase::Printing => {
                    info!(printer = %cx.printer, command = cx.quirks.pause_command(), "pausing");
                    self.enqueue(cx.quirks.pause_command());
                    self.set_phase(cx, Phase::Pausing);
                    self.flow.wait(Target::Paused, "pause", reply);
                }
                _ => reply.send_result(Err(PrinterError::InvalidState {
                    command: "pause",
                    state,
                })),
            },
            Request::Resume { reply } => match self.phase {
                _ if self.hold.is_some() => match cx.quirks.answer_prompt() {
                    Some(cmd) => {
                        self.enqueue(cmd);
                        self.flow.wait(Target::Unheld, "resume", reply);
                    }
                    None => reply.send_result(Err(PrinterError::Rejected {
                        command: "resume",
                        message: "the firmware waits for its own button".into(),
                    })),
                },
                Phase::Printing => reply.send_result(Ok(Confirmation::AlreadyThere)),
                Phase::Resuming => self.flow.wait(Target::Printing, "resume", reply),
                Phase::Paused => {
                    info!(printer = %cx.printer, command = cx.quirks.resume_command(), "resuming");
                    self.enqueue(cx.quirks.resume_command());
                    self.set_phase(cx, Phase::Resuming);
                    self.flow.wait(Target::Printing, "resume", reply);
                }
                _ => reply.send_result(Err(PrinterError::InvalidState {
                    command: "resume",
                    state,
                })),
            },
            Request::Cancel { reply } => match self.phase {
                Phase::Cancelling => self.flow.wait(Target::Cancelled, "cancel", reply),
                Phase::Printing | Phase::Pausing | Phase::Paused | Phase::Resuming => {
                    info!(printer = %cx.printer, command = cx.quirks.cancel_command(), "cancelling");
                    if self.hold.is_some() {
                        if let Some(cmd) = cx.quirks.break_wait() {
                            self.enqueue(cmd);
                        }
                    }
                    self.enqueue(cx.quirks.cancel_command());
                    self.set_phase(cx, Phase::Cancelling);
                    self.flow.wait(Target::Cancelled, "cancel", reply);
                }
                _ => reply.send_result(Ok(Confirmation::AlreadyThere)),
            },
            Request::Park { reply } => match self.phase {
                Phase::Paused if self.parked || cx.quirks.pause_parks() => {
                    reply.send_result(Ok(Confirmation::AlreadyThere))
                }
                Phase::Paused => match cx
                    .quirks
                    .park_command(self.settings.park.retract_mm, self.settings.park.lift_mm)
                {
                    Some(cmd) => {
                        self.enqueue(cmd);
                        self.park_pending = true;
                        self.flow.wait(Target::Parked, "park", reply);
                    }
                    None => reply.send_result(Err(PrinterError::Rejected {
                        command: "park",
                        message: "this firmware has no park command".into(),
                    })),
                },
                _ => reply.send_result(Err(PrinterError::InvalidState { command: "park", state })),
            },
            Request::SetTemperatures { hotend, bed, reply } => {
                let same = |want: Option<f32>, have: Option<crate::domain::Heater>| {
                    want.is_none_or(|w| have.is_some_and(|h| (h.target - w).abs() < 0.5))
                };
                if same(hotend, cx.temps.hotend) && same(bed, cx.temps.bed) {
                    return reply.send_result(Ok(Confirmation::AlreadyThere));
                }
                if let Some(t) = hotend {
                    self.enqueue(format!("M104 S{t}"));
                }
                if let Some(b) = bed {
                    self.enqueue(format!("M140 S{b}"));
                }
                self.enqueue("M105");
                self.flow.temp_waiters.push((hotend, bed, reply));
            }
            Request::CancelObject { name, reply } => match self.m486_line(cx, &name) {
                Ok(Some(line)) => {
                    info!(printer = %cx.printer, object = %name, %line, "cancelling an object in the firmware");
                    self.gcode_pending = Some(line.clone());
                    self.enqueue(line);
                    self.flow.wait(Target::GcodeRan, crate::printer::objects::CANCEL_OBJECT, reply);
                }
                Ok(None) => reply.send_result(Ok(Confirmation::AlreadyThere)),
                Err(e) => reply.send_result(Err(e)),
            },
            Request::Gcode { lines, reply } => {
                info!(printer = %cx.printer, lines = lines.len(), "running G-code");
                // `enqueue` drops a line already queued; the marker is the last line sent.
                self.gcode_pending = lines.last().cloned();
                for l in lines {
                    self.enqueue(l);
                }
                self.flow.wait(Target::GcodeRan, "gcode", reply);
            }
        }
    }

    /// The `M486 P<id>` that cancels `name` (recorded as cancelled), `None` when it already is,
    /// or why not: the firmware is not said to take M486, no analysis, unknown name, no M486 label,
    /// the last object.
    fn m486_line(&mut self, cx: &Cx, name: &str) -> Result<Option<String>, PrinterError> {
        use crate::printer::objects::{self, CANCEL_OBJECT};
        if !cx.settings.firmware_cancel_objects {
            return Err(objects::unsupported(
                "in monitor mode the printer runs the file itself; if its firmware cancels objects with M486 \
                 (Marlin CANCEL_OBJECTS), set [printer] firmware_cancel_objects = true, or print in host mode",
            ));
        }
        let state = self.state();
        if !state.print_running() {
            return Err(PrinterError::InvalidState { command: CANCEL_OBJECT, state: state.name() });
        }
        let Some(fa) = self.job.as_ref().and_then(|j| j.file_analysis()) else {
            return Err(PrinterError::Rejected {
                command: CANCEL_OBJECT,
                message: "the printing file's objects are not known ([printer.serial] gcode_dir holds no copy of it)"
                    .into(),
            });
        };
        let index = objects::find(&fa.analysis, &fa.file, name)?;
        let object = &fa.analysis.objects[index as usize];
        let Some(id) = object.m486_id else {
            return Err(objects::unsupported("the file does not label its objects with M486"));
        };
        let mut cancelled = self.cancelled.get();
        if cancelled.contains(&object.name) {
            return Ok(None);
        }
        if objects::would_be_last(&fa.analysis, index, state.job().and_then(|j| j.layer), &cancelled) {
            return Err(objects::last_object(&object.name));
        }
        cancelled.push(object.name.clone());
        self.cancelled.set(cancelled);
        Ok(Some(format!("M486 P{id}")))
    }
}
