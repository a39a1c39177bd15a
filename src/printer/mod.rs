//! The printer: what it is doing, and the commands that change it.
//!
//! Owns the `PrinterLink` trait and its backends: Marlin-style firmware over a
//! serial port (host and monitor modes), OctoPrint (REST + push socket) and
//! Moonraker (JSON-RPC websocket). Each backend publishes `PrinterStatus` on a
//! `watch` channel and confirms every command by the printer's own state.
//! Firmware quirks live in one place per firmware. Must not depend on capture,
//! vision, decision or actions.

mod config;
mod connect;
pub mod fake;
pub mod light;
mod hostlink;
pub mod marlin;
pub mod moonraker;
pub mod objects;
pub mod octoprint;
pub mod user_gcode;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

pub use connect::connect;
pub use config::{MoonrakerConfig, OctoPrintConfig, ParkConfig, PrinterConfig, PrinterKind, SerialConfig, SerialMode};

use crate::domain::{PrintJob, PrinterStatus};
use crate::gcode::Analysis;

/// Why a printer command failed or was not confirmed.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("printer is not connected")]
    NotConnected,
    #[error("{command} not possible while {state}")]
    InvalidState { command: &'static str, state: &'static str },
    #[error("{command} sent but not confirmed within {timeout_ms} ms (printer state: {state})")]
    Unconfirmed { command: &'static str, timeout_ms: u64, state: &'static str },
    #[error("{command} rejected: {message}")]
    Rejected { command: &'static str, message: String },
    #[error("printer link: {0}")]
    Link(String),
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The printer reached the requested state after the command.
    Confirmed,
    /// The printer was already in that state; nothing was sent.
    AlreadyThere,
}

/// The G-code analysis a link made of the file its printer is printing,
/// with the file it was made from so a reader can check it against the job.
#[derive(Debug, Clone)]
pub struct FileAnalysis {
    /// The file as the link's `PrintJob::file` names it.
    pub file: String,
    /// Its size in bytes, when the host reports it.
    pub size: Option<u64>,
    pub analysis: Arc<Analysis>,
}

impl FileAnalysis {
    /// Whether this is the analysis of `job`'s file: same name, and same size
    /// where both are known (a file re-uploaded under the same name differs).
    pub fn matches(&self, job: &PrintJob) -> bool {
        self.file == job.file && (self.size.is_none() || job.file_size.is_none() || self.size == job.file_size)
    }

    /// The same file and the same analysis (not a re-analysis).
    pub fn same(&self, other: &FileAnalysis) -> bool {
        self.file == other.file && self.size == other.size && Arc::ptr_eq(&self.analysis, &other.analysis)
    }

    /// Sets `tx` to `next` unless it already holds the same analysis, so
    /// readers wake only on a change.
    pub fn publish(tx: &watch::Sender<Option<FileAnalysis>>, next: Option<FileAnalysis>) {
        tx.send_if_modified(|cur| {
            let same = match (cur.as_ref(), next.as_ref()) {
                (Some(a), Some(b)) => a.same(b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                *cur = next;
            }
            !same
        });
    }
}

/// A connected printer. Commands are idempotent and return only once the
/// printer's own state confirms them (or with an error naming what is known).
#[async_trait]
pub trait PrinterLink: Send + Sync {
    fn name(&self) -> &str;
    /// Live status; the latest value is always available.
    fn status(&self) -> watch::Receiver<PrinterStatus>;
    async fn pause(&self) -> Result<Confirmation, PrinterError>;
    async fn resume(&self) -> Result<Confirmation, PrinterError>;
    async fn cancel(&self) -> Result<Confirmation, PrinterError>;
    /// `None` leaves a heater as it is; `Some(0.0)` turns it off.
    async fn set_temperatures(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<Confirmation, PrinterError>;
    /// Retract and lift the nozzle away from the print (only while paused).
    async fn park(&self) -> Result<Confirmation, PrinterError>;
    /// The analysis of the file being printed, for links that download and
    /// analyse it themselves (print hosts): `None` until it is ready, and again
    /// as soon as another file is selected. The default: never any (the
    /// sender is gone, so `changed()` fails at once).
    fn analysis(&self) -> watch::Receiver<Option<FileAnalysis>> {
        watch::channel(None).1
    }
    /// Host mode: streams `path` to the printer, confirmed once it runs the
    /// first line. The default: not possible on this link.
    async fn start_print(&self, path: &std::path::Path) -> Result<Confirmation, PrinterError> {
        let _ = path;
        Err(PrinterError::InvalidState { command: "print", state: "not a serial printer in host mode" })
    }
    /// Runs a few G-code lines of the user's (the light: `M355`, `SET_PIN`, a
    /// macro), between the print's own lines, confirmed once the printer (or
    /// Klipper, or OctoPrint's queue) took the last one. Lines are checked by
    /// [`gcode_lines`]. The default: not possible on this link.
    async fn run_gcode(&self, command: &'static str, lines: &[String]) -> Result<Confirmation, PrinterError> {
        let _ = lines;
        Err(PrinterError::InvalidState { command, state: "a link that cannot send G-code" })
    }
    /// Cancels one object of the print (`name` as the file names it,
    /// `Analysis::objects`, any case), the others go on: host mode leaves the
    /// object's moves out of the stream, Moonraker sends `EXCLUDE_OBJECT`.
    /// Idempotent (`AlreadyThere` when it is already cancelled); refused with a
    /// clear message for an unknown name, for the last object still printing,
    /// and on links that cannot do it. The default: not possible on this link.
    async fn cancel_object(&self, name: &str) -> Result<Confirmation, PrinterError> {
        let _ = name;
        Err(objects::unsupported("this printer link cannot cancel one object"))
    }
    /// Names of the objects cancelled in the current print (as the file or
    /// Klipper names them). The default: none.
    async fn cancelled_objects(&self) -> Vec<String> {
        Vec::new()
    }
    /// Hotend (and optionally bed) off.
    async fn cool_down(&self, bed: bool) -> Result<Confirmation, PrinterError> {
        self.set_temperatures(Some(0.0), if bed { Some(0.0) } else { None }).await
    }
}

pub use user_gcode::{MAX_GCODE_LINE, MAX_GCODE_LINES};

/// The lines of a `run_gcode` batch ([`user_gcode::check`]), or `Rejected` with why.
pub fn gcode_lines(command: &'static str, lines: &[String]) -> Result<Vec<String>, PrinterError> {
    user_gcode::check(lines).map_err(|message| PrinterError::Rejected { command, message })
}
