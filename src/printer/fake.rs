//! `FakePrinter`: a scripted `PrinterLink` for other modules' unit tests
//! (actions, web, app). It records every command, moves its state the way a
//! real printer would, and can be told to refuse, stall or be unplugged.
//! The real backends are tested against real peers; this is only a stand-in.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Confirmation, FileAnalysis, PrinterError, PrinterLink, objects};
use crate::domain::{Heater, PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};

/// A command the fake received.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeCommand {
    Pause,
    Resume,
    Cancel,
    Park,
    SetTemperatures { hotend: Option<f32>, bed: Option<f32> },
    Gcode(Vec<String>),
    CancelObject(String),
}

/// How the fake answers commands.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Behaviour {
    /// Like a healthy printer: state moves, idempotent answers.
    #[default]
    Obey,
    /// Every command is refused with this message.
    Refuse(String),
    /// Commands are sent but never confirmed.
    Stall,
}

pub struct FakePrinter {
    name: String,
    tx: watch::Sender<PrinterStatus>,
    commands: Mutex<Vec<FakeCommand>>,
    behaviour: Mutex<Behaviour>,
    parked: Mutex<bool>,
    analysis: watch::Sender<Option<FileAnalysis>>,
    cancelled: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakePrinter {
    pub fn new(name: &str, state: PrinterState) -> Self {
        let status = PrinterStatus {
            state,
            temps: Temperatures::default(),
            at: Timestamp::now(),
        };
        let (tx, _) = watch::channel(status);
        FakePrinter {
            name: name.to_string(),
            tx,
            commands: Mutex::new(Vec::new()),
            behaviour: Mutex::new(Behaviour::Obey),
            parked: Mutex::new(false),
            analysis: watch::channel(None).0,
            cancelled: Mutex::new(Vec::new()),
        }
    }

    /// Publishes the analysis of the printing file (its objects are what `cancel_object` knows).
    pub fn set_analysis(&self, analysis: Option<FileAnalysis>) {
        self.analysis.send_replace(analysis);
        lock(&self.cancelled).clear();
    }

    /// A printer in the middle of `file`.
    pub fn printing(name: &str, file: &str) -> Self {
        let job = PrintJob {
            file: file.to_string(),
            layer: Some(3),
            layer_count: Some(100),
            ..PrintJob::default()
        };
        FakePrinter::new(name, PrinterState::Printing { job })
    }

    pub fn set_state(&self, state: PrinterState) {
        self.tx.send_modify(|s| {
            s.state = state;
            s.at = Timestamp::now();
        });
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *lock(&self.behaviour) = b;
    }

    /// Every command received, in order.
    pub fn commands(&self) -> Vec<FakeCommand> {
        lock(&self.commands).clone()
    }

    fn state(&self) -> PrinterState {
        self.tx.borrow().state.clone()
    }

    /// Records the command and applies the behaviour; `Ok(None)` means obey.
    fn begin(&self, cmd: FakeCommand, name: &'static str) -> Result<Option<Confirmation>, PrinterError> {
        lock(&self.commands).push(cmd);
        if matches!(self.state(), PrinterState::Disconnected) {
            return Err(PrinterError::NotConnected);
        }
        match lock(&self.behaviour).clone() {
            Behaviour::Obey => Ok(None),
            Behaviour::Refuse(message) => Err(PrinterError::Rejected { command: name, message }),
            Behaviour::Stall => Err(PrinterError::Unconfirmed {
                command: name,
                timeout_ms: 0,
                state: self.state().name(),
            }),
        }
    }
}

#[async_trait]
impl PrinterLink for FakePrinter {
    fn name(&self) -> &str {
        &self.name
    }

    fn status(&self) -> watch::Receiver<PrinterStatus> {
        self.tx.subscribe()
    }

    async fn pause(&self) -> Result<Confirmation, PrinterError> {
        if let Some(c) = self.begin(FakeCommand::Pause, "pause")? {
            return Ok(c);
        }
        match self.state() {
            PrinterState::Printing { job }
            | PrinterState::Heating { job: Some(job) }
            | PrinterState::Pausing { job } => {
                self.set_state(PrinterState::Paused { job });
                Ok(Confirmation::Confirmed)
            }
            PrinterState::Paused { .. } => Ok(Confirmation::AlreadyThere),
            s => Err(PrinterError::InvalidState {
                command: "pause",
                state: s.name(),
            }),
        }
    }

    async fn resume(&self) -> Result<Confirmation, PrinterError> {
        if let Some(c) = self.begin(FakeCommand::Resume, "resume")? {
            return Ok(c);
        }
        match self.state() {
            PrinterState::Paused { job } => {
                *lock(&self.parked) = false;
                self.set_state(PrinterState::Printing { job });
                Ok(Confirmation::Confirmed)
            }
            PrinterState::Printing { .. } | PrinterState::Heating { .. } => Ok(Confirmation::AlreadyThere),
            s => Err(PrinterError::InvalidState {
                command: "resume",
                state: s.name(),
            }),
        }
    }

    async fn cancel(&self) -> Result<Confirmation, PrinterError> {
        if let Some(c) = self.begin(FakeCommand::Cancel, "cancel")? {
            return Ok(c);
        }
        match self.state() {
            s @ (PrinterState::Printing { .. }
            | PrinterState::Heating { job: Some(_) }
            | PrinterState::Pausing { .. }
            | PrinterState::Paused { .. }) => {
                self.set_state(PrinterState::Cancelled { job: s.job().cloned() });
                Ok(Confirmation::Confirmed)
            }
            _ => Ok(Confirmation::AlreadyThere),
        }
    }

