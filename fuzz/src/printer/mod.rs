//! `crate::printer`: the Marlin protocol, the print hosts' JSON and `[printer]`.

#[path = "../../../src/printer/config.rs"]
mod config;
pub mod marlin;
pub mod moonraker;
pub mod octoprint;

pub use config::{MoonrakerConfig, OctoPrintConfig, ParkConfig, PrinterConfig, PrinterKind, SerialConfig, SerialMode};
