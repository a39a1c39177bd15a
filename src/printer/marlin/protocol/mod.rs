//! The Marlin serial protocol, pure: framing outgoing lines, splitting and
//! classifying incoming ones. No I/O, no clock, no firmware-specific policy.

pub mod framing;
pub mod lines;
pub mod report;
pub mod response;

pub use framing::{checksum, clean_line, line_number_reset, numbered};
pub use lines::{LineReader, RawLine};
pub use report::{Area, HeaterReading, Position, TempReport};
pub use response::{Action, BusyReason, ErrorKind, FirmwareError, FirmwareInfo, OkReply, Response, parse};

#[cfg(test)]
mod tests;