    async fn set_temperatures(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<Confirmation, PrinterError> {
        if let Some(c) = self.begin(FakeCommand::SetTemperatures { hotend, bed }, "set_temperatures")? {
            return Ok(c);
        }
        let t = self.tx.borrow().temps;
        let same = |want: Option<f32>, have: Option<Heater>| want.is_none_or(|w| have.is_some_and(|h| h.target == w));
        if same(hotend, t.hotend) && same(bed, t.bed) {
            return Ok(Confirmation::AlreadyThere);
        }
        self.tx.send_modify(|s| {
            let set = |h: &mut Option<Heater>, w: Option<f32>| {
                if let Some(w) = w {
                    *h = Some(Heater {
                        actual: h.map_or(20.0, |h| h.actual),
                        target: w,
                    });
                }
            };
            set(&mut s.temps.hotend, hotend);
            set(&mut s.temps.bed, bed);
        });
        Ok(Confirmation::Confirmed)
    }

    async fn park(&self) -> Result<Confirmation, PrinterError> {
        if let Some(c) = self.begin(FakeCommand::Park, "park")? {
            return Ok(c);
        }
        match self.state() {
            PrinterState::Paused { .. } if *lock(&self.parked) => Ok(Confirmation::AlreadyThere),
            PrinterState::Paused { .. } => {
                *lock(&self.parked) = true;
                Ok(Confirmation::Confirmed)
            }
            s => Err(PrinterError::InvalidState {
                command: "park",
                state: s.name(),
            }),
        }
    }

    fn analysis(&self) -> watch::Receiver<Option<FileAnalysis>> {
        self.analysis.subscribe()
    }

    async fn cancel_object(&self, name: &str) -> Result<Confirmation, PrinterError> {
        if let Some(c) = self.begin(FakeCommand::CancelObject(name.to_string()), objects::CANCEL_OBJECT)? {
            return Ok(c);
        }
        let state = self.state();
        if !state.print_running() {
            return Err(PrinterError::InvalidState { command: objects::CANCEL_OBJECT, state: state.name() });
        }
        let Some(fa) = self.analysis.borrow().clone() else {
            return Err(objects::unknown(name, "the file (not analysed)", std::iter::empty()));
        };
        let index = objects::find(&fa.analysis, &fa.file, name)?;
        let object = fa.analysis.objects[index as usize].name.clone();
        let mut cancelled = lock(&self.cancelled);
        if cancelled.contains(&object) {
            return Ok(Confirmation::AlreadyThere);
        }
        if objects::would_be_last(&fa.analysis, index, state.job().and_then(|j| j.layer), &cancelled) {
            return Err(objects::last_object(&object));
        }
        cancelled.push(object);
        Ok(Confirmation::Confirmed)
    }

    async fn cancelled_objects(&self) -> Vec<String> {
        lock(&self.cancelled).clone()
    }

    async fn run_gcode(&self, command: &'static str, lines: &[String]) -> Result<Confirmation, PrinterError> {
        let lines = super::gcode_lines(command, lines)?;
        match self.begin(FakeCommand::Gcode(lines), command)? {
            Some(c) => Ok(c),
            None => Ok(Confirmation::Confirmed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn behaves_like_a_printer_and_records_commands() {
        let p = FakePrinter::printing("fake", "cube.gcode");
        let rx = p.status();
        assert!(matches!(
            p.park().await,
            Err(PrinterError::InvalidState {
                command: "park",
                state: "printing"
            })
        ));
        assert_eq!(p.pause().await.unwrap(), Confirmation::Confirmed);
        assert_eq!(rx.borrow().state.name(), "paused");
        assert_eq!(p.pause().await.unwrap(), Confirmation::AlreadyThere);
        assert_eq!(p.park().await.unwrap(), Confirmation::Confirmed);
        assert_eq!(p.park().await.unwrap(), Confirmation::AlreadyThere);
        assert_eq!(p.cool_down(true).await.unwrap(), Confirmation::Confirmed);
        assert_eq!(p.cool_down(true).await.unwrap(), Confirmation::AlreadyThere);
        assert_eq!(p.resume().await.unwrap(), Confirmation::Confirmed);
        assert_eq!(p.cancel().await.unwrap(), Confirmation::Confirmed);
        assert_eq!(p.cancel().await.unwrap(), Confirmation::AlreadyThere);
        assert_eq!(rx.borrow().state.job().map(|j| j.file.as_str()), Some("cube.gcode"));
        assert_eq!(p.commands().len(), 10);
        assert_eq!(p.commands()[0], FakeCommand::Park);
    }

    #[tokio::test]
    async fn refuses_stalls_and_unplugs_on_request() {
        let p = FakePrinter::printing("fake", "a.gcode");
        p.set_behaviour(Behaviour::Refuse("door open".into()));
        assert_eq!(p.pause().await.unwrap_err().to_string(), "pause rejected: door open");
        p.set_behaviour(Behaviour::Stall);
        assert!(matches!(
            p.pause().await,
            Err(PrinterError::Unconfirmed { command: "pause", .. })
        ));
        p.set_state(PrinterState::Disconnected);
        assert!(matches!(p.resume().await, Err(PrinterError::NotConnected)));
        assert_eq!(
            p.commands(),
            vec![FakeCommand::Pause, FakeCommand::Pause, FakeCommand::Resume]
        );
    }
}
