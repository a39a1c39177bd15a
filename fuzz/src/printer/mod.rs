//! `crate::printer`: the Marlin protocol, the print hosts' JSON, `[printer]` and `[printer.light]`.

#[path = "../../../src/printer/config.rs"]
mod config;
#[path = "../../../src/printer/light.rs"]
pub mod light;
pub mod marlin;
pub mod moonraker;
pub mod octoprint;
#[path = "../../../src/printer/user_gcode.rs"]
pub mod user_gcode;

pub use config::{MoonrakerConfig, OctoPrintConfig, ParkConfig, PrinterConfig, PrinterKind, SerialConfig, SerialMode};
