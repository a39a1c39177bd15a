//! Callers waiting for the printer to reach a state, shared by both modes.
//!
//! Every command reply is held here until the printer's own answers move the
//! phase (an `ok` for the last line of a sequence, an SD report), never on a
//! guess; answers are handed to the driver, which sends them after publishing
//! the new status.

use super::Reply;
use crate::domain::Temperatures;
use crate::printer::{Confirmation, PrinterError};

/// A phase a caller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Paused,
    Parked,
    Printing,
    Cancelled,
    /// The firmware stopped waiting for the user.
    Unheld,
    /// The firmware acknowledged the last line of a `run_gcode` batch.
    GcodeRan,
}

type TempWaiter = (Option<f32>, Option<f32>, Reply);

/// Pending replies and the firmware's own hold.
#[derive(Default)]
pub struct Flow {
    /// The firmware waits for the user (filament change, `//action:paused`): why.
    pub hold: Option<String>,
    /// `print` is confirmed once the printer works on the first line.
    pub print_reply: Option<Reply>,
    waiters: Vec<(Target, &'static str, Reply)>,
    pub temp_waiters: Vec<TempWaiter>,
    /// Answers decided during this event; the driver sends them after publishing
    /// the new status, so a confirmed caller always sees the confirmed state.
    ready: Vec<(Reply, Result<Confirmation, PrinterError>)>,
}

impl Flow {
    pub fn wait(&mut self, target: Target, command: &'static str, reply: Reply) {
        self.waiters.push((target, command, reply));
    }

    pub fn resolve(&mut self, target: Target) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.0 == target);
        self.waiters = keep;
        for (_, _, reply) in done {
            self.ready.push((reply, Ok(Confirmation::Confirmed)));
        }
    }

    pub fn fail(&mut self, target: Target, command: &'static str, message: &str) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.0 == target);
        self.waiters = keep;
        for (_, _, reply) in done {
            self.ready.push((
                reply,
                Err(PrinterError::Rejected {
                    command,
                    message: message.to_string(),
                }),
            ));
        }
    }

    pub fn fail_all(&mut self, message: &str) {
        for (_, command, reply) in self.waiters.drain(..) {
            self.ready.push((
                reply,
                Err(PrinterError::Rejected {
                    command,
                    message: message.to_string(),
                }),
            ));
        }
        if let Some(reply) = self.print_reply.take() {
            self.ready.push((
                reply,
                Err(PrinterError::Rejected {
                    command: "print",
                    message: message.to_string(),
                }),
            ));
        }
        for (_, _, reply) in self.temp_waiters.drain(..) {
            self.ready.push((
                reply,
                Err(PrinterError::Rejected {
                    command: "set_temperatures",
                    message: message.to_string(),
                }),
            ));
        }
    }

    pub fn fail_disconnected(&mut self) {
        let mut all: Vec<Reply> = self.waiters.drain(..).map(|w| w.2).collect();
        all.extend(self.print_reply.take());
        all.extend(self.temp_waiters.drain(..).map(|w| w.2));
        for reply in all {
            self.ready.push((reply, Err(PrinterError::NotConnected)));
        }
    }

    /// Answers to send now that the state is published.
    pub fn take_ready(&mut self) -> Vec<(Reply, Result<Confirmation, PrinterError>)> {
        std::mem::take(&mut self.ready)
    }

    pub fn confirm_print(&mut self) {
        if let Some(reply) = self.print_reply.take() {
            self.ready.push((reply, Ok(Confirmation::Confirmed)));
        }
    }

    /// A keep-alive while the first line is out also proves the printer took the job.
    pub fn confirm_print_if_started(&mut self, line_out: bool) {
        if line_out {
            self.confirm_print();
        }
    }

    /// Confirms temperature changes the printer now reports as targets.
    pub fn check_temps(&mut self, temps: Temperatures) {
        let matches = |want: Option<f32>, have: Option<crate::domain::Heater>| {
            want.is_none_or(|w| have.is_some_and(|h| (h.target - w).abs() < 0.5))
        };
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.temp_waiters)
            .into_iter()
            .partition(|(h, b, _)| matches(*h, temps.hotend) && matches(*b, temps.bed));
        self.temp_waiters = keep;
        for (_, _, reply) in done {
            self.ready.push((reply, Ok(Confirmation::Confirmed)));
        }
    }

    /// Forgets waiters whose caller gave up (timed out).
    pub fn expire_temp_waiters(&mut self) {
        self.temp_waiters.retain(|w| !w.2.is_closed());
        self.waiters.retain(|w| !w.2.is_closed());
    }
}
