//! Host mode's vocabulary: the phases of a streamed print and what each queued
//! line is for.

use serde::Serialize;

use super::park::{Parked, Saved};

/// What a queued line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// A line of the G-code file, with its byte range.
    File { start: u64, end: u64 },
    /// A line layerwatch added.
    Host(Step),
}

/// Host lines whose acknowledgement moves the print along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Plain,
    Setup,
    /// `M105` poll (or liveness probe).
    Poll,
    /// `M114` after `M400`: moves are done, position reported.
    PauseMark,
    ParkDone,
    ResumeDone,
    CancelDone,
    /// `M400` after the last file line.
    FinishMark,
    /// `M105` after a temperature change.
    TempSet,
    /// The last line of a `run_gcode` batch.
    GcodeDone,
}

/// Who asked for a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Origin {
    User,
    /// `//action:pause` from the firmware (runout sensor, LCD button).
    Firmware,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Idle,
    /// Streaming the file.
    Printing,
    /// File sent; waiting for the last moves (`M400`).
    Finishing,
    /// Stream held; `M400` + `M114` queued.
    Pausing {
        origin: Origin,
    },
    /// Park moves queued.
    Parking {
        saved: Saved,
        parked: Parked,
        origin: Origin,
    },
    Paused {
        saved: Saved,
        parked: Option<Parked>,
        origin: Origin,
    },
    /// Restore sequence queued.
    Resuming,
    /// Rest of the file dropped; shutdown sequence queued.
    Cancelling,
    Finished,
    Cancelled,
    Error(String),
}

impl Phase {
    /// A print is under way (in any stage).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Phase::Printing
                | Phase::Finishing
                | Phase::Pausing { .. }
                | Phase::Parking { .. }
                | Phase::Paused { .. }
                | Phase::Resuming
                | Phase::Cancelling
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Printing => "printing",
            Phase::Finishing => "finishing",
            Phase::Pausing { .. } => "pausing",
            Phase::Parking { .. } => "parking",
            Phase::Paused { .. } => "paused",
            Phase::Resuming => "resuming",
            Phase::Cancelling => "cancelling",
            Phase::Finished => "finished",
            Phase::Cancelled => "cancelled",
            Phase::Error(_) => "error",
        }
    }
}
