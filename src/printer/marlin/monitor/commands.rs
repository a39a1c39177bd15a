//! Monitor mode's commands: the firmware's own pause/resume/cancel/park
//! commands (from `quirks.rs`), confirmed later by what the printer reports.

use tracing::info;

use super::{MonitorMode, Phase};
use crate::printer::marlin::Request;
use crate::printer::marlin::driver::Cx;
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
            Request::CancelObject { reply, .. } => reply.send_result(Err(crate::printer::objects::unsupported(
                "in monitor mode the printer runs the file itself; cancel the object on the printer (M486 with \
                 CANCEL_OBJECTS) or print in host mode",
            ))),
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
}
